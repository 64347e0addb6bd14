//! The kernels one op launches on an sm90 GPU (H100, H200) under torch 2.x with cuBLASLt and
//! cuDNN: grids, blocks, registers and shared memory, with the work (FLOPs, DRAM bytes) the op's
//! shapes give. Every rule here was read off the kernels traced on the H100 and the H200
//! (`tests/data/import/`, Nsight Compute rows joined; docs/workloads.md has the table): where the
//! two cards' libraries chose differently, the rule takes one choice and says which.
//!
//! GPUs without Hopper's warpgroup MMA (sm80/sm89: A100, L4, L40S, RTX 4090) run the same
//! tiles as the sm80 kernels of cuBLAS, CUTLASS and FlashAttention-2 are built: not traced here
//! (no such card was lent), so those rules follow the libraries' published tile configurations
//! and say so where they differ ([`gemm`], [`attention`]).

use simgpu_sim::profile::GpuProfile;
use simgpu_sim::spec::{BlockWork, KernelSpec, OpKind};

/// What the kernel rules need to know of the GPU they generate for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gpu {
    pub sms: u64,
    /// The most dynamic shared memory one block may take, bytes.
    pub smem_per_block: u32,
    /// Hopper's warpgroup MMA and TMA (compute capability 9.x): cuBLASLt's persistent nvjet
    /// kernels and cuDNN's wgmma attention. Without: the sm80 kernels.
    pub sm90: bool,
}

impl Gpu {
    /// An sm90 GPU of `sms` SMs (an H100 or H200: 227 KB of shared memory per block).
    pub const fn sm90(sms: u64) -> Gpu {
        Gpu { sms, smem_per_block: 227 * 1024, sm90: true }
    }

    /// Hopper (compute capability 9.x) alone gets the sm90 rules: wgmma is Hopper's, and
    /// Blackwell (10.x, 12.x) launches other kernels (tcgen05, or none of either), which are not
    /// traced here; every other GPU gets the sm80 rules.
    pub fn from_profile(p: &GpuProfile) -> Gpu {
        let major = p.sm.compute_capability.value.split('.').next().and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
        Gpu { sms: p.sm.count.value as u64, smem_per_block: p.sm.smem_per_block_max_kb.value * 1024, sm90: major == 9 }
    }
}

/// A block's resources: threads, registers per thread, shared memory bytes.
pub(crate) type Block = (u32, u32, u32);

/// One kernel with its whole-launch work split evenly over its blocks; `bytes` are DRAM bytes
/// (read, written).
pub(crate) fn kernel(name: &str, grid: u64, block: Block, op: OpKind, flops: f64, bytes: (f64, f64)) -> KernelSpec {
    let grid = grid.max(1);
    let (read, written) = bytes;
    let total = read + written;
    let (threads, regs, smem) = block;
    KernelSpec {
        name: name.to_string(),
        grid,
        threads_per_block: threads,
        regs_per_thread: regs,
        smem_bytes: smem,
        per_block: BlockWork {
            flops: flops / grid as f64,
            dram_bytes: total / grid as f64,
            dram_write_share: (total > 0.0).then(|| written / total),
            instructions: 0.0,
            link_bytes: 0.0,
        },
        op,
        host_gap_us: None,
        sync: false,
        repeat: 1,
    }
}

