//! DRAM bandwidth against the number of blocks (`memory.per_sm_bw_gbs`,
//! `memory.achievable_bw_gbs`).
//!
//! A few blocks cannot pull the whole HBM: each SM has only so many requests in flight. The
//! sweep goes from one block to several per SM; fitting min(n * per_sm, total) to it gives both
//! limits. Buffers are far larger than L2 (50-60 MB on Hopper) so every byte comes from DRAM.

use crate::kernels::Kernels;
use serde::Serialize;
use simgpu_harness::clock::{with_sm_clock, ClockReading};
use simgpu_harness::cudarc::driver::{CudaFunction, CudaSlice, PushKernelArg};
use simgpu_harness::timing::{grid, time_on_stream};
use simgpu_harness::Gpu;
use simgpu_harness::HarnessError;
use std::collections::BTreeSet;
use std::time::Duration;

/// Bytes of one float4.
const VEC_BYTES: usize = 16;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DramConfig {
    /// Size of each of the two buffers (source and destination).
    pub buffer_bytes: usize,
    pub threads_per_block: u32,
    pub block_counts: Vec<u32>,
    /// Launches per block count; each is one sample.
    pub reps: u32,
}

impl DramConfig {
    /// 2 x 512 MiB buffers (1 GiB read + written per launch, ~20x an H100's L2), 1024-thread
    /// blocks, 1, 2, 4, ... blocks, then 1, 2 and 4 per SM.
    pub fn for_sm_count(sm_count: u32) -> DramConfig {
        let mut blocks: Vec<u32> = (0..).map(|i| 1u32 << i).take_while(|&b| b < sm_count).collect();
        blocks.extend([sm_count, 2 * sm_count, 4 * sm_count]);
        blocks.retain(|&b| b > 0);
        blocks.sort_unstable();
        blocks.dedup();
        DramConfig { buffer_bytes: 512 << 20, threads_per_block: 1024, block_counts: blocks, reps: 3 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DramSample {
    pub blocks: u32,
    pub threads_per_block: u32,
    /// Distinct `%smid` values the blocks ran on.
    pub sms_used: u32,
    /// Bytes read plus bytes written.
    pub bytes: f64,
    pub elapsed_s: f64,
    /// bytes / elapsed_s / 1e9.
    pub gbs: f64,
    pub clock: ClockReading,
}

impl DramSample {
    /// (SMs in use, GB/s): the input of [`crate::fit::fit_bandwidth`]. Up to one block per SM
    /// this equals the block count; past it, more blocks share the same SMs.
    pub fn fit_point(&self) -> (f64, f64) {
        (self.sms_used as f64, self.gbs)
    }
}

pub(crate) struct CopyBuffers {
    src: CudaSlice<f32>,
    dst: CudaSlice<f32>,
    smids: CudaSlice<u32>,
    pub(crate) n_vec: u64,
}

impl CopyBuffers {
    pub(crate) fn new(gpu: &Gpu, buffer_bytes: usize, max_blocks: u32) -> Result<CopyBuffers, HarnessError> {
        let n_vec = buffer_bytes / VEC_BYTES;
        let s = gpu.stream();
        Ok(CopyBuffers {
            // Zeroed, not left uninitialised: the first touch must not be part of a measurement.
            src: s.alloc_zeros::<f32>(n_vec * 4)?,
            dst: s.alloc_zeros::<f32>(n_vec * 4)?,
            smids: s.alloc_zeros::<u32>(max_blocks.max(1) as usize)?,
            n_vec: n_vec as u64,
        })
    }

    pub(crate) fn launch(
        &mut self,
        gpu: &Gpu,
        f: &CudaFunction,
        blocks: u32,
        threads: u32,
    ) -> Result<(), HarnessError> {
        let mut l = gpu.stream().launch_builder(f);
        l.arg(&self.src).arg(&mut self.dst).arg(&self.n_vec).arg(&mut self.smids);
        // SAFETY: matches stream_copy(const float4*, float4*, unsigned long long, unsigned int*):
        // src and dst hold n_vec float4 (allocations are 256-byte aligned), smids >= blocks entries.
        unsafe { l.launch(grid(blocks, threads)) }?;
        Ok(())
    }

    /// One copy timed on the stream with the SM clock sampled: (seconds, clock, SMs used).
    fn timed(
        &mut self,
        gpu: &Gpu,
        k: &Kernels,
        blocks: u32,
        threads: u32,
    ) -> Result<(f64, ClockReading, u32), HarnessError> {
        let (elapsed, clock) = with_sm_clock(gpu, Duration::from_millis(2), || {
            time_on_stream(gpu, || self.launch(gpu, &k.stream_copy, blocks, threads))
        });
        Ok((elapsed?, clock, self.sms_used(gpu, blocks)?))
    }

    fn sms_used(&self, gpu: &Gpu, blocks: u32) -> Result<u32, HarnessError> {
        let smids = gpu.stream().clone_dtoh(&self.smids)?;
        Ok(smids.iter().take(blocks as usize).collect::<BTreeSet<_>>().len() as u32)
    }
}

/// Runs the sweep. A full-GPU copy first warms up the clock and the memory system.
pub fn run_dram(gpu: &Gpu, k: &Kernels, cfg: &DramConfig) -> Result<Vec<DramSample>, HarnessError> {
    let threads = cfg.threads_per_block;
    let sm_count = gpu.info().sm_count.max(1);
    let max_blocks = cfg.block_counts.iter().copied().max().unwrap_or(1).max(sm_count);
    let mut buf = CopyBuffers::new(gpu, cfg.buffer_bytes, max_blocks)?;
    let bytes = 2.0 * (buf.n_vec as usize * VEC_BYTES) as f64;

    for _ in 0..2 {
        buf.launch(gpu, &k.stream_copy, sm_count, threads)?;
    }
    gpu.stream().synchronize()?;

    let mut samples = Vec::new();
    for &blocks in &cfg.block_counts {
        for _ in 0..cfg.reps {
            let (elapsed_s, clock, sms_used) = buf.timed(gpu, k, blocks, threads)?;
            samples.push(DramSample {
                blocks,
                threads_per_block: threads,
                sms_used,
                bytes,
                elapsed_s,
                gbs: bytes / elapsed_s / 1e9,
                clock,
            });
        }
    }
    Ok(samples)
}

/// Read-only bandwidth (`memory.read_bw_gbs`): `read_evict` (four float4 loads in flight per
/// thread, nothing written) over 1 GiB with 1, 2 and 4 blocks of 1024 threads per SM, `reps`
/// launches each after a warm-up; GB/s read, per launch.
pub fn run_read(gpu: &Gpu, k: &Kernels, reps: u32) -> Result<Vec<(u32, f64)>, HarnessError> {
    let sms = gpu.info().sm_count.max(1);
    let n_vec = (1usize << 30) / VEC_BYTES;
    let s = gpu.stream();
    let src = s.alloc_zeros::<f32>(n_vec * 4)?;
    let mut out = s.alloc_zeros::<f32>(1)?;
    let n = n_vec as u64;
    let mut launch = |blocks: u32| -> Result<(), HarnessError> {
        let mut l = gpu.stream().launch_builder(&k.read_evict);
        l.arg(&src).arg(&n).arg(&mut out);
        // SAFETY: read_evict(const float4*, size_t, float*): src holds n float4s, out one float.
        unsafe { l.launch(grid(blocks, 1024)) }?;
        Ok(())
    };
    for _ in 0..2 {
        launch(2 * sms)?;
    }
    gpu.stream().synchronize()?;
    let mut samples = Vec::new();
    for blocks in [sms, 2 * sms, 4 * sms] {
        for _ in 0..reps.max(1) {
            let t = time_on_stream(gpu, || launch(blocks))?;
            samples.push((blocks, (n_vec * VEC_BYTES) as f64 / t / 1e9));
        }
    }
    Ok(samples)
}

/// One point of the thread sweep: a few blocks, one per SM, of `threads` threads each.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadSample {
    pub threads_per_block: u32,
    pub blocks: u32,
    pub sms_used: u32,
    /// GB/s per SM in use (read plus written).
    pub per_sm_gbs: f64,
    /// `per_sm_gbs` over the block's threads.
    pub per_thread_gbs: f64,
    pub clock: ClockReading,
}

/// Memory parallelism (`memory.per_thread_bw_gbs`): the same copy from DRAM with `blocks` blocks
/// (far fewer than the SMs, so the GPU-wide limit is out of reach) of 64 .. 1024 threads. Each
/// thread keeps four float4 loads in flight; what an SM pulls then grows with its threads until
/// the SM's own cap (Little's law: bytes in flight over latency).
pub fn run_thread_sweep(gpu: &Gpu, k: &Kernels, blocks: u32, reps: u32) -> Result<Vec<ThreadSample>, HarnessError> {
    let mut buf = CopyBuffers::new(gpu, 256 << 20, blocks)?;
    let bytes = 2.0 * (buf.n_vec as usize * VEC_BYTES) as f64;
    buf.launch(gpu, &k.stream_copy, gpu.info().sm_count.max(1), 1024)?;
    gpu.stream().synchronize()?;
    let mut out = Vec::new();
    for threads in [64u32, 128, 256, 512, 1024] {
        for _ in 0..reps {
            let (elapsed_s, clock, sms_used) = buf.timed(gpu, k, blocks, threads)?;
            let sms_used = sms_used.max(1);
            let per_sm_gbs = bytes / elapsed_s / 1e9 / sms_used as f64;
            out.push(ThreadSample {
                threads_per_block: threads,
                blocks,
                sms_used,
                per_sm_gbs,
                per_thread_gbs: per_sm_gbs / threads as f64,
                clock,
            });
        }
    }
    Ok(out)
}

/// L2 bandwidth (`memory.l2_bw_gbs`): the same copy over 2 x 8 MiB, which stays in L2, two blocks
/// per SM, 50 launches back to back; GB/s read plus written.
pub fn run_l2(gpu: &Gpu, k: &Kernels) -> Result<f64, HarnessError> {
    let sms = gpu.info().sm_count.max(1);
    let mut buf = CopyBuffers::new(gpu, 8 << 20, 2 * sms)?;
    let bytes = 2.0 * (buf.n_vec as usize * VEC_BYTES) as f64;
    for _ in 0..5 {
        buf.launch(gpu, &k.stream_copy, 2 * sms, 1024)?;
    }
    gpu.stream().synchronize()?;
    let reps = 50;
    let s = time_on_stream(gpu, || (0..reps).try_for_each(|_| buf.launch(gpu, &k.stream_copy, 2 * sms, 1024)))?;
    Ok(bytes * reps as f64 / s / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sweep_for_132_sms() {
        let c = DramConfig::for_sm_count(132);
        assert_eq!(c.block_counts, vec![1, 2, 4, 8, 16, 32, 64, 128, 132, 264, 528]);
        assert!(2 * c.buffer_bytes >= 1 << 30);
    }
}
