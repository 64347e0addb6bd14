//! The plan file (TOML): what must be served, on which GPU types at what cost, and which ways
//! of sharing may be tried. Read into a [`PlanSpec`]; every error names the file, the line and
//! the field (`docs/plan.md` is the format's reference).

use serde::Deserialize;
use simgpu_sim::{GpuProfile, InputError};
use simgpu_workloads::{hosts, Engine, Launch, ModelConfig, Phase};
use std::ops::Range;
use toml::Spanned;

/// Most replicas of one workload in one layout.
pub const MAX_REPLICAS: u32 = 8;
/// Most GPUs of one type.
pub const MAX_GPUS: u32 = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    name: Spanned<String>,
    #[serde(default)]
    seed: u64,
    workloads: Spanned<Vec<RawWorkload>>,
    gpus: Spanned<Vec<RawGpu>>,
    #[serde(default)]
    choices: RawChoices,
    #[serde(default)]
    simulation: RawSimulation,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    name: Spanned<String>,
    model: Spanned<String>,
    phase: Spanned<String>,
    batch: Option<Spanned<u64>>,
    context: Option<Spanned<u64>>,
    tokens: Option<Spanned<u64>>,
    dtype: Option<Spanned<String>>,
    launch: Option<Spanned<String>>,
    engine: Option<Spanned<String>>,
    host: Option<Spanned<String>>,
    host_us: Option<Spanned<f64>>,
    context_gb: Option<Spanned<f64>>,
    demand_per_s: Spanned<f64>,
    p99_ms: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGpu {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    count: Spanned<u32>,
    cost_per_hour: Spanned<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawChoices {
    sharing: Option<Spanned<Vec<String>>>,
    mps_percentages: Option<Spanned<Vec<u32>>>,
    replicas: Option<Spanned<u32>>,
    tensor_parallel: Option<Spanned<Vec<u32>>>,
    sm_split_steps: Option<Spanned<u32>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSimulation {
    window_s: Option<Spanned<f64>>,
    max_window_s: Option<Spanned<f64>>,
    ci_target: Option<Spanned<f64>>,
}

/// A way of sharing a plan may try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// One client per GPU.
    Dedicated,
    Timeslice,
    Mps,
    Mig,
    SmPartitions,
    TensorParallel,
}

impl Choice {
    pub const ALL: [Choice; 6] =
        [Choice::Dedicated, Choice::Timeslice, Choice::Mps, Choice::Mig, Choice::SmPartitions, Choice::TensorParallel];

    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Dedicated => "dedicated",
            Choice::Timeslice => "timeslice",
            Choice::Mps => "mps",
            Choice::Mig => "mig",
            Choice::SmPartitions => "sm_partitions",
            Choice::TensorParallel => "tensor_parallel",
        }
    }
}

/// One workload to serve.
#[derive(Debug, Clone)]
pub struct WorkloadReq {
    pub name: String,
    /// The model as the plan names it, and where its config came from.
    pub model: String,
    pub model_origin: String,
    pub config: ModelConfig,
    pub phase: Phase,
    pub weight_bytes: f64,
    pub launch: LaunchReq,
    /// Whose kernels a step is (torch eager, or vLLM's fused ops).
    pub engine: Engine,
    /// Where the host's launch cost comes from.
    pub host_note: String,
    /// Device memory of each process beyond its tensors (CUDA context, workspaces), bytes.
    pub context_bytes: f64,
    /// What the fleet must serve, in `unit`s per second.
    pub demand_per_s: f64,
    pub unit: String,
    /// The SLO on one step's latency (closed loop at full load), if any.
    pub p99_ms: Option<f64>,
}

/// How the host launches a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LaunchReq {
    Eager {
        per_kernel_us: f64,
        /// After a kernel the host reads back (unknown: `None`).
        sync_us: Option<f64>,
    },
    /// One CUDA graph per step; the host's time to launch it, else the GPU profile's launch cost.
    Graph { per_step_us: Option<f64> },
}

