//! The model configs bundled with simgpu (`models/workloads/`), built in so that a name means
//! the same model from any directory.

/// The bundled model configs (models/workloads/), by name.
pub const MODELS: &[(&str, &str)] = &[
    ("qwen2.5-0.5b", include_str!("../../models/workloads/qwen2.5-0.5b.json")),
    ("qwen2.5-1.5b", include_str!("../../models/workloads/qwen2.5-1.5b.json")),
    ("qwen2.5-3b", include_str!("../../models/workloads/qwen2.5-3b.json")),
    ("qwen2.5-7b", include_str!("../../models/workloads/qwen2.5-7b.json")),
    ("llama-3.1-8b", include_str!("../../models/workloads/llama-3.1-8b.json")),
    ("llama-3.2-1b", include_str!("../../models/workloads/llama-3.2-1b.json")),
    ("gemma-3-4b", include_str!("../../models/workloads/gemma-3-4b.json")),
    ("qwen3-30b-a3b", include_str!("../../models/workloads/qwen3-30b-a3b.json")),
    ("e5-large-v2", include_str!("../../models/workloads/e5-large-v2.json")),
    ("qwen3-embedding-8b", include_str!("../../models/workloads/qwen3-embedding-8b.json")),
];

/// A bundled config's text by name.
pub fn model(name: &str) -> Option<&'static str> {
    MODELS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
