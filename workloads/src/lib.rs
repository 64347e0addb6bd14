//! simgpu's workload generators: a model's shape (its Hugging Face `config.json`, [`config`]),
//! a step (decode, prefill, an encoder batch) and how the host launches it in; the client an
//! engine would be, as a typed [`ClientSpec`] on the simulator's front door, out.
//!
//! Pure: no I/O. The caller reads the config file and hands in the GPU's SM count (tile and
//! grid choices depend on it). [`kernels`] holds one rule per kind of kernel (GEMM, attention,
//! elementwise, reductions), [`eager`] the order an engine launches them in.

pub mod bundled;
pub mod config;
pub mod eager;
pub mod hosts;
pub mod kernels;
pub mod memory;

pub use config::{ConfigError, ModelConfig};
pub use eager::Phase;
use simgpu_sim::spec::{Arrivals, ClientSpec, KernelGroup, KernelSpec, Timing};

/// How the host launches a step: a property of the host machine and the engine, never of the
/// scenario (docs/workloads.md lists where each figure comes from).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Launch {
    /// Eager: the framework spends this long on the host before every kernel.
    Eager { per_kernel_us: f64 },
    /// One CUDA graph per step: this long on the host to launch it, then the kernels back to back.
    Graph { per_step_us: f64 },
}

/// One generated client's request.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRequest {
    pub phase: Phase,
    /// Bytes per weight element: 2 (bf16) or 1 (fp8).
    pub weight_bytes: f64,
    pub launch: Launch,
    /// Tensor-parallel degree: the client is one rank's share of the model, its collectives
    /// joining the ranks (1: the whole model on one GPU).
    pub tp: u64,
}

/// The client that runs `request` steps of `cfg` on a GPU of `sms` SMs, named `name`; each
/// request is one step (with `tp` > 1, one rank's share of it: place the client on `tp` GPUs).
/// An error where the model does not split over `tp` ranks. The unit is what the step produces: tokens (decode: one per
/// sequence), or sequences (prefill, encoder batches).
pub fn client(name: &str, cfg: &ModelConfig, req: &StepRequest, sms: u64) -> Result<ClientSpec, String> {
    let shard = cfg.shard(req.tp)?;
    let s = eager::step(&shard, req.phase, req.weight_bytes, sms, req.tp);
    let mut kernels: Vec<KernelSpec> = Vec::new();
    kernels.extend(s.prologue);
    let first = kernels.len();
    let len = s.layer.len();
    kernels.extend(s.layer);
    kernels.extend(s.epilogue);
    match req.launch {
        Launch::Eager { per_kernel_us } => kernels.iter_mut().for_each(|k| k.host_gap_us = Some(per_kernel_us)),
        Launch::Graph { per_step_us } => {
            for (i, k) in kernels.iter_mut().enumerate() {
                k.host_gap_us = Some(if i == 0 { per_step_us } else { 0.0 });
            }
        }
    }
    // The host waits for the step's result (the sampled token, the embeddings).
    if let Some(last) = kernels.last_mut() {
        last.sync = true;
    }
    let (unit, units) = match req.phase {
        Phase::Decode { batch, .. } => ("tokens", batch as f64),
        Phase::Prefill { batch, .. } | Phase::Encode { batch, .. } => ("sequences", batch as f64),
        // A chunk finishes no sequence: its throughput is prompt tokens.
        Phase::Chunk { batch, chunk, .. } => ("tokens", (batch * chunk) as f64),
    };
    Ok(ClientSpec {
        name: name.to_string(),
        requests: None,
        warmup_requests: 1,
        arrivals: Arrivals::ClosedLoop { think_us: 0.0 },
        timing: Timing::Host,
        unit: unit.to_string(),
        units_per_request: units,
        cuda_graph: matches!(req.launch, Launch::Graph { .. }),
        kernels,
        groups: vec![KernelGroup { name: "layer".into(), first, len, repeat: s.layers }],
    })
}
