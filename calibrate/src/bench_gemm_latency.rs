//! Latency-bound GEMMs (`gemm_latency` step): `y = x · Wᵀ` in bf16 with cuBLAS for weights
//! `[n, k]` of transformer projections and few rows `m`, each from DRAM (L2 filled with other,
//! clean data before every call, as in a model step that reads each weight once), timed alone with CUDA events, and an
//! empty kernel timed the same way: the difference is the GEMM's time less the empty kernel's,
//! with what the events and the launch add cancelled.

use crate::kernels::{launch_empty, Kernels};
use half::bf16;
use serde::Serialize;
use simgpu_harness::cudarc::cublas::{sys::cublasOperation_t, CudaBlas, Gemm, GemmConfig};
use simgpu_harness::cudarc::driver::PushKernelArg;
use simgpu_harness::cudarc::driver::{CudaEvent, CudaSlice};
use simgpu_harness::timing::{grid, timing_event};
use simgpu_harness::{check_cublas, Gpu, HarnessError};

/// One shape: the median event interval around the GEMM, and that around an empty one-block
/// kernel taken the same way.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySample {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub reps: u32,
    pub median_us: f64,
    pub empty_us: f64,
}

/// Evicts L2 by reading a buffer of four times its size (clean lines: no write-back left to
/// slow the GEMM) between timed calls.
struct Flush<'k> {
    scratch: CudaSlice<f32>,
    out: CudaSlice<f32>,
    kernels: &'k Kernels,
}

impl Flush<'_> {
    fn new<'k>(gpu: &Gpu, kernels: &'k Kernels) -> Result<Flush<'k>, HarnessError> {
        let bytes = (4 * gpu.info().l2_bytes).clamp(64 << 20, 1 << 30) as usize;
        let s = gpu.stream();
        Ok(Flush { scratch: s.alloc_zeros::<f32>(bytes / 4)?, out: s.alloc_zeros::<f32>(1)?, kernels })
    }

    fn run(&mut self, gpu: &Gpu) -> Result<(), HarnessError> {
        let n = self.scratch.len() / 4;
        let mut b = gpu.stream().launch_builder(&self.kernels.read_evict);
        b.arg(&self.scratch).arg(&n).arg(&mut self.out);
        let blocks = 4 * gpu.info().sm_count.max(1);
        // SAFETY: read_evict(const float4*, size_t, float*): scratch holds n float4s, out one float.
        unsafe { b.launch(grid(blocks, 512)) }?;
        Ok(())
    }
}

/// Median microseconds between event pairs, each pair recorded after a flush around what
/// `between` enqueues.
fn timed(
    gpu: &Gpu,
    flush: &mut Flush<'_>,
    reps: u32,
    mut between: impl FnMut() -> Result<(), HarnessError>,
) -> Result<f64, HarnessError> {
    let mut pairs: Vec<(CudaEvent, CudaEvent)> = Vec::with_capacity(reps as usize);
    for _ in 0..reps {
        let (a, b) = (timing_event(gpu)?, timing_event(gpu)?);
        flush.run(gpu)?;
        a.record(gpu.stream())?;
        between()?;
        b.record(gpu.stream())?;
        pairs.push((a, b));
    }
    gpu.stream().synchronize()?;
    let mut us: Vec<f64> =
        pairs.iter().map(|(a, b)| a.elapsed_ms(b).map(|ms| ms as f64 * 1e3)).collect::<Result<_, _>>()?;
    us.sort_by(f64::total_cmp);
    Ok(us[us.len() / 2])
}

/// Each `(m, n, k)` timed `reps` times after three untimed calls (cuBLAS picks its kernel on
/// the first).
pub fn run_gemm_latency(
    gpu: &Gpu,
    kernels: &Kernels,
    shapes: &[(usize, usize, usize)],
    reps: u32,
) -> Result<Vec<LatencySample>, HarnessError> {
    check_cublas()?;
    let reps = reps.max(1);
    let blas = CudaBlas::new(gpu.stream().clone())?;
    let mut flush = Flush::new(gpu, kernels)?;
    let empty_us = timed(gpu, &mut flush, reps, || launch_empty(gpu, &kernels.empty, 1, 1))?;
    let mut out = Vec::new();
    for &(m, n, k) in shapes {
        let s = gpu.stream();
        let w = s.alloc_zeros::<bf16>(n * k)?;
        let x = s.alloc_zeros::<bf16>(m * k)?;
        let mut y = s.alloc_zeros::<bf16>(m * n)?;
        // Column-major cuBLAS computes yᵀ [n, m] = W [n, k] · xᵀ [k, m]: W (row-major [n, k])
        // transposed, x (row-major [m, k]) as is: the TN layout torch's F.linear uses.
        let cfg = GemmConfig {
            transa: cublasOperation_t::CUBLAS_OP_T,
            transb: cublasOperation_t::CUBLAS_OP_N,
            m: n as i32,
            n: m as i32,
            k: k as i32,
            alpha: bf16::ONE,
            lda: k as i32,
            ldb: k as i32,
            beta: bf16::ZERO,
            ldc: n as i32,
        };
        // SAFETY: w holds n*k, x m*k and y m*n elements; the leading dimensions match them.
        let mut call = || -> Result<(), HarnessError> { Ok(unsafe { blas.gemm(cfg, &w, &x, &mut y) }?) };
        for _ in 0..3 {
            call()?;
        }
        let median_us = timed(gpu, &mut flush, reps, &mut call)?;
        out.push(LatencySample { m, n, k, reps, median_us, empty_us });
    }
    Ok(out)
}
