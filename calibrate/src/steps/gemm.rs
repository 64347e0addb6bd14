//! `gemm`: the tensor-core rate, from cuBLAS.

use crate::bench_gemm::run_gemm;
use crate::step::{round, Field, Session, Step, Writes};
use simgpu_harness::HarnessError;

const BF16: Field<f64> =
    Field { name: "rates.bf16_tensor_flops_per_clk", get: |p| &mut p.rates.bf16_tensor_flops_per_clk };
const FP16: Field<f64> =
    Field { name: "rates.fp16_tensor_flops_per_clk", get: |p| &mut p.rates.fp16_tensor_flops_per_clk };

pub const STEP: Step = Step {
    name: "gemm",
    measures: "cuBLAS bf16 GEMMs of noise, n = 2048, 4096, 8192, each 1.2 s to settle the clock and 1 s timed",
    fits: "the best sustained FLOP per clock per SM, against the NVML clock sampled while timed (fp16 takes the bf16 value)",
    writes: &[Writes::F64(BF16), Writes::F64(FP16)],
    needs_mps: false,
    always: false,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let samples = run_gemm(s.gpu, &[2048, 4096, 8192])?;
    let best = samples.iter().map(|x| x.flops_per_clk_per_sm).fold(0.0, f64::max);
    s.record("gemm", &samples);
    if best <= 0.0 {
        return Err(HarnessError::Measurement("GEMM gave no rate".into()));
    }
    s.found.bf16_tensor_flops_per_clk = Some(best);
    s.set(&BF16, round(best, 0));
    s.set(&FP16, round(best, 0));
    let top = samples.iter().map(|x| x.tflops).fold(0.0, f64::max);
    Ok(format!("bf16 {top:.0} TFLOP/s = {best:.0} FLOP/clk/SM"))
}
