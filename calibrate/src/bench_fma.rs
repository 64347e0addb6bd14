//! FP32 FMA rate per SM per clock (`rates.fp32_flops_per_clk`), with seed 000's kernel.
//!
//! One 1024-thread block per SM is the seed's configuration; sweeping the block count from 1 to
//! past the SM count checks that the rate scales with SMs in use (the block scheduler spreads
//! blocks one per SM first; `%smid` tells how many SMs were actually used) and that a second
//! block on an SM adds nothing once the FMA pipe is full.

use crate::kernels::Kernels;
use serde::Serialize;
use simgpu_harness::clock::{with_sm_clock, ClockReading};
use simgpu_harness::cudarc::driver::{CudaFunction, CudaSlice, PushKernelArg};
use simgpu_harness::timing::{grid, time_on_stream};
use simgpu_harness::Gpu;
use simgpu_harness::HarnessError;
use std::collections::BTreeMap;
use std::time::Duration;

/// FMA chains per thread in `fma_loop`, and FLOP per FMA.
const CHAINS: f64 = 4.0;
const FLOP_PER_FMA: f64 = 2.0;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FmaConfig {
    pub threads_per_block: u32,
    /// Loop iterations per thread; 2^20 is ~17 ms per wave on an H100 at 1980 MHz.
    pub iters: i64,
    pub block_counts: Vec<u32>,
    /// Launches per block count; each is one sample.
    pub reps: u32,
}