pub(crate) fn div_ceil(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

/// A matrix multiply `[m, k] x [k, n]` (weights `[n, k]` of `weight_bytes` per element,
/// activations and output in bf16), as cuBLASLt's nvjet kernels run it on sm90:
///
/// - skinny (m <= 64, decode): tiles of `max(8, m rounded up to a power of two)` rows and 64
///   columns while n <= 4096, else the narrowest of 192, 256 and 384 whose tiles fit on the
///   SMs (traced: 64x8 and 64x16 for n = 512 and 3584; 192x8 / 256x8 (H200 / H100) for
///   n = 18944; 384x8 for the 152064-wide LM head);
/// - wide (m > 64, prefill and encoders): the largest of 128x256, 128x128, 128x64 and 64x64
///   tiles that still gives 90% of the SMs a tile (traced: 112x128 for n = 3584, 64x64 for
///   n = 512, 256x128 and 192x192 for the encoders);
/// - more tiles than SMs: a persistent grid of one block per SM (every traced wide GEMM and
///   the LM head: 132 blocks);
/// - fewer: split-K in 2, 4 or 8 while the grid fits on the SMs and each split keeps more
///   than 1024 of k (traced: 2 for n = 512 and 3584 at k = 3584, m = 1 and 16; 2 for n = 2048
///   at k = 4096; none at k = 2048 for n = 128, 768 and 4096, Qwen3-30B-A3B on the H100), then
///   a reduce kernel of one 512-thread block per 32 outputs (16 rows).
///
/// Blocks are 384 threads with 168 registers and 160-230 KB of shared memory: one per SM.
/// FLOPs count the padded rows (the tensor cores multiply whole tiles); bytes count every
/// operand once (weights, activations, output; split-K partials in fp32 out and back in).
///
/// Without sm90 (not traced): the sm90 tile choice for wide GEMMs, run as cuBLAS's sm80
/// `s16816gemm` kernels do: skinny tiles 16 rows deep (mma.sync's M) by 64 columns, one block
/// per tile (no persistent grid: more tiles than SMs run in waves), 128 threads for tiles of up
/// to 64 rows and 256 for 128, and three stages of 32-deep K slices of both operands in shared
/// memory (CUTLASS's sm80 default; at most what a block may take). Split-K goes on while each
/// split keeps eight such slices (256 of k), up to 16 splits: the sm90 rule's 1024 was traced
/// on 384-thread TMA blocks, which keep far more bytes in flight than a 128-thread block.
pub fn gemm(name: &str, m: u64, n: u64, k: u64, weight_bytes: f64, gpu: Gpu) -> Vec<KernelSpec> {
    let sms = gpu.sms;
    let op = if weight_bytes < 2.0 { OpKind::Fp8Tensor } else { OpKind::Bf16Tensor };
    let (tile_m, tile_n, smem) = if m <= 64 {
        let tm = if gpu.sm90 { m.next_power_of_two().max(8) } else { 16 };
        let tn = if n <= 4096 || !gpu.sm90 {
            64
        } else {
            [192, 256, 384].into_iter().find(|&t| div_ceil(m, tm) * div_ceil(n, t) <= sms).unwrap_or(384)
        };
        (tm, tn, if tn == 64 { 164_308 } else { 219_364 })
    } else {
        let want = (sms * 9).div_ceil(10);
        let (tm, tn) = [(128, 256), (128, 128), (128, 64), (64, 64)]
            .into_iter()
            .find(|&(a, b)| div_ceil(m, a) * div_ceil(n, b) >= want)
            .unwrap_or((64, 64));
        (tm, tn, 231_692)
    };
    let block = if gpu.sm90 {
        (384, 168, smem)
    } else {
        let stages = 3.0 * 32.0 * (tile_m as f64 * 2.0 + tile_n as f64 * weight_bytes);
        (if tile_m > 64 { 256 } else { 128 }, 128, (stages as u32).min(gpu.smem_per_block))
    };
    let tiles = div_ceil(m, tile_m) * div_ceil(n, tile_n);
    // sm80: each split keeps at least eight 32-deep K slices of its three-stage pipeline, up to 16.
    let (min_k, max_split) = if gpu.sm90 { (1025, 8) } else { (256, 16) };
    let mut split = 1;
    while tiles * split * 2 <= sms && k / (split * 2) >= min_k && split < max_split {
        split *= 2;
    }
    let grid = if gpu.sm90 { (tiles * split).min(sms) } else { tiles * split };
    let padded_m = div_ceil(m, tile_m) * tile_m;
    let flops = 2.0 * padded_m as f64 * n as f64 * k as f64;
    let (mf, nf, kf) = (m as f64, n as f64, k as f64);
    let out_bytes = if split > 1 { mf * nf * 4.0 * split as f64 } else { mf * nf * 2.0 };
    let bytes = (nf * kf * weight_bytes + mf * kf * 2.0, out_bytes);
    let mut out = vec![kernel(
        &format!(
            "{name} (gemm {tile_n}x{tile_m}{})",
            if split > 1 { format!(" split-k {split}") } else { String::new() }
        ),
        grid,
        block,
        op,
        flops,
        bytes,
    )];
    if split > 1 {
        let reduce_bytes = (mf * nf * 4.0 * split as f64, mf * nf * 2.0);
        out.push(kernel(
            &format!("splitKreduce ({name})"),
            div_ceil(n, 32) * div_ceil(m, 16),
            (512, 32, 0),
            OpKind::Fp32,
            mf * nf * split as f64,
            reduce_bytes,
        ));
    }
    out
}

/// Scaled-dot-product attention as cuDNN's fused kernels run it (bf16): `q_len` queries per
/// sequence over `kv_len` keys, `heads` query heads sharing `kv_heads` KV heads of `head_dim`.
///
/// - decode (one query): a split-KV kernel of one 128-thread block per KV head per 128 keys
///   (traced: 4 x 4 blocks for 4 KV heads over 513 keys, 183 registers, 84 KB), then a
///   reduction of one 256-thread block per query head;
/// - prefill and encoders: a persistent wgmma kernel of at most one 384-thread block per SM
///   (traced: 132 blocks, 168 registers, 227 KB at head_dim 128 and 131 KB at 64).
///
/// Without sm90 (not traced): the same split-KV decode kernel within the block's shared memory
/// limit; prefill and encoders as FlashAttention-2's forward kernel: one 128-thread block per
/// 128 queries of each head (no persistent grid), holding a Q tile of 128 rows and K and V
/// tiles of 64 rows.
///
/// FLOPs are 2·q·k·(d + d) per head over the pairs a causal mask leaves; bytes are Q, K, V
/// and the output once (decode: plus the fp32 partial outputs out and back).
#[allow(clippy::too_many_arguments)]
pub fn attention(
    batch: u64,
    q_len: u64,
    kv_len: u64,
    heads: u64,
    kv_heads: u64,
    head_dim: u64,
    causal: bool,
    gpu: Gpu,
) -> Vec<KernelSpec> {
    let (b, q, kv, h, d) = (batch as f64, q_len as f64, kv_len as f64, heads as f64, head_dim as f64);
    // Causal: each query sees the keys before its own chunk and those of the chunk up to itself.
    let pairs = if causal && q_len > 1 { (q * (kv - q)).max(0.0) + q * (q + 1.0) / 2.0 } else { q * kv };
    let flops = 2.0 * pairs * 2.0 * d * h * b;
    // Q, K and V read; the output written.
    let (read, written) = ((q * h + 2.0 * kv * kv_heads as f64) * d * 2.0 * b, q * h * d * 2.0 * b);
    if q_len == 1 {
        let splits = (kv_len / 128).max(1);
        let partials = b * h * splits as f64 * (d + 2.0) * 4.0;
        vec![
            kernel(
                "sdpa decode (flash split-kv)",
                kv_heads * splits * batch,
                (128, 183, 86_336u32.min(gpu.smem_per_block)),
                OpKind::Bf16Tensor,
                flops,
                // The split-KV kernel writes fp32 partials; the reduction writes the output.
                (read, partials),
            ),
            kernel(
                "sdpa decode reduction",
                heads * batch,
                (256, 32, 2_080),
                OpKind::Fp32,
                b * h * splits as f64 * d,
                (partials, written),
            ),
        ]
    } else if gpu.sm90 {
        let work = batch * heads * div_ceil(q_len, 128);
        let smem = if head_dim > 64 { 232_448 } else { 134_144 };
        vec![kernel(
            "sdpa (flash wgmma)",
            work.min(gpu.sms),
            (384, 168, smem),
            OpKind::Bf16Tensor,
            flops,
            (read, written),
        )]
    } else {
        let work = batch * heads * div_ceil(q_len, 128);
        let smem = ((128 + 2 * 64) * head_dim * 2) as u32;
        let block = (128, 255, smem.min(gpu.smem_per_block));
        vec![kernel("sdpa (flash-attention 2)", work, block, OpKind::Bf16Tensor, flops, (read, written))]
    }
}

/// How a torch elementwise op runs: the kernel template torch picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elementwise {
    /// Contiguous inputs: `vectorized_elementwise_kernel`, 1024 elements per 128-thread block.
    Vectorized,
    /// A dtype cast (`x.float()`): `unrolled_elementwise_kernel`, 512 elements per block.
    Cast,
    /// Broadcast or strided inputs: `elementwise_kernel`, 1 KB of output per block.
    Strided,
}

