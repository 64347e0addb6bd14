//! A run that reports at several horizons (`Windows`, a plan's growing windows) gives at each the
//! report a fresh run to that horizon gives, field for field and bit for bit.

mod common;

use simgpu_sim::spec::{Arrivals, Layout, WorkloadSpec};
use simgpu_sim::{run, Scenario, Windows, Workload};

fn scenario(rel: &str) -> (WorkloadSpec, Layout) {
    let path = format!("{}/../scenarios/{rel}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("bundled scenario");
    Scenario::parse(&path, &text).expect("parses").to_spec()
}

fn build(spec: &WorkloadSpec, layout: &Layout, duration_s: f64) -> Workload {
    let spec = WorkloadSpec { duration_s, ..spec.clone() };
    Workload::build(&spec, layout, &common::h100()).expect("builds")
}

/// Reports at `windows` (seconds, rising) from one run against fresh runs to each.
fn same_as_fresh(what: &str, spec: &WorkloadSpec, layout: &Layout, windows: &[f64]) {
    let longest = build(spec, layout, *windows.last().expect("a window"));
    let mut runs = Windows::new(&longest).expect("one GPU");
    for &s in windows {
        let got = runs.report_at((s * 1e9) as u64, None, None).expect("runs");
        let want = run(&build(spec, layout, s));
        // The planner's intervals are not in the JSON: compared on their own, to the bit.
        let ci = |r: &simgpu_sim::Report| -> Vec<Option<u64>> {
            r.clients.iter().map(|c| c.throughput_ci95_per_s.map(f64::to_bits)).collect()
        };
        assert_eq!(ci(&got), ci(&want), "{what} at {s} s: intervals");
        let (got, want) = (serde_json::to_value(&got).unwrap(), serde_json::to_value(&want).unwrap());
        assert!(got == want, "{what} at {s} s:\n got: {got}\nwant: {want}");
    }
}

#[test]
fn each_window_reports_what_a_fresh_run_to_it_does() {
    for rel in [
        "bench/decode-mps.toml",
        "seed000/mps-132.toml",
        "seed000/timeslice-132.toml",
        "layouts/h100-decode-embed-mps.toml",
        "layouts/h100-decode-embed-mig-4g-3g.toml",
        "power/dense-gemm-h100-sxm.toml",
    ] {
        let (spec, layout) = scenario(rel);
        same_as_fresh(rel, &spec, &layout, &[0.013, 0.05, 0.05, 0.1237, 0.25]);
    }
}

#[test]
fn poisson_arrivals_and_clients_that_finish_early() {
    let (mut spec, layout) = scenario("layouts/h100-decode-embed-mps.toml");
    spec.clients[0].arrivals = Arrivals::Poisson { rate_per_s: 300.0 };
    spec.clients[0].requests = None;
    spec.clients[1].requests = Some(7);
    same_as_fresh("poisson", &spec, &layout, &[0.02, 0.07, 0.3]);
    // Seconds between requests: the controller at a fixed point, its ticks fast-forwarded
    // across the horizons.
    spec.clients[0].arrivals = Arrivals::Poisson { rate_per_s: 2.0 };
    same_as_fresh("sparse poisson", &spec, &layout, &[0.9, 1.75, 3.3]);
}

#[test]
fn a_workload_over_several_gpus_is_refused() {
    let (spec, layout) = scenario("layouts/h100-decode-embed-dedicated.toml");
    let w = build(&spec, &layout, 0.01);
    assert!(w.gpu_count() > 1);
    assert!(Windows::new(&w).is_none());
}