impl WorkloadReq {
    /// The launch on a GPU of this profile.
    pub fn launch_on(&self, gpu: &GpuProfile) -> Launch {
        match self.launch {
            LaunchReq::Eager { per_kernel_us, sync_us } => Launch::Eager { per_kernel_us, sync_us },
            LaunchReq::Graph { per_step_us } => {
                Launch::Graph { per_step_us: per_step_us.unwrap_or(gpu.launch.host_launch_us.value) }
            }
        }
    }
}

/// A GPU type the plan may buy.
#[derive(Debug, Clone)]
pub struct GpuOption {
    pub name: String,
    pub profile: GpuProfile,
    /// Where the profile came from ("built-in" or a file), as reports say.
    pub origin: String,
    pub max_count: u32,
    pub cost_per_hour: f64,
}

/// Which layouts to try.
#[derive(Debug, Clone, PartialEq)]
pub struct Choices {
    pub allowed: Vec<Choice>,
    /// Thread percentages tried per workload under MPS (100 is always tried: uncapped).
    pub mps_percentages: Vec<u32>,
    /// Most replicas of one workload in one layout.
    pub replicas: u32,
    pub tensor_parallel: Vec<u32>,
    /// SM splits between two workloads at k / steps of the SMs, k = 1 .. steps-1.
    pub sm_split_steps: u32,
}

impl Choices {
    pub fn allows(&self, c: Choice) -> bool {
        self.allowed.contains(&c)
    }
}

/// How long each layout is simulated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimSettings {
    /// The first window, simulated seconds (after one warm-up step per client).
    pub window_s: f64,
    /// The window doubles until every throughput's 95% interval is within `ci_target` of it,
    /// or it reaches this.
    pub max_window_s: f64,
    pub ci_target: f64,
}

/// A plan, checked.
#[derive(Debug, Clone)]
pub struct PlanSpec {
    pub name: String,
    pub seed: u64,
    pub workloads: Vec<WorkloadReq>,
    pub gpus: Vec<GpuOption>,
    pub choices: Choices,
    pub sim: SimSettings,
}

/// What the caller resolves for the parser (files are the caller's).
pub trait Resolve {
    /// A model's config.json text and where it came from: a bundled name or a path.
    fn model(&self, name: &str) -> Result<(String, String), String>;
    /// A GPU profile by name, and where it came from.
    fn gpu(&self, name: &str) -> Result<(GpuProfile, String), String>;
}

/// Reads a plan file's text (`file` names it in errors).
pub fn parse(file: &str, text: &str, resolve: &dyn Resolve) -> Result<PlanSpec, InputError> {
    let raw: RawPlan = toml::from_str(text).map_err(|e| InputError::from_toml(file, text, &e))?;
    let err = |span: Range<usize>, field: &str, msg: String| InputError::new(file, text, Some(span), field, msg);
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() || name.chars().any(char::is_control) || name.len() > 200 {
        return Err(err(raw.name.span(), "name", "must be a printable name of 1 to 200 characters".into()));
    }
    if raw.workloads.get_ref().is_empty() {
        return Err(err(raw.workloads.span(), "workloads", "a plan needs at least one workload".into()));
    }
    let mut workloads: Vec<WorkloadReq> = Vec::new();
    for (i, w) in raw.workloads.get_ref().iter().enumerate() {
        let at = |f: &str| format!("workloads[{i}].{f}");
        let wl = workload(w, resolve).map_err(|(span, f, m)| err(span, &at(&f), m))?;
        if workloads.iter().any(|o| o.name == wl.name) {
            return Err(err(w.name.span(), &at("name"), format!("two workloads are named `{}`", wl.name)));
        }
        workloads.push(wl);
    }
    if raw.gpus.get_ref().is_empty() {
        return Err(err(raw.gpus.span(), "gpus", "a plan needs at least one GPU type".into()));
    }
    let mut gpus: Vec<GpuOption> = Vec::new();
    for (i, g) in raw.gpus.get_ref().iter().enumerate() {
        let at = |f: &str| format!("gpus[{i}].{f}");
        let (profile, origin) = resolve.gpu(g.kind.get_ref()).map_err(|m| err(g.kind.span(), &at("type"), m))?;
        if gpus.iter().any(|o| o.name == *g.kind.get_ref()) {
            return Err(err(g.kind.span(), &at("type"), format!("GPU type `{}` is listed twice", g.kind.get_ref())));
        }
        let count = *g.count.get_ref();
        if !(1..=MAX_GPUS).contains(&count) {
            return Err(err(g.count.span(), &at("count"), format!("must be 1 to {MAX_GPUS} GPUs")));
        }
        let cost = *g.cost_per_hour.get_ref();
        if !(cost.is_finite() && cost > 0.0 && cost <= 1e6) {
            return Err(err(
                g.cost_per_hour.span(),
                &at("cost_per_hour"),
                "must be a positive price per GPU-hour".into(),
            ));
        }
        gpus.push(GpuOption { name: g.kind.get_ref().clone(), profile, origin, max_count: count, cost_per_hour: cost });
    }
    let choices = choices(&raw.choices).map_err(|(span, f, m)| err(span, &format!("choices.{f}"), m))?;
    let sim = simulation(&raw.simulation).map_err(|(span, f, m)| err(span, &format!("simulation.{f}"), m))?;
    Ok(PlanSpec { name, seed: raw.seed, workloads, gpus, choices, sim })
}

