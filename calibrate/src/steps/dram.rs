//! `dram`: per-SM and GPU-wide DRAM bandwidth, and a first look at L2.

use crate::bench_dram::{run_dram, run_l2, DramConfig};
use crate::fit::fit_bandwidth;
use crate::step::{round, to_json, Field, Session, Step, Writes};
use simgpu_harness::HarnessError;

const PER_SM: Field<f64> = Field { name: "memory.per_sm_bw_gbs", get: |p| &mut p.memory.per_sm_bw_gbs };
const ACHIEVABLE: Field<f64> = Field { name: "memory.achievable_bw_gbs", get: |p| &mut p.memory.achievable_bw_gbs };
const L2: Field<f64> = Field { name: "memory.l2_bw_gbs", get: |p| &mut p.memory.l2_bw_gbs };

pub const STEP: Step = Step {
    name: "dram",
    measures: "a float4 copy of 2 x 512 MiB with 1 .. 4x SMs blocks; a 2 x 8 MiB copy for L2",
    fits: "knee fit min(n x per-SM, total); the per-SM value scaled to the maximum clock",
    writes: &[Writes::F64(PER_SM), Writes::F64(ACHIEVABLE), Writes::F64(L2)],
    needs_mps: false,
    always: false,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let mut cfg = DramConfig::for_sm_count(s.info().sm_count);
    cfg.reps = 2;
    let samples = run_dram(s.gpu, s.kernels, &cfg)?;
    let pts: Vec<(f64, f64)> = samples.iter().map(|x| x.fit_point()).collect();
    let fit = fit_bandwidth(&pts).ok_or_else(|| HarnessError::Measurement("no DRAM samples".into()))?;
    let clock = samples.iter().map(|x| x.clock.mean_mhz).sum::<f64>() / samples.len().max(1) as f64;
    s.record("dram", serde_json::json!({"samples": to_json(&samples), "fit": to_json(&fit)}));
    // The profile's per-SM cap is at the maximum clock (the simulator scales it with the clock).
    let per_sm = fit.per_sm_gbs * s.info().max_sm_clock_mhz / clock.max(1.0);
    s.set(&PER_SM, round(per_sm, 1));
    s.set(&ACHIEVABLE, round(fit.total_gbs, 0));
    let l2 = run_l2(s.gpu, s.kernels)?;
    s.record("l2_gbs", l2);
    s.set(&L2, round(l2, 0));
    Ok(format!(
        "{:.1} GB/s per SM, {:.0} GB/s in all (residual {:.0} GB/s); L2 {:.0} GB/s",
        per_sm, fit.total_gbs, fit.rms_residual, l2
    ))
}
