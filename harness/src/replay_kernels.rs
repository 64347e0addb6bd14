//! The replayer's kernels (CUDA C for NVRTC): one launch stands for one kernel of a scenario.
//!
//! Every block does its block's share of the kernel's arithmetic on the unit the kernel names
//! and moves its share of the DRAM bytes, the two interleaved so that memory and arithmetic
//! overlap within a block as in a real kernel. The loads come four 16-byte words to a step, and
//! a thread keeps up to four steps in flight (it issues a step's loads that many steps before it
//! uses them), as a pipelined library kernel keeps several stages of loads in flight: with one
//! step in flight, a replayed GEMV pulled 40% of the bandwidth of the cuBLAS kernel it stands for
//! (H100, 2026-12-07, docs/validate.md). A deeper ring takes registers, so every kernel is compiled
//! at depths 4, 2 and 1 and the host launches the deepest that keeps the simulated residency.
//! Loads and stores walk a buffer far larger than L2, from an offset that moves on with every
//! launch, so the bytes come from DRAM.
//!
//! Arguments (all kernels): `src`, `dst` (buffers of `mask + 1` 16-byte words, a power of two),
//! `base` (the launch's first word), `reads` and `writes` (16-byte words per block), `units`
//! (arithmetic units per thread, below) and `sink` (written only if the arithmetic comes out at an
//! impossible value, so that nothing is optimised away).
//!
//! One unit per thread is: 8 FMAs (`replay_fp32_d*`, 16 FLOPs), 8 integer multiply-adds
//! (`replay_int32_d*`, 16 ops), or for the tensor kernels four warp-wide `mma.sync` (bf16/fp16
//! m16n8k16, 4 x 4096 FLOPs per warp; fp8 e4m3 m16n8k32, 4 x 8192). Tensor kernels run their
//! arithmetic on full warps only (`mma.sync` needs all 32 lanes); the host counts units over those.
//! Dynamic shared memory is never touched: it is there to hold the block's residency, not to be used.

/// Words per step a thread loads (and stores) before doing its share of arithmetic.
pub const VECS_PER_STEP: u64 = 4;

/// The depths (steps of loads in flight per thread) each kernel is compiled at, deepest first.
pub const DEPTHS: [u32; 3] = [4, 2, 1];

/// FLOPs (or integer ops) one unit of each kernel does, per thread that runs it.
pub const FP32_OPS_PER_UNIT: f64 = 16.0;
pub const INT32_OPS_PER_UNIT: f64 = 16.0;
/// Per warp: four m16n8k16 MMAs of 2 x 16 x 8 x 16 FLOPs.
pub const TENSOR16_OPS_PER_UNIT_PER_WARP: f64 = 4.0 * 4096.0;
/// Per warp: four m16n8k32 e4m3 MMAs.
pub const TENSOR8_OPS_PER_UNIT_PER_WARP: f64 = 4.0 * 8192.0;

pub const REPLAY_SRC: &str = r#"
typedef unsigned long long u64;

// One step's four loaded words, and the bits they fold to (waiting for the loads to land).
struct Vecs { uint4 v[4]; };
__device__ __forceinline__ unsigned fold(const Vecs &a) {
    unsigned x = 0;
    #pragma unroll
    for (int j = 0; j < 4; j++) x ^= a.v[j].x ^ a.v[j].y ^ a.v[j].z ^ a.v[j].w;
    return x;
}