type FieldError = (Range<usize>, String, String);

fn fe<T>(s: &Spanned<T>, field: &str, msg: impl Into<String>) -> FieldError {
    (s.span(), field.to_string(), msg.into())
}

fn workload(w: &RawWorkload, resolve: &dyn Resolve) -> Result<WorkloadReq, FieldError> {
    let name = w.name.get_ref().trim().to_string();
    if name.is_empty() || name.len() > 100 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(fe(&w.name, "name", "must be 1 to 100 letters, digits, `-`, `_` or `.`"));
    }
    let (text, origin) = resolve.model(w.model.get_ref()).map_err(|m| fe(&w.model, "model", m))?;
    let config = ModelConfig::from_json(&text).map_err(|e| fe(&w.model, "model", format!("{origin}: {e}")))?;
    let get = |v: &Option<Spanned<u64>>, field: &str, default: u64, lo: u64, hi: u64| -> Result<u64, FieldError> {
        match v {
            None => Ok(default),
            Some(s) if (lo..=hi).contains(s.get_ref()) => Ok(*s.get_ref()),
            Some(s) => Err(fe(s, field, format!("must be {lo} to {hi}"))),
        }
    };
    let batch = get(&w.batch, "batch", 1, 1, 65536)?;
    let context = get(&w.context, "context", 512, 0, 1 << 20)?;
    let tokens = get(&w.tokens, "tokens", 512, 1, 1 << 20)?;
    let (phase, unit) = match w.phase.get_ref().as_str() {
        "decode" => (Phase::Decode { batch, context }, "tokens"),
        "prefill" => (Phase::Prefill { batch, prompt: tokens }, "sequences"),
        "encode" => (Phase::Encode { batch, seq: tokens }, "sequences"),
        "chunk" => (Phase::Chunk { batch, chunk: tokens, context }, "tokens"),
        _ => return Err(fe(&w.phase, "phase", "must be decode, prefill, chunk or encode")),
    };
    let weight_bytes = match w.dtype.as_ref().map(|d| d.get_ref().as_str()) {
        None | Some("bf16") => 2.0,
        Some("fp8") => 1.0,
        Some(_) => return Err(fe(w.dtype.as_ref().unwrap_or(&w.phase), "dtype", "must be bf16 or fp8")),
    };
    let host_us = match &w.host_us {
        Some(h) if h.get_ref().is_finite() && (0.0..=1e6).contains(h.get_ref()) => Some(*h.get_ref()),
        Some(h) => return Err(fe(h, "host_us", "must be microseconds from 0 to 1e6")),
        None => None,
    };
    let engine = match w.engine.as_ref().map(|e| e.get_ref().as_str()) {
        None | Some("torch") => Engine::Torch,
        Some("vllm") => Engine::Vllm,
        Some(_) => return Err(fe(w.engine.as_ref().unwrap_or(&w.phase), "engine", "must be torch or vllm")),
    };
    if let (Engine::Vllm, Some(e)) = (engine, &w.engine) {
        if config.family != simgpu_workloads::config::Family::Decoder || matches!(phase, Phase::Encode { .. }) {
            return Err(fe(e, "engine", "vLLM's engine generates text here: encoders and encode steps run on torch"));
        }
    }
    let launch_kind = w.launch.as_ref().map_or("graph", |l| l.get_ref().as_str());
    if config.experts > 0 && launch_kind == "graph" && engine == Engine::Torch {
        let l = w.launch.as_ref().unwrap_or(&w.model);
        return Err(fe(
            l,
            "launch",
            "a mixture of experts runs as transformers' eager loop, which reads the device at every expert \
             and cannot be captured in a CUDA graph: give `launch = \"eager\"` and a `host`, or `engine = \"vllm\"`",
        ));
    }
    let (launch, host_note) = match (launch_kind, &w.host, host_us) {
        ("eager", Some(h), None) => {
            let host = hosts::host(h.get_ref()).ok_or_else(|| {
                let known: Vec<&str> = hosts::HOSTS.iter().map(|h| h.name).collect();
                fe(h, "host", format!("no such host ({})", known.join(", ")))
            })?;
            (
                LaunchReq::Eager { per_kernel_us: host.eager_per_kernel_us, sync_us: host.sync_us },
                format!("host {}: {}; device reads: {}", host.name, host.source, host.sync_source),
            )
        }
        ("eager", None, Some(us)) => {
            (LaunchReq::Eager { per_kernel_us: us, sync_us: None }, format!("{us} us per kernel, as given"))
        }
        ("eager", None, None) => {
            let l = w.launch.as_ref().unwrap_or(&w.phase);
            return Err(fe(
                l,
                "launch",
                "eager launches need the host's cost: `host = NAME` or `host_us = US` per kernel",
            ));
        }
        ("eager", Some(h), Some(_)) => return Err(fe(h, "host", "give `host` or `host_us`, not both")),
        ("graph", Some(h), _) => {
            return Err(fe(h, "host", "`host` names an eager cost; with graph launches give `host_us` per step"))
        }
        // The GPU profile's launch cost, per candidate GPU, when not given.
        ("graph", None, us) => (
            LaunchReq::Graph { per_step_us: us },
            us.map_or("one CUDA graph launch per step, the GPU profile's launch cost".into(), |u| {
                format!("one CUDA graph launch per step, {u} us")
            }),
        ),
        _ => return Err(fe(w.launch.as_ref().unwrap_or(&w.phase), "launch", "must be graph or eager")),
    };
    let context_bytes = match &w.context_gb {
        None => hosts::TORCH_CONTEXT_BYTES,
        Some(g) if g.get_ref().is_finite() && (0.0..=1e4).contains(g.get_ref()) => g.get_ref() * 1e9,
        Some(g) => return Err(fe(g, "context_gb", "must be gigabytes from 0 to 1e4")),
    };
    let demand = *w.demand_per_s.get_ref();
    if !(demand.is_finite() && demand > 0.0 && demand <= 1e12) {
        return Err(fe(&w.demand_per_s, "demand_per_s", format!("must be a positive number of {unit} per second")));
    }
    let p99_ms = match &w.p99_ms {
        None => None,
        Some(p) if p.get_ref().is_finite() && *p.get_ref() > 0.0 && *p.get_ref() <= 1e7 => Some(*p.get_ref()),
        Some(p) => return Err(fe(p, "p99_ms", "must be a positive number of milliseconds")),
    };
    Ok(WorkloadReq {
        name,
        model: w.model.get_ref().clone(),
        model_origin: origin,
        config,
        phase,
        weight_bytes,
        launch,
        engine,
        host_note,
        context_bytes,
        demand_per_s: demand,
        unit: unit.to_string(),
        p99_ms,
    })
}

