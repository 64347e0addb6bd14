//! Error paths on a machine without CUDA (CI, the build machine). Where a GPU is present these
//! only check that nothing panics.

use simgpu_harness::{probe, Gpu, HarnessError};

/// Whether libcuda can be loaded here, asked the same way the crate asks.
fn cuda_driver_present() -> bool {
    simgpu_harness::device::check_cuda_driver().is_ok()
}

fn assert_no_gpu_error(e: &HarnessError) {
    assert!(
        matches!(e, HarnessError::NoCudaDriver | HarnessError::NoGpu),
        "expected NoCudaDriver or NoGpu without a driver, got {e:?}"
    );
    assert!(!e.to_string().is_empty());
}

#[test]
fn open_without_driver_is_an_error_not_a_panic() {
    let r = std::panic::catch_unwind(|| Gpu::open(0).map(|g| g.info().clone()));
    let r = r.expect("Gpu::open must not panic");
    if !cuda_driver_present() {
        assert_no_gpu_error(&r.expect_err("no driver, yet Gpu::open succeeded"));
    }
}

#[test]
fn probe_without_driver_is_an_error_not_a_panic() {
    let r = std::panic::catch_unwind(probe).expect("probe must not panic");
    if !cuda_driver_present() {
        let e = r.expect_err("no driver, yet probe succeeded");
        assert_no_gpu_error(&e);
        assert!(e.to_string().contains("libcuda.so.1"), "{e}");
    }
}

#[test]
fn missing_ordinal_is_an_error_not_a_panic() {
    // Ordinal far beyond any machine's GPU count: NoGpu with a driver, NoCudaDriver without.
    let r = std::panic::catch_unwind(|| Gpu::open(10_000).map(|_| ())).expect("Gpu::open must not panic");
    match r {
        Err(e) if !cuda_driver_present() => assert_no_gpu_error(&e),
        Err(_) => {}
        Ok(()) => panic!("ordinal 10000 cannot exist"),
    }
}

#[test]
fn library_checks_never_panic() {
    for check in [simgpu_harness::check_cuda_driver, simgpu_harness::check_nvrtc, simgpu_harness::check_cublas] {
        let r = std::panic::catch_unwind(check).expect("library checks must not panic");
        if let Err(e) = r {
            assert!(e.to_string().contains(".so"), "{e}");
        }
    }
}

#[test]
fn mps_without_the_control_binary_is_an_error_not_a_panic() {
    // Where nvidia-cuda-mps-control is missing, starting a daemon says so; where it exists this
    // test starts nothing (it would need a GPU).
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("nvidia-cuda-mps-control").is_file()))
        .unwrap_or(false);
    if on_path {
        return;
    }
    let e = simgpu_harness::MpsDaemon::start().err().expect("no control binary, yet a daemon started");
    assert!(e.to_string().contains("nvidia-cuda-mps-control"), "{e}");
}
