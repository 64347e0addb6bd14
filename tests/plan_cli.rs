//! `simgpu plan` from the command line: the table, sharded runs merged into the same JSON as one
//! run from another directory, and errors that name the line and leave nothing behind.

use std::path::Path;
use std::process::Command;

fn simgpu(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_simgpu")).args(args).current_dir(dir).output().expect("binary runs")
}

fn plan_file() -> String {
    format!("{}/tests/data/plan/light.toml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shards_merged_print_what_one_run_prints() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_file();
    let whole = simgpu(dir.path(), &["plan", &plan, "--json", "--quiet", "--jobs", "2"]);
    assert!(whole.status.success(), "{}", String::from_utf8_lossy(&whole.stderr));
    for k in 1..=2 {
        let out = simgpu(
            dir.path(),
            &["plan", &plan, "--shard", &format!("{k}/2"), "--out", &format!("s{k}.json"), "--quiet"],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // From another directory, on one thread.
    let merged = simgpu(
        Path::new("/"),
        &[
            "plan",
            "merge",
            &plan,
            &dir.path().join("s1.json").display().to_string(),
            &dir.path().join("s2.json").display().to_string(),
            "--json",
        ],
    );
    assert!(merged.status.success(), "{}", String::from_utf8_lossy(&merged.stderr));
    assert_eq!(String::from_utf8_lossy(&whole.stdout), String::from_utf8_lossy(&merged.stdout));
    let missing = simgpu(dir.path(), &["plan", "merge", &plan, "s1.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("shard 2/2 is missing"));
    // The table says what was simulated and gives the verdict.
    let table = simgpu(dir.path(), &["plan", &plan, "--quiet", "--plot", "p.svg"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("layouts: ") && text.contains("verdict: co-location pays off"), "{text}");
    assert!(dir.path().join("p.svg").is_file());
}

#[test]
fn bad_plans_name_the_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(plan_file()).unwrap().replace("count = 4", "count = 0");
    std::fs::write(dir.path().join("bad.toml"), text).unwrap();
    let out = simgpu(dir.path(), &["plan", "bad.toml", "--out", "r.json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:23:") && err.contains("gpus[0].count"), "{err}");
    assert!(!dir.path().join("r.json").exists());
    // An output that cannot be written is refused before anything is simulated.
    let out = simgpu(dir.path(), &["plan", &plan_file(), "--out", "no/such/dir/r.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

/// A mixture of experts is planned as transformers' eager loop: in a CUDA graph it is refused at
/// its line; eager, a step longer than the longest window prunes the layout and says so, and a
/// longer window serves it.
#[test]
fn mixtures_of_experts_are_planned_eagerly() {
    let dir = tempfile::tempdir().unwrap();
    let plan = |extra: &str, sim: &str| {
        format!(
            "name = \"moe\"\nseed = 0\n\n[[workloads]]\nname = \"moe\"\nmodel = \"qwen3-30b-a3b\"\nphase = \"decode\"\n\
             batch = 1\n{extra}demand_per_s = 5\np99_ms = 1000\n\n[[gpus]]\ntype = \"h100-sxm\"\ncount = 1\n\
             cost_per_hour = 2.99\n{sim}"
        )
    };
    std::fs::write(dir.path().join("graph.toml"), plan("", "")).unwrap();
    let out = simgpu(dir.path(), &["plan", "graph.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("graph.toml:6:") && err.contains("launch = \"eager\""), "{err}");
    let eager = "launch = \"eager\"\nhost = \"h100-lease-torch-eager\"\n";
    std::fs::write(dir.path().join("short.toml"), plan(eager, "\n[simulation]\nmax_window_s = 0.2\nwindow_s = 0.2\n"))
        .unwrap();
    let out = simgpu(dir.path(), &["plan", "short.toml", "--quiet"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("raise [simulation] max_window_s"), "{text}");
    std::fs::write(dir.path().join("eager.toml"), plan(eager, "")).unwrap();
    let out = simgpu(dir.path(), &["plan", "eager.toml", "--quiet"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("recommendation: 1 x h100-sxm"), "{text}");
}
