//! Trustworthy runs: each defect found by the hostile review of the first release, as the user
//! meets it on the command line. Every test here failed before the fix.

mod common;

use common::{simgpu, write};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const GOOD: &str = include_str!("../scenarios/seed000/alone.toml");
const GEMM: &str = include_str!("../scenarios/power/dense-gemm-h100-sxm.toml");
const DECODE: &str = include_str!("../scenarios/bench/decode-mps.toml");

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect("needle in text") + 1
}

/// Only the files the test wrote remain: no temporaries, no outputs.
fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Runs a scenario text; expects exit 2 and every needle in stderr.
fn refused(text: &str, extra: &[&str], needles: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.toml", text);
    let mut args = vec!["run", "s.toml", "--json", "--trace", "t.json", "--plot", "p.svg"];
    args.extend_from_slice(extra);
    let (code, out, err) = simgpu(&args, dir.path());
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(out.is_empty(), "{out}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in: {err}");
    }
    assert_eq!(files_in(dir.path()), ["s.toml"], "nothing written on error");
    err
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let (code, out, err) = simgpu(args, dir);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("JSON report")
}

#[test]
fn huge_host_times_are_refused_not_wrapped() {
    let t = GOOD.replace("think_us = 20.0", "think_us = 1e17");
    let loc = format!("s.toml:{}:", line_of(&t, "think_us"));
    refused(&t, &[], &[&loc, "clients[0].think_us", "1e12"]);
    let t = GOOD.replace("regs_per_thread = 32", "regs_per_thread = 32\nhost_gap_us = 1.8e16");
    refused(&t, &[], &["host_gap_us", "1e12"]);
}

#[test]
fn the_report_names_its_profile_and_models_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let s = write(dir.path(), "g.toml", GEMM);
    let r = json(dir.path(), &["run", s.to_str().unwrap(), "--json"]);
    assert_eq!(r["profile"]["origin"], "built-in");
    assert_eq!(r["profile"]["calibrated"], true);
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/gpus");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(models.join("h100-sxm.calibrated.report.json")).expect("calibration report"),
    )
    .expect("calibration report JSON");
    let date = report["date"].as_str().expect("calibration date");
    assert_eq!(r["profile"]["calibration_date"], date);
    // From a directory with no models/, the built-in profile is the calibrated file's numbers.
    let by_file = models.join("h100-sxm.calibrated.toml");
    let f = json(dir.path(), &["run", "g.toml", "--json", "--gpu-profile", by_file.to_str().unwrap()]);
    assert_eq!(r["gpu_stats"], f["gpu_stats"]);
    assert_eq!(r["clients"], f["clients"]);
    let (code, out, _) = simgpu(&["run", "g.toml"], dir.path());
    assert_eq!(code, 0);
    assert!(out.contains(&format!("profile h100-sxm (built-in, calibrated {date})")), "{out}");
    let (code, _, err) = simgpu(&["run", "g.toml", "--models", "/nonexistent"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("--models /nonexistent"), "{err}");
    // A datasheet profile by file says so.
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/gpus/h100-sxm.toml");
    let r = json(dir.path(), &["run", "g.toml", "--json", "--gpu-profile", p.to_str().unwrap()]);
    assert_eq!(r["profile"]["calibrated"], false);
    assert_eq!(r["profile"]["origin"], p.to_str().unwrap());
    assert_ne!(r["gpu_stats"], f["gpu_stats"], "the datasheet and calibrated profiles give the same run");
}

#[test]
fn runs_that_would_take_hours_are_refused_before_they_start() {
    let t = GEMM.replace("duration_s = 12.0", "duration_s = 1e6");
    refused(&t, &[], &["events", "--max-events"]);
    let t = GOOD.replace("think_us = 20.0", "arrival_rate_per_s = 1e9");
    refused(&t, &[], &["arrival_rate_per_s", "1e6"]);
    let t = GOOD.replace("regs_per_thread = 32", "regs_per_thread = 32\nrepeat = 4294967295");
    refused(&t, &[], &["repeat", "1000000"]);
    // The limit is the caller's: a smaller one refuses what the default lets through.
    refused(DECODE, &["--max-events", "1000", "--quiet"], &["over the limit of 1000", "--max-events"]);
}

