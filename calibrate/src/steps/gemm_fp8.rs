//! `gemm_fp8`: the fp8 tensor-core rate, from cuBLASLt.

use crate::bench_gemm::run_sustained;
use crate::bench_gemm_fp8::Fp8GemmLoad;
use crate::step::{round, Field, Session, Step, Writes};
use simgpu_harness::HarnessError;

const FP8: Field<f64> =
    Field { name: "rates.fp8_tensor_flops_per_clk", get: |p| &mut p.rates.fp8_tensor_flops_per_clk };

pub const STEP: Step = Step {
    name: "gemm_fp8",
    measures:
        "cuBLASLt e4m3 x e4m3 -> bf16 GEMMs of noise, n = 4096, 8192, each 1.2 s to settle the clock and 1 s timed",
    fits: "the best sustained FLOP per clock per SM, against the NVML clock sampled while timed",
    writes: &[Writes::F64(FP8)],
    needs_mps: false,
    always: false,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let samples = run_sustained(s.gpu, &[4096, 8192], Fp8GemmLoad::new)?;
    let best = samples.iter().map(|x| x.flops_per_clk_per_sm).fold(0.0, f64::max);
    s.record("gemm_fp8", &samples);
    if best <= 0.0 {
        return Err(HarnessError::Measurement("fp8 GEMM gave no rate".into()));
    }
    s.set(&FP8, round(best, 0));
    let top = samples.iter().map(|x| x.tflops).fold(0.0, f64::max);
    let bf16 = s.bf16_tensor_flops_per_clk();
    Ok(format!("fp8 {top:.0} TFLOP/s = {best:.0} FLOP/clk/SM ({:.2}x bf16)", best / bf16.max(1.0)))
}
