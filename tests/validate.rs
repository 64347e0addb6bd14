//! `simgpu validate report` against the committed records: the measured values are the record's,
//! the predicted ones are what `simgpu run` gives for the case's scenario, the errors and MAPE
//! follow from both, the output is the same from any directory, and bad records are refused
//! with the file, line and field.

mod common;

use common::{simgpu, write};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const RECORD: &str = "validate/records/seed000-h100-2026-11-21.jsonl";

fn report_json(dir: &Path, record: &str) -> Value {
    let (rc, out, err) = simgpu(&["validate", "report", record, "--json"], dir);
    assert_eq!(rc, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn measured_is_the_record_and_predicted_is_the_scenarios_run() {
    let root = repo();
    let v = report_json(&root, RECORD);
    let e = &v["experiments"][0];
    assert_eq!(e["experiment"], "seed000-h100");
    assert_eq!(e["profile"]["calibrated"], true);
    // Every value of the record file appears, once, as measured.
    let text = std::fs::read_to_string(root.join(RECORD)).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let n: usize = lines.iter().map(|l| l["measured"].as_array().unwrap().len()).sum();
    let rows = e["rows"].as_array().unwrap();
    assert_eq!(rows.len(), n);
    assert_eq!(v["rows"].as_u64(), Some(n as u64));
    // The mps-132 softmax p50 is the one `simgpu run` prints for that case's scenario.
    let (rc, out, err) = simgpu(&["run", "validate/experiments/seed000-h100/mps-132.toml", "--json", "-q"], &root);
    assert_eq!(rc, 0, "{err}");
    let run: Value = serde_json::from_str(&out).unwrap();
    let p50 = run["clients"][0]["latency_us"]["p50"].as_f64().unwrap();
    let row = rows.iter().find(|r| r["case"] == "mps-132" && r["metric"] == "softmax.p50_us").unwrap();
    assert_eq!(row["predicted"].as_f64(), Some(p50));
    let measured = lines.iter().find(|l| l["case"] == "mps-132").unwrap()["measured"][0]["value"].as_f64();
    assert_eq!(row["measured"].as_f64(), measured);
    // Errors and MAPE follow from both.
    let mut sum = 0.0;
    for r in rows {
        let (m, p, err) =
            (r["measured"].as_f64().unwrap(), r["predicted"].as_f64().unwrap(), r["error"].as_f64().unwrap());
        assert!((err - (p - m) / m).abs() < 1e-12);
        sum += err.abs();
    }
    assert!((e["mape"].as_f64().unwrap() - sum / rows.len() as f64).abs() < 1e-12);
    // Both choices are judged.
    assert_eq!(v["choices_judged"].as_u64(), Some(2));
}

#[test]
fn the_report_is_the_same_from_any_directory() {
    let root = repo();
    let here = report_json(&root, RECORD);
    let elsewhere = tempfile::tempdir().unwrap();
    let abs = root.join(RECORD);
    let there = report_json(elsewhere.path(), abs.to_str().unwrap());
    assert_eq!(here, there);
    let (_, table_here, _) = simgpu(&["validate", "report", RECORD], &root);
    let (_, table_there, _) = simgpu(&["validate", "report", abs.to_str().unwrap()], elsewhere.path());
    assert_eq!(table_here, table_there);
    assert!(table_here.contains("overall: 17 values"), "{table_here}");
}

#[test]
fn bad_records_are_refused_with_file_line_and_field() {
    let root = repo();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root.join(RECORD)).unwrap();
    let exp = root.join("validate/experiments/seed000-h100.toml");
    let fixed = text.replace("../experiments/seed000-h100.toml", exp.to_str().unwrap());
    // A value of 0 on the third line.
    let mut lines: Vec<String> = fixed.lines().map(String::from).collect();
    let at = lines[2].find("\"value\": ").unwrap() + "\"value\": ".len();
    let end = at + lines[2][at..].find(',').unwrap();
    lines[2].replace_range(at..end, "0.0");
    write(dir.path(), "bad.jsonl", &lines.join("\n"));
    let (rc, _, err) = simgpu(&["validate", "report", "bad.jsonl"], dir.path());
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("bad.jsonl:3") && err.contains("measured[0].value"), "{err}");
    // A case the experiment does not have.
    write(dir.path(), "case.jsonl", &fixed.replacen("\"case\": \"alone\"", "\"case\": \"alone-2\"", 1));
    let (rc, _, err) = simgpu(&["validate", "report", "case.jsonl"], dir.path());
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("case `alone-2` is not in experiment `seed000-h100`"), "{err}");
    // A metric the experiment does not list for the case.
    write(dir.path(), "metric.jsonl", &fixed.replacen("\"metric\": \"p90_us\"", "\"metric\": \"p99_us\"", 1));
    let (rc, _, err) = simgpu(&["validate", "report", "metric.jsonl"], dir.path());
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("measures `softmax.p99_us`, which the experiment does not list"), "{err}");
    // A missing experiment file.
    write(dir.path(), "lost.jsonl", &text);
    let (rc, _, err) = simgpu(&["validate", "report", "lost.jsonl"], dir.path());
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("lost.jsonl: case `alone`: experiment file"), "{err}");
}

