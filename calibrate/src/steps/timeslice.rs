//! `timeslice`: the time slice and the context-switch cost, from two processes.

use crate::bench_timeslice::{fit, measure};
use crate::step::{round, to_json, Field, Session, Step, Writes};
use simgpu_harness::HarnessError;

const SLICE: Field<f64> = Field { name: "sharing.timeslice_us", get: |p| &mut p.sharing.timeslice_us };
const SWITCH: Field<f64> = Field { name: "sharing.context_switch_us", get: |p| &mut p.sharing.context_switch_us };

pub const STEP: Step = Step {
    name: "timeslice",
    measures: "two processes (no MPS) each spin a kernel that records the gaps in its own execution",
    fits: "slice: median run between gaps; switch: (median gap - slice) / 2",
    writes: &[Writes::F64(SLICE), Writes::F64(SWITCH)],
    needs_mps: false,
    always: false,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let records = measure(400, &[])?;
    let f = fit(&records);
    s.record("timeslice", serde_json::json!({"records": to_json(&records), "fit": to_json(&f)}));
    let f = f.ok_or_else(|| HarnessError::Measurement("the two contexts never took turns (no gaps seen)".into()))?;
    s.set(&SLICE, round(f.slice_us, 1));
    s.set(&SWITCH, round(f.switch_us, 1));
    Ok(format!("slice {:.0} us, switch {:.1} us ({} gaps)", f.slice_us, f.switch_us, f.gaps_seen))
}
