//! The command line: bad input gets a located error and a non-zero exit, and writes nothing.

mod common;

use common::{simgpu, write};

const GOOD: &str = include_str!("../scenarios/seed000/mps-132-p50.toml");

/// Runs a broken scenario; expects exit 2, the file and line in the message, and no panic.
fn expect_error(text: &str, line: usize, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.toml", text);
    let (code, stdout, stderr) =
        simgpu(&["run", "bad.toml", "--json", "--trace", "t.json", "--plot", "p.png"], dir.path());
    assert_eq!(code, 2, "stderr: {stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let loc = format!("bad.toml:{line}:");
    assert!(stderr.contains(&loc), "expected {loc} in: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(!dir.path().join("t.json").exists() && !dir.path().join("p.png").exists(), "nothing is written on error");
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect("needle in text") + 1
}

#[test]
fn malformed_toml() {
    let t = GOOD.replace("grid = 16", "grid = = 16");
    expect_error(&t, line_of(&t, "grid = = 16"), "");
}

#[test]
fn unknown_field() {
    let t = GOOD.replace("smem_bytes = 128", "shared_mem = 128");
    expect_error(&t, line_of(&t, "shared_mem"), "shared_mem");
}

#[test]
fn wrong_type() {
    let t = GOOD.replace("requests = 100", "requests = \"many\"");
    expect_error(&t, line_of(&t, "requests = \"many\""), "");
}

#[test]
fn impossible_block() {
    let t = GOOD.replace("grid = 16\nblock = 1024", "grid = 16\nblock = 2048");
    expect_error(&t, line_of(&t, "block = 2048"), "clients[0].kernels[0].block");
}

#[test]
fn too_many_registers() {
    let t = GOOD.replacen("regs_per_thread = 32", "regs_per_thread = 128", 1);
    expect_error(&t, line_of(&t, "regs_per_thread = 128"), "registers");
}

#[test]
fn thread_percentage_out_of_range() {
    for p in ["0", "101"] {
        let t = GOOD.replace("mps_thread_percentage = 50", &format!("mps_thread_percentage = {p}"));
        expect_error(&t, line_of(&t, "mps_thread_percentage"), "clients[1].mps_thread_percentage");
    }
}

#[test]
fn unknown_gpu() {
    let t = GOOD.replace("gpu = \"h100-sxm\"", "gpu = \"h900\"");
    expect_error(&t, line_of(&t, "h900"), "unknown GPU");
}

#[test]
fn missing_file_and_bad_plot_name() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = simgpu(&["run", "nope.toml"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("nope.toml") && err.contains("cannot read"), "{err}");
    write(dir.path(), "ok.toml", GOOD);
    let (code, _, err) = simgpu(&["run", "ok.toml", "--plot", "x.gif"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains(".png or .svg"), "{err}");
}

#[test]
fn run_writes_json_trace_and_plot_from_any_directory() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.toml", GOOD);
    let (code, out, err) = simgpu(&["run", "s.toml", "--json", "--trace", "t.json", "--plot", "p.svg"], dir.path());
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in ["scenario", "gpu", "sharing", "simulated_s", "clients", "gpu_stats", "sim"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let c = &v["clients"][0];
    for key in ["name", "throughput_per_s", "unit", "latency_us", "kernels"] {
        assert!(c.get(key).is_some(), "missing clients[].{key}");
    }
    for key in ["p50", "p90", "p99"] {
        assert!(c["latency_us"][key].is_number());
    }
    for key in ["avg_power_w", "avg_sm_clock_mhz", "sm_busy_fraction", "min_sm_clock_mhz"] {
        assert!(v["gpu_stats"][key].is_number(), "missing gpu_stats.{key}");
    }
    assert!(v["sim"]["events"].as_u64().unwrap() > 0 && v["sim"]["wall_ms"].is_number());
    let trace: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("t.json")).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    assert!(events.iter().any(|e| e["ph"] == "X" && e["name"] == "softmax_fwd"));
    assert!(events.iter().any(|e| e["ph"] == "C" && e["name"] == "power"));
    let svg = std::fs::read_to_string(dir.path().join("p.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("softmax"));
}

#[test]
fn bench_json_has_the_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = simgpu(&["bench", "--json", "--repeat", "1"], dir.path());
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let b = v["benchmarks"].as_array().unwrap();
    let names: Vec<&str> = b.iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "seed000-mps-132",
            "decode-mps",
            "seed000-mps-132-60000s",
            "decode-mps-2",
            "decode-mps-16",
            "decode-timeslice-2",
            "decode-timeslice-256"
        ]
    );
    for x in b {
        for key in ["events", "controller_ticks", "wall_ms", "events_per_s", "simulated_s", "sim_to_wall", "hold_ratio"]
        {
            assert!(x.get(key).is_some(), "missing {key}");
        }
    }
    assert!(b[1]["kernels"].as_u64().unwrap() >= 100_000);
    // The long seed 000 run: controller ticks outnumber events, which stay few.
    assert!(b[2]["controller_ticks"].as_u64().unwrap() > 10 * b[2]["events"].as_u64().unwrap());
    let scaled: Vec<&str> = v["scaling"].as_array().unwrap().iter().map(|s| s["benchmark"].as_str().unwrap()).collect();
    assert_eq!(scaled, ["decode-mps-16", "decode-timeslice-256"]);
    // The wall ratio splits into the model's events and the engine's cost per event.
    for x in v["scaling"].as_array().unwrap() {
        let (w, e, c) = (
            x["wall_ratio"].as_f64().unwrap(),
            x["events_ratio"].as_f64().unwrap(),
            x["per_event_ratio"].as_f64().unwrap(),
        );
        assert!(e > 0.0 && (e * c - w).abs() <= 1e-9 * w, "{x}");
    }
    assert!(v["parallel"]["speedup"].as_f64().unwrap() > 0.0);
}

#[test]
fn calibrate_without_a_gpu_is_a_clear_error_and_writes_nothing() {
    if std::path::Path::new("/dev/nvidiactl").exists() {
        return; // a machine with a GPU: this test is about the others
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = simgpu(&["calibrate", "--out", "p.toml"], dir.path());
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("libcuda.so.1") || err.contains("no CUDA GPU"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing written");
    let (code, _, err) = simgpu(&["calibrate", "--only", "nonsense"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("unknown step"), "{err}");
}

/// Runs `simgpu calibrate ARGS` in an empty directory: exit 2 with `needle` in the message, not a
/// word about the GPU (flags are checked before one is looked for), and nothing written.
fn calibrate_rejects(args: &[&str], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<&str> = std::iter::once("calibrate").chain(args.iter().copied()).collect();
    let (code, out, err) = simgpu(&all, dir.path());
    assert_eq!(code, 2, "{args:?}: {out}{err}");
    assert!(err.contains(needle), "{args:?}: expected {needle:?} in: {err}");
    for gpu_word in ["libcuda", "CUDA GPU", "CUDA driver", "panicked"] {
        assert!(!err.contains(gpu_word), "{args:?}: {err}");
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "{args:?}: nothing written");
}

#[test]
fn calibrate_checks_its_flags_before_looking_for_a_gpu() {
    calibrate_rejects(&["--only", "bogus"], "unknown step `bogus`");
    calibrate_rejects(&["--only", "fma,bogus"], &simgpu_calibrate::calibrate::STEPS.join(", "));
    calibrate_rejects(&["--power-trace-s", "1000"], "2 to 120 seconds");
    calibrate_rejects(&["--power-trace-s", "1"], "2 to 120 seconds");
    calibrate_rejects(&["--base", "nope"], "unknown GPU profile `nope`");
    calibrate_rejects(&["--only", "mps"], "needs --mps");
    calibrate_rejects(&["--replace"], "--only");
    calibrate_rejects(&["--out", "no/such/dir/p.toml"], "does not exist");
    calibrate_rejects(&["--base", "l4", "--only", "fma"], "no calibrated profile l4.calibrated.toml");
    // From the calibrated profile built in, a new dated file goes to models/gpus, which is not here.
    calibrate_rejects(&["--base", "h100-sxm", "--only", "fma"], "does not exist");
    calibrate_rejects(&["--base", "h100-sxm", "--only", "fma", "--replace"], "no file to replace");
    calibrate_rejects(&["--base", "h100-sxm", "--only", "fma", "--out", "p.toml", "--replace"], "nothing to replace");
}

#[test]
fn calibrate_only_starts_from_an_existing_calibrated_profile() {
    if std::path::Path::new("/dev/nvidiactl").exists() {
        return; // a machine with a GPU would calibrate for real
    }
    let dir = tempfile::tempdir().unwrap();
    let profile = include_str!("../models/gpus/h100-sxm.calibrated.toml");
    write(dir.path(), "cal.toml", profile);
    // The plan is accepted (the file reads as a profile), so the next error is the missing GPU;
    // the profile is untouched and no dated file appears.
    let (code, out, err) =
        simgpu(&["calibrate", "--base", "h100-sxm", "--only", "fma", "--out", "cal.toml"], dir.path());
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("libcuda.so.1") || err.contains("no CUDA GPU"), "{err}");
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, ["cal.toml"]);
    assert_eq!(std::fs::read_to_string(dir.path().join("cal.toml")).unwrap(), profile);
    // From the calibrated profile built into the binary, to a new file.
    let (code, out, err) =
        simgpu(&["calibrate", "--base", "h100-sxm", "--only", "power", "--out", "new.toml"], dir.path());
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("libcuda.so.1") || err.contains("no CUDA GPU"), "{err}");
    assert!(!dir.path().join("new.toml").exists());
    // A file that is not a profile is refused before the GPU.
    write(dir.path(), "bad.toml", "name = 1\n");
    let (code, _, err) = simgpu(&["calibrate", "--base", "h100-sxm", "--only", "fma", "--out", "bad.toml"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("bad.toml") && !err.contains("libcuda"), "{err}");
}

#[test]
fn calibrate_help_describes_every_flag_and_step() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = simgpu(&["calibrate", "--help"], dir.path());
    assert_eq!(code, 0, "{err}");
    let options = out.lines().position(|l| l.starts_with("Options:")).expect("an options section");
    let lines: Vec<&str> = out.lines().skip(options).collect();
    for flag in ["--out", "--base", "--device", "--mps", "--power-trace-s", "--only", "--replace"] {
        let i = lines.iter().position(|l| l.trim_start().starts_with(flag)).unwrap_or_else(|| panic!("{flag}: {out}"));
        // The description follows the flag and its <VALUE>, on the same line or the next.
        let rest = lines[i].trim_start()[flag.len()..].trim_start();
        let rest = if rest.starts_with('<') { rest.split_once('>').map_or("", |(_, r)| r) } else { rest };
        let next = lines.get(i + 1).map_or("", |l| l.trim());
        assert!(
            rest.trim().len() > 10 || (next.len() > 10 && !next.starts_with('-')),
            "{flag} has no description: {out}"
        );
    }
    for step in simgpu_calibrate::calibrate::STEPS {
        assert!(out.lines().any(|l| l.trim_start().starts_with(&format!("{step} "))), "step {step} not listed: {out}");
    }
}

/// Several scenarios run in parallel and report in the order given, each as it would alone; a
/// bad one stops everything before any run; counts take scientific notation.
#[test]
fn several_scenarios_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.toml", GOOD);
    let b = write(dir.path(), "b.toml", &GOOD.replace("name = \"seed000-mps-132-p50\"", "name = \"second\""));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let (code, out, err) = simgpu(&["run", a, b, a, "--json", "--jobs", "2", "--max-events", "2e8"], dir.path());
    assert_eq!(code, 0, "{err}");
    let all: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = all.as_array().unwrap().iter().map(|r| r["scenario"].as_str().unwrap()).collect();
    assert_eq!(names, ["seed000-mps-132-p50", "second", "seed000-mps-132-p50"]);
    let (_, alone, _) = simgpu(&["run", a, "--json"], dir.path());
    let mut alone: serde_json::Value = serde_json::from_str(&alone).unwrap();
    let mut first = all[0].clone();
    for v in [&mut alone, &mut first] {
        v["sim"].as_object_mut().unwrap().remove("wall_ms");
    }
    assert_eq!(first, alone, "a run in a batch gives the same report as alone");
    let bad = write(dir.path(), "bad.toml", &GOOD.replace("grid = 16", "grid = 0"));
    let (code, out, err) = simgpu(&["run", a, bad.to_str().unwrap()], dir.path());
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("bad.toml"), "{err}");
    let (code, _, err) = simgpu(&["run", a, b, "--trace", "t.json"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("one scenario") && !dir.path().join("t.json").exists(), "{err}");
    let (code, _, err) = simgpu(&["run", a, "--max-events", "1.5"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("whole number"), "{err}");
}

/// `simgpu generate`: a bad config names its field and writes nothing; a good one writes a
/// scenario that `simgpu run` runs, the same bytes from any directory.
#[test]
fn generate_errors_and_output() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "config.json", r#"{"model_type": "qwen2", "hidden_size": 0}"#);
    let (code, _, stderr) = simgpu(
        &["generate", "--model", "config.json", "--phase", "decode", "--host-us", "5", "--out", "s.toml"],
        dir.path(),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("config.json: `hidden_size`"), "{stderr}");
    assert!(!dir.path().join("s.toml").exists());
    let (code, _, stderr) = simgpu(&["generate", "--model", "qwen2.5-7b", "--phase", "decode"], dir.path());
    assert_eq!(code, 2, "eager needs a host: {stderr}");
    let args = [
        "generate",
        "--model",
        "llama-3.2-1b",
        "--phase",
        "decode",
        "--batch",
        "4",
        "--host",
        "h100-lease-torch-eager",
    ];
    let (code, a, stderr) = simgpu(&args, dir.path());
    assert_eq!(code, 0, "{stderr}");
    let (_, b, _) = simgpu(&args, std::path::Path::new("/"));
    assert_eq!(a, b, "the same bytes from any directory");
    write(dir.path(), "gen.toml", &a);
    let (code, out, stderr) = simgpu(&["run", "gen.toml", "--json", "-q"], dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("\"unit\": \"tokens\""), "{out}");
    // A step that does not fit is an error that says by how much, not a simulation.
    let big = ["generate", "--model", "llama-3.1-8b", "--phase", "decode", "--batch", "256", "--context", "32768"];
    let (code, out, stderr) = simgpu(&[&big[..], &["--host-us", "10"]].concat(), dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(out.is_empty() && stderr.contains("does not fit on h100-sxm") && stderr.contains("KV cache"), "{stderr}");
    // A chunk of a chunked prefill: its throughput is prompt tokens.
    let chunk = ["generate", "--model", "llama-3.2-1b", "--phase", "chunk", "--tokens", "256", "--context", "1024"];
    let (code, out, stderr) = simgpu(&[&chunk[..], &["--launch", "graph"]].concat(), dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("chunk-b1-c256-ctx1024") && out.contains("unit = \"tokens\""), "{out}");
    // An MPS client's memory limit: Qwen2.5-7B's 15.2 GB of weights and a torch context (0.72 GB)
    // fit in 16 GB, not in 15.
    let small = ["generate", "--model", "qwen2.5-7b", "--phase", "decode", "--launch", "graph", "--memory-limit-gb"];
    let (code, _, stderr) = simgpu(&[&small[..], &["15"]].concat(), dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("CUDA context 0.72 GB") && stderr.contains("limit of 15 GB"), "{stderr}");
    let (code, out, stderr) = simgpu(&[&small[..], &["16"]].concat(), dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("of the process's limit of 16 GB"), "{out}");
    let (code, _, stderr) = simgpu(&[&small[..], &["nan"]].concat(), dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--memory-limit-gb"), "{stderr}");
    // A mixture of experts: its per-expert loops are groups inside the layer's group, written
    // nested and read back to the same launches; in a CUDA graph, or on a host whose device-read
    // cost is not measured, it is refused.
    let moe = ["generate", "--model", "qwen3-30b-a3b", "--phase", "decode", "--batch", "16"];
    let (code, out, stderr) = simgpu(&[&moe[..], &["--host", "h100-lease-torch-eager"]].concat(), dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("[[clients.kernels.kernels]]\nname = \"experts of 1 token\"\nrepeat = 49"), "{out}");
    let scn = simgpu_sim::Scenario::parse("moe.toml", &out).unwrap();
    let (spec, _) = scn.to_spec();
    // 48 layers of (82 experts of 17 kernels and the rest), and the step's own kernels.
    assert_eq!(spec.clients[0].launches_per_request(), 62_370);
    for bad in [&["--launch", "graph"][..], &["--host", "h200-lease-torch-eager"][..], &["--host-us", "10"][..]] {
        let (code, _, stderr) = simgpu(&[&moe[..], bad].concat(), dir.path());
        assert_eq!(code, 2, "{bad:?}: {stderr}");
        assert!(stderr.contains("reads the device"), "{stderr}");
    }
}