#[test]
fn every_committed_record_scores() {
    let root = repo();
    let mut args = vec!["validate".to_string(), "report".to_string(), "--json".to_string()];
    let mut values = 0;
    for e in std::fs::read_dir(root.join("validate/records")).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(l).unwrap();
            values += v["measured"].as_array().unwrap().len();
        }
        args.push(p.to_str().unwrap().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (rc, out, err) = simgpu(&args, &root);
    assert_eq!(rc, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rows"].as_u64(), Some(values as u64));
    assert!(v["experiments"].as_array().unwrap().len() >= 2);
}

#[test]
fn validate_run_checks_everything_before_any_process_starts() {
    let root = repo();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.jsonl");
    let out = out.to_str().unwrap();
    // Seed 000's H100 cases measure a kernel's mean time, which no client reports: refused,
    // naming the case and metric, before NVML is looked for.
    let (rc, _, err) = simgpu(&["validate", "run", "validate/experiments/seed000-h100.toml", "--out", out], &root);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("case `timeslice-132`: `compute.kernel_mean_us[compute_kernel]`"), "{err}");
    // A client with no command is replayed; one the replayer cannot run (a grid past CUDA's
    // 2^31 - 1 blocks) is refused with its client and kernel, before anything starts.
    let scn = std::fs::read_to_string(root.join("validate/experiments/seed000-h100/alone.toml")).unwrap();
    let scn = scn.replacen("grid = 16\n", "grid = 3000000000\n", 1);
    assert!(scn.contains("grid = 3000000000"));
    std::fs::write(dir.path().join("alone.toml"), scn).unwrap();
    let exp = "name = \"x\"\ngpu = \"h100-sxm\"\n[[cases]]\nname = \"alone\"\nscenario = \"alone.toml\"\n\
               measure = [{ client = \"softmax\", metric = \"p50_us\" }]\n";
    std::fs::write(dir.path().join("x.toml"), exp).unwrap();
    let (rc, _, err) = simgpu(&["validate", "run", "x.toml", "--out", "r.jsonl"], dir.path());
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("client `softmax` cannot be replayed: kernels[0] (`softmax_fwd`)"), "{err}");
    assert!(err.contains("a grid of 3000000000 blocks"), "{err}");
    std::fs::remove_file(dir.path().join("x.toml")).unwrap();
    std::fs::remove_file(dir.path().join("alone.toml")).unwrap();
    let pairs = "validate/experiments/pairs-h200.toml";
    let (rc, _, err) = simgpu(&["validate", "run", pairs, "--out", out, "--only", "mps,nope"], &root);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("--only nope: no such case"), "{err}");
    let (rc, _, err) = simgpu(&["validate", "run", pairs, "--out", out, "--seconds", "0.1"], &root);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("--seconds 0.1"), "{err}");
    let (rc, _, err) = simgpu(&["validate", "run", pairs, "--out", "/nonexistent-dir/r.jsonl"], &root);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("does not exist"), "{err}");
    // Nothing was written, and no temporary was left.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn the_plot_is_written_whole_or_refused_first() {
    let root = repo();
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("v.png");
    let (rc, _, err) = simgpu(&["validate", "report", RECORD, "--plot", png.to_str().unwrap()], &root);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
    let bad = dir.path().join("v.jpg");
    let (rc, out, err) = simgpu(&["validate", "report", RECORD, "--plot", bad.to_str().unwrap()], &root);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("--plot needs a .png or .svg"), "{err}");
    assert!(out.is_empty());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Every committed record, as `validate report` arguments relative to the repository root.