impl FmaConfig {
    /// 1, 2, 4, ... blocks, half the SMs, one block per SM (the seed's case), two per SM.
    pub fn for_sm_count(sm_count: u32) -> FmaConfig {
        let mut blocks: Vec<u32> = (0..).map(|i| 1u32 << i).take_while(|&b| b < sm_count).collect();
        blocks.extend([sm_count / 2, sm_count, 2 * sm_count]);
        blocks.retain(|&b| b > 0);
        blocks.sort_unstable();
        blocks.dedup();
        FmaConfig { threads_per_block: 1024, iters: 1 << 20, block_counts: blocks, reps: 3 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FmaSample {
    pub blocks: u32,
    pub threads_per_block: u32,
    pub iters: i64,
    /// Distinct `%smid` values the blocks ran on.
    pub sms_used: u32,
    /// Most blocks any one SM ran.
    pub max_blocks_per_sm: u32,
    pub flops: f64,
    /// Kernel time from CUDA events around the launch.
    pub elapsed_s: f64,
    /// First block start to last block end, from `%globaltimer` (excludes launch latency).
    pub span_s: f64,
    /// SM clock while it ran, and whether it was measured or assumed.
    pub clock: ClockReading,
    /// flops / (elapsed_s * clock * sms_used).
    pub flops_per_clk_per_sm: f64,
}

impl FmaSample {
    /// (SMs in use, FLOP per clock of the whole kernel): the input of [`crate::fit::fit_fma_rate`].
    pub fn fit_point(&self) -> (f64, f64) {
        (self.sms_used as f64, self.flops_per_clk_per_sm * self.sms_used as f64)
    }
}

/// Device buffers of one `fma_loop` launch.
struct FmaBuffers {
    a: CudaSlice<f32>,
    b: CudaSlice<f32>,
    out: CudaSlice<f32>,
    timing: CudaSlice<u64>,
}

impl FmaBuffers {
    fn new(gpu: &Gpu, blocks: u32, threads: u32) -> Result<FmaBuffers, HarnessError> {
        let s = gpu.stream();
        // Operands near 1 keep the chains finite; their values do not change the timing.
        let a: Vec<f32> = (0..threads).map(|i| 0.999 + i as f32 * 1e-7).collect();
        let b: Vec<f32> = (0..threads).map(|i| 1.0001 - i as f32 * 1e-7).collect();
        Ok(FmaBuffers {
            a: s.clone_htod(&a)?,
            b: s.clone_htod(&b)?,
            out: s.alloc_zeros::<f32>(blocks as usize * threads as usize)?,
            timing: s.alloc_zeros::<u64>(3 * blocks as usize)?,
        })
    }

    fn launch(
        &mut self,
        gpu: &Gpu,
        f: &CudaFunction,
        blocks: u32,
        threads: u32,
        iters: i64,
    ) -> Result<(), HarnessError> {
        let mut l = gpu.stream().launch_builder(f);
        l.arg(&self.a).arg(&self.b).arg(&mut self.out).arg(&mut self.timing).arg(&iters);
        // SAFETY: matches fma_loop(const float*, const float*, float*, unsigned long long*, long long);
        // a and b hold `threads` floats, out blocks*threads, timing 3*blocks.
        unsafe { l.launch(grid(blocks, threads)) }?;
        Ok(())
    }
}

/// Runs the sweep. The first launch (a full wave) is a warm-up: it loads the module's code and
/// brings the clock up from idle.
pub fn run_fma(gpu: &Gpu, k: &Kernels, cfg: &FmaConfig) -> Result<Vec<FmaSample>, HarnessError> {
    let threads = cfg.threads_per_block;
    let sm_count = gpu.info().sm_count.max(1);
    let mut warm = FmaBuffers::new(gpu, sm_count, threads)?;
    for _ in 0..2 {
        warm.launch(gpu, &k.fma_loop, sm_count, threads, cfg.iters)?;
    }
    gpu.stream().synchronize()?;

    let mut samples = Vec::new();
    for &blocks in &cfg.block_counts {
        let mut buf = FmaBuffers::new(gpu, blocks, threads)?;
        for _ in 0..cfg.reps {
            let (elapsed, clock) = with_sm_clock(gpu, Duration::from_millis(2), || {
                time_on_stream(gpu, || buf.launch(gpu, &k.fma_loop, blocks, threads, cfg.iters))
            });
            let elapsed_s = elapsed?;
            let timing = gpu.stream().clone_dtoh(&buf.timing)?;
            let (sms_used, max_blocks_per_sm, span_s) = block_placement(&timing);
            let flops = FLOP_PER_FMA * CHAINS * cfg.iters as f64 * threads as f64 * blocks as f64;
            let flops_per_clk_per_sm = flops / (elapsed_s * clock.mean_mhz * 1e6 * sms_used.max(1) as f64);
            samples.push(FmaSample {
                blocks,
                threads_per_block: threads,
                iters: cfg.iters,
                sms_used,
                max_blocks_per_sm,
                flops,
                elapsed_s,
                span_s,
                clock,
                flops_per_clk_per_sm,
            });
        }
    }
    Ok(samples)
}

/// From `fma_loop`'s [start, end, smid] triples: SMs used, most blocks on one SM, and the span
/// from the first start to the last end in seconds.
fn block_placement(timing: &[u64]) -> (u32, u32, f64) {
    let mut per_sm: BTreeMap<u64, u32> = BTreeMap::new();
    let (mut first, mut last) = (u64::MAX, 0u64);
    for t in timing.chunks_exact(3) {
        *per_sm.entry(t[2]).or_default() += 1;
        first = first.min(t[0]);
        last = last.max(t[1]);
    }
    let span_s = if last > first { (last - first) as f64 * 1e-9 } else { 0.0 };
    (per_sm.len() as u32, per_sm.values().copied().max().unwrap_or(0), span_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sweep_for_132_sms() {
        let c = FmaConfig::for_sm_count(132);
        assert_eq!(c.block_counts, vec![1, 2, 4, 8, 16, 32, 64, 66, 128, 132, 264]);
    }

    #[test]
    fn placement_from_timing_triples() {
        // Three blocks: two on SM 5, one on SM 9; 1 us to 4 us.
        let t = [1000, 3000, 5, 1500, 4000, 9, 2000, 2500, 5];
        let (sms, most, span) = block_placement(&t);
        assert_eq!((sms, most), (2, 2));
        assert!((span - 3e-6).abs() < 1e-12);
    }
}
