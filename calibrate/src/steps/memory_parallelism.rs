//! `memory_parallelism`: what one resident thread pulls from DRAM (Little's law per thread).

use crate::bench_dram::run_thread_sweep;
use crate::step::{round, to_json, Field, Session, Step, Writes};
use simgpu_harness::HarnessError;

const PER_THREAD: Field<f64> = Field { name: "memory.per_thread_bw_gbs", get: |p| &mut p.memory.per_thread_bw_gbs };

/// Blocks in the sweep: one per SM on few SMs, so the GPU-wide limit stays far away.
const BLOCKS: u32 = 16;

pub const STEP: Step = Step {
    name: "memory_parallelism",
    measures: "the DRAM float4 copy on 16 blocks (one per SM) of 64 .. 1024 threads, 2 x 256 MiB",
    fits:
        "GB/s per thread: the median over the block sizes whose SMs stay below 80% of the per-SM cap, at the max clock",
    writes: &[Writes::F64(PER_THREAD)],
    needs_mps: false,
    always: false,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let samples = run_thread_sweep(s.gpu, s.kernels, BLOCKS.min(s.info().sm_count.max(1)), 3)?;
    let max_mhz = s.info().max_sm_clock_mhz;
    // At the max clock, as the profile keeps it (the engine scales with the clock).
    let at_max = |x: &crate::bench_dram::ThreadSample| x.per_thread_gbs * max_mhz / x.clock.mean_mhz.max(1.0);
    let cap = s.profile().memory.per_sm_bw_gbs.value;
    // Points where the SM's cap does not bind: the per-thread rate alone sets them.
    let mut free: Vec<f64> =
        samples.iter().filter(|x| x.per_sm_gbs * max_mhz / x.clock.mean_mhz.max(1.0) < 0.8 * cap).map(at_max).collect();
    if free.is_empty() {
        // Every block size reached the cap: the smallest block gives an upper bound only.
        free = samples.iter().filter(|x| x.threads_per_block == 64).map(at_max).collect();
    }
    free.sort_by(f64::total_cmp);
    let per_thread =
        *free.get(free.len() / 2).ok_or_else(|| HarnessError::Measurement("no thread-sweep samples".into()))?;
    s.record("memory_parallelism", serde_json::json!({"samples": to_json(&samples), "points_used": free.len()}));
    s.set(&PER_THREAD, round(per_thread, 4));
    let at = |t: u32| {
        let v: Vec<f64> = samples.iter().filter(|x| x.threads_per_block == t).map(|x| x.per_sm_gbs).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    Ok(format!(
        "{per_thread:.4} GB/s per thread ({} points); per SM: 64 threads {:.1}, 256 {:.1}, 1024 {:.1} GB/s",
        free.len(),
        at(64),
        at(256),
        at(1024)
    ))
}
