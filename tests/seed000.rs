//! Seed 000 (docs/design.md: a softmax beside a long FMA kernel on an H100) comes out with the forum's shape.

mod common;

use simgpu_sim::report::Report;

fn run_on(name: &str, gpu: &simgpu_sim::GpuProfile) -> Report {
    let path = format!("{}/scenarios/seed000/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let w = common::workload(&text, gpu);
    simgpu_sim::run(&w)
}

fn run(name: &str) -> Report {
    run_on(name, &common::h100())
}

fn softmax_p50(r: &Report) -> f64 {
    r.clients.iter().find(|c| c.name == "softmax").unwrap().latency_us.expect("measured").p50
}

fn compute_kernel_p50(r: &Report) -> f64 {
    let c = r.clients.iter().find(|c| c.name == "compute").unwrap();
    assert!(c.kernel_entries.as_ref().expect("entries")[0].completed >= 1, "no compute kernel completed");
    c.kernel_entries.as_ref().expect("entries")[0].duration_us.expect("measured").p50
}

#[test]
fn softmax_keeps_its_latency_where_the_forum_says() {
    let alone = softmax_p50(&run("alone"));
    assert!(alone > 0.0);
    for case in ["timeslice-132", "mps-66", "mps-66-p50", "mps-132-p50"] {
        let p50 = softmax_p50(&run(case));
        assert!(p50 <= 1.5 * alone, "{case}: softmax p50 {p50} us vs alone {alone} us");
    }
}

#[test]
fn uncapped_mps_slows_the_softmax_by_orders_of_magnitude() {
    let alone = softmax_p50(&run("alone"));
    let p50 = softmax_p50(&run("mps-132"));
    assert!(p50 >= 100.0 * alone, "mps-132: {p50} us vs alone {alone} us");
}

#[test]
fn capped_compute_kernel_takes_about_twice_as_long() {
    let ratio = compute_kernel_p50(&run("mps-132-p50")) / compute_kernel_p50(&run("mps-132"));
    assert!((1.7..=2.3).contains(&ratio), "ratio {ratio}");
}

#[test]
fn timeslice_preempts_the_long_kernel() {
    let r = run("timeslice-132");
    assert!(r.gpu_stats.context_switches >= 100, "{}", r.gpu_stats.context_switches);
}

/// The profile calibrated on the project's H100 keeps the shape too (and the real card showed it:
/// validate/seed000/replay-h100.jsonl).
#[test]
fn calibrated_h100_keeps_the_shape() {
    let gpu = simgpu_sim::GpuProfile::from_toml(
        "h100-sxm.calibrated.toml",
        include_str!("../models/gpus/h100-sxm.calibrated.toml"),
    )
    .unwrap();
    let alone = softmax_p50(&run_on("alone", &gpu));
    for case in ["timeslice-132", "mps-66", "mps-66-p50", "mps-132-p50"] {
        let p50 = softmax_p50(&run_on(case, &gpu));
        assert!(p50 <= 1.5 * alone, "{case}: {p50} vs {alone}");
    }
    assert!(softmax_p50(&run_on("mps-132", &gpu)) >= 100.0 * alone);
    let ratio = compute_kernel_p50(&run_on("mps-132-p50", &gpu)) / compute_kernel_p50(&run_on("mps-132", &gpu));
    assert!((1.7..=2.3).contains(&ratio), "ratio {ratio}");
}
