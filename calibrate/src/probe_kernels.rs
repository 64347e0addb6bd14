//! The sharing and power probes (CUDA C compiled at run time with NVRTC), and their launchers.
//!
//! `long_fma` holds one block on SMs for a set time; `probe` is a short FMA kernel whose blocks
//! record when and where they ran; `slice_spin` records the gaps in its own execution, which are
//! the time slices another context took; `nap` keeps SMs occupied without issuing work.

use simgpu_harness::cudarc::driver::{CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use simgpu_harness::timing::grid;
use simgpu_harness::Gpu;
use simgpu_harness::HarnessError;
use std::sync::Arc;

pub const SHARING_PROBES: &str = r#"
__device__ __forceinline__ unsigned long long gtimer() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}
__device__ __forceinline__ unsigned int smid() {
    unsigned int id;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
    return id;
}

// Four independent FMA chains per thread, as in seed 000, until `ns` nanoseconds have passed.
// rec[3 * block + {0, 1, 2}] = start, end, SM.
extern "C" __global__ void long_fma(float *out, unsigned long long ns, unsigned long long *rec) {
    unsigned long long t0 = gtimer();
    float a = out[threadIdx.x] + 1.0f, b = 0.999f, c0 = 1.0f, c1 = 2.0f, c2 = 3.0f, c3 = 4.0f;
    unsigned long long now = t0;
    while (now - t0 < ns) {
        #pragma unroll 64
        for (int i = 0; i < 256; i++) {
            c0 = __fmaf_rn(a, b, c0); c1 = __fmaf_rn(a, b, c1);
            c2 = __fmaf_rn(a, b, c2); c3 = __fmaf_rn(a, b, c3);
        }
        now = gtimer();
    }
    if (c0 + c1 + c2 + c3 == 12345.0f) out[threadIdx.x] = c0;
    if (threadIdx.x == 0) {
        rec[3 * blockIdx.x] = t0;
        rec[3 * blockIdx.x + 1] = gtimer();
        rec[3 * blockIdx.x + 2] = smid();
    }
}

// Seed 000's compute kernel exactly (four FMA chains, nothing else in the loop: a timer read in
// the loop changes how the SM shares issue slots with other clients), plus start/end/SM records.
extern "C" __global__ void seed_fma(float *out, long long num_itrs, unsigned long long *rec) {
    unsigned long long t0 = gtimer();
    float op1 = out[threadIdx.x] + 1.0f, op2 = 0.999f, op3 = 1.0f, op4 = 1.0f, op5 = 1.0f, op6 = 1.0f;
    for (long long i = 0; i < num_itrs; i++) {
        op3 = __fmaf_rn(op1, op2, op3);
        op4 = __fmaf_rn(op1, op2, op4);
        op5 = __fmaf_rn(op1, op2, op5);
        op6 = __fmaf_rn(op1, op2, op6);
    }
    float s = op3 + op4 + op5 + op6;
    if (s == 12345.0f) out[threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        rec[3 * blockIdx.x] = t0;
        rec[3 * blockIdx.x + 1] = gtimer();
        rec[3 * blockIdx.x + 2] = smid();
    }
}

// A fixed amount of FMA work per thread; dynamic shared memory is touched so it is really needed.
extern "C" __global__ void probe(float *out, long long iters, unsigned long long *rec) {
    extern __shared__ float sm[];
    unsigned long long t0 = gtimer();
    float a = out[threadIdx.x] + 1.0f, b = 0.999f, c0 = 1.0f, c1 = 2.0f, c2 = 3.0f, c3 = 4.0f;
    for (long long i = 0; i < iters; i++) {
        c0 = __fmaf_rn(a, b, c0); c1 = __fmaf_rn(a, b, c1);
        c2 = __fmaf_rn(a, b, c2); c3 = __fmaf_rn(a, b, c3);
    }
    float s = c0 + c1 + c2 + c3;
    unsigned int dyn;
    asm volatile("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn >= 4) {
        sm[threadIdx.x % (dyn / 4)] = s;
        __syncthreads();
        s += sm[(threadIdx.x + 1) % (dyn / 4)];
    }
    if (s == 12345.0f) out[threadIdx.x] = s;
    if (threadIdx.x == 0) {
        rec[3 * blockIdx.x] = t0;
        rec[3 * blockIdx.x + 1] = gtimer();
        rec[3 * blockIdx.x + 2] = smid();
    }
}

// One thread per block reads the global timer in a loop for `ns` nanoseconds and records every
// gap longer than `gap_ns` (the context was switched out) as a (from, to) pair.
extern "C" __global__ void slice_spin(unsigned long long ns, unsigned long long gap_ns, unsigned long long *gaps,
                                unsigned int max_gaps, unsigned int *n_gaps) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    unsigned long long t0 = gtimer(), prev = t0, now = t0;
    unsigned int n = 0;
    while (now - t0 < ns) {
        now = gtimer();
        if (now - prev > gap_ns && n < max_gaps) {
            gaps[2 * n] = prev;
            gaps[2 * n + 1] = now;
            n++;
        }
        prev = now;
    }
    gaps[2 * max_gaps] = t0;
    gaps[2 * max_gaps + 1] = now;
    *n_gaps = n;
}

