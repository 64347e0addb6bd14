//! Per-kernel accuracy on real steps: every committed trace (tests/data/import/) is imported and
//! run alone on its GPU's calibrated profile, as `simgpu import` does; the step's kernel time and
//! each kernel class's median per-kernel error must stay within the thresholds committed in
//! tests/data/accuracy-thresholds.json. The traces judge the profiles; nothing is fitted to them.
//! A change that improves a figure may lower its threshold (`SIMGPU_BLESS=1 cargo test --release
//! --test accuracy` writes the current figures, rounded up to the next percent); one that
//! worsens it fails here.

mod common;

use serde_json::{json, Map, Value};
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// (workload, the GPUs it was traced on).
const WORKLOADS: &[(&str, &[&str])] = &[
    ("qwen7b-decode-b1-eager", &["h100", "h200"]),
    ("qwen7b-decode-b1-graph", &["h100", "h200"]),
    ("qwen7b-decode-b16-eager", &["h100", "h200"]),
    ("qwen7b-prefill-1024", &["h100", "h200"]),
    ("bge-base-b64-s256", &["h100", "h200"]),
    // The power probe's encoder load (docs/power.md), traced on the H200 only.
    ("encoder-b64-s512-h1024", &["h200"]),
];

/// (workload key, step error, class -> median per-kernel error), as fractions.
fn measure(gpu: &str, name: &str) -> (String, f64, Vec<(&'static str, f64)>) {
    let cmp = common::traced_step(gpu, name);
    let step = (cmp.predicted_us() / cmp.traced_us() - 1.0).abs();
    let classes = cmp.by_class().into_iter().map(|(c, _, _, e)| (c, e)).collect();
    (format!("{gpu}/{name}"), step, classes)
}

fn ceil_pct(x: f64) -> f64 {
    (x * 100.0 - 1e-9).ceil() / 100.0
}

#[test]
fn real_steps_stay_within_committed_errors() {
    let path = Path::new(ROOT).join("tests/data/accuracy-thresholds.json");
    let bless = std::env::var_os("SIMGPU_BLESS").is_some();
    let committed: Value =
        if bless { json!({}) } else { serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap() };
    let mut now = Map::new();
    let mut failures = Vec::new();
    let mut table = String::from("workload                          step err  class errors (median per kernel)\n");
    for gpu in ["h100", "h200"] {
        for (name, gpus) in WORKLOADS {
            if !gpus.contains(&gpu) {
                continue;
            }
            let (key, step, classes) = measure(gpu, name);
            let mut cls = Map::new();
            let mut line = format!("{key:<33} {:>7.1}%  ", step * 100.0);
            for (c, e) in &classes {
                line += &format!("{c} {:.0}%, ", e * 100.0);
                cls.insert((*c).into(), json!(ceil_pct(*e)));
                let limit = committed[&key]["classes"][*c].as_f64();
                match limit {
                    Some(l) if *e <= l + 1e-9 => {}
                    Some(l) => failures.push(format!("{key} {c}: {:.1}% > {:.0}%", e * 100.0, l * 100.0)),
                    None if !bless => failures.push(format!("{key} {c}: no committed threshold")),
                    None => {}
                }
            }
            table += line.trim_end_matches(", ");
            table += "\n";
            match committed[&key]["step"].as_f64() {
                Some(l) if step <= l + 1e-9 => {}
                Some(l) => failures.push(format!("{key} step: {:.1}% > {:.0}%", step * 100.0, l * 100.0)),
                None if !bless => failures.push(format!("{key}: no committed threshold")),
                None => {}
            }
            now.insert(key, json!({"step": ceil_pct(step), "classes": cls}));
        }
    }
    println!("{table}");
    if bless {
        std::fs::write(&path, serde_json::to_string_pretty(&Value::Object(now)).unwrap() + "\n").unwrap();
        return;
    }
    assert!(failures.is_empty(), "worse than committed:\n{}\n{table}", failures.join("\n"));
}
