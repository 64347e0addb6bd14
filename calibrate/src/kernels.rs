//! The microbenchmark kernels, as CUDA C that [`simgpu_harness::nvrtc`] compiles at run time
//! for the device's own compute capability, and the launchers of the argument-less ones.
//!
//! All kernels go into one module that is loaded once, before any timed launch: loading a
//! module waits for running kernels, which would otherwise show up inside a measurement.

use simgpu_harness::cudarc::driver::{CudaFunction, PushKernelArg};
use simgpu_harness::nvrtc::compile_module;
use simgpu_harness::timing::grid;
use simgpu_harness::{Gpu, HarnessError};

/// Seed 000's compute kernel (four independent `__fmaf_rn` chains per thread, operands in
/// registers), plus per-block `%globaltimer` start/end and `%smid`, written to
/// `timing[3 * block .. 3 * block + 3]`. The sum goes to `out` so nothing is optimised away.
/// The loop is unrolled so that loop overhead costs ~2% of the issue slots, not ~20%:
/// the kernel then measures the FMA pipe, which is what `fp32_flops_per_clk` means.
pub const FMA_LOOP_SRC: &str = r#"
extern "C" __global__ void fma_loop(const float *a, const float *b, float *out,
                                    unsigned long long *timing, long long iters)
{
    unsigned long long t0 = 0, t1 = 0;
    unsigned int smid = 0;
    if (threadIdx.x == 0) {
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
    }
    float op1 = a[threadIdx.x];
    float op2 = b[threadIdx.x];
    float op3 = 1.0f, op4 = 1.0f, op5 = 1.0f, op6 = 1.0f;
#pragma unroll 64
    for (long long i = 0; i < iters; i++) {
        op3 = __fmaf_rn(op1, op2, op3);
        op4 = __fmaf_rn(op1, op2, op4);
        op5 = __fmaf_rn(op1, op2, op5);
        op6 = __fmaf_rn(op1, op2, op6);
    }
    out[blockIdx.x * blockDim.x + threadIdx.x] = op3 + op4 + op5 + op6;
    // The block ends with its last warp: wait for all of them before reading the end time.
    __syncthreads();
    if (threadIdx.x == 0) {
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t1));
        asm volatile("mov.u32 %0, %%smid;" : "=r"(smid));
        timing[3 * blockIdx.x + 0] = t0;
        timing[3 * blockIdx.x + 1] = t1;
        timing[3 * blockIdx.x + 2] = smid;
    }
}
"#;

/// Grid-stride float4 copy for DRAM bandwidth. Four loads are issued before the stores so a
/// single block keeps enough bytes in flight to show what one SM can pull. Thread 0 of each
/// block writes its `%smid`, so the number of SMs actually used is known. The launch bounds
/// let two 1024-thread blocks share an SM (at most 32 registers per thread).
pub const STREAM_COPY_SRC: &str = r#"
extern "C" __global__ void __launch_bounds__(1024, 2)
stream_copy(const float4 *__restrict__ src, float4 *__restrict__ dst, unsigned long long n,
            unsigned int *smids)
{
    unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n; i += 4 * stride) {
        float4 v0 = src[i];
        float4 v1 = src[i + stride];
        float4 v2 = src[i + 2 * stride];
        float4 v3 = src[i + 3 * stride];
        dst[i] = v0;
        dst[i + stride] = v1;
        dst[i + 2 * stride] = v2;
        dst[i + 3 * stride] = v3;
    }
    for (; i < n; i += stride) {
        dst[i] = src[i];
    }
    if (threadIdx.x == 0) {
        unsigned int smid;
        asm volatile("mov.u32 %0, %%smid;" : "=r"(smid));
        smids[blockIdx.x] = smid;
    }
}
"#;

/// An empty kernel: launch overhead and the shortest possible kernel.
pub const EMPTY_SRC: &str = r#"
extern "C" __global__ void empty() {}
"#;

/// Spins one thread for `ns` nanoseconds of `%globaltimer`. Keeps the GPU busy while the host
/// queues launches, so that back-to-back kernels can be timed without host gaps between them.
pub const SPIN_SRC: &str = r#"
extern "C" __global__ void spin(unsigned long long ns)
{
    unsigned long long t0, t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
    do {
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    } while (t - t0 < ns);
}
"#;

