//! `stream_gap`: the GPU's gap between back-to-back kernels, in a stream and in a CUDA graph,
//! apart from the shortest kernel's own time.

use crate::bench_launch::run_gaps;
use crate::step::{round, Field, Session, Step, Writes};
use simgpu_harness::HarnessError;

const STREAM: Field<f64> = Field { name: "launch.stream_gap_us", get: |p| &mut p.launch.stream_gap_us };
const GRAPH: Field<f64> = Field { name: "launch.graph_gap_us", get: |p| &mut p.launch.graph_gap_us };
const BLOCK_MIN: Field<f64> = Field { name: "launch.block_min_us", get: |p| &mut p.launch.block_min_us };

pub const STEP: Step = Step {
    name: "stream_gap",
    measures: "400 one-thread spins of 5 us that stamp their start and end (%globaltimer), queued in a stream and captured in a CUDA graph; empty kernels back to back",
    fits: "the mean start-after-end gap in each; launch.block_min_us becomes the empty kernel's period less the stream's gap (the engine adds the gap itself)",
    writes: &[Writes::F64(STREAM), Writes::F64(GRAPH), Writes::F64(BLOCK_MIN)],
    needs_mps: false,
    always: false,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let r = run_gaps(s.gpu, s.kernels)?;
    s.record("stream_gap", &r);
    let ok = |x: f64| x.is_finite() && (0.0..r.empty_period_us.max(0.0)).contains(&x);
    if !(ok(r.stream_gap_us) && ok(r.graph_gap_us)) {
        return Err(HarnessError::Measurement(format!(
            "gaps {:.3} us (stream), {:.3} us (graph) against an empty kernel's period of {:.3} us",
            r.stream_gap_us, r.graph_gap_us, r.empty_period_us
        )));
    }
    let floor = r.empty_period_us - r.stream_gap_us;
    s.set(&STREAM, round(r.stream_gap_us, 3));
    s.set(&GRAPH, round(r.graph_gap_us, 3));
    s.set(&BLOCK_MIN, round(floor, 3));
    Ok(format!(
        "gap {:.3} us in a stream, {:.3} us in a graph; empty kernel {:.3} us back to back, so {floor:.3} us its own",
        r.stream_gap_us, r.graph_gap_us, r.empty_period_us
    ))
}