#[test]
fn short_runs_have_power_from_time_zero() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.toml", GOOD);
    let r = json(dir.path(), &["run", "s.toml", "--json", "--trace", "t.json", "--quiet"]);
    let t: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("t.json")).unwrap()).unwrap();
    let power: Vec<&Value> = t["traceEvents"].as_array().unwrap().iter().filter(|e| e["name"] == "power").collect();
    // A run shorter than one controller period: one sample, from time 0, holding its average.
    assert_eq!(power.len(), 1, "{power:?}");
    assert_eq!(power[0]["ts"], 0.0);
    let avg = r["gpu_stats"]["avg_power_w"].as_f64().unwrap();
    assert!((power[0]["args"]["watts"].as_f64().unwrap() - avg).abs() < 1e-6 * avg, "{power:?} vs {avg}");
}

#[test]
fn max_power_agrees_with_the_trace() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d.toml", DECODE);
    let r = json(dir.path(), &["run", "d.toml", "--json", "--trace", "t.json", "--quiet"]);
    let t: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("t.json")).unwrap()).unwrap();
    let trace_max = t["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "power")
        .map(|e| e["args"]["watts"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let max = r["gpu_stats"]["max_power_w"].as_f64().unwrap();
    assert!((max - trace_max).abs() < 1e-6, "report {max} W, trace {trace_max} W");
    assert!(max < 700.0);
}

#[test]
fn dedicated_clients_are_all_traced_and_plotted() {
    let dir = tempfile::tempdir().unwrap();
    let two =
        GOOD.to_string() + &GOOD[GOOD.find("[[clients]]").unwrap()..].replace("name = \"softmax\"", "name = \"other\"");
    write(dir.path(), "two.toml", &two);
    let (code, _, err) = simgpu(&["run", "two.toml", "--trace", "t.json", "--plot", "p.svg", "--quiet"], dir.path());
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(dir.path().join("t.json")).unwrap();
    let t: Value = serde_json::from_str(&text).unwrap();
    let ev = t["traceEvents"].as_array().unwrap();
    let threads: Vec<&str> = ev
        .iter()
        .filter(|e| e["name"] == "thread_name" && e["pid"] == 1)
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    assert_eq!(threads, ["softmax", "other"]);
    let spans_of = |tid: u64| ev.iter().filter(|e| e["ph"] == "X" && e["pid"] == 1 && e["tid"] == tid).count();
    assert!(spans_of(0) > 0 && spans_of(1) > 0);
    let svg = std::fs::read_to_string(dir.path().join("p.svg")).unwrap();
    assert!(svg.contains("other") && svg.contains("softmax"));
}

#[test]
fn warmup_must_leave_requests_and_empty_statistics_are_null() {
    let t = GOOD.replace("requests = 100", "requests = 100\nwarmup_requests = 100");
    let loc = format!("s.toml:{}:", line_of(&t, "warmup_requests"));
    refused(&t, &[], &[&loc, "warmup_requests"]);
    // A client that completes nothing within the horizon has no latency, not 0.0 us.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.toml", &GOOD.replace("duration_s = 100.0", "duration_s = 0.00001"));
    let r = json(dir.path(), &["run", "s.toml", "--json"]);
    assert_eq!(r["clients"][0]["requests_completed"], 0);
    assert!(r["clients"][0]["latency_us"].is_null(), "{}", r["clients"][0]);
    let (_, table, _) = simgpu(&["run", "s.toml"], dir.path());
    assert!(table.lines().any(|l| l.starts_with("softmax") && l.contains(" - ")), "{table}");
}

#[test]
fn errors_name_the_field_not_the_value() {
    for (from, to, field) in [
        ("regs_per_thread = 32", "regs_per_thread = -1", "regs_per_thread"),
        ("grid = 16", "grid = -5", "grid"),
        ("unit = \"softmax\"", "unit = 5", "unit"),
    ] {
        let t = GOOD.replacen(from, to, 1);
        let loc = format!("s.toml:{}:", line_of(&t, to));
        let path =
            if field == "unit" { format!("clients[0].{field}") } else { format!("clients[0].kernels[0].{field}") };
        let err = refused(&t, &[], &[&loc, &format!("field `{path}`")]);
        assert!(!err.contains("untagged"), "{err}");
    }
}

#[test]
fn outputs_are_checked_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.toml", GOOD);
    let (code, _, err) = simgpu(&["run", "s.toml", "--trace", "s.toml"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("would overwrite the input"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.path().join("s.toml")).unwrap(), GOOD);
    let (code, _, err) = simgpu(&["run", "s.toml", "--trace", "x.svg", "--plot", "x.svg"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("already an output"), "{err}");
    let (code, _, err) = simgpu(&["run", "s.toml", "--trace", "t.json", "--plot", "no/such/dir/p.svg"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(files_in(dir.path()), ["s.toml"]);
}

#[test]
fn tiny_horizons_empty_names_and_long_names() {
    refused(&GOOD.replace("duration_s = 100.0", "duration_s = 1e-12"), &[], &["duration_s", "1e-6"]);
    refused(&GOOD.replace("name = \"softmax_fwd\"", "name = \"\""), &[], &["name", "non-empty"]);
    let dir = tempfile::tempdir().unwrap();
    let long = "a_client_with_a_rather_long_descriptive_name";
    write(dir.path(), "s.toml", &GOOD.replace("name = \"softmax\"", &format!("name = \"{long}\"")));
    let (code, table, err) = simgpu(&["run", "s.toml"], dir.path());
    assert_eq!(code, 0, "{err}");
    let header = table.lines().find(|l| l.starts_with("client")).unwrap();
    let row = table.lines().find(|l| l.starts_with(long)).unwrap();
    // Columns line up: the throughput figure ends where its heading does.
    let end = header.find("throughput/s").unwrap() + "throughput/s".len();
    assert!(row.as_bytes()[end - 1].is_ascii_digit() && row.as_bytes()[end] == b' ', "{table}");
}

#[test]
fn bench_json_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let r = json(dir.path(), &["bench", "--json", "--repeat", "1"]);
    assert_eq!(r["repeat"], 1);
    assert!(r["yardstick"].is_string());
    for b in r["benchmarks"].as_array().unwrap() {
        assert_eq!(b["profile"]["origin"], "built-in");
        for key in ["name", "scenario", "events", "kernels", "wall_ms", "events_per_s", "sim_to_wall", "hold_ratio"] {
            assert!(!b[key].is_null(), "{key} missing in {b}");
        }
    }
}

#[test]
fn ctrl_c_stops_cleanly_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d.toml", &DECODE.replace("requests = 5000", "requests = 5000000"));
    let child = Command::new(env!("CARGO_BIN_EXE_simgpu"))
        .args(["run", "d.toml", "--trace", "t.json", "--plot", "p.png", "--quiet", "--max-events", "10000000000"])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary runs");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc_kill(child.id() as i32, 2) };
    assert_eq!(rc, 0);
    let out = child.wait_with_output().expect("child ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert_eq!(files_in(dir.path()), ["d.toml"], "no output and no temporary left");
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn calibrate_refuses_an_output_it_cannot_write_before_looking_for_a_gpu() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let (code, _, err) = simgpu(&["calibrate", "--out", "sub"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("not a regular file") && !err.contains("CUDA"), "{err}");
    assert_eq!(files_in(dir.path()), ["sub"], "no probe file left");
}