fn choices(c: &RawChoices) -> Result<Choices, FieldError> {
    let allowed = match &c.sharing {
        None => Choice::ALL.to_vec(),
        Some(s) => {
            let mut out = Vec::new();
            for name in s.get_ref() {
                let ch = Choice::ALL.iter().find(|c| c.as_str() == name).ok_or_else(|| {
                    let all: Vec<&str> = Choice::ALL.iter().map(|c| c.as_str()).collect();
                    fe(s, "sharing", format!("`{name}` is not a way of sharing ({})", all.join(", ")))
                })?;
                if !out.contains(ch) {
                    out.push(*ch);
                }
            }
            if !out.contains(&Choice::Dedicated) {
                // Dedicated GPUs are the reference every verdict compares against.
                out.push(Choice::Dedicated);
            }
            out.sort();
            out
        }
    };
    let mps_percentages = match &c.mps_percentages {
        None => vec![25, 50, 75],
        Some(p) => {
            if p.get_ref().iter().any(|&x| !(1..=100).contains(&x)) || p.get_ref().len() > 16 {
                return Err(fe(p, "mps_percentages", "up to 16 percentages, each 1 to 100"));
            }
            let mut v = p.get_ref().clone();
            v.sort_unstable();
            v.dedup();
            v.retain(|&x| x < 100);
            v
        }
    };
    let replicas = match &c.replicas {
        None => 2,
        Some(r) if (1..=MAX_REPLICAS).contains(r.get_ref()) => *r.get_ref(),
        Some(r) => return Err(fe(r, "replicas", format!("must be 1 to {MAX_REPLICAS}"))),
    };
    let tensor_parallel = match &c.tensor_parallel {
        None => vec![2],
        Some(t) => {
            if t.get_ref().iter().any(|&x| !(2..=8).contains(&x)) {
                return Err(fe(t, "tensor_parallel", "degrees from 2 to 8"));
            }
            let mut v = t.get_ref().clone();
            v.sort_unstable();
            v.dedup();
            v
        }
    };
    let sm_split_steps = match &c.sm_split_steps {
        None => 8,
        Some(s) if (2..=32).contains(s.get_ref()) => *s.get_ref(),
        Some(s) => return Err(fe(s, "sm_split_steps", "must be 2 to 32")),
    };
    Ok(Choices { allowed, mps_percentages, replicas, tensor_parallel, sm_split_steps })
}

