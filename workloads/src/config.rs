//! A model's shape from its Hugging Face `config.json`: the published field names, read as
//! published (a multimodal config's language model sits under `text_config`). The bundled
//! configs in `models/workloads/` are such files, trimmed to these fields, each with its source.

use serde_json::Value;

/// What the layers look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Causal decoder (Llama, Qwen, Gemma): RMSNorm, rotary embeddings, gated MLP.
    Decoder,
    /// BERT-style encoder: LayerNorm after each block, learned positions, GELU MLP.
    Bert,
}

/// The MLP's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Silu,
    Gelu,
    GeluTanh,
}

/// A model's shape: what the kernels of a step depend on.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// `model_type` as published (`qwen2`, `llama`, `gemma3_text`, `qwen3_moe`, `bert`).
    pub model_type: String,
    pub family: Family,
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    /// Dense MLP width (`intermediate_size`).
    pub ffn: u64,
    pub vocab: u64,
    /// `torch_dtype` as published (weights' dtype).
    pub dtype: String,
    pub activation: Activation,
    /// Gated MLP (gate and up projections, then down): decoders; BERT's is not.
    pub gated: bool,
    /// Biases on the q, k, v projections (Qwen2 yes; Llama, Qwen3 no; BERT on every linear).
    pub qkv_bias: bool,
    /// Per-head RMSNorm of q and k (Qwen3, Gemma 3).
    pub qk_norm: bool,
    /// Mixture of experts: experts, experts per token, each expert's width (0 when dense).
    pub experts: u64,
    pub experts_per_token: u64,
    pub expert_ffn: u64,
    pub tied_embeddings: bool,
    /// A language-model head after the last layer: `architectures` names a `...ForCausalLM`
    /// or `...ForConditionalGeneration` class (or is absent, for a decoder). An embedding
    /// model (`Qwen3Model`, `BertModel`) has none.
    pub lm_head: bool,
    pub max_positions: u64,
}

/// A config that cannot be read: the field and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.field, self.message)
    }
}

fn err(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { field: field.to_string(), message: message.into() }
}

/// Largest value a shape field may take (keeps every product of shapes far inside u64 and f64).
const MAX_DIM: u64 = 1 << 24;

impl ModelConfig {
    /// What one rank of a tensor-parallel group of `tp` holds (Megatron-style, as vLLM shards a
    /// decoder): its share of the attention heads (KV heads replicated where there are fewer
    /// than ranks), of the MLP width and of the vocabulary (padded up); norms and the hidden
    /// width whole. An error where the heads or the MLP do not split evenly.
    pub fn shard(&self, tp: u64) -> Result<ModelConfig, String> {
        if tp <= 1 {
            return Ok(self.clone());
        }
        if !self.heads.is_multiple_of(tp) {
            return Err(format!("{} attention heads do not split over {tp} ranks", self.heads));
        }
        if !self.kv_heads.is_multiple_of(tp) && !tp.is_multiple_of(self.kv_heads) {
            return Err(format!("{} KV heads neither split over nor replicate to {tp} ranks", self.kv_heads));
        }
        if !self.ffn.is_multiple_of(tp) {
            return Err(format!("an MLP width of {} does not split over {tp} ranks", self.ffn));
        }
        if !self.expert_ffn.is_multiple_of(tp) {
            return Err(format!("an expert width of {} does not split over {tp} ranks", self.expert_ffn));
        }
        let mut c = self.clone();
        // Every rank holds every expert's share of its width (vLLM's tensor-parallel MoE).
        c.expert_ffn /= tp;
        c.heads /= tp;
        c.kv_heads = (self.kv_heads / tp).max(1);
        c.ffn /= tp;
        c.vocab = self.vocab.div_ceil(tp);
        Ok(c)
    }

    /// Reads a `config.json` text.
    pub fn from_json(text: &str) -> Result<ModelConfig, ConfigError> {
        let v: Value = serde_json::from_str(text).map_err(|e| err("(file)", format!("not JSON: {e}")))?;
        ModelConfig::from_value(&v)
    }