/// Spins one thread for `ns` of `%globaltimer` and records when it started and ended in
/// `marks[2 i]` and `marks[2 i + 1]`: back to back, the next kernel's start less this one's end
/// is the stream's gap between kernels, with no profiler.
pub const SPIN_MARK_SRC: &str = r#"
extern "C" __global__ void spin_mark(unsigned long long ns, unsigned long long* marks, unsigned int i)
{
    unsigned long long t0, t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
    do {
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    } while (t - t0 < ns);
    marks[2 * i] = t0;
    marks[2 * i + 1] = t;
}
"#;

/// Reads `n` float4s and writes nothing (unless their sum has all bits set, which zeros never
/// give; a test the compiler cannot drop): fills L2
/// with clean lines, evicting what was there without leaving dirty lines whose write-back would
/// slow the next kernel (a memset before a timed GEMM did: ~2 us on an H200).
pub const READ_EVICT_SRC: &str = r#"
extern "C" __global__ void read_evict(const float4* __restrict__ src, size_t n, float* out)
{
    // Four loads in flight per thread, as stream_copy keeps: also the read-only bandwidth probe.
    float acc = 0.0f;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n; i += 4 * stride) {
        float4 v0 = src[i];
        float4 v1 = src[i + stride];
        float4 v2 = src[i + 2 * stride];
        float4 v3 = src[i + 3 * stride];
        acc += (v0.x + v1.x) + (v2.x + v3.x) + (v0.w + v1.w) + (v2.w + v3.w);
    }
    for (; i < n; i += stride) {
        float4 v = src[i];
        acc += v.x + v.w;
    }
    if (__float_as_uint(acc) == 0xFFFFFFFFu) {
        out[0] = acc;
    }
}
"#;

/// The whole module's source.
pub fn module_source() -> String {
    [FMA_LOOP_SRC, STREAM_COPY_SRC, EMPTY_SRC, SPIN_SRC, SPIN_MARK_SRC, READ_EVICT_SRC].concat()
}

/// The loaded kernels of one GPU.
pub struct Kernels {
    pub fma_loop: CudaFunction,
    pub stream_copy: CudaFunction,
    pub empty: CudaFunction,
    pub spin: CudaFunction,
    pub read_evict: CudaFunction,
    pub spin_mark: CudaFunction,
}

impl Kernels {
    /// Compiles the module for `gpu`'s compute capability and loads it.
    pub fn load(gpu: &Gpu) -> Result<Kernels, HarnessError> {
        let module = compile_module(gpu, "simgpu_calibrate.cu", &module_source())?;
        Ok(Kernels {
            fma_loop: module.load_function("fma_loop")?,
            stream_copy: module.load_function("stream_copy")?,
            empty: module.load_function("empty")?,
            spin: module.load_function("spin")?,
            read_evict: module.load_function("read_evict")?,
            spin_mark: module.load_function("spin_mark")?,
        })
    }
}

/// Launches the argument-less `empty` kernel.
pub fn launch_empty(gpu: &Gpu, empty: &CudaFunction, blocks: u32, threads: u32) -> Result<(), HarnessError> {
    let mut b = gpu.stream().launch_builder(empty);
    // SAFETY: `empty` takes no parameters and touches no memory.
    unsafe { b.launch(grid(blocks, threads)) }?;
    Ok(())
}

/// Launches `spin`, which occupies one thread for `ns` nanoseconds.
pub fn launch_spin(gpu: &Gpu, spin: &CudaFunction, ns: u64) -> Result<(), HarnessError> {
    let mut b = gpu.stream().launch_builder(spin);
    b.arg(&ns);
    // SAFETY: `spin(unsigned long long)` matches the one u64 argument; it touches no memory.
    unsafe { b.launch(grid(1, 1)) }?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_defines_every_kernel_once() {
        let src = module_source();
        for k in ["void fma_loop(", "stream_copy(", "void empty(", "void spin(", "void spin_mark(", "void read_evict("]
        {
            assert_eq!(src.matches(k).count(), 1, "{k}");
        }
        assert_eq!(src.matches("extern \"C\"").count(), 6);
    }
}
