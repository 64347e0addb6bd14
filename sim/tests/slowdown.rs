//! Slowdown attribution: the causes of a client's loss against running alone add up to it, and
//! each sharing mechanism shows up as its own cause.

use proptest::prelude::*;
use simgpu_sim::slowdown::{attribute_all, Slowdown};
use simgpu_sim::{GpuProfile, Report, RunOptions, Scenario};

fn profile(text: &str) -> GpuProfile {
    GpuProfile::from_toml("h100-sxm.toml", text).expect("profile parses")
}

fn h100() -> GpuProfile {
    profile(include_str!("../../models/gpus/h100-sxm.toml"))
}

/// The profile `simgpu run` picks for the seed 000 scenarios.
fn calibrated() -> GpuProfile {
    profile(include_str!("../../models/gpus/h100-sxm.calibrated.toml"))
}

fn accounted(w: &simgpu_sim::Workload) -> Report {
    simgpu_sim::run_with(w, RunOptions { account_time: true, ..Default::default() }).expect("runs to its end")
}

/// The scenario run as written and alone, with `clients[].slowdown` filled in.
fn attributed(text: &str, gpu: &GpuProfile) -> Report {
    let scn = Scenario::parse("test.toml", text).expect("parses");
    let mut shared = accounted(&scn.bind(gpu).expect("binds"));
    let alone = scn.bind_alone(gpu).expect("binds").expect("not dedicated");
    attribute_all(&mut shared, &accounted(&alone));
    shared
}

fn share(s: &Slowdown, cause: &str) -> f64 {
    s.causes.iter().find(|c| c.cause == cause).map(|c| c.share).expect("every cause is listed")
}

/// The causes add up to the loss, the per-state times to the time per request, and (closed loop)
/// the loss is the throughput lost.
fn check_sums(r: &Report) -> Result<(), String> {
    for c in &r.clients {
        let Some(s) = &c.slowdown else { continue };
        let sum: f64 = s.causes.iter().map(|c| c.share).sum();
        if (sum - s.loss).abs() > 1e-9 * s.loss.abs().max(1.0) {
            return Err(format!("{}: causes sum to {sum}, loss {}", c.name, s.loss));
        }
        let shared: f64 = s.causes.iter().map(|c| c.shared_us).sum();
        let alone: f64 = s.causes.iter().map(|c| c.alone_us).sum();
        for (what, a, b) in [("shared", shared, s.shared_us_per_request), ("alone", alone, s.alone_us_per_request)] {
            if (a - b).abs() > 1e-9 * b.max(1.0) {
                return Err(format!("{}: {what} states sum to {a} us, time per request {b} us", c.name));
            }
        }
        if s.causes.iter().any(|c| c.shared_us < -1e-9 || c.alone_us < -1e-9) {
            return Err(format!("{}: a negative time in a state: {s:?}", c.name));
        }
        let by_throughput = 1.0 - c.throughput_per_s / s.alone_throughput_per_s;
        if (by_throughput - s.loss).abs() > 1e-6 {
            return Err(format!("{}: loss {} but throughput lost {by_throughput}", c.name, s.loss));
        }
    }
    Ok(())
}

const MPS_132: &str = include_str!("../../scenarios/seed000/mps-132.toml");
const MPS_132_P50: &str = include_str!("../../scenarios/seed000/mps-132-p50.toml");
const TIMESLICE: &str = include_str!("../../scenarios/seed000/timeslice-132.toml");

#[test]
fn issue_share_slows_the_short_kernel_beside_the_long_one_under_mps() {
    let r = attributed(MPS_132, &calibrated());
    check_sums(&r).unwrap();
    let s = r.clients[0].slowdown.as_ref().expect("softmax has a slowdown");
    assert!(s.loss > 0.9, "{s:?}");
    assert!(share(s, "issue_share") > 0.9 * s.loss, "{s:?}");
}

#[test]
fn a_cap_shows_as_fewer_sms() {
    let r = attributed(MPS_132_P50, &calibrated());
    check_sums(&r).unwrap();
    let s = r.clients[1].slowdown.as_ref().expect("compute has a slowdown");
    // 132 blocks on 66 SMs: two waves instead of one.
    assert!((s.loss - 0.5).abs() < 0.01, "{s:?}");
    assert!((share(s, "fewer_sms") - 0.5).abs() < 0.01, "{s:?}");
}

