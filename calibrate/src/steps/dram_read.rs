//! `dram_read`: what a read-only stream reaches against a copy, GPU-wide.

use crate::bench_dram::{run_dram, run_read, DramConfig};
use crate::step::{round, Field, Session, Step, Writes};
use simgpu_harness::HarnessError;

const READ: Field<f64> = Field { name: "memory.read_bw_gbs", get: |p| &mut p.memory.read_bw_gbs };

pub const STEP: Step = Step {
    name: "dram_read",
    measures: "a float4 read of 1 GiB (nothing written) and the float4 copy of 2 x 512 MiB, each with 1, 2 and 4 blocks of 1024 threads per SM, 3 launches each",
    fits: "the best read rate over the best copy rate of this run, times the profile's memory.achievable_bw_gbs (a ratio taken on one card within one run)",
    writes: &[Writes::F64(READ)],
    needs_mps: false,
    always: false,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let sms = s.info().sm_count.max(1);
    let reads = run_read(s.gpu, s.kernels, 3)?;
    let cfg = DramConfig { block_counts: vec![sms, 2 * sms, 4 * sms], ..DramConfig::for_sm_count(sms) };
    let copies = run_dram(s.gpu, s.kernels, &cfg)?;
    let read = reads.iter().map(|&(_, g)| g).fold(0.0, f64::max);
    let copy = copies.iter().map(|x| x.gbs).fold(0.0, f64::max);
    s.record("dram_read", serde_json::json!({"read_gbs": reads, "copy_gbs": copies.iter().map(|x| (x.blocks, x.gbs)).collect::<Vec<_>>()}));
    // A copy moves half its bytes as reads: a read rate at or below half of it is a failed
    // measurement (the profile check refuses it), not a fit.
    if copy <= 0.0 || read <= 0.5 * copy {
        return Err(HarnessError::Measurement(format!("read {read:.0} GB/s against copy {copy:.0} GB/s")));
    }
    let ratio = read / copy;
    let fitted = s.profile().memory.achievable_bw_gbs.value * ratio;
    s.set(&READ, round(fitted, 0));
    Ok(format!(
        "read-only {read:.0} GB/s, copy {copy:.0} GB/s (x{ratio:.3}): {fitted:.0} GB/s against the profile's copy"
    ))
}
