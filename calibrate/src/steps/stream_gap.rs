//! `stream_gap`: the GPU's gap between back-to-back kernels, in a stream and in a CUDA graph,
//! apart from the shortest kernel's own time. Run before `gemm_latency`, whose fit subtracts
//! the floor it leaves.

use crate::bench_launch::run_gaps;
use crate::step::{round, Field, Session, Step, Writes};
use simgpu_harness::HarnessError;

const STREAM: Field<f64> = Field { name: "launch.stream_gap_us", get: |p| &mut p.launch.stream_gap_us };
const GRAPH: Field<f64> = Field { name: "launch.graph_gap_us", get: |p| &mut p.launch.graph_gap_us };
const BLOCK_MIN: Field<f64> = Field { name: "launch.block_min_us", get: |p| &mut p.launch.block_min_us };

pub const STEP: Step = Step {
    name: "stream_gap",
    measures: "400 one-thread spins (0, 1, 2, 5, 20 us) that stamp their start and end (%globaltimer), queued in a stream and captured in a CUDA graph; empty kernels back to back",
    fits: "the mean start-after-end gap after the 5 us spins in each; launch.block_min_us becomes the 0 us spin's own time, start to end (the engine adds the gap itself)",
    writes: &[Writes::F64(STREAM), Writes::F64(GRAPH), Writes::F64(BLOCK_MIN)],
    needs_mps: false,
    always: false,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let r = run_gaps(s.gpu, s.kernels)?;
    s.record("stream_gap", &r);
    let at = |ns: u64| r.by_length.iter().find(|x| x.0 == ns).copied();
    let missing = || HarnessError::Measurement("a spin length is missing".into());
    // The gap after a 5 us kernel (the H200's did not depend on the kernel's length: 1.53-1.61
    // us after 0 to 20 us), and the shortest block's own time: the 0 us spin's, start to end.
    let (_, stream, graph, _) = at(5_000).ok_or_else(missing)?;
    let (_, _, _, own) = at(0).ok_or_else(missing)?;
    let sane = |x: f64| x.is_finite() && x > 0.0 && x < 100.0;
    if !(sane(stream) && sane(graph)) {
        return Err(HarnessError::Measurement(format!("gaps of {stream:.3} us (stream) and {graph:.3} us (graph)")));
    }
    // The floor must stay positive: a timer tick where the spin's own time reads 0.
    let floor = own.max(0.001);
    s.set(&STREAM, round(stream, 3));
    s.set(&GRAPH, round(graph, 3));
    s.set(&BLOCK_MIN, round(floor, 3));
    let lengths: Vec<String> = r.by_length.iter().map(|x| format!("{} us {:.3}/{:.3}", x.0 / 1000, x.1, x.2)).collect();
    Ok(format!(
        "gap {stream:.3} us in a stream, {graph:.3} us in a graph (after {}); shortest block {floor:.3} us; \
         an argument-less empty kernel runs every {:.3} us back to back",
        lengths.join(", "),
        r.empty_period_us
    ))
}
