//! `issue`: how many warps fill an SM's issue slots.

use crate::bench_sharing::issue_sweep;
use crate::fit::fit_bandwidth;
use crate::step::{round, to_json, Field, Session, Step, Writes};
use simgpu_harness::HarnessError;

const SATURATE: Field<f64> =
    Field { name: "sharing.warps_to_saturate_issue", get: |p| &mut p.sharing.warps_to_saturate_issue };

pub const STEP: Step = Step {
    name: "issue",
    measures: "an FMA probe alone, one block per SM, 1 to 32 warps",
    fits: "the knee of throughput against warps (min(n x a, b), as for bandwidth)",
    writes: &[Writes::F64(SATURATE)],
    needs_mps: false,
    always: false,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let pts = issue_sweep(s.gpu, s.probes)?;
    let fit = fit_bandwidth(&pts).ok_or_else(|| HarnessError::Measurement("no issue samples".into()))?;
    s.record("issue", serde_json::json!({"samples_warps_flop_per_ns": pts, "fit": to_json(&fit)}));
    let saturate = (fit.total_gbs / fit.per_sm_gbs).clamp(1.0, 64.0);
    s.set(&SATURATE, round(saturate, 1));
    s.found.warps_to_saturate_issue = Some(saturate);
    Ok(format!("issue slots full at {saturate:.1} warps per SM"))
}
