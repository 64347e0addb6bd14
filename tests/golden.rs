//! Every bundled scenario gives the JSON committed in `tests/golden/` (apart from `sim.wall_ms`,
//! which is the clock on the wall). Refactoring must not move a number; a change of behaviour
//! that is meant regenerates the files with `SIMGPU_BLESS=1 cargo test --release --test golden`
//! and says why in the commit.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn scenarios() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).expect("scenarios/ exists") {
        let dir = dir.expect("readable").path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).expect("readable") {
            let f = f.expect("readable").path();
            if f.extension().is_some_and(|e| e == "toml") {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

fn golden_name(scenario: &Path) -> String {
    let dir = scenario.parent().and_then(|d| d.file_name()).and_then(|n| n.to_str()).unwrap_or("?");
    let stem = scenario.file_stem().and_then(|n| n.to_str()).unwrap_or("?");
    format!("{dir}__{stem}.json")
}

/// The report of one run, without the fields that depend on the machine.
fn report(scenario: &Path, cwd: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_simgpu"))
        .arg("run")
        .arg(scenario)
        .arg("--json")
        .arg("--kernel-entries")
        .current_dir(cwd)
        .output()
        .expect("binary runs");
    assert!(out.status.success(), "{}: {}", scenario.display(), String::from_utf8_lossy(&out.stderr));
    let mut v: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    if let Some(sim) = v.get_mut("sim").and_then(Value::as_object_mut) {
        sim.remove("wall_ms");
    }
    v
}

#[test]
fn bundled_scenarios_match_committed_reports() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("SIMGPU_BLESS").is_some();
    let list = scenarios();
    assert!(list.len() >= 9, "bundled scenarios found: {}", list.len());
    let mut failures = Vec::new();
    for s in &list {
        let got = report(s, Path::new(env!("CARGO_MANIFEST_DIR")));
        let file = golden.join(golden_name(s));
        if bless {
            let text = serde_json::to_string_pretty(&got).expect("serialises") + "\n";
            std::fs::write(&file, text).expect("golden file written");
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e} (create it with SIMGPU_BLESS=1)", file.display()));
        let want: Value = serde_json::from_str(&text).expect("golden JSON parses");
        if got != want {
            failures.push(format!(
                "{}: report differs from {}\n got: {}\nwant: {}",
                s.display(),
                file.display(),
                serde_json::to_string(&got).unwrap_or_default(),
                serde_json::to_string(&want).unwrap_or_default()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The same scenario gives the same bytes from any working directory.
#[test]
fn same_answer_from_any_directory() {
    let s = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/power/dense-gemm-h100-sxm.toml");
    let here = report(&s, Path::new(env!("CARGO_MANIFEST_DIR")));
    let tmp = tempfile::tempdir().expect("temp dir");
    let there = report(&s, tmp.path());
    assert_eq!(here, there);
}