// Keeps its SM occupied (a resident block) while issuing almost nothing, for `ns` nanoseconds.
extern "C" __global__ void nap(unsigned long long ns) {
    unsigned long long t0 = gtimer();
    while (gtimer() - t0 < ns) {
        __nanosleep(20000);
    }
}
"#;

/// The loaded probe kernels.
pub struct ProbeKernels {
    pub long_fma: CudaFunction,
    pub seed_fma: CudaFunction,
    pub probe: CudaFunction,
    pub slice_spin: CudaFunction,
    pub nap: CudaFunction,
}

impl ProbeKernels {
    pub fn load(gpu: &Gpu) -> Result<ProbeKernels, HarnessError> {
        let m = simgpu_harness::nvrtc::compile_module(gpu, "simgpu_probes.cu", SHARING_PROBES)?;
        Ok(ProbeKernels {
            long_fma: m.load_function("long_fma")?,
            seed_fma: m.load_function("seed_fma")?,
            probe: m.load_function("probe")?,
            slice_spin: m.load_function("slice_spin")?,
            nap: m.load_function("nap")?,
        })
    }
}

/// Buffers of one FMA-type launch: per-thread operands/results and per-block records.
pub struct FmaBufs {
    pub out: CudaSlice<f32>,
    pub rec: CudaSlice<u64>,
    pub blocks: u32,
}

impl FmaBufs {
    pub fn new(stream: &Arc<CudaStream>, blocks: u32) -> Result<FmaBufs, HarnessError> {
        Ok(FmaBufs {
            out: stream.alloc_zeros::<f32>(1024)?,
            rec: stream.alloc_zeros::<u64>(3 * blocks as usize)?,
            blocks,
        })
    }

    /// (start ns, end ns, SM) of every block.
    pub fn records(&self, stream: &Arc<CudaStream>) -> Result<Vec<(u64, u64, u32)>, HarnessError> {
        let r = stream.clone_dtoh(&self.rec)?;
        Ok(r.chunks(3).map(|c| (c[0], c[1], c[2] as u32)).collect())
    }
}

/// Launches `long_fma` for `ns` nanoseconds on `bufs.blocks` blocks of `threads` threads.
pub fn launch_long(
    stream: &Arc<CudaStream>,
    k: &ProbeKernels,
    bufs: &mut FmaBufs,
    threads: u32,
    ns: u64,
) -> Result<(), HarnessError> {
    let mut b = stream.launch_builder(&k.long_fma);
    b.arg(&mut bufs.out).arg(&ns).arg(&mut bufs.rec);
    // SAFETY: long_fma(float*, unsigned long long, unsigned long long*); out holds 1024 floats
    // (threads <= 1024 index it), rec 3 per block.
    unsafe { b.launch(grid(bufs.blocks, threads.min(1024))) }?;
    Ok(())
}

/// Launches seed 000's kernel with `iters` loop iterations on `bufs.blocks` blocks of 1024 threads.
pub fn launch_seed(
    stream: &Arc<CudaStream>,
    k: &ProbeKernels,
    bufs: &mut FmaBufs,
    iters: i64,
) -> Result<(), HarnessError> {
    let mut b = stream.launch_builder(&k.seed_fma);
    b.arg(&mut bufs.out).arg(&iters).arg(&mut bufs.rec);
    // SAFETY: seed_fma(float*, long long, unsigned long long*); out holds 1024 floats, rec 3 per block.
    unsafe { b.launch(grid(bufs.blocks, 1024)) }?;
    Ok(())
}

/// Loop iterations of `seed_fma` that keep one 1024-thread block per SM busy for `secs`, given
/// the FP32 rate per SM per clock and the clock.
pub fn seed_iters(secs: f64, flops_per_clk: f64, mhz: f64) -> i64 {
    (secs * mhz * 1e6 * flops_per_clk / (1024.0 * 8.0)).max(1.0) as i64
}

/// Launches `probe` with `iters` FMA iterations per thread and `smem` bytes of dynamic shared memory.
pub fn launch_probe(
    stream: &Arc<CudaStream>,
    k: &ProbeKernels,
    bufs: &mut FmaBufs,
    threads: u32,
    smem: u32,
    iters: i64,
) -> Result<(), HarnessError> {
    let mut b = stream.launch_builder(&k.probe);
    b.arg(&mut bufs.out).arg(&iters).arg(&mut bufs.rec);
    let cfg =
        LaunchConfig { grid_dim: (bufs.blocks, 1, 1), block_dim: (threads.min(1024), 1, 1), shared_mem_bytes: smem };
    // SAFETY: probe(float*, long long, unsigned long long*); buffers sized as in launch_long;
    // shared memory within the default 48 KB dynamic limit.
    unsafe { b.launch(cfg) }?;
    Ok(())
}

/// Launches `nap` on `blocks` blocks of 32 threads for `ns` nanoseconds.
pub fn launch_nap(stream: &Arc<CudaStream>, k: &ProbeKernels, blocks: u32, ns: u64) -> Result<(), HarnessError> {
    let mut b = stream.launch_builder(&k.nap);
    b.arg(&ns);
    // SAFETY: nap(unsigned long long) touches no memory.
    unsafe { b.launch(grid(blocks, 32)) }?;
    Ok(())
}
