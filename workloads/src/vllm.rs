//! One step of a decoder as vLLM runs it: its fused custom ops instead of torch's unfused ones
//! (`fused_add_rms_norm`, one `rotary_embedding`, `reshape_and_cache_flash`, flash attention,
//! `silu_and_mul`), merged projections (`QKVParallelLinear`, `MergedColumnParallelLinear` for
//! gate and up), and for a mixture of experts the fused Triton MoE (`topk_softmax`,
//! `moe_align_block_size`, two `fused_moe_kernel` launches and `moe_sum`) with no device read
//! inside the step, so that it can be captured in a CUDA graph. With fp8 weights (vLLM's dynamic
//! fp8) every linear layer but the router and the LM head quantizes its input per token first.
//!
//! The op sequence is vLLM's model code (`llama.py`, `qwen2.py`, `qwen3.py`, `qwen3_moe.py`,
//! `layers/fused_moe`); no vLLM step was traced here. The grids are the ops' launch rules
//! (one block per token for the norms, rotary and cache writes; the fused MoE's default tile
//! for small batches, 16 rows by 32 columns), checked against the one vLLM trace this project
//! has, seed 003's Nsight Systems table of Qwen3-30B-A3B decode on an H200 (mean 472 blocks per
//! `fused_moe_kernel`, one block per fp8 quantization, 132 per attention kernel;
//! docs/workloads.md). GEMMs are [`crate::kernels::gemm`]'s rules.

use crate::config::{Family, ModelConfig};
use crate::eager::{Phase, StepKernels};
use crate::kernels::{attention, div_ceil, embedding, gemm, kernel, reduce, Gpu};
use crate::moe::expert_loads;
use simgpu_sim::spec::{KernelSpec, OpKind};

/// One block per token of at most 1024 threads (vLLM's norms and activations: a thread per
/// element up to the block, in a loop beyond), moving `read` and `written` bytes per token.
fn per_token(name: &str, tokens: u64, width: u64, flops_per: f64, read: f64, written: f64) -> KernelSpec {
    let threads = width.clamp(32, 1024) as u32;
    let t = tokens as f64;
    kernel(name, tokens, (threads, 32, 0), OpKind::Fp32, t * width as f64 * flops_per, (t * read, t * written))
}

/// A linear layer over `t` tokens: with fp8 weights, the per-token dynamic quantization of its
/// input (`dynamic_per_token_scaled_fp8_quant`: one block per token) before the GEMM.
fn linear(out: &mut Vec<KernelSpec>, name: &str, t: u64, n: u64, k: u64, weight_bytes: f64, gpu: Gpu) {
    if weight_bytes < 2.0 {
        let kf = k as f64;
        out.push(per_token(&format!("{name}: fp8 quant"), t, k, 2.0, kf * 2.0, kf + 4.0));
    }
    out.extend(gemm(name, t, n, k, weight_bytes, gpu));
}

/// Decode attention as vLLM's flash-attention backend runs it: a split-KV kernel, on sm90 over
/// at least every SM (seed 003's trace at batch 1: 132 blocks on 132 SMs), elsewhere one
/// 128-thread block per KV head and 128 keys; then the kernel that combines the splits. Prefill and encoders: the
/// kernel rules of [`attention`].
fn flash_attention(b: u64, q: u64, kv: u64, cfg: &ModelConfig, causal: bool, gpu: Gpu) -> Vec<KernelSpec> {
    let mut v = attention(b, q, kv, cfg.heads, cfg.kv_heads, cfg.head_dim, causal, gpu);
    if q == 1 && gpu.sm90 && v[0].grid < gpu.sms {
        // Too few splits to fill the SMs: spread over every SM (its work the same), then the
        // combine. (Where batch x KV heads already fill them, the grid stays.)
        let k = &mut v[0];
        let (flops, bytes) = (k.per_block.flops * k.grid as f64, k.per_block.dram_bytes * k.grid as f64);
        k.grid = gpu.sms;
        k.per_block.flops = flops / k.grid as f64;
        k.per_block.dram_bytes = bytes / k.grid as f64;
    }
    if q == 1 {
        v[0].name = "flash attention decode (split-kv)".into();
        v[1].name = "flash attention combine".into();
    }
    v
}