fn simulation(s: &RawSimulation) -> Result<SimSettings, FieldError> {
    let secs = |v: &Option<Spanned<f64>>, field: &str, default: f64| -> Result<f64, FieldError> {
        match v {
            None => Ok(default),
            Some(x) if x.get_ref().is_finite() && (0.001..=600.0).contains(x.get_ref()) => Ok(*x.get_ref()),
            Some(x) => Err(fe(x, field, "must be simulated seconds from 0.001 to 600")),
        }
    };
    let window_s = secs(&s.window_s, "window_s", 0.5)?;
    let max_window_s = secs(&s.max_window_s, "max_window_s", 2.0)?;
    if max_window_s < window_s {
        let at = s.max_window_s.as_ref().or(s.window_s.as_ref()).map_or(0..0, |x| x.span());
        return Err((at, "max_window_s".into(), format!("must be at least window_s ({window_s})")));
    }
    let ci_target = match &s.ci_target {
        None => 0.03,
        Some(c) if c.get_ref().is_finite() && (0.0001..=0.5).contains(c.get_ref()) => *c.get_ref(),
        Some(c) => return Err(fe(c, "ci_target", "must be a fraction from 0.0001 to 0.5")),
    };
    Ok(SimSettings { window_s, max_window_s, ci_target })
}
