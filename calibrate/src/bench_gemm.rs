//! Tensor-core GEMM rate (`rates.bf16_tensor_flops_per_clk` and its fp16 twin) with cuBLAS:
//! dense bf16 GEMMs of growing size; the largest sizes approach the peak the profile wants. The
//! same GEMM loop is the power-limited load of the power and clock steps.

use half::bf16;
use serde::Serialize;
use simgpu_harness::clock::{with_sm_clock, ClockReading};
use simgpu_harness::cudarc::cublas::{sys::cublasOperation_t, CudaBlas, Gemm, GemmConfig};
use simgpu_harness::cudarc::driver::CudaSlice;
use simgpu_harness::timing::time_on_stream;
use simgpu_harness::HarnessError;
use simgpu_harness::{check_cublas, Gpu};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GemmSample {
    pub n: usize,
    pub reps: u32,
    pub elapsed_s: f64,
    pub tflops: f64,
    pub clock: ClockReading,
    pub flops_per_clk_per_sm: f64,
}

/// Square bf16 GEMMs (fp32 accumulate) on one stream.
pub struct GemmLoad {
    blas: CudaBlas,
    a: CudaSlice<bf16>,
    b: CudaSlice<bf16>,
    c: CudaSlice<bf16>,
    pub n: usize,
}

impl GemmLoad {
    pub fn new(gpu: &Gpu, n: usize) -> Result<GemmLoad, HarnessError> {
        check_cublas()?;
        let s = gpu.stream();
        let blas = CudaBlas::new(s.clone())?;
        let ones = vec![bf16::from_f32(0.01); n * n];
        Ok(GemmLoad { blas, a: s.clone_htod(&ones)?, b: s.clone_htod(&ones)?, c: s.alloc_zeros::<bf16>(n * n)?, n })
    }

    pub fn flops(&self) -> f64 {
        2.0 * (self.n as f64).powi(3)
    }

    /// Bytes one GEMM moves at the least (A and B read, C written).
    pub fn bytes(&self) -> f64 {
        3.0 * (self.n * self.n * 2) as f64
    }

    pub fn launch(&mut self) -> Result<(), HarnessError> {
        let n = self.n as i32;
        let cfg = GemmConfig {
            transa: cublasOperation_t::CUBLAS_OP_N,
            transb: cublasOperation_t::CUBLAS_OP_N,
            m: n,
            n,
            k: n,
            alpha: bf16::ONE,
            lda: n,
            ldb: n,
            beta: bf16::ZERO,
            ldc: n,
        };
        // SAFETY: a, b and c hold n*n elements and the leading dimensions are n.
        Ok(unsafe { self.blas.gemm(cfg, &self.a, &self.b, &mut self.c) }?)
    }
}

pub fn run_gemm(gpu: &Gpu, sizes: &[usize], reps: u32) -> Result<Vec<GemmSample>, HarnessError> {
    let sms = gpu.info().sm_count.max(1) as f64;
    let mut out = Vec::new();
    for &n in sizes {
        let mut g = GemmLoad::new(gpu, n)?;
        for _ in 0..3 {
            g.launch()?;
        }
        gpu.stream().synchronize()?;
        let (elapsed, clock) = with_sm_clock(gpu, Duration::from_millis(2), || {
            time_on_stream(gpu, || (0..reps).try_for_each(|_| g.launch()))
        });
        let elapsed_s = elapsed?;
        let flops = g.flops() * reps as f64;
        out.push(GemmSample {
            n,
            reps,
            elapsed_s,
            tflops: flops / elapsed_s / 1e12,
            flops_per_clk_per_sm: flops / (elapsed_s * clock.mean_mhz * 1e6 * sms),
            clock,
        });
    }
    Ok(out)
}
