//! GPU-side timing with CUDA events, and 1-D launch configurations.

use crate::device::Gpu;
use crate::error::HarnessError;
use cudarc::driver::{sys, CudaEvent, LaunchConfig};

/// An event that records a timestamp (cudarc's default event has timing disabled).
pub fn timing_event(gpu: &Gpu) -> Result<CudaEvent, HarnessError> {
    Ok(gpu.ctx().new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))?)
}

/// Seconds of GPU time between an event recorded before `work` and one after it on the stream.
/// `work` only enqueues; this waits for the end event.
pub fn time_on_stream(gpu: &Gpu, work: impl FnOnce() -> Result<(), HarnessError>) -> Result<f64, HarnessError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_one_dimensional() {
        let g = grid(132, 1024);
        assert_eq!((g.grid_dim, g.block_dim, g.shared_mem_bytes), ((132, 1, 1), (1024, 1, 1), 0));
    }
}
