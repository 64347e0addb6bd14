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
pub mod moe;
pub mod vllm;

pub use config::{ConfigError, ModelConfig};
pub use eager::Phase;
pub use kernels::Gpu;
use simgpu_sim::spec::{Arrivals, ClientSpec, KernelGroup, KernelSpec, Timing};

/// How the host launches a step: a property of the host machine and the engine, never of the
/// scenario (docs/workloads.md lists where each figure comes from).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Launch {
    /// Eager: the framework spends this long on the host before every kernel, and `sync_us`
    /// more after a kernel whose result it reads back (unknown: `None`; steps that read inside
    /// them are then refused).
    Eager { per_kernel_us: f64, sync_us: Option<f64> },
    /// One CUDA graph per step: this long on the host to launch it, then the kernels back to back.
    Graph { per_step_us: f64 },
}

/// Whose kernels a step is: the op sequence an engine launches for the same model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// PyTorch eager over a Hugging Face model (transformers; the traced steps): [`eager`].
    #[default]
    Torch,
    /// vLLM's model runner (fused custom ops, the fused Triton MoE): [`vllm`]. Decoders only.
    Vllm,
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
    pub engine: Engine,
}

/// The client that runs `request` steps of `cfg` on `gpu`, named `name`; each
/// request is one step (with `tp` > 1, one rank's share of it: place the client on `tp` GPUs).
/// An error where the model does not split over `tp` ranks. The unit is what the step produces: tokens (decode: one per
/// sequence), or sequences (prefill, encoder batches).
pub fn client(name: &str, cfg: &ModelConfig, req: &StepRequest, gpu: Gpu) -> Result<ClientSpec, String> {
    let shard = cfg.shard(req.tp)?;
    let s = match req.engine {
        Engine::Torch => eager::step(&shard, req.phase, req.weight_bytes, gpu, req.tp),
        Engine::Vllm => vllm::step(&shard, req.phase, req.weight_bytes, gpu, req.tp)?,
    };
    let mut kernels: Vec<KernelSpec> = Vec::new();
    kernels.extend(s.prologue);
    let first = kernels.len();
    let len = s.layer.len();
    kernels.extend(s.layer);
    kernels.extend(s.epilogue);
    let mut groups = vec![KernelGroup { name: "layer".into(), first, len, repeat: s.layers }];
    groups.extend(s.layer_groups.into_iter().map(|g| KernelGroup { first: g.first + first, ..g }));
    let reads = kernels.iter().any(|k| k.sync);
    match req.launch {
        Launch::Eager { per_kernel_us, sync_us } => {
            if reads && sync_us.is_none() {
                return Err("the step reads the device inside it (a mixture of experts' loop): the host's \
                            cost of a device read is not measured for this host"
                    .into());
            }
            // After a kernel the host reads back, the host pays the read (copy, sync, return).
            let mut after_read = false;
            for k in kernels.iter_mut() {
                k.host_gap_us = Some(per_kernel_us + if after_read { sync_us.unwrap_or(0.0) } else { 0.0 });
                after_read = k.sync;
            }
        }
        Launch::Graph { .. } if reads => {
            return Err("the step reads the device inside it (a mixture of experts' loop): \
                        it cannot be captured in a CUDA graph"
                .into())
        }
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
        groups,
    })
}