    pub fn from_value(root: &Value) -> Result<ModelConfig, ConfigError> {
        if !root.is_object() {
            return Err(err("(file)", "a config.json holds one JSON object"));
        }
        // Multimodal configs (Gemma 3) keep the language model under `text_config`.
        let (v, prefix) = match root.get("text_config") {
            Some(t) if t.is_object() => (t, "text_config."),
            _ => (root, ""),
        };
        let at = |f: &str| format!("{prefix}{f}");
        let get = |f: &str| v.get(f).or_else(|| root.get(f)).filter(|x| !x.is_null());
        let uint = |f: &str| -> Result<Option<u64>, ConfigError> {
            match get(f) {
                None => Ok(None),
                Some(x) => match x.as_u64() {
                    Some(n) if (1..=MAX_DIM).contains(&n) => Ok(Some(n)),
                    _ => Err(err(&at(f), format!("must be a whole number from 1 to {MAX_DIM}, not {x}"))),
                },
            }
        };
        let need = |f: &str| uint(f)?.ok_or_else(|| err(&at(f), "missing (the model's shape needs it)"));
        let text = |f: &str| get(f).and_then(|x| x.as_str()).map(str::to_string);
        let flag = |f: &str| get(f).and_then(|x| x.as_bool());
        let model_type = text("model_type").ok_or_else(|| err(&at("model_type"), "missing"))?;
        let family = match model_type.as_str() {
            "bert" | "xlm-roberta" | "roberta" => Family::Bert,
            "llama" | "qwen2" | "qwen3" | "qwen3_moe" | "qwen2_moe" | "mistral" | "gemma3_text" | "gemma3"
            | "gemma2" | "gemma" => Family::Decoder,
            other => {
                return Err(err(
                    &at("model_type"),
                    format!(
                        "`{other}` is not a family simgpu generates (llama, qwen2, qwen3, qwen3_moe, gemma3, bert)"
                    ),
                ))
            }
        };
        let hidden = need("hidden_size")?;
        let heads = need("num_attention_heads")?;
        let kv_heads = uint("num_key_value_heads")?.unwrap_or(heads);
        if heads % kv_heads != 0 {
            return Err(err(&at("num_key_value_heads"), format!("{kv_heads} does not divide {heads} attention heads")));
        }
        let head_dim = match uint("head_dim")? {
            Some(d) => d,
            None if hidden % heads == 0 => hidden / heads,
            None => return Err(err(&at("head_dim"), "missing, and hidden_size is not a multiple of the heads")),
        };
        let experts = uint("num_experts")?.unwrap_or(0);
        let experts_per_token = uint("num_experts_per_tok")?.unwrap_or(0);
        let expert_ffn = uint("moe_intermediate_size")?.unwrap_or(0);
        if experts > 0 && (experts_per_token == 0 || expert_ffn == 0 || experts_per_token > experts) {
            return Err(err(
                &at("num_experts_per_tok"),
                "a mixture of experts needs num_experts_per_tok (at most num_experts) and moe_intermediate_size",
            ));
        }
        let ffn = match uint("intermediate_size")? {
            Some(f) => f,
            None if experts > 0 => expert_ffn,
            None => return Err(err(&at("intermediate_size"), "missing")),
        };
        let act_name = text("hidden_activation").or_else(|| text("hidden_act")).unwrap_or_else(|| "silu".into());
        let activation = match act_name.as_str() {
            "silu" | "swish" => Activation::Silu,
            "gelu" | "gelu_new" => Activation::Gelu,
            "gelu_pytorch_tanh" | "gelu_tanh" => Activation::GeluTanh,
            other => return Err(err(&at("hidden_act"), format!("activation `{other}` is not one simgpu knows"))),
        };
        let gemma = model_type.starts_with("gemma");
        let archs: Vec<&str> = get("architectures")
            .and_then(|a| a.as_array())
            .map_or(Vec::new(), |a| a.iter().filter_map(|x| x.as_str()).collect());
        let lm_head = family == Family::Decoder
            && (archs.is_empty()
                || archs.iter().any(|a| a.ends_with("ForCausalLM") || a.ends_with("ForConditionalGeneration")));
        let qwen3 = model_type.starts_with("qwen3");
        Ok(ModelConfig {
            family,
            layers: need("num_hidden_layers")?,
            hidden,
            heads,
            kv_heads,
            head_dim,
            ffn,
            vocab: need("vocab_size")?,
            dtype: text("torch_dtype").or_else(|| text("dtype")).unwrap_or_else(|| "bfloat16".into()),
            activation,
            gated: family == Family::Decoder,
            qkv_bias: match family {
                Family::Bert => true,
                Family::Decoder => flag("attention_bias").unwrap_or(model_type == "qwen2" || model_type == "qwen2_moe"),
            },
            qk_norm: qwen3 || model_type.starts_with("gemma3"),
            experts,
            experts_per_token,
            expert_ffn,
            tied_embeddings: flag("tie_word_embeddings").unwrap_or(gemma || family == Family::Bert),
            lm_head,
            max_positions: uint("max_position_embeddings")?.unwrap_or(0),
            model_type,
        })
    }

