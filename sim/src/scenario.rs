//! The scenario format (TOML): what a user knows about their workloads and how they share a GPU.
//!
//! Nothing here tunes the outcome: mechanism strengths live in the GPU profile. See
//! docs/scenarios.md for the format. This is one front end of the engine: parsing checks syntax,
//! types and what only the format knows (grid dimensions, totals against per-block values);
//! [`Scenario::to_spec`] builds the typed [`WorkloadSpec`] and [`Layout`], whose own checks
//! come back as errors located at the file, line and field.

use crate::input_error::InputError;
use crate::profile::GpuProfile;
use crate::spec::{self, Arrivals, BlockWork, Layout, OpKind, Sharing, SpecError, Timing, WorkloadSpec};
use crate::workload::Workload;
use serde::Deserialize;
use toml::Spanned;

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
    #[serde(default = "zero_u64")]
    pub warmup_requests: Spanned<u64>,
    /// Host time between one request's completion and the next (closed loop).
    pub think_us: Option<Spanned<f64>>,
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
    pub name: Spanned<String>,
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
    #[serde(default = "default_op")]
    pub op: Spanned<OpKind>,
    /// Host time spent before this launch; defaults to the profile's launch cost.
    pub host_gap_us: Option<Spanned<f64>>,
    /// The host waits for this kernel before going on.
    #[serde(default)]
    pub sync: bool,
    /// Launch this kernel this many times in a row (e.g. once per layer).
    #[serde(default = "one_u32")]
    pub repeat: Spanned<u32>,
}

/// A grid or block size: a count or up to three dimensions.
#[derive(Debug, Clone)]
pub enum Grid {
    Count(u64),
    Dims(Vec<u64>),
}

