//! The scenario format (TOML): what a user knows about their workloads and how they share a GPU.
//!
//! Nothing here tunes the outcome: mechanism strengths live in the GPU profile. See
//! docs/scenarios.md for the format. Parsing checks syntax and types; [`Scenario::check`] checks
//! values against a GPU profile and reports the file, line and field of what is wrong.

use crate::input_error::InputError;
use crate::profile::GpuProfile;
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sharing {
    /// Each client alone on a GPU of its own.
    Dedicated,
    /// All clients are streams of one process (one context).
    Streams,
    /// One context per client; the GPU runs one at a time.
    Timeslice,
    /// One shared context through the MPS server; per-client SM caps.
    Mps,
}

impl Sharing {
    pub fn as_str(self) -> &'static str {
        match self {
            Sharing::Dedicated => "dedicated",
            Sharing::Streams => "streams",
            Sharing::Timeslice => "timeslice",
            Sharing::Mps => "mps",
        }
    }
}

/// How a client times a request (the seeds time with CUDA events on the GPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// From the host issuing the request to its completion.
    #[default]
    Host,
    /// From a start event executing on the GPU (the stream reached it and its context ran) to the end.
    CudaEvents,
}

/// Which peak rate a kernel's work runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    #[default]
    Fp32,
    Fp16Tensor,
    Bf16Tensor,
    Fp8Tensor,
    Int32,
}

