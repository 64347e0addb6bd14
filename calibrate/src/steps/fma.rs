//! `fma`: the FP32 rate per clock per SM.

use crate::bench_fma::{run_fma, FmaConfig};
use crate::fit::fit_fma_rate;
use crate::step::{round, to_json, Field, Session, Step, Writes};
use simgpu_harness::HarnessError;

const FP32: Field<f64> = Field { name: "rates.fp32_flops_per_clk", get: |p| &mut p.rates.fp32_flops_per_clk };

pub const STEP: Step = Step {
    name: "fma",
    measures: "seed 000's FMA kernel (unrolled), 1 to 2x SMs blocks of 1024 threads, NVML clock sampled",
    fits: "FP32 FLOP per clock per SM: least squares over the SMs used",
    writes: &[Writes::F64(FP32)],
    needs_mps: false,
    always: false,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let samples = run_fma(s.gpu, s.kernels, &FmaConfig::for_sm_count(s.info().sm_count))?;
    let pts: Vec<(f64, f64)> = samples.iter().map(|x| x.fit_point()).collect();
    let fit = fit_fma_rate(&pts).ok_or_else(|| HarnessError::Measurement("no FMA samples".into()))?;
    s.record("fma", serde_json::json!({"samples": to_json(&samples), "fit": to_json(&fit)}));
    s.set(&FP32, round(fit.flops_per_clk_per_sm, 1));
    s.found.fp32_flops_per_clk = Some(fit.flops_per_clk_per_sm);
    Ok(format!("{:.1} FLOP/clk/SM (residual {:.2}%)", fit.flops_per_clk_per_sm, fit.rms_relative_residual * 100.0))
}