// The memory walk shared by every kernel: step `s` of thread `t` loads the block's words
// 4s*nt + t + j*nt (j < 4) while there are some, and stores the same way.
struct Walk {
    const uint4 *src; uint4 *dst; u64 mask; u64 rbase; u64 wbase; unsigned reads; unsigned writes; unsigned nt; unsigned t;
    // Issues step `s`'s loads (none past the block's words): the caller folds them later, so that
    // the loads of several steps are in flight at once.
    __device__ __forceinline__ Vecs load(unsigned s) const {
        Vecs v;
        #pragma unroll
        for (int j = 0; j < 4; j++) {
            unsigned i = (4 * s + j) * nt + t;
            v.v[j] = i < reads ? src[(rbase + i) & mask] : make_uint4(0, 0, 0, 0);
        }
        return v;
    }
    __device__ __forceinline__ void store(unsigned s, unsigned x, unsigned y) const {
        #pragma unroll
        for (int j = 0; j < 4; j++) {
            unsigned i = (4 * s + j) * nt + t;
            if (i < writes) dst[(wbase + i) & mask] = make_uint4(x, y, i, s);
        }
    }
    __device__ __forceinline__ unsigned steps() const {
        unsigned r = (reads + 4 * nt - 1) / (4 * nt), w = (writes + 4 * nt - 1) / (4 * nt);
        unsigned m = r > w ? r : w;
        return m > 0 ? m : 1;
    }
};

__device__ __forceinline__ Walk walk(const uint4 *src, uint4 *dst, u64 mask, u64 base, unsigned reads, unsigned writes) {
    Walk w;
    w.src = src; w.dst = dst; w.mask = mask; w.reads = reads; w.writes = writes;
    w.nt = blockDim.x; w.t = threadIdx.x;
    w.rbase = base + (u64)blockIdx.x * reads;
    w.wbase = base + (u64)blockIdx.x * writes;
    return w;
}

// The walk's loop: D steps' loads in flight (a ring in registers, indexed by the unrolled `q`
// so that it stays in registers); the body runs once per step `cur` after its loads landed and
// the loads D steps ahead were issued, with `x` holding the bits so far.
#define WALK_LOOP(D, ...)                                                                          \
    Vecs ring[D];                                                                        \
    _Pragma("unroll") for (int q = 0; q < D; q++) ring[q] = w.load(q);                   \
    for (unsigned s0 = 0; s0 < n; s0 += D) {                                             \
        _Pragma("unroll") for (int q = 0; q < D; q++) {                                  \
            unsigned cur = s0 + q;                                                                  \
            if (cur < n) {                                                                          \
                x ^= fold(ring[q]);                                                                 \
                ring[q] = w.load(cur + D);                                               \
                __VA_ARGS__                                                                         \
            }                                                                                       \
        }                                                                                           \
    }

// Units of step s out of `steps`: spread evenly, the remainder to the first steps.
__device__ __forceinline__ u64 units_of(u64 units, unsigned steps, unsigned s) {
    return units / steps + (s < units % steps ? 1 : 0);
}

// One multiply-add on the unit a kernel names: FFMA for float, IMAD for unsigned.
__device__ __forceinline__ float mad(float c, float a, float b) { return __fmaf_rn(c, a, b); }
__device__ __forceinline__ unsigned mad(unsigned c, unsigned a, unsigned b) { return c * a + b; }
__device__ __forceinline__ unsigned bits(float v) { return __float_as_uint(v); }
__device__ __forceinline__ unsigned bits(unsigned v) { return v; }

// The FMA and IMAD kernels: eight independent multiply-add chains per thread (enough in flight
// to keep the pipe busy), `units` rounds of them spread over the memory walk's steps.
template <typename T, int D>
__device__ __forceinline__ void alu_body(const uint4 *src, uint4 *dst, u64 mask, u64 base, unsigned reads,
                                         unsigned writes, u64 units, float *sink, T a, T b) {
    Walk w = walk(src, dst, mask, base, reads, writes);
    T c[8];
    #pragma unroll
    for (int j = 0; j < 8; j++) c[j] = (T)(j + 1);
    unsigned x = 0, n = w.steps();
    WALK_LOOP(D, {
        u64 k = units_of(units, n, cur);
        _Pragma("unroll 4") for (u64 i = 0; i < k; i++) {
            _Pragma("unroll") for (int j = 0; j < 8; j++) c[j] = mad(c[j], a, b);
        }
        w.store(cur, x, bits(c[0]));
    })
    T r = c[0];
    #pragma unroll
    for (int j = 1; j < 8; j++) r = r + c[j];
    if (bits(r) == 0x9e3779b9u && x == 1u) sink[threadIdx.x] = (float)r;
}