impl OpKind {
    pub fn is_tensor(self) -> bool {
        matches!(self, OpKind::Fp16Tensor | OpKind::Bf16Tensor | OpKind::Fp8Tensor)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: Option<String>,
    pub description: Option<String>,
    pub gpu: Spanned<String>,
    pub sharing: Sharing,
    #[serde(default)]
    pub seed: u64,
    /// Simulated-time horizon in seconds; clients with unlimited requests run until it.
    pub duration_s: Option<Spanned<f64>>,
    pub clients: Spanned<Vec<ClientFile>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFile {
    pub name: Spanned<String>,
    /// Requests (loop iterations) to run; omitted: until the horizon.
    pub requests: Option<Spanned<u64>>,
    /// Leading requests left out of the statistics (warm-up).
    #[serde(default)]
    pub warmup_requests: u64,
    /// Host time between one request's completion and the next (closed loop).
    #[serde(default = "zero")]
    pub think_us: Spanned<f64>,
    /// Open loop: requests arrive as a Poisson process at this rate instead.
    pub arrival_rate_per_s: Option<Spanned<f64>>,
    #[serde(default)]
    pub timing: Timing,
    #[serde(default = "default_unit")]
    pub unit: String,
    #[serde(default = "one")]
    pub units_per_request: Spanned<f64>,
    /// MPS only: CUDA_MPS_ACTIVE_THREAD_PERCENTAGE of this client.
    pub mps_thread_percentage: Option<Spanned<f64>>,
    pub kernels: Spanned<Vec<KernelFile>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelFile {
    pub name: String,
    /// Blocks in the grid: a number or [x, y, z].
    pub grid: Spanned<Grid>,
    /// Threads per block: a number or [x, y, z].
    pub block: Spanned<Grid>,
    pub regs_per_thread: Spanned<u32>,
    /// Static plus dynamic shared memory per block.
    #[serde(default = "zero_u32")]
    pub smem_bytes: Spanned<u32>,
    /// Work of the whole launch (use either the totals or the per-block values).
    pub flops: Option<Spanned<f64>>,
    pub flops_per_block: Option<Spanned<f64>>,
    pub dram_bytes: Option<Spanned<f64>>,
    pub dram_bytes_per_block: Option<Spanned<f64>>,
    /// Warp instructions issued by the launch (Nsight Compute's `smsp__inst_executed.sum`), or per block.
    pub instructions: Option<Spanned<f64>>,
    pub instructions_per_block: Option<Spanned<f64>>,
    #[serde(default)]
    pub op: OpKind,
    /// Host time spent before this launch; defaults to the profile's launch cost.
    pub host_gap_us: Option<Spanned<f64>>,
    /// The host waits for this kernel before going on.
    #[serde(default)]
    pub sync: bool,
    /// Launch this kernel this many times in a row (e.g. once per layer).
    #[serde(default = "one_u32")]
    pub repeat: Spanned<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Grid {
    Count(u64),
    Dims(Vec<u64>),
}

impl Grid {
    /// Product of the dimensions, or None for an empty or over-long list.
    pub fn total(&self) -> Option<u64> {
        match self {
            Grid::Count(n) => Some(*n),
            Grid::Dims(d) if (1..=3).contains(&d.len()) => d.iter().try_fold(1u64, |a, &x| a.checked_mul(x)),
            Grid::Dims(_) => None,
        }
    }
}

fn default_unit() -> String {
    "requests".to_string()
}
fn zero() -> Spanned<f64> {
    Spanned::new(0..0, 0.0)
}
fn zero_u32() -> Spanned<u32> {
    Spanned::new(0..0, 0)
}
fn one() -> Spanned<f64> {
    Spanned::new(0..0, 1.0)
}
fn one_u32() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}

/// A parsed scenario with its text, so later checks can point at lines.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub file: String,
    pub text: String,
    pub spec: ScenarioFile,
}

impl Scenario {
    /// Parses scenario text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, InputError> {
        let spec: ScenarioFile = toml::from_str(text).map_err(|e| InputError::from_toml(file, text, &e))?;
        let s = Scenario { file: file.to_string(), text: text.to_string(), spec };
        s.check_shape()?;
        Ok(s)
    }

    pub fn name(&self) -> String {
        self.spec.name.clone().unwrap_or_else(|| {
            let stem = self.file.rsplit('/').next().unwrap_or(&self.file);
            stem.strip_suffix(".toml").unwrap_or(stem).to_string()
        })
    }

    pub fn err<T>(&self, spanned: &Spanned<T>, field: &str, msg: impl Into<String>) -> InputError {
        let span = spanned.span();
        let span = if span.is_empty() && span.start == 0 { None } else { Some(span) };
        InputError::new(&self.file, &self.text, span, field, msg)
    }

    /// Checks that need no GPU profile.
    fn check_shape(&self) -> Result<(), InputError> {
        let s = &self.spec;
        if let Some(d) = &s.duration_s {
            if !(d.get_ref().is_finite() && *d.get_ref() > 0.0 && *d.get_ref() <= 1.0e6) {
                return Err(self.err(d, "duration_s", "must be a positive number of seconds (at most 1e6)"));
            }
        }
        if s.clients.get_ref().is_empty() {
            return Err(self.err(&s.clients, "clients", "at least one client is needed"));
        }
        let mut names = std::collections::BTreeSet::new();
        for (ci, c) in s.clients.get_ref().iter().enumerate() {
            let f = |x: &str| format!("clients[{ci}].{x}");
            if c.name.get_ref().trim().is_empty() || !names.insert(c.name.get_ref().clone()) {
                return Err(self.err(&c.name, &f("name"), "client names must be non-empty and unique"));
            }
            non_negative(self, &c.think_us, &f("think_us"))?;
            if let Some(r) = &c.arrival_rate_per_s {
                if !(r.get_ref().is_finite() && *r.get_ref() > 0.0) {
                    return Err(self.err(r, &f("arrival_rate_per_s"), "must be a positive rate"));
                }
            }
            if !(c.units_per_request.get_ref().is_finite() && *c.units_per_request.get_ref() > 0.0) {
                return Err(self.err(&c.units_per_request, &f("units_per_request"), "must be positive"));
            }
            if let Some(p) = &c.mps_thread_percentage {
                if s.sharing != Sharing::Mps {
                    return Err(self.err(p, &f("mps_thread_percentage"), "only applies with sharing = \"mps\""));
                }
                if !(p.get_ref().is_finite() && *p.get_ref() > 0.0 && *p.get_ref() <= 100.0) {
                    return Err(self.err(p, &f("mps_thread_percentage"), "must be above 0 and at most 100"));
                }
            }
            if let Some(r) = &c.requests {
                if *r.get_ref() == 0 {
                    return Err(self.err(r, &f("requests"), "must be at least 1 (omit it to run until the horizon)"));
                }
            }
            if c.kernels.get_ref().is_empty() {
                return Err(self.err(&c.kernels, &f("kernels"), "a client needs at least one kernel"));
            }
            for (ki, k) in c.kernels.get_ref().iter().enumerate() {
                let g = |x: &str| format!("clients[{ci}].kernels[{ki}].{x}");
                match k.grid.get_ref().total() {
                    Some(n) if (1..=(1u64 << 40)).contains(&n) => {}
                    _ => return Err(self.err(&k.grid, &g("grid"), "must be 1 to 2^40 blocks (a number or [x, y, z])")),
                }
                if k.block.get_ref().total().is_none_or(|n| n == 0) {
                    return Err(self.err(
                        &k.block,
                        &g("block"),
                        "must be a positive thread count (a number or [x, y, z])",
                    ));
                }
                if *k.repeat.get_ref() == 0 {
                    return Err(self.err(&k.repeat, &g("repeat"), "must be at least 1"));
                }
                if let Some(h) = &k.host_gap_us {
                    non_negative(self, h, &g("host_gap_us"))?;
                }
                for (name, total, per_block) in [
                    ("flops", &k.flops, &k.flops_per_block),
                    ("dram_bytes", &k.dram_bytes, &k.dram_bytes_per_block),
                    ("instructions", &k.instructions, &k.instructions_per_block),
                ] {
                    if let (Some(t), Some(_)) = (total, per_block) {
                        return Err(self.err(t, &g(name), format!("give either {name} or {name}_per_block, not both")));
                    }
                    for v in [total, per_block].into_iter().flatten() {
                        non_negative(self, v, &g(name))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks kernels against the GPU's per-SM limits (an impossible kernel is an error).
    pub fn check_against(&self, gpu: &GpuProfile) -> Result<(), InputError> {
        let sm = &gpu.sm;
        for (ci, c) in self.spec.clients.get_ref().iter().enumerate() {
            for (ki, k) in c.kernels.get_ref().iter().enumerate() {
                let g = |x: &str| format!("clients[{ci}].kernels[{ki}].{x}");
                let threads = k.block.get_ref().total().unwrap_or(0);
                if threads > sm.max_threads_per_block.value as u64 {
                    return Err(self.err(
                        &k.block,
                        &g("block"),
                        format!(
                            "{threads} threads per block; {} allows at most {}",
                            gpu.name, sm.max_threads_per_block.value
                        ),
                    ));
                }
                let regs = *k.regs_per_thread.get_ref();
                if regs == 0 || regs > sm.max_regs_per_thread.value {
                    return Err(self.err(
                        &k.regs_per_thread,
                        &g("regs_per_thread"),
                        format!("must be 1 to {} on {}", sm.max_regs_per_thread.value, gpu.name),
                    ));
                }
                let shape = crate::occupancy::BlockShape {
                    threads: threads as u32,
                    regs_per_thread: regs,
                    smem_bytes: *k.smem_bytes.get_ref(),
                };
                if crate::occupancy::regs_per_block(gpu, &shape) > sm.registers.value {
                    return Err(self.err(
                        &k.regs_per_thread,
                        &g("regs_per_thread"),
                        format!(
                            "a block needs {} registers; an SM of {} has {}",
                            crate::occupancy::regs_per_block(gpu, &shape),
                            gpu.name,
                            sm.registers.value
                        ),
                    ));
                }
                if *k.smem_bytes.get_ref() as u64 > sm.smem_per_block_max_kb.value as u64 * 1024 {
                    return Err(self.err(
                        &k.smem_bytes,
                        &g("smem_bytes"),
                        format!(
                            "at most {} KB of shared memory per block on {}",
                            sm.smem_per_block_max_kb.value, gpu.name
                        ),
                    ));
                }
                if k.op == OpKind::Fp8Tensor && gpu.rates.fp8_tensor_flops_per_clk.value <= 0.0 {
                    return Err(InputError::new(
                        &self.file,
                        &self.text,
                        None,
                        &g("op"),
                        format!("{} has no FP8 tensor cores", gpu.name),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn non_negative(s: &Scenario, v: &Spanned<f64>, field: &str) -> Result<(), InputError> {
    if v.get_ref().is_finite() && *v.get_ref() >= 0.0 {
        Ok(())
    } else {
        Err(s.err(v, field, "must be a finite number >= 0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
gpu = "h100-sxm"
sharing = "mps"
[[clients]]
name = "a"
requests = 3
mps_thread_percentage = 50
[[clients.kernels]]
name = "k"
grid = 16
block = 1024
regs_per_thread = 32
smem_bytes = 128
flops = 1e7
dram_bytes = 1e6
"#;

    fn parse(t: &str) -> Result<Scenario, InputError> {
        Scenario::parse("s.toml", t)
    }

    #[test]
    fn parses_a_scenario() {
        let s = parse(OK).unwrap();
        assert_eq!(s.spec.sharing, Sharing::Mps);
        assert_eq!(s.name(), "s");
        s.check_against(&crate::profile::tests::h100()).unwrap();
    }

    #[test]
    fn unknown_field_names_line() {
        let e = parse(&OK.replace("smem_bytes = 128", "smem_byts = 128")).unwrap_err();
        assert_eq!(e.field, "smem_byts");
        assert_eq!(e.line, 13);
    }

    #[test]
    fn wrong_type_is_reported() {
        let e = parse(&OK.replace("grid = 16", "grid = \"many\"")).unwrap_err();
        assert_eq!(e.line, 10, "{e}");
    }

    #[test]
    fn bad_percentage() {
        for p in ["0", "101", "-5"] {
            let e = parse(&OK.replace("= 50", &format!("= {p}"))).unwrap_err();
            assert_eq!(e.field, "clients[0].mps_thread_percentage");
            assert_eq!(e.line, 7);
        }
    }

    #[test]
    fn impossible_kernels() {
        let gpu = crate::profile::tests::h100();
        let e = parse(&OK.replace("block = 1024", "block = 2048")).unwrap().check_against(&gpu).unwrap_err();
        assert_eq!(e.field, "clients[0].kernels[0].block");
        assert_eq!(e.line, 11);
        let e = parse(&OK.replace("regs_per_thread = 32", "regs_per_thread = 255"))
            .unwrap()
            .check_against(&gpu)
            .unwrap_err();
        assert_eq!(e.field, "clients[0].kernels[0].regs_per_thread");
        assert!(e.message.contains("registers"), "{e}");
        let e = parse(&OK.replace("smem_bytes = 128", "smem_bytes = 300000")).unwrap().check_against(&gpu).unwrap_err();
        assert_eq!(e.field, "clients[0].kernels[0].smem_bytes");
    }

    #[test]
    fn grid_dims_multiply() {
        let s = parse(&OK.replace("grid = 16", "grid = [4, 2, 2]")).unwrap();
        assert_eq!(s.spec.clients.get_ref()[0].kernels.get_ref()[0].grid.get_ref().total(), Some(16));
        assert!(parse(&OK.replace("grid = 16", "grid = [0, 2]")).is_err());
    }
}