/// An elementwise op over `n` outputs of `out_bytes` each, reading `in_bytes` per output
/// (all inputs) and doing `flops_per` operations each (traced grids: 4, 7 and 14 blocks over
/// 3584 elements for the three templates).
pub fn elementwise(name: &str, how: Elementwise, n: u64, in_bytes: f64, out_bytes: u64, flops_per: f64) -> KernelSpec {
    let (grid, regs) = match how {
        Elementwise::Vectorized => (div_ceil(n, 1024), 32),
        Elementwise::Cast => (div_ceil(n, 512), 32),
        Elementwise::Strided => (div_ceil(n * out_bytes, 1024), 18),
    };
    let bytes = (n as f64 * in_bytes, n as f64 * out_bytes as f64);
    kernel(name, grid, (128, regs, 0), OpKind::Fp32, n as f64 * flops_per, bytes)
}

/// A row reduction (mean, max, argmax) of `rows` rows of `cols` elements of `elem_bytes`:
/// torch's `reduce_kernel`, 512 threads; 16 rows per block, and a row longer than 8192 split
/// over blocks (traced: 1 block for 1-16 rows of 3584, 64 for 1024 rows, 19 for one row of
/// the 152064-wide vocabulary).
pub fn reduce(name: &str, rows: u64, cols: u64, elem_bytes: f64) -> KernelSpec {
    let grid = if cols > 8192 { rows * div_ceil(cols, 8192) } else { div_ceil(rows, 16) };
    let smem = if cols > 8192 { 8_208 } else { 16 };
    let n = (rows * cols) as f64;
    kernel(name, grid, (512, 32, smem), OpKind::Fp32, n, (n * elem_bytes, rows as f64 * 8.0))
}

