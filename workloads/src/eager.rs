//! One step as PyTorch eager runs a Hugging Face style model (unfused: RMSNorm in fp32 as five
//! elementwise ops and a mean, rotate_half RoPE, separate q/k/v and gate/up projections, SDPA
//! through cuDNN). This is the kernel sequence traced for Qwen2.5-7B on the H100 and H200
//! (44 kernels per decoder layer, 1250 per decode step); `tools/capture/torch_traces.py` is the
//! model code that was traced. A mixture of experts' MLP is [`crate::moe`]'s loop.

use crate::config::{Activation, Family, ModelConfig};
use crate::kernels::{attention, cat, elementwise, embedding, gemm, reduce, Elementwise, Gpu};
use simgpu_sim::spec::{KernelGroup, KernelSpec};

/// What one step computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// `batch` sequences each add one token after `context` tokens already cached.
    Decode { batch: u64, context: u64 },
    /// `batch` prompts of `prompt` tokens, from an empty cache (causal).
    Prefill { batch: u64, prompt: u64 },
    /// An encoder batch: `batch` sequences of `seq` tokens, no mask.
    Encode { batch: u64, seq: u64 },
    /// A chunk of a chunked prefill: `batch` sequences each add `chunk` prompt tokens after
    /// `context` already cached (causal within the chunk, all of the cache before it).
    Chunk { batch: u64, chunk: u64, context: u64 },
}

impl Phase {
    /// (sequences, new tokens per sequence, keys each query sees).
    pub(crate) fn dims(self) -> (u64, u64, u64) {
        match self {
            Phase::Decode { batch, context } => (batch, 1, context + 1),
            Phase::Prefill { batch, prompt } => (batch, prompt, prompt),
            Phase::Encode { batch, seq } => (batch, seq, seq),
            Phase::Chunk { batch, chunk, context } => (batch, chunk, context + chunk),
        }
    }
}

/// The kernels of one step: a prologue, one layer (repeated `layers` times), an epilogue.
#[derive(Debug, Clone, PartialEq)]
pub struct StepKernels {
    pub prologue: Vec<KernelSpec>,
    pub layer: Vec<KernelSpec>,
    /// Loops inside the layer (a mixture of experts' per-expert iterations), positions relative
    /// to the layer's first kernel.
    pub layer_groups: Vec<KernelGroup>,
    pub layers: u32,
    pub epilogue: Vec<KernelSpec>,
}

/// The fp32 RMSNorm of `rows` rows of `width` (HF: `x.float()`, `pow(2)`, `mean`, `+ eps`,
/// `rsqrt`, `x * rsqrt`, `.to(bf16)`, `weight * x`): eight kernels.
fn rms_norm(out: &mut Vec<KernelSpec>, what: &str, rows: u64, width: u64) {
    let n = rows * width;
    out.push(elementwise(&format!("{what}: to fp32"), Elementwise::Cast, n, 2.0, 4, 0.0));
    out.push(elementwise(&format!("{what}: pow"), Elementwise::Vectorized, n, 4.0, 4, 1.0));
    out.push(reduce(&format!("{what}: mean"), rows, width, 4.0));
    out.push(elementwise(&format!("{what}: + eps"), Elementwise::Vectorized, rows, 4.0, 4, 1.0));
    out.push(elementwise(&format!("{what}: rsqrt"), Elementwise::Vectorized, rows, 4.0, 4, 1.0));
    out.push(elementwise(&format!("{what}: scale"), Elementwise::Strided, n, 4.0, 4, 1.0));
    out.push(elementwise(&format!("{what}: to bf16"), Elementwise::Vectorized, n, 4.0, 2, 0.0));
    out.push(elementwise(&format!("{what}: weight"), Elementwise::Vectorized, n, 4.0, 2, 1.0));
}

/// LayerNorm over `rows` x `width`: torch's fused `vectorized_layer_norm_kernel`, one 128-thread
/// block per row (traced for bge-base: 16384 blocks over 16384 rows).
fn layer_norm(out: &mut Vec<KernelSpec>, what: &str, rows: u64, width: u64) {
    let mut k = elementwise(what, Elementwise::Vectorized, rows * width, 2.0, 2, 8.0);
    k.grid = rows;
    k.per_block.dram_bytes = (width * 4) as f64;
    k.per_block.flops = (width * 8) as f64;
    out.push(k);
}

