//! `streams`: co-residence and issue share beside seed 000's kernel in one context.

use crate::bench_sharing::{carveout_fit, in_context, newcomer_share, summary};
use crate::step::{round, Field, Session, Step, Writes};
use simgpu_harness::HarnessError;

const LOCKED: Field<bool> =
    Field { name: "sharing.carveout_locked_in_context", get: |p| &mut p.sharing.carveout_locked_in_context };
const SLACK: Field<u32> = Field { name: "sharing.carveout_slack_bytes", get: |p| &mut p.sharing.carveout_slack_bytes };
const SHARE: Field<f64> =
    Field { name: "sharing.in_context_min_issue_share", get: |p| &mut p.sharing.in_context_min_issue_share };

pub const STEP: Step = Step {
    name: "streams",
    measures: "seed 000's FMA kernel on every SM (one stream), probes of 1..32 warps and 128 B..48 KB of shared memory on another",
    fits: "largest shared memory that still ran beside it (with the 1 KB reservation); demand / slowdown of the 32-warp probe",
    writes: &[Writes::Bool(LOCKED), Writes::U32(SLACK), Writes::F64(SHARE)],
    needs_mps: false,
    always: false,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let r = in_context(s.gpu, s.probes, s.fp32_flops_per_clk())?;
    s.record("streams", &r);
    let (slack, locked) =
        carveout_fit(&r, true).ok_or_else(|| HarnessError::Measurement("no shared-memory probe".into()))?;
    s.set(&LOCKED, locked);
    s.set(&SLACK, slack);
    if let Some(share) = newcomer_share(&r, s.warps_to_saturate_issue(), true) {
        s.set(&SHARE, round(share, 4));
    }
    Ok(summary(&r))
}