impl<'de> Deserialize<'de> for Grid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Grid, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Grid;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a positive whole number or a list [x, y, z] of them")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Grid, E> {
                Ok(Grid::Count(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Grid, E> {
                u64::try_from(v).map(Grid::Count).map_err(|_| E::custom(format!("{v} is negative; {}", EXPECT_DIMS)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Grid, A::Error> {
                let mut dims = Vec::new();
                while let Some(x) = seq.next_element::<i64>()? {
                    let x = u64::try_from(x)
                        .map_err(|_| serde::de::Error::custom(format!("{x} is negative; {EXPECT_DIMS}")))?;
                    dims.push(x);
                }
                Ok(Grid::Dims(dims))
            }
        }
        d.deserialize_any(V)
    }
}

const EXPECT_DIMS: &str = "expected a positive whole number or a list [x, y, z] of them";

impl Grid {
    /// Product of the dimensions, or None for an empty or over-long list or an overflow.
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
fn default_op() -> Spanned<OpKind> {
    Spanned::new(0..0, OpKind::default())
}
fn zero_u32() -> Spanned<u32> {
    Spanned::new(0..0, 0)
}
fn zero_u64() -> Spanned<u64> {
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

/// The default horizon when a scenario gives none.
pub const DEFAULT_DURATION_S: f64 = 60.0;

impl Scenario {
    /// Parses scenario text; `file` names it in errors. Every value is checked (apart from
    /// those that need the GPU profile, which [`Scenario::bind`] checks).
    pub fn parse(file: &str, text: &str) -> Result<Scenario, InputError> {
        let spec: ScenarioFile = toml::from_str(text).map_err(|e| InputError::from_toml(file, text, &e))?;
        let s = Scenario { file: file.to_string(), text: text.to_string(), spec };
        s.check_format()?;
        let (w, layout) = s.to_spec();
        w.check().map_err(|e| s.located(e))?;
        for p in layout.gpus.iter().flat_map(|g| &g.partitions) {
            crate::sharing::check_partition(p).map_err(|e| s.located(e))?;
        }
        Ok(s)
    }

    pub fn name(&self) -> String {
        self.spec.name.clone().unwrap_or_else(|| {
            let stem = self.file.rsplit('/').next().unwrap_or(&self.file);
            stem.strip_suffix(".toml").unwrap_or(stem).to_string()
        })
    }

    pub fn err<T>(&self, spanned: &Spanned<T>, field: &str, msg: impl Into<String>) -> InputError {
        InputError::new(&self.file, &self.text, real_span(spanned), field, msg)
    }

    /// What only the file format knows: grid lists, totals beside per-block values.
    fn check_format(&self) -> Result<(), InputError> {
        for (ci, c) in self.spec.clients.get_ref().iter().enumerate() {
            if let (Some(t), Some(_)) = (&c.think_us, &c.arrival_rate_per_s) {
                return Err(self.err(
                    t,
                    &format!("clients[{ci}].think_us"),
                    "give think_us (closed loop) or arrival_rate_per_s (open loop), not both",
                ));
            }
            for (ki, k) in c.kernels.get_ref().iter().enumerate() {
                let g = |x: &str| format!("clients[{ci}].kernels[{ki}].{x}");
                match k.grid.get_ref().total() {
                    Some(n) if (1..=spec::MAX_GRID).contains(&n) => {}
                    _ => return Err(self.err(&k.grid, &g("grid"), "must be 1 to 2^40 blocks (a number or [x, y, z])")),
                }
                if k.block.get_ref().total().is_none_or(|n| n == 0 || n > u32::MAX as u64) {
                    return Err(self.err(
                        &k.block,
                        &g("block"),
                        "must be a positive thread count (a number or [x, y, z])",
                    ));
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
                        if !(v.get_ref().is_finite() && *v.get_ref() >= 0.0) {
                            return Err(self.err(v, &g(name), "must be a finite number >= 0"));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The typed workload and layout this scenario describes.
    pub fn to_spec(&self) -> (WorkloadSpec, Layout) {
        let s = &self.spec;
        let clients: Vec<spec::ClientSpec> = s.clients.get_ref().iter().map(client_spec).collect();
        let pcts: Vec<Option<f64>> =
            s.clients.get_ref().iter().map(|c| c.mps_thread_percentage.as_ref().map(|p| *p.get_ref())).collect();
        let w = WorkloadSpec {
            name: self.name(),
            seed: s.seed,
            duration_s: s.duration_s.as_ref().map(|d| *d.get_ref()).unwrap_or(DEFAULT_DURATION_S),
            clients,
        };
        (w, Layout::whole_gpu(s.sharing, &pcts))
    }

    /// Binds the scenario to a GPU profile: the engine's input. Errors point at the line.
    pub fn bind(&self, gpu: &GpuProfile) -> Result<Workload, InputError> {
        let (w, layout) = self.to_spec();
        Workload::build(&w, &layout, gpu).map_err(|e| self.located(e))
    }

    /// A spec error at the line of the field its path names (or of the nearest enclosing one).
    pub fn located(&self, e: SpecError) -> InputError {
        let span = self.span_of(&e.path);
        let path = self.as_written(&e.path);
        InputError::new(&self.file, &self.text, span, &path, e.message)
    }

    /// A spec path as the file spells it: work given per block is `flops_per_block`, not `flops`.
    fn as_written(&self, path: &str) -> String {
        let parts: Vec<&str> = path.split('.').collect();
        if let [c, k, field] = parts[..] {
            let kernel = index_of(c, "clients")
                .and_then(|ci| self.spec.clients.get_ref().get(ci))
                .and_then(|c| index_of(k, "kernels").and_then(|ki| c.kernels.get_ref().get(ki)));
            if let Some(k) = kernel {
                let per_block = match field {
                    "flops" => k.flops.is_none() && k.flops_per_block.is_some(),
                    "dram_bytes" => k.dram_bytes.is_none() && k.dram_bytes_per_block.is_some(),
                    "instructions" => k.instructions.is_none() && k.instructions_per_block.is_some(),
                    _ => false,
                };
                if per_block {
                    return format!("{path}_per_block");
                }
            }
        }
        path.to_string()
    }

    /// The span of a scenario-format path such as `clients[1].kernels[0].block`.
    fn span_of(&self, path: &str) -> Option<std::ops::Range<usize>> {
        let s = &self.spec;
        let mut parts = path.split('.');
        let first = parts.next()?;
        if first == "duration_s" {
            return s.duration_s.as_ref().and_then(real_span);
        }
        if first == "gpu" {
            return real_span(&s.gpu);
        }
        let Some(ci) = index_of(first, "clients") else { return real_span(&s.clients) };
        let Some(c) = s.clients.get_ref().get(ci) else { return real_span(&s.clients) };
        let here = real_span(&c.name);
        let Some(field) = parts.next() else { return here };
        let found = match field {
            "name" => real_span(&c.name),
            "requests" => c.requests.as_ref().and_then(real_span),
            "warmup_requests" => real_span(&c.warmup_requests),
            "think_us" => c.think_us.as_ref().and_then(real_span),
            "arrival_rate_per_s" => c.arrival_rate_per_s.as_ref().and_then(real_span),
            "units_per_request" => real_span(&c.units_per_request),
            "mps_thread_percentage" => c.mps_thread_percentage.as_ref().and_then(real_span),
            "kernels" => real_span(&c.kernels),
            f => match index_of(f, "kernels").and_then(|ki| c.kernels.get_ref().get(ki)) {
                Some(k) => {
                    let kfield = parts.next().unwrap_or("name");
                    let total_or_per = |t: &Option<Spanned<f64>>, p: &Option<Spanned<f64>>| {
                        t.as_ref().or(p.as_ref()).and_then(real_span)
                    };
                    let ks = match kfield {
                        "grid" => real_span(&k.grid),
                        "block" => real_span(&k.block),
                        "regs_per_thread" => real_span(&k.regs_per_thread),
                        "smem_bytes" => real_span(&k.smem_bytes),
                        "flops" => total_or_per(&k.flops, &k.flops_per_block),
                        "dram_bytes" => total_or_per(&k.dram_bytes, &k.dram_bytes_per_block),
                        "instructions" => total_or_per(&k.instructions, &k.instructions_per_block),
                        "op" => real_span(&k.op),
                        "host_gap_us" => k.host_gap_us.as_ref().and_then(real_span),
                        "repeat" => real_span(&k.repeat),
                        _ => None,
                    };
                    ks.or_else(|| real_span(&k.name))
                }
                None => None,
            },
        };
        found.or(here)
    }

    /// Checks kernels against the GPU's limits (an impossible kernel is an error).
    pub fn check_against(&self, gpu: &GpuProfile) -> Result<(), InputError> {
        self.bind(gpu).map(|_| ())
    }
}

/// Spans of defaults are empty at 0: no place in the file.
fn real_span<T>(s: &Spanned<T>) -> Option<std::ops::Range<usize>> {
    let span = s.span();
    if span.is_empty() && span.start == 0 {
        None
    } else {
        Some(span)
    }
}

/// `clients[3]` with `name = "clients"` gives 3.
fn index_of(part: &str, name: &str) -> Option<usize> {
    part.strip_prefix(name)?.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

fn client_spec(c: &ClientFile) -> spec::ClientSpec {
    let arrivals = match &c.arrival_rate_per_s {
        Some(r) => Arrivals::Poisson { rate_per_s: *r.get_ref() },
        None => Arrivals::ClosedLoop { think_us: c.think_us.as_ref().map(|t| *t.get_ref()).unwrap_or(0.0) },
    };
    spec::ClientSpec {
        name: c.name.get_ref().clone(),
        requests: c.requests.as_ref().map(|r| *r.get_ref()),
        warmup_requests: *c.warmup_requests.get_ref(),
        arrivals,
        timing: c.timing,
        unit: c.unit.clone(),
        units_per_request: *c.units_per_request.get_ref(),
        kernels: c.kernels.get_ref().iter().map(kernel_spec).collect(),
    }
}

fn kernel_spec(k: &KernelFile) -> spec::KernelSpec {
    // Checked by `check_format` before any spec is built.
    let grid = k.grid.get_ref().total().unwrap_or(1);
    let per_block = |total: &Option<Spanned<f64>>, per: &Option<Spanned<f64>>| match (total, per) {
        (Some(t), _) => *t.get_ref() / grid as f64,
        (_, Some(p)) => *p.get_ref(),
        _ => 0.0,
    };
    spec::KernelSpec {
        name: k.name.get_ref().clone(),
        grid,
        threads_per_block: k.block.get_ref().total().unwrap_or(1).min(u32::MAX as u64) as u32,
        regs_per_thread: *k.regs_per_thread.get_ref(),
        smem_bytes: *k.smem_bytes.get_ref(),
        per_block: BlockWork {
            flops: per_block(&k.flops, &k.flops_per_block),
            dram_bytes: per_block(&k.dram_bytes, &k.dram_bytes_per_block),
            instructions: per_block(&k.instructions, &k.instructions_per_block),
        },
        op: *k.op.get_ref(),
        host_gap_us: k.host_gap_us.as_ref().map(|h| *h.get_ref()),
        sync: k.sync,
        repeat: *k.repeat.get_ref(),
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