#[test]
fn time_slicing_shows_as_waiting_for_slices_and_switches() {
    let r = attributed(TIMESLICE, &calibrated());
    check_sums(&r).unwrap();
    let s = r.clients[0].slowdown.as_ref().expect("softmax has a slowdown");
    let slicing = share(s, "time_slice_wait") + share(s, "switch_overhead");
    assert!(share(s, "switch_overhead") > 0.0 && slicing > 0.95 * s.loss, "{s:?}");
    assert_eq!(share(s, "issue_share"), 0.0, "contexts never share SMs: {s:?}");
}

#[test]
fn a_power_limit_shows_as_the_clock() {
    // Two clients of bf16 GEMM tiles on half the SMs each (one block per SM): alone, one keeps the
    // calibrated H100 under its power limit; together they fill every SM and hold the clock down.
    let gemm = |name: &str| {
        format!(
            "\n[[clients]]\nname = \"{name}\"\nrequests = 40\n\n[[clients.kernels]]\nname = \"gemm\"\ngrid = 66\n\
             block = 384\nregs_per_thread = 168\nsmem_bytes = 200000\nop = \"bf16_tensor\"\nflops_per_block = 4e10\n\
             dram_bytes_per_block = 1e6\n"
        )
    };
    let text = format!("gpu = \"h100-sxm\"\nsharing = \"mps\"\nduration_s = 10.0\n{}{}", gemm("a"), gemm("b"));
    let r = attributed(&text, &calibrated());
    check_sums(&r).unwrap();
    assert!(r.gpu_stats.avg_effective_sm_clock_mhz < 1900.0, "{:?}", r.gpu_stats);
    for c in &r.clients {
        let s = c.slowdown.as_ref().expect("a slowdown");
        assert!(s.loss > 0.05 && share(s, "clock") > 0.9 * s.loss, "{s:?}");
    }
}

#[test]
fn dedicated_clients_have_no_reference_run() {
    let scn = Scenario::parse("alone.toml", include_str!("../../scenarios/seed000/alone.toml")).unwrap();
    assert!(scn.bind_alone(&h100()).unwrap().is_none());
    let r = simgpu_sim::run(&scn.bind(&h100()).unwrap());
    assert!(r.clients.iter().all(|c| c.slowdown.is_none() && c.time_account.is_none()));
}

/// A closed-loop client of one or two kernels (grid, FLOPs per block, bytes per block).
fn client_toml(ci: usize, think_us: f64, kernels: &[(u64, f64, f64)], pct: Option<u32>) -> String {
    let mut t = format!("\n[[clients]]\nname = \"c{ci}\"\nrequests = 6\nthink_us = {think_us:?}\n");
    if let Some(p) = pct {
        t += &format!("mps_thread_percentage = {p}\n");
    }
    for (ki, (grid, flops, bytes)) in kernels.iter().enumerate() {
        t += &format!(
            "\n[[clients.kernels]]\nname = \"k{ki}\"\ngrid = {grid}\nblock = 256\nregs_per_thread = 32\n\
             flops_per_block = {flops:?}\ndram_bytes_per_block = {bytes:?}\nhost_gap_us = 5.0\n"
        );
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn causes_add_up_to_the_loss(
        sharing in prop::sample::select(vec!["mps", "timeslice", "streams"]),
        clients in prop::collection::vec(
            (0.0f64..50.0,
             prop::collection::vec((1u64..600, 1e4f64..1e8, 0.0f64..4e6), 1..=2),
             prop::option::of(10u32..=100)),
            2..=3),
    ) {
        let mut text = format!("gpu = \"h100-sxm\"\nsharing = \"{sharing}\"\nduration_s = 5.0\n");
        for (ci, (think, kernels, pct)) in clients.iter().enumerate() {
            text += &client_toml(ci, *think, kernels, if sharing == "mps" { *pct } else { None });
        }
        let r = attributed(&text, &h100());
        prop_assert!(r.clients.iter().all(|c| c.slowdown.is_some()), "every client measured");
        if let Err(e) = check_sums(&r) {
            return Err(TestCaseError::fail(format!("{e}\n{text}")));
        }
    }
}