// MMA operands from the thread's own bits: the values do not matter, only the unit that runs them.
// Four independent accumulators per warp, so that a few warps keep the tensor pipe busy.
#define MMA_ONE(INSTR, D) asm volatile(INSTR : "+f"(D[0]), "+f"(D[1]), "+f"(D[2]), "+f"(D[3]) \
                                        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1))
#define MMA_BODY(INSTR, D)                                                                          \
    Walk w = walk(src, dst, mask, base, reads, writes);                                             \
    unsigned a0 = threadIdx.x * 0x3f803f80u, a1 = a0 ^ 0x00010001u, a2 = a0 ^ 0x00020002u, a3 = a0 ^ 0x00030003u; \
    unsigned b0 = a0 ^ 0x3c003c00u, b1 = b0 ^ 0x00040004u;                                          \
    float d[4] = {0, 0, 0, 0}, e[4] = {0, 0, 0, 0}, f[4] = {0, 0, 0, 0}, g[4] = {0, 0, 0, 0};       \
    bool full = (threadIdx.x & ~31u) + 32 <= blockDim.x;                                            \
    unsigned x = 0, n = w.steps();                                                                  \
    WALK_LOOP(D, {                                                                                  \
        u64 k = full ? units_of(units, n, cur) : 0;                                                 \
        for (u64 i = 0; i < k; i++) {                                                               \
            MMA_ONE(INSTR, d); MMA_ONE(INSTR, e); MMA_ONE(INSTR, f); MMA_ONE(INSTR, g);             \
        }                                                                                           \
        w.store(cur, x, __float_as_uint(d[0] + e[0] + f[0] + g[0]));                                \
    })                                                                                              \
    float r = d[0] + d[1] + d[2] + d[3] + e[0] + e[1] + e[2] + e[3] + f[0] + g[0];                 \
    if (r == 1234.5f && x == 1u) sink[threadIdx.x] = r;

// Every kernel at every depth the host may pick (`_d1`, `_d2`, `_d4`): the deepest that keeps
// the simulated residency (a deeper ring takes registers).
#define ARGS const uint4 *__restrict__ src, uint4 *__restrict__ dst, u64 mask, u64 base, unsigned reads, \
             unsigned writes, u64 units, float *sink
#define KERNELS_AT(D)                                                                               \
    extern "C" __global__ void replay_fp32_d##D(ARGS) {                                             \
        alu_body<float, D>(src, dst, mask, base, reads, writes, units, sink, 0.999f + 1e-7f * threadIdx.x, 1e-3f); \
    }                                                                                               \
    extern "C" __global__ void replay_int32_d##D(ARGS) {                                            \
        alu_body<unsigned, D>(src, dst, mask, base, reads, writes, units, sink, 2654435761u + threadIdx.x, 12345u); \
    }                                                                                               \
    extern "C" __global__ void replay_bf16_d##D(ARGS) {                                             \
        MMA_BODY("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};", D); \
    }                                                                                               \
    extern "C" __global__ void replay_fp16_d##D(ARGS) {                                             \
        MMA_BODY("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};", D); \
    }
KERNELS_AT(1)
KERNELS_AT(2)
KERNELS_AT(4)
"#;

/// fp8 MMAs exist from sm_89 on: appended to [`REPLAY_SRC`] only there.
pub const REPLAY_FP8_SRC: &str = r#"
#define FP8_AT(D)                                                                                   \
    extern "C" __global__ void replay_fp8_d##D(ARGS) {                                              \
        MMA_BODY("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};", D); \
    }
FP8_AT(1)
FP8_AT(2)
FP8_AT(4)
"#;