fn committed_records(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("validate/records"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .map(|p| format!("validate/records/{}", p.file_name().unwrap().to_str().unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn committed_records_stay_within_the_committed_thresholds() {
    let root = repo();
    let t: toml::Table = std::fs::read_to_string(root.join("validate/thresholds.toml")).unwrap().parse().unwrap();
    let overall = t["max_overall_mape_pct"].as_float().unwrap();
    let mut args = vec!["validate".to_string(), "report".into(), "--json".into(), "--max-mape".into()];
    args.push(overall.to_string());
    args.extend(committed_records(&root));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (rc, out, err) = simgpu(&args, &root);
    assert_eq!(rc, 0, "the overall MAPE rose above validate/thresholds.toml's {overall}%: {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let per = t["max_experiment_mape_pct"].as_table().unwrap();
    for e in v["experiments"].as_array().unwrap() {
        let name = e["experiment"].as_str().unwrap();
        let max = per.get(name).and_then(|x| x.as_float());
        let max = max.unwrap_or_else(|| panic!("experiment {name} has no threshold in validate/thresholds.toml"));
        let mape = e["mape"].as_f64().unwrap() * 100.0;
        assert!(mape <= max, "experiment {name}: MAPE {mape:.2}% above its threshold {max}%");
    }
}

#[test]
fn the_gate_fails_when_the_error_is_above_it() {
    let root = repo();
    let (rc, _, err) = simgpu(&["validate", "report", RECORD, "--max-mape", "1"], &root);
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("above --max-mape 1%"), "{err}");
    let (rc, _, err) = simgpu(&["validate", "report", RECORD, "--max-mape=-3"], &root);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("--max-mape -3"), "{err}");
}

#[test]
fn docs_validation_md_is_what_the_committed_records_give() {
    let root = repo();
    let dir = tempfile::tempdir().unwrap();
    let (page, plot) = (dir.path().join("validation.md"), dir.path().join("validation.png"));
    let mut args = vec!["validate".to_string(), "report".into()];
    args.extend(committed_records(&root));
    args.extend(["--markdown".into(), page.display().to_string(), "--plot".into(), plot.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (rc, _, err) = simgpu(&args, &root);
    assert_eq!(rc, 0, "{err}");
    let fresh = std::fs::read_to_string(&page).unwrap();
    assert!(fresh.contains("**Overall: "), "{fresh}");
    assert!(fresh.contains("![predicted against measured](validation.png)"), "{fresh}");
    assert!(plot.metadata().unwrap().len() > 1000);
    let committed = std::fs::read_to_string(root.join("docs/validation.md")).unwrap();
    assert!(
        fresh == committed,
        "docs/validation.md is out of date: regenerate it with `simgpu validate report validate/records/*.jsonl \
         --markdown docs/validation.md --plot docs/validation.png`"
    );
}

#[test]
fn gpu_power_and_clock_are_judged_against_the_simulated_gpu() {
    let root = repo();
    let dir = tempfile::tempdir().unwrap();
    let exp = root.join("validate/experiments/seed000-h200.toml");
    let line = serde_json::json!({
        "experiment": exp.display().to_string(),
        "case": "alone",
        "provenance": {"gpu": "NVIDIA H200", "driver": "d", "cuda": "13.0", "date": "2026-12-04", "command": "test"},
        "measured": [
            {"client": "gpu", "metric": "power_w", "value": 200.0, "samples": 300},
            {"client": "gpu", "metric": "sm_clock_mhz", "value": 1980.0, "samples": 300},
        ],
    });
    write(dir.path(), "gpu.jsonl", &format!("{line}\n"));
    let v = report_json(dir.path(), "gpu.jsonl");
    let rows = v["experiments"][0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    // The predictions are the case's simulated GPU.
    let (rc, out, err) =
        simgpu(&["run", "--json", exp.with_file_name("seed000-h200/alone.toml").to_str().unwrap()], dir.path());
    assert_eq!(rc, 0, "{err}");
    let run: Value = serde_json::from_str(&out).unwrap();
    let g = &run["gpu_stats"];
    assert_eq!(rows[0]["metric"], "gpu.power_w");
    assert_eq!(rows[0]["predicted"].as_f64(), g["avg_power_w"].as_f64());
    assert_eq!(rows[1]["predicted"].as_f64(), g["avg_effective_sm_clock_mhz"].as_f64());
}