/// vLLM's fused MoE for `t` tokens: routing, alignment, then the gate-and-up and the down
/// launches of `fused_moe_kernel` over the experts hit (rows padded to the 16-row tile per
/// expert), `silu_and_mul` between, and `moe_sum` of the top-k outputs.
fn fused_moe(out: &mut Vec<KernelSpec>, cfg: &ModelConfig, t: u64, weight_bytes: f64, gpu: Gpu) {
    let (h, e, k, f) = (cfg.hidden, cfg.experts, cfg.experts_per_token, cfg.expert_ffn);
    // The router is a bf16 `ReplicatedLinear` (vLLM does not quantize it).
    out.extend(gemm("router", t, e, h, 2.0, gpu));
    let (tf, kf) = (t as f64, k as f64);
    out.push(kernel(
        "topk_softmax",
        div_ceil(t, 8),
        (256, 32, 0),
        OpKind::Fp32,
        tf * e as f64 * 4.0,
        (tf * e as f64 * 2.0, tf * kf * 8.0),
    ));
    out.push(kernel(
        "moe_align_block_size",
        1,
        (1024, 32, 0),
        OpKind::Int32,
        tf * kf * 4.0,
        (tf * kf * 4.0, (e * 4 + t * k * 4) as f64),
    ));
    let loads = expert_loads(e, k, t);
    let hit: u64 = loads.iter().map(|l| l.1).sum();
    // Rows of the sorted token list, each expert's padded to the 16-row tile.
    let row_blocks: u64 = loads.iter().map(|&(n, c)| div_ceil(n, 16) * c).sum();
    let op = if weight_bytes < 2.0 { OpKind::Fp8Tensor } else { OpKind::Bf16Tensor };
    let a_bytes = if weight_bytes < 2.0 { 1.0 } else { 2.0 };
    let launch = |name: &str, n: u64, kk: u64| {
        let grid = row_blocks * div_ceil(n, 32);
        let flops = 2.0 * (row_blocks * 16) as f64 * n as f64 * kk as f64;
        let weights = (hit * n * kk) as f64 * weight_bytes;
        let rows = (t * k) as f64;
        // Three stages of a 16x64 activation tile and a 64x32 weight tile (Triton's pipelining).
        let smem = (3.0 * (16.0 * 64.0 * a_bytes + 64.0 * 32.0 * weight_bytes)) as u32;
        kernel(
            name,
            grid,
            (128, 96, smem.min(gpu.smem_per_block)),
            op,
            flops,
            (weights + rows * kk as f64 * a_bytes, rows * n as f64 * 2.0),
        )
    };
    if weight_bytes < 2.0 {
        out.push(per_token("fused moe w13: fp8 quant", t, h, 2.0, h as f64 * 2.0, h as f64 + 4.0));
    }
    out.push(launch("fused_moe_kernel (gate and up)", 2 * f, h));
    out.push(per_token("silu_and_mul (experts)", t * k, f, 8.0, f as f64 * 4.0, f as f64 * 2.0));
    if weight_bytes < 2.0 {
        out.push(per_token("fused moe w2: fp8 quant", t * k, f, 2.0, f as f64 * 2.0, f as f64 + 4.0));
    }
    out.push(launch("fused_moe_kernel (down)", h, f));
    out.push(per_token("moe_sum", t, h, kf, h as f64 * 2.0 * kf, h as f64 * 2.0));
}