/// NCCL channels (one block each) of a ring all-reduce between NVLink-connected GPUs. Not traced
/// here (no two-GPU machine was lent): NCCL's default on a fully connected NVLink node is of this
/// order; the block count decides only how many SMs the collective holds while it runs.
pub const NCCL_CHANNELS: u64 = 16;
/// NCCL's threads per block for the simple protocol on sm90 (NCCL_NTHREADS' default, 512).
const NCCL_THREADS: u32 = 512;

/// A ring all-reduce of `elements` values of `elem_bytes` over `ranks` GPUs, as one rank runs it:
/// each rank sends 2 (ranks - 1) / ranks of the message over the link (reduce-scatter, then
/// all-gather) and receives as much; it reads its buffer and the received chunks and writes the
/// result and what it forwards (DRAM: the message twice, plus the link bytes); it adds
/// (ranks - 1) / ranks of the elements. It waits for every rank (the engine's collectives).
pub fn all_reduce(name: &str, elements: u64, elem_bytes: f64, ranks: u64) -> KernelSpec {
    let message = elements as f64 * elem_bytes;
    let share = (ranks.max(1) - 1) as f64 / ranks.max(1) as f64;
    collective(name, 2.0 * share * message, 2.0 * message, share * elements as f64)
}

/// A ring all-gather into `elements` values of `elem_bytes` over `ranks` GPUs: each rank sends
/// (ranks - 1) / ranks of the result (every other rank's part passes through it once), writes
/// the result and reads what it forwards.
pub fn all_gather(name: &str, elements: u64, elem_bytes: f64, ranks: u64) -> KernelSpec {
    let message = elements as f64 * elem_bytes;
    let share = (ranks.max(1) - 1) as f64 / ranks.max(1) as f64;
    collective(name, share * message, message, 0.0)
}

/// An NCCL kernel moving `link` bytes to its peers, `local` bytes of DRAM beside what it sends
/// and receives, doing `flops` additions.
fn collective(name: &str, link: f64, local: f64, flops: f64) -> KernelSpec {
    let dram = local + link;
    let mut k = kernel(name, NCCL_CHANNELS, (NCCL_THREADS, 32, 0), OpKind::Fp32, flops, (dram / 2.0, dram / 2.0));
    k.per_block.link_bytes = link / NCCL_CHANNELS as f64;
    k
}

/// torch.cat of two halves (rotate_half): `CatArrayBatchedCopy`, a fixed grid of four 512-thread
/// blocks per SM whatever the size (traced: 528 on 132 SMs).
pub fn cat(name: &str, n: u64, elem_bytes: f64, sms: u64) -> KernelSpec {
    kernel(name, 4 * sms, (512, 25, 0), OpKind::Fp32, 0.0, (n as f64 * elem_bytes, n as f64 * elem_bytes))
}

