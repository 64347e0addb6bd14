//! Tensor-core GEMM rate (`rates.bf16_tensor_flops_per_clk` and its fp16 twin) with cuBLAS:
//! dense bf16 GEMMs of growing size, sustained; the largest sizes approach the peak the profile
//! wants. The
//! same GEMM loop is the power-limited load of the power and clock steps.

use half::bf16;
use serde::Serialize;
use simgpu_harness::clock::{with_sm_clock, ClockReading};
use simgpu_harness::cudarc::cublas::{sys::cublasOperation_t, CudaBlas, Gemm, GemmConfig};
use simgpu_harness::cudarc::driver::CudaSlice;
use simgpu_harness::timing::time_on_stream;
use simgpu_harness::HarnessError;
use simgpu_harness::{check_cublas, Gpu};
use std::time::{Duration, Instant};

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
        // Operands of noise, as real activations and weights are: a GEMM's power depends on the
        // bits its tensor cores toggle. With constant operands the 8192^3 loop drew ~490 W at
        // 1650 MHz on the H100 (power-capped all the same); with noise it draws the card's 700 W
        // at ~1370 MHz (docs/power.md).
        let a = s.clone_htod(&noise(n * n, 1))?;
        let b = s.clone_htod(&noise(n * n, 2))?;
        Ok(GemmLoad { blas, a, b, c: s.alloc_zeros::<bf16>(n * n)?, n })
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

    /// GEMMs back to back until `deadline`; returns FLOP/s.
    pub fn run_until(&mut self, gpu: &Gpu, deadline: Instant) -> Result<f64, HarnessError> {
        run_until(self, gpu, deadline)
    }

    /// `reps` GEMMs timed with CUDA events, and the SM clock NVML reported meanwhile.
    pub fn timed(&mut self, gpu: &Gpu, reps: u32) -> Result<(f64, ClockReading), HarnessError> {
        timed(self, gpu, reps)
    }
}

/// A square GEMM that can be launched again and again (bf16 here, fp8 in `bench_gemm_fp8`).
pub trait SquareGemm {
    fn n(&self) -> usize;
    fn launch(&mut self) -> Result<(), HarnessError>;
    fn flops(&self) -> f64 {
        2.0 * (self.n() as f64).powi(3)
    }
}

impl SquareGemm for GemmLoad {
    fn n(&self) -> usize {
        self.n
    }
    fn launch(&mut self) -> Result<(), HarnessError> {
        GemmLoad::launch(self)
    }
}

/// GEMMs back to back until `deadline`; returns FLOP/s.
fn run_until(g: &mut impl SquareGemm, gpu: &Gpu, deadline: Instant) -> Result<f64, HarnessError> {
    // Batches of about the 8192^3 GEMM's four, so that the host's wait stays a small share.
    let batch = (4 * (8192 / g.n().max(1)).pow(3)).clamp(4, 256) as u64;
    let (t0, mut n) = (Instant::now(), 0u64);
    while Instant::now() < deadline {
        for _ in 0..batch {
            g.launch()?;
        }
        gpu.stream().synchronize()?;
        n += batch;
    }
    Ok(n as f64 * g.flops() / t0.elapsed().as_secs_f64())
}

/// `reps` GEMMs timed with CUDA events, and the SM clock NVML reported meanwhile.
fn timed(g: &mut impl SquareGemm, gpu: &Gpu, reps: u32) -> Result<(f64, ClockReading), HarnessError> {
    let (elapsed, clock) =
        with_sm_clock(gpu, Duration::from_millis(2), || time_on_stream(gpu, || (0..reps).try_for_each(|_| g.launch())));
    Ok((elapsed?, clock))
}

/// `len` pseudo-random words from a fixed seed (xorshift64*): the one bit stream every GEMM
/// load's noise is drawn from.
pub(crate) fn random_words(len: usize, seed: u64) -> impl Iterator<Item = u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ seed;
    (0..len).map(move |_| {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// `len` values uniform in [-1, 1), from a fixed seed.
pub(crate) fn noise(len: usize, seed: u64) -> Vec<bf16> {
    random_words(len, seed)
        .map(|r| {
            let u = (r >> 40) as f32 / (1u64 << 24) as f32;
            bf16::from_f32(2.0 * u - 1.0)
        })
        .collect()
}

/// Seconds of GEMMs before timing: the power controller settles on the load's clock in about one.
const SETTLE_S: f64 = 1.2;
/// Seconds timed.
const TIMED_S: f64 = 1.0;

/// Sustained rates: each size runs until the power controller has settled, then is timed against
/// the clock sampled meanwhile. (A burst of a few GEMMs right after idle runs at a lower FLOP per
/// clock than NVML's clock suggests; the sustained figure is the one steady loads see.)
pub fn run_gemm(gpu: &Gpu, sizes: &[usize]) -> Result<Vec<GemmSample>, HarnessError> {
    run_sustained(gpu, sizes, GemmLoad::new)
}

/// The sustained rate of the GEMMs `make` builds, one size after another.
pub fn run_sustained<G: SquareGemm>(
    gpu: &Gpu,
    sizes: &[usize],
    make: impl Fn(&Gpu, usize) -> Result<G, HarnessError>,
) -> Result<Vec<GemmSample>, HarnessError> {
    let sms = gpu.info().sm_count.max(1) as f64;
    let mut out = Vec::new();
    for &n in sizes {
        let mut g = make(gpu, n)?;
        let settled_rate = run_until(&mut g, gpu, Instant::now() + Duration::from_secs_f64(SETTLE_S))?;
        let per_gemm_s = g.flops() / settled_rate.max(1.0);
        let reps = ((TIMED_S / per_gemm_s) as u32).clamp(4, 1 << 20);
        let (elapsed_s, clock) = timed(&mut g, gpu, reps)?;
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
