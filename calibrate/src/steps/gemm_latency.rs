//! `gemm_latency`: what a tensor-core block spends beside its work (its load pipeline filling
//! before the first MMA, its epilogue after the last), from GEMMs that move little.

use crate::bench_gemm_latency::{run_gemm_latency, LatencySample};
use crate::step::{round, Field, Session, Step, Writes};
use serde::Serialize;
use simgpu_harness::HarnessError;
use simgpu_sim::GpuProfile;

const LATENCY: Field<f64> =
    Field { name: "launch.tensor_block_latency_us", get: |p| &mut p.launch.tensor_block_latency_us };

/// `(n, k)` of the q/o, k/v, gate/up and down projections of Llama-3.1-8B, Llama-3.2-1B,
/// Qwen2.5-0.5B and e5-large-v2. Qwen2.5-7B's shapes are left out: its traced steps judge
/// the result (tests/generated_steps.rs).
const WEIGHTS: [(usize, usize); 15] = [
    (4096, 4096),
    (1024, 4096),
    (14336, 4096),
    (4096, 14336),
    (2048, 2048),
    (512, 2048),
    (8192, 2048),
    (2048, 8192),
    (896, 896),
    (128, 896),
    (4864, 896),
    (896, 4864),
    (1024, 1024),
    (4096, 1024),
    (1024, 4096),
];
/// Rows: decode batches and short prefill chunks, where the weights' bytes, not FLOPs, set the time.
const ROWS: [usize; 6] = [1, 8, 32, 64, 128, 256];
const REPS: u32 = 25;

pub const STEP: Step = Step {
    name: "gemm_latency",
    measures: "cuBLAS bf16 y = x·Wᵀ for 15 projection shapes x 6 row counts (1-256), L2 evicted by reads before each, 25 event-timed calls each",
    fits: "the median over shapes of (GEMM - empty kernel, measured) - (GEMM without latency - empty kernel, simulated); shapes split over K left out",
    writes: &[Writes::F64(LATENCY)],
    needs_mps: false,
    always: false,
    run,
};

/// One shape's fit: measured kernel time against the model's without any latency.
#[derive(Debug, Clone, Serialize)]
struct Residual {
    m: usize,
    n: usize,
    k: usize,
    grid: u64,
    measured_us: f64,
    simulated_us: f64,
    residual_us: f64,
}

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let shapes: Vec<(usize, usize, usize)> =
        WEIGHTS.iter().flat_map(|&(n, k)| ROWS.iter().map(move |&m| (m, n, k))).collect();
    let samples = run_gemm_latency(s.gpu, s.kernels, &shapes, REPS)?;
    let mut free = s.profile().clone();
    free.launch.tensor_block_latency_us.value = 0.0;
    let mut fits: Vec<Residual> = samples.iter().filter_map(|x| residual(&free, x)).collect();
    s.record("gemm_latency", serde_json::json!({"samples": samples, "fits": fits}));
    fits.sort_by(|a, b| a.residual_us.total_cmp(&b.residual_us));
    let mid = fits.get(fits.len() / 2).ok_or_else(|| HarnessError::Measurement("no unsplit GEMM shapes".into()))?;
    let latency = mid.residual_us.max(0.0);
    let q = |f: f64| fits[((fits.len() - 1) as f64 * f) as usize].residual_us;
    s.set(&LATENCY, round(latency, 2));
    Ok(format!(
        "{latency:.2} us per tensor-core block ({} shapes; residuals: quartiles {:.2} / {:.2} us); empty kernel {:.2} us between events",
        fits.len(),
        q(0.25),
        q(0.75),
        samples.first().map_or(0.0, |x| x.empty_us)
    ))
}

/// The shape's residual, or None where the GEMM rule splits it over K (cuBLAS then runs a
/// reduce kernel too, and the events would time both and the gap between them).
fn residual(p: &GpuProfile, x: &LatencySample) -> Option<Residual> {
    let gpu = simgpu_workloads::Gpu::from_profile(p);
    let kernels = simgpu_workloads::kernels::gemm("gemm", x.m as u64, x.n as u64, x.k as u64, 2.0, gpu);
    if kernels.len() != 1 {
        return None;
    }
    let grid = kernels[0].grid;
    let simulated_us = *simgpu_sim::alone_us(p, kernels).ok()?.first()?;
    // Both sides as a difference to an empty kernel: the events' and the launch's own time
    // cancel on the card, and the simulated empty kernel is the profile's shortest block (the
    // period of back-to-back kernels, so a GEMM's fitted time, like every kernel's, includes the
    // gap to the next one in a stream).
    let measured_us = x.median_us - x.empty_us;
    let simulated_us = simulated_us - p.launch.block_min_us.value;
    Some(Residual { m: x.m, n: x.n, k: x.k, grid, measured_us, simulated_us, residual_us: measured_us - simulated_us })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fit recovers a latency the model was given: a sample made by the simulator itself
    /// with 3 us of latency leaves a 3 us residual against the model without it.
    #[test]
    fn residual_recovers_a_known_latency() {
        let mut p = GpuProfile::from_toml("h200", include_str!("../../../models/gpus/h200.toml")).unwrap();
        p.launch.tensor_block_latency_us.value = 0.0;
        let mut with = p.clone();
        with.launch.tensor_block_latency_us.value = 3.0;
        for (m, n, k) in [(1, 4096, 4096), (64, 14336, 4096), (256, 2048, 2048)] {
            let probe = LatencySample { m, n, k, reps: 1, median_us: 0.0, empty_us: 0.0 };
            let Some(base) = residual(&p, &probe) else { continue };
            let made = residual(&with, &probe).unwrap();
            let sample = LatencySample { median_us: made.simulated_us + 2.5, empty_us: 2.5, ..probe };
            let r = residual(&p, &sample).unwrap();
            assert!((r.residual_us - 3.0).abs() < 0.05, "{m}x{n}x{k}: {r:?} (base {base:?})");
        }
    }
}
