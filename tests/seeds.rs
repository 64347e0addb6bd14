//! `simgpu seeds`: the seed documents' published figures beside the predictions for the scenarios
//! that restate them. docs/seeds.md is the command's page, regenerated and compared here; the
//! figures are the seed's (docs/design.md), and the command refuses a bad figures file with its
//! file, line and field.

mod common;

use common::{simgpu, write};
use serde_json::Value;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const PUBLISHED: &str = "validate/seeds/seed003.toml";
/// Every seed file, in the order docs/seeds.md lists them.
const ALL: [&str; 2] = ["validate/seeds/seed001.toml", PUBLISHED];

#[test]
fn docs_seeds_md_is_what_the_command_gives() {
    let root = repo();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("seeds.md");
    let mut args = vec!["seeds"];
    args.extend(ALL);
    args.extend(["--markdown", page.to_str().unwrap()]);
    let (rc, _, err) = simgpu(&args, &root);
    assert_eq!(rc, 0, "{err}");
    let fresh = std::fs::read_to_string(&page).unwrap();
    let committed = std::fs::read_to_string(root.join("docs/seeds.md")).unwrap();
    assert!(
        fresh == committed,
        "docs/seeds.md is out of date: regenerate it with `simgpu seeds {} --markdown docs/seeds.md`",
        ALL.join(" ")
    );
}

#[test]
fn every_figure_is_the_seeds_and_every_prediction_the_scenarios_run() {
    let root = repo();
    let (rc, out, err) = simgpu(&["seeds", PUBLISHED, "--json"], &root);
    assert_eq!(rc, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let c = &v[0];
    let figures = c["figures"].as_array().unwrap();
    // Run 2's headline (docs/design.md): 61.4 tok/s alone, 24.7 under MPS, 28.2 time-sliced.
    let find = |table: &str, row: &str, column: &str| {
        figures
            .iter()
            .find(|f| f["table"] == table && f["row"] == row && f["column"] == column)
            .unwrap_or_else(|| panic!("{table} / {row} / {column}"))
    };
    let gen = |col| find("Run 2", "Gen throughput (tok/s)", col)["measured"].as_f64().unwrap();
    assert_eq!((gen("Step 1 (gen only)"), gen("Step 2 (MPS)"), gen("Step 3 (time-sliced)")), (61.4, 24.7, 28.2));
    assert_eq!(find("Run 1", "Gen throughput (tok/s)", "Step 2 (MPS)")["measured"], serde_json::json!([238.0, 354.0]));
    // The prediction is what `simgpu run` prints for the case's scenario.
    let f = find("Run 3", "Gen throughput (tok/s)", "Step 2 (MPS)");
    let (rc, run, err) = simgpu(&["run", "--json", "scenarios/seed003/run3-mps.toml"], &root);
    assert_eq!(rc, 0, "{err}");
    let run: Value = serde_json::from_str(&run).unwrap();
    let gen_run = run["clients"].as_array().unwrap().iter().find(|c| c["name"] == "gen").unwrap();
    assert_eq!(f["predicted"], gen_run["throughput_per_s"]);
    let err_of = f["error"].as_f64().unwrap();
    let predicted = f["predicted"].as_f64().unwrap();
    assert!((err_of - (predicted - 143.3) / 143.3).abs() < 1e-12);
    // A met figure is within its goal; the counts add up.
    let met = figures.iter().filter(|f| f["met"] == true).count();
    assert_eq!(c["met"].as_u64(), Some(met as u64));
    for f in figures {
        assert_eq!(f["met"] == true, f["error"].as_f64().unwrap().abs() <= f["goal"].as_f64().unwrap(), "{f}");
    }
    assert_eq!(c["winners"].as_array().unwrap().len(), 6);
    assert!(c["character"].as_array().unwrap().iter().any(|r| r["statistic"] == "kernels per second"));
}

/// Seed 001's gains are the shared scenario's clients against the alone one's, and a trend is
/// met exactly when its gains do not rise.
#[test]
fn gains_are_the_two_runs_and_trends_their_order() {
    let root = repo();
    let (rc, out, err) = simgpu(&["seeds", "validate/seeds/seed001.toml", "--json"], &root);
    assert_eq!(rc, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let gains = v[0]["gains"].as_array().unwrap();
    assert_eq!(gains.len(), 32);
    let total = |scenario: &str| -> f64 {
        let (rc, out, err) = simgpu(&["run", "--json", scenario], &root);
        assert_eq!(rc, 0, "{err}");
        let r: Value = serde_json::from_str(&out).unwrap();
        r["clients"].as_array().unwrap().iter().map(|c| c["throughput_per_s"].as_f64().unwrap()).sum()
    };
    let g = gains.iter().find(|g| g["label"] == "decode 0.5B ctx 128").unwrap();
    let expect = total("scenarios/seed001/decode-0.5b-ctx128-mps2.toml")
        / total("scenarios/seed001/decode-0.5b-ctx128-one.toml")
        - 1.0;
    assert!((g["predicted"].as_f64().unwrap() - expect).abs() < 1e-12);
    for t in v[0]["trends"].as_array().unwrap() {
        let p: Vec<f64> = t["predicted"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert_eq!(t["met"] == true, p.windows(2).all(|w| w[1] <= w[0] + 0.01), "{t}");
    }
}

#[test]
fn a_bad_figures_file_names_its_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let root = repo();
    let text = std::fs::read_to_string(root.join(PUBLISHED)).unwrap();
    let bad = text.replacen("metric = \"throughput_per_s\"", "metric = \"tokens\"", 1);
    write(dir.path(), "published.toml", &bad);
    let line = bad[..bad.find("metric = \"tokens\"").unwrap()].lines().count() + 1;
    let (rc, out, err) = simgpu(&["seeds", dir.path().join("published.toml").to_str().unwrap()], dir.path());
    assert_eq!(rc, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains(&format!("published.toml:{line}")) && err.contains("metric"), "{err}");
    // A scenario that is not there: an error naming it, no page written.
    // (The other scenarios by absolute path, so that only the missing one fails.)
    let text = text.replace("../../scenarios/", &format!("{}/scenarios/", root.display()));
    let bad = text.replacen(&format!("{}/scenarios/seed003/run1-gen-alone.toml", root.display()), "no-such.toml", 1);
    write(dir.path(), "published.toml", &bad);
    let page = dir.path().join("seeds.md");
    let (rc, _, err) = simgpu(
        &["seeds", dir.path().join("published.toml").to_str().unwrap(), "--markdown", page.to_str().unwrap()],
        dir.path(),
    );
    assert_ne!(rc, 0);
    assert!(err.contains("no-such.toml"), "{err}");
    assert!(!page.exists());
}
