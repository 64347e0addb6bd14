//! `device`: the GPU is open and the kernels compiled (the runner does that before any step, as
//! every step needs them); this checks the GPU against the profile and takes its maximum clock.

use crate::step::{Field, Session, Step, Writes};
use simgpu_harness::HarnessError;

const MAX_SM_MHZ: Field<f64> = Field { name: "clock.max_sm_mhz", get: |p| &mut p.clock.max_sm_mhz };

pub const STEP: Step = Step {
    name: "device",
    measures: "opens the GPU, compiles the kernels with NVRTC for its compute capability",
    fits: "the maximum SM clock (NVML, else the CUDA attribute); checks the SM count against the profile",
    writes: &[Writes::F64(MAX_SM_MHZ)],
    needs_mps: false,
    always: true,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let info = s.info().clone();
    let p = s.profile();
    if info.sm_count != p.sm.count.value {
        return Err(HarnessError::Measurement(format!(
            "the GPU has {} SMs but profile `{}` says {}: pick the matching base profile",
            info.sm_count, p.name, p.sm.count.value
        )));
    }
    s.set(&MAX_SM_MHZ, info.max_sm_clock_mhz);
    Ok(format!(
        "{}, {} SMs, cc {}.{}, driver {}, CUDA {}",
        info.name,
        info.sm_count,
        info.compute_capability.0,
        info.compute_capability.1,
        info.nvidia_driver_version.as_deref().unwrap_or("?"),
        info.cuda_driver_version
    ))
}
