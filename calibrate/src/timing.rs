//! GPU-side timing with CUDA events, and the launch helpers the benchmarks share.

use crate::device::Gpu;
use crate::error::CalibrateError;
use cudarc::driver::{sys, CudaEvent, CudaFunction, LaunchConfig, PushKernelArg};

/// An event that records a timestamp (cudarc's default event has timing disabled).
pub fn timing_event(gpu: &Gpu) -> Result<CudaEvent, CalibrateError> {
    Ok(gpu.ctx().new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))?)
}

/// Seconds of GPU time between an event recorded before `work` and one after it on the stream.
/// `work` only enqueues; this waits for the end event.
pub fn time_on_stream(gpu: &Gpu, work: impl FnOnce() -> Result<(), CalibrateError>) -> Result<f64, CalibrateError> {
    let start = timing_event(gpu)?;
    let end = timing_event(gpu)?;
    start.record(gpu.stream())?;
    work()?;
    end.record(gpu.stream())?;
    Ok(start.elapsed_ms(&end)? as f64 * 1e-3)
}

/// 1-D launch configuration.
pub fn grid(blocks: u32, threads: u32) -> LaunchConfig {
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (threads, 1, 1), shared_mem_bytes: 0 }
}

/// Launches the argument-less `empty` kernel.
pub fn launch_empty(gpu: &Gpu, empty: &CudaFunction, blocks: u32, threads: u32) -> Result<(), CalibrateError> {
    let mut b = gpu.stream().launch_builder(empty);
    // SAFETY: `empty` takes no parameters and touches no memory.
    unsafe { b.launch(grid(blocks, threads)) }?;
    Ok(())
}

/// Launches `spin`, which occupies one thread for `ns` nanoseconds.
pub fn launch_spin(gpu: &Gpu, spin: &CudaFunction, ns: u64) -> Result<(), CalibrateError> {
    let mut b = gpu.stream().launch_builder(spin);
    b.arg(&ns);
    // SAFETY: `spin(unsigned long long)` matches the one u64 argument; it touches no memory.
    unsafe { b.launch(grid(1, 1)) }?;
    Ok(())
}