/// The step's kernels on `gpu` as vLLM launches them (one rank of `tp`: `cfg` is its shard).
/// Only decoders: an encoder is served by sentence-transformers or transformers, not by vLLM's
/// model runner (use [`crate::eager`]).
pub fn step(cfg: &ModelConfig, phase: Phase, weight_bytes: f64, gpu: Gpu, tp: u64) -> Result<StepKernels, String> {
    if cfg.family != Family::Decoder {
        return Err(format!(
            "vLLM's engine runs decoders here; {} is an encoder (use the torch engine)",
            cfg.model_type
        ));
    }
    if matches!(phase, Phase::Encode { .. }) {
        return Err("vLLM's engine generates text here: an embedding model's encode step is the torch engine's".into());
    }
    let (b, q_len, kv_len) = phase.dims();
    let t = b * q_len;
    let (h, qd, kvd) = (cfg.hidden, cfg.heads * cfg.head_dim, cfg.kv_heads * cfg.head_dim);
    let hb = h as f64 * 2.0;
    let all_reduce = |out: &mut Vec<KernelSpec>, what: &str| {
        if tp > 1 {
            out.push(crate::kernels::all_reduce(what, t * h, 2.0, tp));
        }
    };
    let mut layer = Vec::new();
    // Residual add and RMSNorm in one kernel: reads x, the residual and the weight, writes both.
    layer.push(per_token("fused_add_rms_norm (input)", t, h, 4.0, 2.0 * hb, 2.0 * hb));
    linear(&mut layer, "qkv proj", t, qd + 2 * kvd, h, weight_bytes, gpu);
    if cfg.qk_norm {
        let d = cfg.head_dim;
        let db = d as f64 * 2.0;
        layer.push(per_token("rms_norm (q heads)", t * cfg.heads, d, 4.0, db, db));
        layer.push(per_token("rms_norm (k heads)", t * cfg.kv_heads, d, 4.0, db, db));
    }
    let qk = (qd + kvd) as f64 * 2.0;
    layer.push(per_token("rotary_embedding", t, (qd + kvd) / 2, 6.0, qk, qk));
    let kvb = 2.0 * kvd as f64 * 2.0;
    layer.push(per_token("reshape_and_cache_flash", t, kvd, 0.0, kvb, kvb));
    let causal = !matches!(phase, Phase::Decode { .. });
    layer.extend(flash_attention(b, q_len, kv_len, cfg, causal, gpu));
    linear(&mut layer, "o proj", t, h, qd, weight_bytes, gpu);
    all_reduce(&mut layer, "attention all-reduce");
    layer.push(per_token("fused_add_rms_norm (post-attention)", t, h, 4.0, 2.0 * hb, 2.0 * hb));
    if cfg.experts > 0 {
        fused_moe(&mut layer, cfg, t, weight_bytes, gpu);
    } else {
        let f = cfg.ffn;
        linear(&mut layer, "gate_up proj", t, 2 * f, h, weight_bytes, gpu);
        layer.push(per_token("silu_and_mul", t, f, 8.0, f as f64 * 4.0, f as f64 * 2.0));
        linear(&mut layer, "down proj", t, h, f, weight_bytes, gpu);
    }
    all_reduce(&mut layer, "mlp all-reduce");
    let mut prologue = vec![embedding(t, h)];
    all_reduce(&mut prologue, "embedding all-reduce");
    let mut epilogue = vec![per_token("fused_add_rms_norm (final)", t, h, 4.0, 2.0 * hb, 2.0 * hb)];
    // Only each sequence's last position reaches the LM head (bf16: vLLM does not quantize it).
    epilogue.extend(gemm("lm head", b, cfg.vocab, h, 2.0, gpu));
    if tp > 1 {
        epilogue.push(crate::kernels::all_gather("logits all-gather", b * cfg.vocab * tp, 2.0, tp));
    }
    epilogue.push(reduce("sampler argmax", b, cfg.vocab * tp, 2.0));
    Ok(StepKernels { prologue, layer, layer_groups: Vec::new(), layers: cfg.layers as u32, epilogue })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qwen3_moe() -> ModelConfig {
        ModelConfig::from_json(crate::bundled::model("qwen3-30b-a3b").unwrap()).unwrap()
    }

    /// Seed 003's trace of vLLM's Qwen3-30B-A3B decode on an H200 at concurrency 1: the fused MoE
    /// kernel averages 472 blocks, an fp8 quantization is one block, attention fills the 132 SMs.
    #[test]
    fn moe_decode_has_the_traced_grids() {
        let s = step(&qwen3_moe(), Phase::Decode { batch: 1, context: 512 }, 1.0, Gpu::sm90(132), 1).unwrap();
        let grid = |name: &str| s.layer.iter().find(|k| k.name.starts_with(name)).map(|k| k.grid).unwrap();
        let moe: Vec<u64> = s.layer.iter().filter(|k| k.name.starts_with("fused_moe_kernel")).map(|k| k.grid).collect();
        // 8 experts of one token: 8 row tiles by 1536/32 and 2048/32 columns.
        assert_eq!(moe, [384, 512]);
        let mean = (moe[0] + moe[1]) as f64 / 2.0;
        assert!((mean / 472.0 - 1.0).abs() < 0.1, "{mean}");
        assert_eq!(grid("qkv proj: fp8 quant"), 1);
        assert_eq!(grid("flash attention decode"), 132);
        // Graph-capturable: nothing inside the step reads the device.
        assert!(s.layer.iter().chain(&s.prologue).chain(&s.epilogue).all(|k| !k.sync));
    }

    /// Every bundled decoder, every phase, both engines and dtypes, on an sm89 GPU (the RTX 4090:
    /// 99 KB per block) and an sm90 one: every block fits its GPU's shared memory.
    #[test]
    fn blocks_fit_the_gpu() {
        let ada = Gpu { sms: 128, smem_per_block: 99 * 1024, sm90: false };
        let phases = [
            Phase::Decode { batch: 1, context: 512 },
            Phase::Decode { batch: 32, context: 4096 },
            Phase::Prefill { batch: 1, prompt: 2048 },
            Phase::Chunk { batch: 2, chunk: 512, context: 1024 },
        ];
        for (name, text) in crate::bundled::MODELS {
            let cfg = ModelConfig::from_json(text).unwrap();
            for gpu in [ada, Gpu::sm90(132)] {
                for phase in phases {
                    for wb in [2.0, 1.0] {
                        let mut steps = vec![crate::eager::step(&cfg, phase, wb, gpu, 1)];
                        if cfg.family == Family::Decoder {
                            steps.push(step(&cfg, phase, wb, gpu, 1).unwrap());
                        }
                        for s in steps {
                            for k in s.prologue.iter().chain(&s.layer).chain(&s.epilogue) {
                                assert!(
                                    k.smem_bytes <= gpu.smem_per_block,
                                    "{name} {phase:?} {}: {} B",
                                    k.name,
                                    k.smem_bytes
                                );
                                assert!(k.grid >= 1 && k.threads_per_block <= 1024, "{name} {}", k.name);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn encoders_are_refused() {
        let e5 = ModelConfig::from_json(crate::bundled::model("e5-large-v2").unwrap()).unwrap();
        let r = step(&e5, Phase::Encode { batch: 8, seq: 128 }, 2.0, Gpu::sm90(132), 1);
        assert!(r.unwrap_err().contains("encoder"));
        // A decoder embedding model's encode step too (it would get an LM head and a sampler).
        let q = ModelConfig::from_json(crate::bundled::model("qwen3-embedding-8b").unwrap()).unwrap();
        let r = step(&q, Phase::Encode { batch: 8, seq: 128 }, 2.0, Gpu::sm90(132), 1);
        assert!(r.unwrap_err().contains("encode step"));
    }
}
