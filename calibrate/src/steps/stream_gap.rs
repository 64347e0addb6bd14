//! `stream_gap`: the GPU's gap between back-to-back kernels, in a stream and in a CUDA graph,
//! recorded for the model that will take them.

use crate::bench_launch::run_gaps;
use crate::step::{Session, Step};
use simgpu_harness::HarnessError;

pub const STEP: Step = Step {
    name: "stream_gap",
    measures: "400 one-thread spins (0, 1, 2, 5, 20 us) that stamp their start and end (%globaltimer), queued in a stream and captured in a CUDA graph; empty kernels back to back",
    fits: "nothing yet: the report keeps the gaps (launch.stream_gap_us, launch.graph_gap_us stay as they are; docs/small-kernels.md says why)",
    writes: &[],
    needs_mps: false,
    always: false,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let r = run_gaps(s.gpu, s.kernels)?;
    s.record("stream_gap", &r);
    let lengths: Vec<String> = r.by_length.iter().map(|x| format!("{} us {:.3}/{:.3}", x.0 / 1000, x.1, x.2)).collect();
    // The stamps split the period of back-to-back kernels differently from CUPTI, which times
    // the traces that judge the profiles: the gaps are recorded, not fitted, until the model
    // takes a kernel's duration in the profiler's terms.
    Ok(format!(
        "gaps (stream/graph) after {}; an argument-less empty kernel every {:.3} us (recorded, not fitted)",
        lengths.join(", "),
        r.empty_period_us
    ))
}
