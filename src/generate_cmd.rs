//! `simgpu generate`: a scenario from a model's config and a step (the workload generators),
//! written out with every kernel so it can be read, kept and run with `simgpu run`.

use crate::files;
use simgpu_sim::scenario_writer::{self, quoted};
use simgpu_workloads::{bundled, client, hosts, Launch, ModelConfig, Phase, StepRequest};
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PhaseArg {
    Decode,
    Prefill,
    Encode,
    /// One chunk of a chunked prefill (--tokens per chunk after --context cached).
    Chunk,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LaunchArg {
    Eager,
    Graph,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineArg {
    /// PyTorch eager over a Hugging Face model (the kernels traced here)
    Torch,
    /// vLLM's model runner: fused norms, rotary and activation, merged projections, the fused MoE
    Vllm,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DtypeArg {
    Bf16,
    Fp8,
}

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// A bundled model (models/workloads/NAME.json) or a Hugging Face config.json of your own.
    #[arg(long, value_name = "NAME|FILE")]
    pub model: String,
    #[arg(long, value_enum)]
    pub phase: PhaseArg,
    /// Sequences per step.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub batch: u64,
    /// Decode and chunk: tokens already in each sequence's KV cache.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(0..=1048576))]
    pub context: u64,
    /// Prefill: prompt tokens per sequence; chunk: prompt tokens per chunk; encode: tokens per sequence.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=1048576))]
    pub tokens: u64,
    /// Weights' data type.
    #[arg(long, value_enum, default_value = "bf16")]
    pub dtype: DtypeArg,
    /// GPU profile the scenario names (its SM count sets tiles and grids).
    #[arg(long, default_value = "h100-sxm")]
    pub gpu: String,
    /// How the host launches a step: eager (a host cost per kernel) or one CUDA graph per step.
    #[arg(long, value_enum, default_value = "eager")]
    pub launch: LaunchArg,
    /// Whose kernels the step is: torch eager's, or vLLM's (decoders only).
    #[arg(long, value_enum, default_value = "torch")]
    pub engine: EngineArg,
    /// A named host (its measured eager cost per kernel): h100-lease-torch-eager, h200-lease-torch-eager.
    #[arg(long, value_name = "NAME", conflicts_with = "host_us")]
    pub host: Option<String>,
    /// Host time in microseconds: per kernel (eager) or per step (graph) [graph default: the profile's launch cost].
    #[arg(long, value_name = "US")]
    pub host_us: Option<f64>,
    /// Device memory the process may use, GB: an MPS client's `CUDA_MPS_PINNED_DEVICE_MEM_LIMIT`
    /// or a MIG instance's memory [default: the GPU's].
    #[arg(long, value_name = "GB")]
    pub memory_limit_gb: Option<f64>,
    /// The process's CUDA context and library workspaces, GB [default: a torch process's, as
    /// measured on an H200].
    #[arg(long, value_name = "GB")]
    pub context_gb: Option<f64>,
    /// Steps the client runs.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000000))]
    pub requests: u64,
    /// Tensor-parallel degree: one rank's share of the model with its collectives, laid out on
    /// this many GPUs (one whole GPU each)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=8))]
    pub tp: u64,
    /// Write the scenario here (else to stdout).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The config text and where it came from.
pub fn read_config(model: &str) -> Result<(String, String), String> {
    if let Some((_, text)) = bundled::MODELS.iter().find(|(n, _)| *n == model) {
        return Ok((text.to_string(), format!("models/workloads/{model}.json (built in)")));
    }
    let path = Path::new(model);
    if path.exists() || model.ends_with(".json") {
        let meta = std::fs::metadata(path).map_err(|e| format!("{model}: cannot read the config: {e}"))?;
        if meta.len() > 16 << 20 {
            return Err(format!("{model}: a config.json of {} bytes is not a model config", meta.len()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{model}: cannot read the config: {e}"))?;
        return Ok((text, path.display().to_string()));
    }
    let known: Vec<&str> = bundled::MODELS.iter().map(|(n, _)| *n).collect();
    Err(format!("--model {model}: no such bundled model ({}) and no such file", known.join(", ")))
}

pub fn generate(a: &GenerateArgs) -> Result<(), String> {
    let (text, origin) = read_config(&a.model)?;
    let cfg = ModelConfig::from_json(&text).map_err(|e| format!("{origin}: {e}"))?;
    let profile = crate::profiles::builtin(&a.gpu)
        .ok_or_else(|| format!("--gpu {}: no built-in profile of that name", a.gpu))??;
    let target = simgpu_workloads::Gpu::from_profile(&profile);
    let phase = match a.phase {
        PhaseArg::Decode => Phase::Decode { batch: a.batch, context: a.context },
        PhaseArg::Prefill => Phase::Prefill { batch: a.batch, prompt: a.tokens },
        PhaseArg::Encode => Phase::Encode { batch: a.batch, seq: a.tokens },
        PhaseArg::Chunk => Phase::Chunk { batch: a.batch, chunk: a.tokens, context: a.context },
    };
    if let Some(us) = a.host_us {
        if !(us.is_finite() && (0.0..=1e6).contains(&us)) {
            return Err(format!("--host-us {us}: give microseconds from 0 to 1e6"));
        }
    }
    let (launch, host_note) = match (a.launch, &a.host, a.host_us) {
        (LaunchArg::Eager, Some(name), _) => {
            let h = hosts::host(name).ok_or_else(|| {
                let known: Vec<&str> = hosts::HOSTS.iter().map(|h| h.name).collect();
                format!("--host {name}: no such host ({})", known.join(", "))
            })?;
            (
                Launch::Eager { per_kernel_us: h.eager_per_kernel_us, sync_us: h.sync_us },
                format!("host {}: {}; device reads: {}", h.name, h.source, h.sync_source),
            )
        }
        (LaunchArg::Eager, None, Some(us)) => {
            (Launch::Eager { per_kernel_us: us, sync_us: None }, format!("host: {us} us per kernel, as given"))
        }
        (LaunchArg::Eager, None, None) => {
            return Err("--launch eager needs the host's cost: --host NAME or --host-us US per kernel".into())
        }
        (LaunchArg::Graph, Some(_), _) => {
            return Err("--host names an eager cost; with --launch graph give --host-us".into())
        }
        (LaunchArg::Graph, None, us) => {
            let us = us.unwrap_or(profile.launch.host_launch_us.value);
            (Launch::Graph { per_step_us: us }, format!("host: one CUDA graph launch per step, {us} us"))
        }
    };
    let weight_bytes = if a.dtype == DtypeArg::Fp8 { 1.0 } else { 2.0 };
    let engine = match a.engine {
        EngineArg::Torch => simgpu_workloads::Engine::Torch,
        EngineArg::Vllm => simgpu_workloads::Engine::Vllm,
    };
    // Memory first: a step that does not fit is reported as such, not simulated.
    let gpu_bytes = profile.memory.capacity_gb.value * 1e9;
    let positive_gb = |flag: &str, v: f64| {
        if v.is_finite() && (0.0..=1e6).contains(&v) {
            Ok(v * 1e9)
        } else {
            Err(format!("{flag} {v}: give gigabytes from 0 to 1e6"))
        }
    };
    let (context, context_note) = match a.context_gb {
        Some(v) => (positive_gb("--context-gb", v)?, "as given".to_string()),
        None => (hosts::TORCH_CONTEXT_BYTES, format!("a torch process's: {}", hosts::TORCH_CONTEXT_SOURCE)),
    };
    let (capacity, limit_note) = match a.memory_limit_gb {
        Some(v) => {
            let limit = positive_gb("--memory-limit-gb", v)?;
            let note = if limit < gpu_bytes {
                format!("the process's limit of {v} GB (the GPU has {:.0} GB)", gpu_bytes / 1e9)
            } else {
                format!("the GPU's {:.0} GB (below the process's limit of {v} GB)", gpu_bytes / 1e9)
            };
            (limit.min(gpu_bytes), note)
        }
        None => (gpu_bytes, format!("the GPU's {:.0} GB", gpu_bytes / 1e9)),
    };
    // One rank holds its shard (weights, KV heads) beside a whole CUDA context.
    let shard = cfg.shard(a.tp).map_err(|e| format!("--tp {}: {e}", a.tp))?;
    let fp = simgpu_workloads::memory::footprint(&shard, phase, weight_bytes, context);
    let gb = |x: f64| x / 1e9;
    let memory_note = format!(
        "memory: weights {:.2} GB + KV cache {:.2} GB + activations {:.2} GB + CUDA context {:.2} GB = {:.2} GB \
         of {limit_note}; context {context_note}",
        gb(fp.weights),
        gb(fp.kv_cache),
        gb(fp.activations),
        gb(fp.context),
        gb(fp.total()),
    );
    if fp.total() > capacity {
        return Err(format!("{origin}: the step does not fit on {}: {memory_note}", a.gpu));
    }
    let name = format!("{}-{}", cfg.model_type, phase_label(a));
    let name = if a.tp > 1 { format!("{name}-tp{}", a.tp) } else { name };
    let name = if engine == simgpu_workloads::Engine::Vllm { format!("{name}-vllm") } else { name };
    // (The model's split over --tp was checked above: what is refused here is the step itself.)
    let mut c = client(&name, &cfg, &StepRequest { phase, weight_bytes, launch, tp: a.tp, engine }, target)
        .map_err(|e| format!("{origin}: {e}"))?;
    c.requests = Some(a.requests);
    let mut out = String::new();
    let _ = writeln!(out, "# Generated by `simgpu generate` from {origin}");
    let _ = writeln!(
        out,
        "# - {} on {} ({} SMs); kernels as {} launches them (docs/workloads.md)",
        phase_label(a),
        a.gpu,
        target.sms,
        if engine == simgpu_workloads::Engine::Vllm { "vLLM's model runner" } else { "torch eager" }
    );
    let _ = writeln!(out, "# - {host_note}");
    let _ = writeln!(out, "# - {} launches per step", c.launches_per_request());
    let _ = writeln!(out, "# - {memory_note}");
    if a.tp > 1 {
        let _ = writeln!(
            out,
            "# - tensor-parallel x{}: one rank's shard, an all-reduce after attention and after the MLP",
            a.tp
        );
    }
    let _ = writeln!(out, "name = {}", quoted(&name));
    let _ = writeln!(out, "gpu = {}", quoted(&a.gpu));
    if a.tp == 1 {
        let _ = writeln!(out, "sharing = \"dedicated\"");
    }
    let _ = writeln!(out, "duration_s = 60.0");
    scenario_writer::client(&mut out, &c, &|_| (String::new(), String::new()));
    // A tensor-parallel client runs on its ranks' GPUs, one whole GPU each.
    if a.tp > 1 {
        for _ in 0..a.tp {
            let _ = writeln!(out, "\n[[gpus]]\n[[gpus.partitions]]\nclients = [{}]", quoted(&name));
        }
    }
    // What was written must read back as a valid scenario.
    simgpu_sim::Scenario::parse("generated scenario", &out)
        .and_then(|s| s.bind(&profile).map(|_| ()))
        .map_err(|e| format!("internal: the generated scenario does not read back: {e}"))?;
    match &a.out {
        Some(p) => files::write_atomic(p, out.as_bytes()),
        None => files::print(&out),
    }
}

fn phase_label(a: &GenerateArgs) -> String {
    match a.phase {
        PhaseArg::Decode => format!("decode-b{}-ctx{}", a.batch, a.context),
        PhaseArg::Prefill => format!("prefill-b{}-p{}", a.batch, a.tokens),
        PhaseArg::Encode => format!("encode-b{}-s{}", a.batch, a.tokens),
        PhaseArg::Chunk => format!("chunk-b{}-c{}-ctx{}", a.batch, a.tokens, a.context),
    }
}