    /// Parameters (weights), counting each expert once. Counted in f64: shapes up to 2^24 would
    /// overflow u64 products; the cast back saturates.
    pub fn parameters(&self) -> u64 {
        let f = |x: u64| x as f64;
        let (h, q, kv) = (f(self.hidden), f(self.heads * self.head_dim), f(self.kv_heads * self.head_dim));
        let attn = h * q + 2.0 * h * kv + q * h;
        let mlp = if self.experts > 0 {
            f(self.experts) * 3.0 * h * f(self.expert_ffn) + h * f(self.experts)
        } else if self.gated {
            3.0 * h * f(self.ffn)
        } else {
            2.0 * h * f(self.ffn)
        };
        let embed = f(self.vocab) * h * if self.lm_head && !self.tied_embeddings { 2.0 } else { 1.0 };
        (f(self.layers) * (attn + mlp) + embed) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QWEN7B: &str = r#"{"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944,
        "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
        "vocab_size": 152064, "torch_dtype": "bfloat16", "tie_word_embeddings": false, "hidden_act": "silu"}"#;

    #[test]
    fn reads_qwen() {
        let c = ModelConfig::from_json(QWEN7B).unwrap();
        assert_eq!((c.head_dim, c.kv_heads, c.qkv_bias, c.family), (128, 4, true, Family::Decoder));
        // Qwen2.5-7B has 7.6e9 parameters (its model card).
        let p = c.parameters() as f64;
        assert!((7.5e9..7.7e9).contains(&p), "{p}");
    }

    #[test]
    fn errors_name_the_field() {
        let e = ModelConfig::from_json(&QWEN7B.replace("\"num_key_value_heads\": 4", "\"num_key_value_heads\": 5"))
            .unwrap_err();
        assert_eq!(e.field, "num_key_value_heads");
        let e = ModelConfig::from_json(&QWEN7B.replace("3584,", "-3,")).unwrap_err();
        assert_eq!(e.field, "hidden_size");
        let e = ModelConfig::from_json(r#"{"model_type": "gpt2"}"#).unwrap_err();
        assert_eq!(e.field, "model_type");
        assert!(ModelConfig::from_json("[1]").is_err());
        // The largest shapes allowed count without overflow.
        let big = QWEN7B.replace("3584,", "16777216,").replace("18944", "16777216").replace(": 28,", ": 16777216,");
        assert!(ModelConfig::from_json(&big).unwrap().parameters() > 1 << 62);
    }

    #[test]
    fn text_config_nests() {
        let j = r#"{"model_type": "gemma3", "text_config": {"model_type": "gemma3_text", "hidden_size": 2560,
            "intermediate_size": 10240, "num_hidden_layers": 34, "num_attention_heads": 8,
            "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 262208}}"#;
        let c = ModelConfig::from_json(j).unwrap();
        assert_eq!((c.layers, c.head_dim, c.tied_embeddings, c.qk_norm), (34, 256, true, true));
        let e = ModelConfig::from_json(&j.replace("\"head_dim\": 256,", "\"head_dim\": 0,")).unwrap_err();
        assert_eq!(e.field, "text_config.head_dim");
    }
}
