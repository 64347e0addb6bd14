//! `mps` (with `--mps`): SM caps, launch cost and co-residence across clients of an MPS daemon.

use crate::bench_launch::{run_launch, LaunchBenchConfig};
use crate::bench_mps::{cross_client, fit_granularity, launch_under_mps, sm_counts};
use crate::bench_sharing::{carveout_fit, newcomer_share, summary, LONG_S};
use crate::probe_kernels::seed_iters;
use crate::step::{round, to_json, Field, Session, Step, Writes};
use simgpu_harness::{HarnessError, MpsDaemon};

const GRANULARITY: Field<u32> =
    Field { name: "sharing.mps_sm_granularity", get: |p| &mut p.sharing.mps_sm_granularity };
const MIN_SMS: Field<u32> = Field { name: "sharing.mps_min_sms", get: |p| &mut p.sharing.mps_min_sms };
const EXTRA_LATENCY: Field<f64> =
    Field { name: "launch.mps_extra_latency_us", get: |p| &mut p.launch.mps_extra_latency_us };
const LOCKED: Field<bool> =
    Field { name: "sharing.carveout_locked_across_clients", get: |p| &mut p.sharing.carveout_locked_across_clients };
const SHARE: Field<f64> =
    Field { name: "sharing.cross_client_min_issue_share", get: |p| &mut p.sharing.cross_client_min_issue_share };

pub const STEP: Step = Step {
    name: "mps",
    measures: "clients of an MPS daemon of our own: thread percentages 1..100, the launch step, the probes beside seed 000's kernel",
    fits: "cap granularity and floor; extra launch round trip; carve-out and issue share across clients",
    writes: &[
        Writes::U32(GRANULARITY),
        Writes::U32(MIN_SMS),
        Writes::F64(EXTRA_LATENCY),
        Writes::Bool(LOCKED),
        Writes::F64(SHARE),
    ],
    needs_mps: true,
    always: false,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let info = s.info().clone();
    // The plain round trip to compare with: this run's launch step, else measured now (before
    // the daemon starts, so this process is no client of it).
    let plain = match s.found.plain_launch_round_trip_us {
        Some(us) => us,
        None => run_launch(s.gpu, s.kernels, &LaunchBenchConfig::default())?.host_round_trip_us.median,
    };
    let mut daemon = MpsDaemon::start()?;
    let counts = sm_counts(&daemon)?;
    let gran = fit_granularity(&counts, info.sm_count);
    let launch = launch_under_mps(&daemon)?;
    let hold_iters = seed_iters(LONG_S, s.fp32_flops_per_clk(), info.max_sm_clock_mhz);
    let cross = cross_client(&daemon, hold_iters)?;
    daemon.stop();
    s.record(
        "mps",
        serde_json::json!({
            "granularity": to_json(&gran),
            "launch": to_json(&launch),
            "plain_round_trip_us": plain,
            "cross_client": to_json(&cross),
        }),
    );
    let mut said = Vec::new();
    if let Some(g) = &gran {
        s.set(&GRANULARITY, g.granularity);
        s.set(&MIN_SMS, g.min_sms);
        said.push(format!(
            "caps in steps of {} SMs, at least {} (rule {})",
            g.granularity,
            g.min_sms,
            if g.floor_rule_matches { "matches" } else { "does not match" }
        ));
    }
    let extra = (launch.host_round_trip_us.median - plain).max(0.0);
    s.set(&EXTRA_LATENCY, round(extra, 2));
    said.push(format!("+{extra:.1} us per launch"));
    if let Some((_, locked)) = carveout_fit(&cross, false) {
        s.set(&LOCKED, locked);
    }
    if let Some(share) = newcomer_share(&cross, s.warps_to_saturate_issue(), false) {
        s.set(&SHARE, round(share, 4));
    }
    said.push(summary(&cross));
    Ok(said.join("; "))
}