/// RoPE on `n` bf16 values (`x * cos + rotate_half(x) * sin`): five kernels.
fn rope(out: &mut Vec<KernelSpec>, what: &str, n: u64, gpu: Gpu) {
    out.push(elementwise(&format!("{what}: * cos"), Elementwise::Strided, n, 4.0, 2, 1.0));
    out.push(elementwise(&format!("{what}: neg half"), Elementwise::Strided, n / 2, 2.0, 2, 1.0));
    out.push(cat(&format!("{what}: rotate_half cat"), n, 2.0, gpu.sms));
    out.push(elementwise(&format!("{what}: * sin"), Elementwise::Strided, n, 4.0, 2, 1.0));
    out.push(elementwise(&format!("{what}: add"), Elementwise::Vectorized, n, 4.0, 2, 1.0));
}

/// The step's kernels on `gpu`, weights of `weight_bytes` per element, as one rank
/// of `tp` runs them: `cfg` is that rank's shard ([`ModelConfig::shard`]); with `tp` > 1 the
/// row-parallel projections (attention's output, the MLP's down) are each followed by an
/// all-reduce of the hidden states, as is the vocabulary-parallel embedding; the LM head's
/// logits are all-gathered.
pub fn step(cfg: &ModelConfig, phase: Phase, weight_bytes: f64, gpu: Gpu, tp: u64) -> StepKernels {
    let (b, q_len, kv_len) = phase.dims();
    let all_reduce = |out: &mut Vec<KernelSpec>, what: &str, elements: u64| {
        if tp > 1 {
            out.push(crate::kernels::all_reduce(what, elements, 2.0, tp));
        }
    };
    let t = b * q_len;
    let (h, qd, kvd) = (cfg.hidden, cfg.heads * cfg.head_dim, cfg.kv_heads * cfg.head_dim);
    let mut layer = Vec::new();
    let mut layer_groups = Vec::new();
    match cfg.family {
        Family::Decoder => {
            rms_norm(&mut layer, "input norm", t, h);
            for (what, n) in [("q", qd), ("k", kvd), ("v", kvd)] {
                layer.extend(gemm(&format!("{what} proj"), t, n, h, weight_bytes, gpu));
            }
            if cfg.qk_norm {
                rms_norm(&mut layer, "q norm", t * cfg.heads, cfg.head_dim);
                rms_norm(&mut layer, "k norm", t * cfg.kv_heads, cfg.head_dim);
            }
            rope(&mut layer, "rope q", t * qd, gpu);
            rope(&mut layer, "rope k", t * kvd, gpu);
            for what in ["k", "v"] {
                layer.push(elementwise(&format!("{what} cache write"), Elementwise::Strided, t * kvd, 2.0, 2, 0.0));
            }
            // Decoders attend causally in prefill and as embedding models alike.
            let causal = !matches!(phase, Phase::Decode { .. });
            layer.extend(attention(b, q_len, kv_len, cfg.heads, cfg.kv_heads, cfg.head_dim, causal, gpu));
            layer.extend(gemm("o proj", t, h, qd, weight_bytes, gpu));
            all_reduce(&mut layer, "attention all-reduce", t * h);
            layer.push(elementwise("residual add", Elementwise::Vectorized, t * h, 4.0, 2, 1.0));
            rms_norm(&mut layer, "post-attention norm", t, h);
            if cfg.experts > 0 {
                let (moe, groups) = crate::moe::hf_loop(cfg, t, weight_bytes, gpu);
                let base = layer.len();
                layer_groups.extend(groups.into_iter().map(|g| KernelGroup { first: g.first + base, ..g }));
                layer.extend(moe);
            } else {
                let f = cfg.ffn;
                layer.extend(gemm("gate proj", t, f, h, weight_bytes, gpu));
                let act = if cfg.activation == Activation::Silu { "silu" } else { "gelu" };
                layer.push(elementwise(act, Elementwise::Vectorized, t * f, 2.0, 2, 8.0));
                layer.extend(gemm("up proj", t, f, h, weight_bytes, gpu));
                layer.push(elementwise("gate * up", Elementwise::Vectorized, t * f, 4.0, 2, 1.0));
                layer.extend(gemm("down proj", t, h, f, weight_bytes, gpu));
            }
            all_reduce(&mut layer, "mlp all-reduce", t * h);
            layer.push(elementwise("residual add", Elementwise::Vectorized, t * h, 4.0, 2, 1.0));
        }
        Family::Bert => {
            for what in ["q", "k", "v"] {
                layer.extend(gemm(&format!("{what} proj"), t, qd, h, weight_bytes, gpu));
            }
            layer.extend(attention(b, q_len, kv_len, cfg.heads, cfg.heads, cfg.head_dim, false, gpu));
            layer.extend(gemm("o proj", t, h, qd, weight_bytes, gpu));
            all_reduce(&mut layer, "attention all-reduce", t * h);
            layer.push(elementwise("residual add", Elementwise::Vectorized, t * h, 4.0, 2, 1.0));
            layer_norm(&mut layer, "attention layer norm", t, h);
            layer.extend(gemm("ffn in", t, cfg.ffn, h, weight_bytes, gpu));
            layer.push(elementwise("gelu", Elementwise::Vectorized, t * cfg.ffn, 2.0, 2, 8.0));
            layer.extend(gemm("ffn out", t, h, cfg.ffn, weight_bytes, gpu));
            all_reduce(&mut layer, "mlp all-reduce", t * h);
            layer.push(elementwise("residual add", Elementwise::Vectorized, t * h, 4.0, 2, 1.0));
            layer_norm(&mut layer, "ffn layer norm", t, h);
        }
    }
    let mut prologue = vec![embedding(t, h)];
    all_reduce(&mut prologue, "embedding all-reduce", t * h);
    let mut epilogue = Vec::new();
    match cfg.family {
        Family::Decoder => {
            // Rotary tables for the step's positions: arange, outer product, cat, cos, sin, casts.
            let half = cfg.head_dim / 2;
            prologue.push(elementwise("positions (arange)", Elementwise::Strided, q_len, 0.0, 4, 1.0));
            prologue.push(elementwise("rope freqs", Elementwise::Strided, q_len * half, 4.0, 4, 1.0));
            let mut c = cat("rope table cat", q_len * cfg.head_dim, 4.0, gpu.sms);
            c.grid = (q_len * cfg.head_dim).div_ceil(256);
            prologue.push(c);
            for what in ["cos", "cos to bf16", "sin", "sin to bf16"] {
                prologue.push(elementwise(what, Elementwise::Vectorized, q_len * cfg.head_dim, 4.0, 4, 1.0));
            }
            rms_norm(&mut epilogue, "final norm", t, h);
            if matches!(phase, Phase::Encode { .. }) {
                // An embedding model (Qwen3-Embedding): the last token's state, L2 normalised.
                epilogue.push(reduce("last-token norm", b, h, 2.0));
                epilogue.push(elementwise("normalise", Elementwise::Strided, b * h, 4.0, 2, 1.0));
            } else {
                // Only the last position of each sequence reaches the LM head.
                epilogue.extend(gemm("lm head", b, cfg.vocab, h, weight_bytes, gpu));
                if tp > 1 {
                    epilogue.push(crate::kernels::all_gather("logits all-gather", b * cfg.vocab * tp, 2.0, tp));
                }
                epilogue.push(reduce("argmax", b, cfg.vocab * tp, 2.0));
            }
        }
        Family::Bert => {
            prologue.push(embedding(t, h));
            prologue.push(elementwise("embeddings sum", Elementwise::Vectorized, t * h, 4.0, 2, 1.0));
            layer_norm(&mut prologue, "embedding layer norm", t, h);
            // CLS pooling, L2 normalised.
            epilogue.push(reduce("cls norm", b, h, 2.0));
            epilogue.push(elementwise("normalise", Elementwise::Strided, b * h, 4.0, 2, 1.0));
        }
    }
    StepKernels { prologue, layer, layer_groups, layers: cfg.layers as u32, epilogue }
}