/// An embedding lookup of `tokens` rows of `hidden` bf16 values (`indexSelectSmallIndex`: one
/// 128-thread block per 128 columns; many tokens: `vectorized_gather_kernel`, 2 per block).
pub fn embedding(tokens: u64, hidden: u64) -> KernelSpec {
    let n = (tokens * hidden) as f64;
    if tokens <= 16 {
        kernel(
            "embedding (index select)",
            div_ceil(hidden, 128),
            (128, 32, 0),
            OpKind::Fp32,
            0.0,
            (2.0 * n + tokens as f64 * 8.0, 2.0 * n),
        )
    } else {
        kernel(
            "embedding (gather)",
            div_ceil(tokens, 2) * 4,
            (256, 32, 0),
            OpKind::Fp32,
            0.0,
            (2.0 * n + tokens as f64 * 8.0, 2.0 * n),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Gpu = Gpu::sm90(132);

    fn grids(v: &[KernelSpec]) -> Vec<u64> {
        v.iter().map(|k| k.grid).collect()
    }

    /// The grids traced for Qwen2.5-7B on the H200 (132 SMs).
    #[test]
    fn gemm_grids_match_the_traces() {
        assert_eq!(grids(&gemm("q", 1, 3584, 3584, 2.0, H)), [112, 112]);
        assert_eq!(grids(&gemm("k", 1, 512, 3584, 2.0, H)), [16, 16]);
        assert_eq!(grids(&gemm("gate", 1, 18944, 3584, 2.0, H)), [99]);
        assert_eq!(grids(&gemm("down", 16, 3584, 18944, 2.0, H)), [112, 112]);
        assert_eq!(grids(&gemm("lm", 1, 152064, 3584, 2.0, H)), [132]);
        assert_eq!(grids(&gemm("q", 1024, 3584, 3584, 2.0, H)), [132]);
        assert_eq!(grids(&gemm("k", 1024, 512, 3584, 2.0, H)), [128]);
        assert_eq!(grids(&gemm("ffn", 16384, 3072, 768, 2.0, H)), [132]);
    }

    #[test]
    fn work_is_the_shapes() {
        let g = gemm("q", 16, 3584, 3584, 2.0, H);
        let flops: f64 = g[0].per_block.flops * g[0].grid as f64;
        assert!((flops - 2.0 * 16.0 * 3584.0 * 3584.0).abs() < 1.0);
        let a = attention(1, 1, 513, 28, 4, 128, false, H);
        assert_eq!(grids(&a), [16, 28]);
        let p = attention(1, 1024, 1024, 28, 4, 128, true, H);
        assert_eq!(grids(&p), [132]);
        assert_eq!(elementwise("x", Elementwise::Vectorized, 3584, 4.0, 4, 1.0).grid, 4);
        assert_eq!(elementwise("x", Elementwise::Cast, 3584, 2.0, 4, 0.0).grid, 7);
        assert_eq!(elementwise("x", Elementwise::Strided, 3584, 8.0, 4, 1.0).grid, 14);
        assert_eq!(reduce("argmax", 1, 152064, 2.0).grid, 19);
        assert_eq!(reduce("mean", 1024, 3584, 4.0).grid, 64);
    }

    /// A causal chunk of q queries after c cached keys sees q·c + q(q+1)/2 pairs: what a prefill
    /// of c + q adds to one of c, and with c = 0 a whole prefill.
    #[test]
    fn causal_chunks_add_up_to_the_prefill() {
        let flops = |q, kv| {
            attention(2, q, kv, 28, 4, 128, true, H).iter().map(|k| k.per_block.flops * k.grid as f64).sum::<f64>()
        };
        let (whole, first, second) = (flops(1536, 1536), flops(1024, 1024), flops(512, 1536));
        assert!((first + second - whole).abs() < 1e-6 * whole, "{first} + {second} against {whole}");
        let pairs = |q: f64, kv: f64| 2.0 * 2.0 * 128.0 * 28.0 * 2.0 * (q * (kv - q) + q * (q + 1.0) / 2.0);
        assert!((second - pairs(512.0, 1536.0)).abs() < 1e-6 * second);
    }
}
