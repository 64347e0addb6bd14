//! Error paths on a machine without CUDA (CI, the build machine). Where a GPU is present these
//! only check what needs none.

use simgpu_calibrate::calibrate::{run, Options};
use simgpu_calibrate::harness::check_cuda_driver;
use simgpu_calibrate::{select, HarnessError};
use simgpu_sim::profile::GpuProfile;

fn options(only: &[&str]) -> Options {
    let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
    Options {
        ordinal: 0,
        mps: false,
        power_trace_s: 12.0,
        command: "test".into(),
        simgpu_version: "0".into(),
        only: select(&only, false).unwrap(),
        started_from: "test".into(),
    }
}

#[test]
fn without_a_gpu_the_run_fails_cleanly() {
    if check_cuda_driver().is_ok() {
        return;
    }
    let base = GpuProfile::from_toml("h100", include_str!("../../models/gpus/h100-sxm.toml")).unwrap();
    for only in [&[][..], &["power"]] {
        let mut seen = Vec::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(&options(only), &base, &mut |p| {
                if let simgpu_calibrate::calibrate::Progress::Start { step, .. } = p {
                    seen.push(step.to_string())
                }
            })
        }))
        .expect("run must not panic");
        assert_eq!(r.unwrap_err(), HarnessError::NoCudaDriver);
        assert_eq!(seen, ["device"], "the first step is announced, then the GPU is missing");
    }
}
