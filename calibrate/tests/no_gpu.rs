//! Error paths on a machine without CUDA (CI, the build machine). Where a GPU is present these
//! only check that nothing panics.

use simgpu_calibrate::{probe, CalibrateError, Gpu};

/// Whether libcuda can be loaded here, asked the same way the crate asks.
fn cuda_driver_present() -> bool {
    simgpu_calibrate::device::check_cuda_driver().is_ok()
}

fn assert_no_gpu_error(e: &CalibrateError) {
    assert!(
        matches!(e, CalibrateError::NoCudaDriver | CalibrateError::NoGpu),
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
