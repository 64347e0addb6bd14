//! Does a step fit in the GPU's memory? Weights, the KV cache the step keeps, the largest
//! transient activations of one layer, and what each process's CUDA context takes, against the
//! memory the process may use (the GPU's, or an MPS client's `pinned_device_mem_limit`).

use crate::config::{Family, ModelConfig};
use crate::eager::Phase;

/// Bytes a step needs, by what holds them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Footprint {
    pub weights: f64,
    /// Keys and values of every layer for every cached token (bf16).
    pub kv_cache: f64,
    /// The largest live activations of one layer (eager frees each op's inputs as it goes).
    pub activations: f64,
    /// The process's CUDA context, cuBLAS workspace and allocator slack, as the caller measured it.
    pub context: f64,
}

impl Footprint {
    pub fn total(&self) -> f64 {
        self.weights + self.kv_cache + self.activations + self.context
    }
}

/// The footprint of `phase` on `cfg` with weights of `weight_bytes` per element; `context` is the
/// per-process overhead in bytes.
pub fn footprint(cfg: &ModelConfig, phase: Phase, weight_bytes: f64, context: f64) -> Footprint {
    let (batch, new, cached) = match phase {
        Phase::Decode { batch, context } => (batch, 1, context + 1),
        Phase::Prefill { batch, prompt } => (batch, prompt, prompt),
        Phase::Encode { batch, seq } => (batch, seq, 0),
        Phase::Chunk { batch, chunk, context } => (batch, chunk, context + chunk),
    };
    let (b, t, c) = (batch as f64, (batch * new) as f64, cached as f64);
    let kv_per_token = 2.0 * cfg.layers as f64 * (cfg.kv_heads * cfg.head_dim) as f64 * 2.0;
    let kv_cache = if cfg.family == Family::Decoder { kv_per_token * c * b } else { 0.0 };
    let width = if cfg.experts > 0 { cfg.expert_ffn * cfg.experts_per_token } else { cfg.ffn } as f64;
    // Gate and up outputs with their product (bf16), or the fp32 norm's copies of the hidden state.
    let mlp = t * width * 3.0 * 2.0;
    let norm = t * cfg.hidden as f64 * (4.0 * 3.0 + 2.0 * 2.0);
    // A mixture of experts' one-hot expert mask (int64, experts x choices x tokens: moe.rs).
    let mask = t * (cfg.experts * cfg.experts_per_token) as f64 * 8.0;
    // Attention scores never reach memory (flash kernels); the fp32 logits of the LM head do.
    let logits = if cfg.lm_head && !matches!(phase, Phase::Encode { .. }) { b * cfg.vocab as f64 * 4.0 } else { 0.0 };
    Footprint {
        weights: cfg.parameters() as f64 * weight_bytes,
        kv_cache,
        activations: mlp.max(norm).max(mask) + logits,
        context,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwen7b_decode_footprint() {
        let cfg = ModelConfig::from_json(
            r#"{"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944,
            "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
            "vocab_size": 152064, "tie_word_embeddings": false}"#,
        )
        .unwrap();
        let f = footprint(&cfg, Phase::Decode { batch: 16, context: 4095 }, 2.0, 0.0);
        // 57344 bytes of KV per token (28 layers x 2 x 512 x 2 bytes) x 4096 tokens x 16.
        assert_eq!(f.kv_cache, 57344.0 * 4096.0 * 16.0);
        assert!((f.weights / 1e9 - 15.2).abs() < 0.1, "{}", f.weights);
        let more = footprint(&cfg, Phase::Decode { batch: 32, context: 4095 }, 2.0, 0.0);
        assert!(more.total() > f.total());
    }

    /// Many experts: the one-hot mask (int64, experts x choices x tokens) outgrows the MLP.
    #[test]
    fn expert_mask_counts() {
        let cfg = ModelConfig::from_json(
            r#"{"model_type": "qwen3_moe", "hidden_size": 64, "intermediate_size": 64,
            "num_hidden_layers": 1, "num_attention_heads": 1, "num_key_value_heads": 1, "head_dim": 64,
            "vocab_size": 100, "num_experts": 4096, "num_experts_per_tok": 64, "moe_intermediate_size": 8}"#,
        )
        .unwrap();
        let f = footprint(&cfg, Phase::Prefill { batch: 1, prompt: 1000 }, 2.0, 0.0);
        assert_eq!(f.activations, 1000.0 * 4096.0 * 64.0 * 8.0 + 100.0 * 4.0);
    }
}
