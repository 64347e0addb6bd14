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
    /// One GPU (or, for `dedicated`, one per client) shared in this mode; or `gpus` instead.
    pub sharing: Option<Spanned<Sharing>>,
    /// An explicit layout: GPUs of the `gpu` type, each split into partitions.
    pub gpus: Option<Spanned<Vec<GpuFile>>>,
    #[serde(default)]
    pub seed: u64,
    /// Simulated-time horizon in seconds; clients with unlimited requests run until it.
    pub duration_s: Option<Spanned<f64>>,
    pub clients: Spanned<Vec<ClientFile>>,
}

/// One GPU of an explicit layout.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuFile {
    pub partitions: Spanned<Vec<PartitionFile>>,
}

/// A partition: the whole GPU (neither `sms` nor `mig`), a fixed SM partition or a MIG instance,
/// and how its clients share it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionFile {
    /// A MIG GPU-instance profile of the GPU's table (`3g.40gb`).
    pub mig: Option<Spanned<String>>,
    /// MIG: placement start, in memory slices (default: the first free).
    pub start: Option<Spanned<u32>>,
    /// A fixed SM partition of this many SMs.
    pub sms: Option<Spanned<u32>>,
    /// SM partition: its first SM (default: the lowest free).
    pub first: Option<Spanned<u32>>,
    #[serde(default = "dedicated")]
    pub sharing: Spanned<Sharing>,
    /// Client names.
    pub clients: Spanned<Vec<Spanned<String>>>,
}

fn dedicated() -> Spanned<Sharing> {
    Spanned::new(0..0, Sharing::Dedicated)
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
    /// The client's launches replay a CUDA graph (the gap between its kernels is the graph's).
    #[serde(default)]
    pub cuda_graph: bool,
    /// MPS only: CUDA_MPS_ACTIVE_THREAD_PERCENTAGE of this client.
    pub mps_thread_percentage: Option<Spanned<f64>>,
    pub kernels: Spanned<Vec<KernelFile>>,
}

/// One entry of a client's `kernels`: a kernel, or (when it has `kernels` of its own) a group of
/// entries launched `repeat` times over, nestable one level.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelFile {
    pub name: Spanned<String>,
    /// Blocks in the grid: a number or [x, y, z].
    pub grid: Option<Spanned<Grid>>,
    /// Threads per block: a number or [x, y, z].
    pub block: Option<Spanned<Grid>>,
    pub regs_per_thread: Option<Spanned<u32>>,
    /// A group's entries.
    pub kernels: Option<Spanned<Vec<KernelFile>>>,
    /// Static plus dynamic shared memory per block.
    #[serde(default = "zero_u32")]
    pub smem_bytes: Spanned<u32>,
    /// Work of the whole launch (use either the totals or the per-block values).
    pub flops: Option<Spanned<f64>>,
    pub flops_per_block: Option<Spanned<f64>>,
    pub dram_bytes: Option<Spanned<f64>>,
    pub dram_bytes_per_block: Option<Spanned<f64>>,
    /// The share of the DRAM bytes that are writes (0 to 1); unknown: costed as a copy.
    pub dram_write_share: Option<Spanned<f64>>,
    /// Warp instructions issued by the launch (Nsight Compute's `smsp__inst_executed.sum`), or per block.
    pub instructions: Option<Spanned<f64>>,
    pub instructions_per_block: Option<Spanned<f64>>,
    /// Bytes the launch sends to peer GPUs (a collective of a tensor-parallel client), or per block.
    pub link_bytes: Option<Spanned<f64>>,
    pub link_bytes_per_block: Option<Spanned<f64>>,
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

impl KernelFile {
    /// Fields given that only a kernel takes (a group takes name, repeat and kernels).
    fn kernel_fields(&self) -> Vec<(&'static str, Option<std::ops::Range<usize>>)> {
        let mut v = Vec::new();
        let mut add = |name, span: Option<std::ops::Range<usize>>| {
            if span.is_some() {
                v.push((name, span));
            }
        };
        add("grid", self.grid.as_ref().map(|x| x.span()));
        add("block", self.block.as_ref().map(|x| x.span()));
        add("regs_per_thread", self.regs_per_thread.as_ref().map(|x| x.span()));
        add("smem_bytes", real_span(&self.smem_bytes));
        for (name, f) in [
            ("flops", &self.flops),
            ("flops_per_block", &self.flops_per_block),
            ("dram_bytes", &self.dram_bytes),
            ("dram_bytes_per_block", &self.dram_bytes_per_block),
            ("dram_write_share", &self.dram_write_share),
            ("instructions", &self.instructions),
            ("instructions_per_block", &self.instructions_per_block),
            ("link_bytes", &self.link_bytes),
            ("link_bytes_per_block", &self.link_bytes_per_block),
        ] {
            add(name, f.as_ref().map(|x| x.span()));
        }
        add("op", real_span(&self.op));
        add("host_gap_us", self.host_gap_us.as_ref().map(|x| x.span()));
        v
    }
}

/// A client's entries laid flat: its kernels in stream order with their paths in the file
/// (`clients[0].kernels[2].kernels[1]`), and its groups with theirs and the kernels they span.
#[derive(Debug, Default)]
struct Flat<'a> {
    kernels: Vec<(String, &'a KernelFile)>,
    groups: Vec<(String, &'a KernelFile, usize, usize)>,
}

fn flatten<'a>(entries: &'a [KernelFile], at: &str, out: &mut Flat<'a>) {
    for (i, k) in entries.iter().enumerate() {
        let path = format!("{at}.kernels[{i}]");
        match &k.kernels {
            Some(inner) => {
                let (gi, first) = (out.groups.len(), out.kernels.len());
                out.groups.push((path.clone(), k, first, 0));
                flatten(inner.get_ref(), &path, out);
                out.groups[gi].3 = out.kernels.len() - first;
            }
            None => out.kernels.push((path, k)),
        }
    }
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
        layout.check(&w).map_err(|e| s.located(e))?;
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
        self.check_layout_format()?;
        for (ci, c) in self.spec.clients.get_ref().iter().enumerate() {
            if let (Some(t), Some(_)) = (&c.think_us, &c.arrival_rate_per_s) {
                return Err(self.err(
                    t,
                    &format!("clients[{ci}].think_us"),
                    "give think_us (closed loop) or arrival_rate_per_s (open loop), not both",
                ));
            }
            let mut flat = Flat::default();
            flatten(c.kernels.get_ref(), &format!("clients[{ci}]"), &mut flat);
            for (path, grp, _, len) in &flat.groups {
                let g = |x: &str| format!("{path}.{x}");
                if let Some((field, span)) = grp.kernel_fields().into_iter().next() {
                    let at = span.unwrap_or_else(|| grp.name.span());
                    return Err(InputError::new(
                        &self.file,
                        &self.text,
                        Some(at),
                        &g(field),
                        "an entry with `kernels` is a group: it takes only name, repeat and kernels",
                    ));
                }
                if path.matches(".kernels[").count() > 2 {
                    return Err(self.err(&grp.name, &g("kernels"), "groups nest one level deep at most"));
                }
                if *len == 0 {
                    let k = grp.kernels.as_ref().map_or_else(|| grp.name.span(), |k| k.span());
                    return Err(InputError::new(
                        &self.file,
                        &self.text,
                        Some(k),
                        &g("kernels"),
                        "a group needs at least one kernel",
                    ));
                }
            }
            for (path, k) in &flat.kernels {
                let g = |x: &str| format!("{path}.{x}");
                let missing = |field: &str| {
                    self.err(
                        &k.name,
                        &g(field),
                        "missing: a kernel needs grid, block and regs_per_thread (an entry with `kernels` is a group)",
                    )
                };
                let (Some(grid), Some(block)) = (&k.grid, &k.block) else {
                    return Err(missing(if k.grid.is_none() { "grid" } else { "block" }));
                };
                if k.regs_per_thread.is_none() {
                    return Err(missing("regs_per_thread"));
                }
                match grid.get_ref().total() {
                    Some(n) if (1..=spec::MAX_GRID).contains(&n) => {}
                    _ => return Err(self.err(grid, &g("grid"), "must be 1 to 2^40 blocks (a number or [x, y, z])")),
                }
                if block.get_ref().total().is_none_or(|n| n == 0 || n > u32::MAX as u64) {
                    return Err(self.err(
                        block,
                        &g("block"),
                        "must be a positive thread count (a number or [x, y, z])",
                    ));
                }
                for (name, total, per_block) in [
                    ("flops", &k.flops, &k.flops_per_block),
                    ("dram_bytes", &k.dram_bytes, &k.dram_bytes_per_block),
                    ("instructions", &k.instructions, &k.instructions_per_block),
                    ("link_bytes", &k.link_bytes, &k.link_bytes_per_block),
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
                if let Some(share) = &k.dram_write_share {
                    if !(0.0..=1.0).contains(share.get_ref()) {
                        return Err(self.err(share, &g("dram_write_share"), "must be a share from 0 to 1"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The sharing mode the whole scenario states, or None where it gives an explicit `gpus` layout.
    pub fn sharing(&self) -> Option<Sharing> {
        self.spec.sharing.as_ref().map(|s| *s.get_ref())
    }

    /// `sharing` or `gpus`, and in `gpus` what only the format knows: fields that go together,
    /// client names that exist.
    fn check_layout_format(&self) -> Result<(), InputError> {
        let s = &self.spec;
        let whole =
            |at: Option<std::ops::Range<usize>>, msg: &str| InputError::new(&self.file, &self.text, at, "sharing", msg);
        let Some(gpus) = &s.gpus else {
            if s.sharing.is_none() {
                return Err(whole(None, "missing: give `sharing` (one GPU shared in one mode) or a `gpus` layout"));
            }
            return Ok(());
        };
        if let Some(sh) = &s.sharing {
            return Err(whole(real_span(sh), "give `sharing` or a `gpus` layout, not both"));
        }
        if gpus.get_ref().is_empty() {
            return Err(self.err(gpus, "gpus", "a layout needs at least one GPU"));
        }
        let names: Vec<&str> = s.clients.get_ref().iter().map(|c| c.name.get_ref().as_str()).collect();
        for (gi, g) in gpus.get_ref().iter().enumerate() {
            if g.partitions.get_ref().is_empty() {
                return Err(self.err(
                    &g.partitions,
                    &format!("gpus[{gi}].partitions"),
                    "a GPU needs at least one partition",
                ));
            }
            for (pi, p) in g.partitions.get_ref().iter().enumerate() {
                let at = |f: &str| format!("gpus[{gi}].partitions[{pi}].{f}");
                if let (Some(m), Some(_)) = (&p.mig, &p.sms) {
                    return Err(self.err(
                        m,
                        &at("mig"),
                        "a partition is a MIG instance (`mig`) or an SM partition (`sms`), not both",
                    ));
                }
                if let (Some(st), None) = (&p.start, &p.mig) {
                    return Err(self.err(st, &at("start"), "`start` places a MIG instance: it needs `mig`"));
                }
                if let (Some(f), None) = (&p.first, &p.sms) {
                    return Err(self.err(f, &at("first"), "`first` places an SM partition: it needs `sms`"));
                }
                for c in p.clients.get_ref() {
                    if !names.contains(&c.get_ref().as_str()) {
                        return Err(self.err(c, &at("clients"), format!("no client is named `{}`", c.get_ref())));
                    }
                }
            }
        }
        Ok(())
    }

    /// The layout the file states.
    fn layout(&self, pcts: &[Option<f64>]) -> Layout {
        let s = &self.spec;
        let Some(gpus) = &s.gpus else {
            return Layout::whole_gpu(self.sharing().unwrap_or(Sharing::Dedicated), pcts);
        };
        let index: std::collections::HashMap<&str, usize> =
            s.clients.get_ref().iter().enumerate().map(|(i, c)| (c.name.get_ref().as_str(), i)).collect();
        let gpus: Vec<spec::GpuLayout> = gpus
            .get_ref()
            .iter()
            .map(|g| spec::GpuLayout {
                partitions: g
                    .partitions
                    .get_ref()
                    .iter()
                    .map(|p| spec::Partition {
                        slice: match (&p.mig, &p.sms) {
                            (Some(m), _) => spec::Slice::Mig {
                                profile: m.get_ref().clone(),
                                start: p.start.as_ref().map(|x| *x.get_ref()),
                            },
                            (None, Some(n)) => {
                                spec::Slice::Sms { first: p.first.as_ref().map(|x| *x.get_ref()), count: *n.get_ref() }
                            }
                            (None, None) => spec::Slice::Whole,
                        },
                        sharing: *p.sharing.get_ref(),
                        members: p
                            .clients
                            .get_ref()
                            .iter()
                            .filter_map(|c| index.get(c.get_ref().as_str()))
                            .map(|&client| spec::Member { client, mps_thread_percentage: pcts[client] })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        let label = gpus
            .iter()
            .map(|g| {
                g.partitions
                    .iter()
                    .map(|p| match p.slice {
                        spec::Slice::Whole => p.sharing.as_str().to_string(),
                        _ => format!("{} {}", p.slice.label(), p.sharing.as_str()),
                    })
                    .collect::<Vec<_>>()
                    .join(" + ")
            })
            .collect::<Vec<_>>()
            .join(" | ");
        Layout { label, gpus }
    }

    /// The typed workload and layout this scenario describes.
    pub fn to_spec(&self) -> (WorkloadSpec, Layout) {
        let s = &self.spec;
        let clients: Vec<spec::ClientSpec> =
            s.clients.get_ref().iter().enumerate().map(|(ci, c)| client_spec(ci, c)).collect();
        let pcts: Vec<Option<f64>> =
            s.clients.get_ref().iter().map(|c| c.mps_thread_percentage.as_ref().map(|p| *p.get_ref())).collect();
        let w = WorkloadSpec {
            name: self.name(),
            seed: s.seed,
            duration_s: s.duration_s.as_ref().map(|d| *d.get_ref()).unwrap_or(DEFAULT_DURATION_S),
            clients,
        };
        let layout = self.layout(&pcts);
        (w, layout)
    }

    /// Binds the scenario to a GPU profile: the engine's input. Errors point at the line.
    pub fn bind(&self, gpu: &GpuProfile) -> Result<Workload, InputError> {
        let (w, layout) = self.to_spec();
        Workload::build(&w, &layout, gpu).map_err(|e| self.located(e))
    }

    /// The same clients each alone on a GPU of its own (a `dedicated` layout): the reference of
    /// slowdown attribution. None where the scenario is dedicated already.
    pub fn bind_alone(&self, gpu: &GpuProfile) -> Result<Option<Workload>, InputError> {
        if self.sharing() == Some(Sharing::Dedicated) {
            return Ok(None);
        }
        let (w, layout) = self.to_spec();
        Workload::build(&w, &layout.alone(w.clients.len()), gpu).map(Some).map_err(|e| self.located(e))
    }

    /// A spec error at the line of the field its path names (or of the nearest enclosing one).
    pub fn located(&self, e: SpecError) -> InputError {
        let path = self.in_file(&e.path);
        let span = self.span_of(&path);
        let path = self.as_written(&path);
        InputError::new(&self.file, &self.text, span, &path, e.message)
    }

    /// A spec path in the file's terms: the spec numbers a client's kernels flat
    /// (`clients[0].kernels[7]`) and its groups apart (`clients[0].groups[1]`); the file nests
    /// them (`clients[0].kernels[2].kernels[5]`).
    fn in_file(&self, path: &str) -> String {
        let mut parts = path.splitn(3, '.');
        let (Some(c), Some(item)) = (parts.next(), parts.next()) else { return path.to_string() };
        let rest = parts.next().map(|r| format!(".{r}")).unwrap_or_default();
        let Some(client) = index_of(c, "clients").and_then(|ci| self.spec.clients.get_ref().get(ci)) else {
            return path.to_string();
        };
        let mut flat = Flat::default();
        flatten(client.kernels.get_ref(), c, &mut flat);
        let found = if let Some(ki) = index_of(item, "kernels") {
            flat.kernels.get(ki).map(|k| k.0.clone())
        } else if let Some(gi) = index_of(item, "groups") {
            flat.groups.get(gi).map(|g| g.0.clone())
        } else {
            None
        };
        found.map_or_else(|| path.to_string(), |p| p + &rest)
    }

    /// The entry a file path such as `clients[0].kernels[2].kernels[5]` names, and the rest of
    /// the path (the field).
    fn entry<'a>(&'a self, path: &'a str) -> Option<(&'a KernelFile, Option<&'a str>)> {
        let mut parts = path.split('.');
        let client = index_of(parts.next()?, "clients").and_then(|ci| self.spec.clients.get_ref().get(ci))?;
        let mut entries: &[KernelFile] = client.kernels.get_ref();
        let mut found = None;
        for part in parts {
            match index_of(part, "kernels") {
                Some(ki) => {
                    let k = entries.get(ki)?;
                    found = Some(k);
                    entries = k.kernels.as_ref().map_or(&[][..], |k| k.get_ref().as_slice());
                }
                None => return found.map(|k| (k, Some(part))),
            }
        }
        found.map(|k| (k, None))
    }

    /// A file path as the file spells it: work given per block is `flops_per_block`, not `flops`.
    fn as_written(&self, path: &str) -> String {
        if let Some((k, Some(field))) = self.entry(path) {
            {
                let per_block = match field {
                    "flops" => k.flops.is_none() && k.flops_per_block.is_some(),
                    "dram_bytes" => k.dram_bytes.is_none() && k.dram_bytes_per_block.is_some(),
                    "instructions" => k.instructions.is_none() && k.instructions_per_block.is_some(),
                    "link_bytes" => k.link_bytes.is_none() && k.link_bytes_per_block.is_some(),
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
        if first == "sharing" {
            return s.sharing.as_ref().and_then(real_span);
        }
        if first.starts_with("gpus") {
            return self.layout_span(path);
        }
        let Some(ci) = index_of(first, "clients") else { return real_span(&s.clients) };
        let Some(c) = s.clients.get_ref().get(ci) else { return real_span(&s.clients) };
        let here = real_span(&c.name);
        if let Some((k, field)) = self.entry(path) {
            let total_or_per =
                |t: &Option<Spanned<f64>>, p: &Option<Spanned<f64>>| t.as_ref().or(p.as_ref()).and_then(real_span);
            let opt = |g: &Option<Spanned<Grid>>| g.as_ref().and_then(real_span);
            let ks = match field.unwrap_or("name") {
                "grid" => opt(&k.grid),
                "block" => opt(&k.block),
                "regs_per_thread" => k.regs_per_thread.as_ref().and_then(real_span),
                "smem_bytes" => real_span(&k.smem_bytes),
                "flops" => total_or_per(&k.flops, &k.flops_per_block),
                "dram_bytes" => total_or_per(&k.dram_bytes, &k.dram_bytes_per_block),
                "dram_write_share" => k.dram_write_share.as_ref().and_then(real_span),
                "instructions" => total_or_per(&k.instructions, &k.instructions_per_block),
                "link_bytes" => total_or_per(&k.link_bytes, &k.link_bytes_per_block),
                "op" => real_span(&k.op),
                "host_gap_us" => k.host_gap_us.as_ref().and_then(real_span),
                "repeat" => real_span(&k.repeat),
                "kernels" => k.kernels.as_ref().and_then(real_span),
                _ => None,
            };
            return ks.or_else(|| real_span(&k.name)).or(here);
        }
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
            _ => None,
        };
        found.or(here)
    }

    /// The span of `gpus[g].partitions[p].field`, or of the nearest enclosing entry.
    fn layout_span(&self, path: &str) -> Option<std::ops::Range<usize>> {
        let gpus = self.spec.gpus.as_ref()?;
        let mut parts = path.split('.');
        let Some(g) = index_of(parts.next()?, "gpus").and_then(|gi| gpus.get_ref().get(gi)) else {
            return real_span(gpus);
        };
        let Some(p) =
            parts.next().and_then(|x| index_of(x, "partitions")).and_then(|pi| g.partitions.get_ref().get(pi))
        else {
            return real_span(&g.partitions);
        };
        let opt_s = |x: &Option<Spanned<String>>| x.as_ref().and_then(real_span);
        let opt_u = |x: &Option<Spanned<u32>>| x.as_ref().and_then(real_span);
        let found = match parts.next() {
            Some("mig") => opt_s(&p.mig),
            Some("start") => opt_u(&p.start).or_else(|| opt_s(&p.mig)),
            Some("sms") => opt_u(&p.sms).or_else(|| opt_s(&p.mig)),
            Some("first") => opt_u(&p.first).or_else(|| opt_u(&p.sms)),
            Some("sharing") => real_span(&p.sharing),
            _ => None,
        };
        found.or_else(|| real_span(&p.clients))
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

fn client_spec(ci: usize, c: &ClientFile) -> spec::ClientSpec {
    let mut flat = Flat::default();
    flatten(c.kernels.get_ref(), &format!("clients[{ci}]"), &mut flat);
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
        cuda_graph: c.cuda_graph,
        kernels: flat.kernels.iter().map(|(_, k)| kernel_spec(k)).collect(),
        groups: flat
            .groups
            .iter()
            .map(|&(_, g, first, len)| spec::KernelGroup {
                name: g.name.get_ref().clone(),
                first,
                len,
                repeat: *g.repeat.get_ref(),
            })
            .collect(),
    }
}

fn kernel_spec(k: &KernelFile) -> spec::KernelSpec {
    // Checked by `check_format` before any spec is built.
    let dims = |g: &Option<Spanned<Grid>>| g.as_ref().and_then(|g| g.get_ref().total()).unwrap_or(1);
    let grid = dims(&k.grid);
    let per_block = |total: &Option<Spanned<f64>>, per: &Option<Spanned<f64>>| match (total, per) {
        (Some(t), _) => *t.get_ref() / grid as f64,
        (_, Some(p)) => *p.get_ref(),
        _ => 0.0,
    };
    spec::KernelSpec {
        name: k.name.get_ref().clone(),
        grid,
        threads_per_block: dims(&k.block).min(u32::MAX as u64) as u32,
        regs_per_thread: k.regs_per_thread.as_ref().map_or(0, |r| *r.get_ref()),
        smem_bytes: *k.smem_bytes.get_ref(),
        per_block: BlockWork {
            flops: per_block(&k.flops, &k.flops_per_block),
            dram_bytes: per_block(&k.dram_bytes, &k.dram_bytes_per_block),
            dram_write_share: k.dram_write_share.as_ref().map(|s| *s.get_ref()),
            instructions: per_block(&k.instructions, &k.instructions_per_block),
            link_bytes: per_block(&k.link_bytes, &k.link_bytes_per_block),
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
        assert_eq!(s.sharing(), Some(Sharing::Mps));
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
    fn write_share_is_a_share() {
        let with = |v: &str| OK.replace("dram_bytes = 1e6", &format!("dram_bytes = 1e6\ndram_write_share = {v}"));
        let s = parse(&with("0.25")).unwrap();
        assert_eq!(s.to_spec().0.clients[0].kernels[0].per_block.dram_write_share, Some(0.25));
        assert_eq!(parse(OK).unwrap().to_spec().0.clients[0].kernels[0].per_block.dram_write_share, None);
        for bad in ["1.5", "-0.1"] {
            let e = parse(&with(bad)).unwrap_err();
            assert_eq!(e.field, "clients[0].kernels[0].dram_write_share", "{e}");
            assert_eq!(e.line, 16, "{e}");
        }
    }

    #[test]
    fn grid_dims_multiply() {
        let s = parse(&OK.replace("grid = 16", "grid = [4, 2, 2]")).unwrap();
        assert_eq!(s.spec.clients.get_ref()[0].kernels.get_ref()[0].grid.as_ref().unwrap().get_ref().total(), Some(16));
        assert!(parse(&OK.replace("grid = 16", "grid = [0, 2]")).is_err());
    }

    const GROUPED: &str = r#"
gpu = "h100-sxm"
sharing = "streams"
[[clients]]
name = "llm"
requests = 2
[[clients.kernels]]
name = "embed"
grid = 8
block = 256
regs_per_thread = 32
flops = 1e6
[[clients.kernels]]
name = "layer"
repeat = 3
[[clients.kernels.kernels]]
name = "norm"
grid = 1
block = 1024
regs_per_thread = 24
dram_bytes = 16384.0
[[clients.kernels.kernels]]
name = "attn"
repeat = 2
[[clients.kernels.kernels.kernels]]
name = "gemm"
grid = 64
block = 128
regs_per_thread = 128
flops = 1e8
[[clients.kernels]]
name = "head"
grid = 132
block = 128
regs_per_thread = 64
flops = 1e9
"#;

    #[test]
    fn groups_unroll_in_stream_order() {
        let s = parse(GROUPED).unwrap();
        let (w, _) = s.to_spec();
        let c = &w.clients[0];
        let names: Vec<&str> = c.kernels.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["embed", "norm", "gemm", "head"]);
        let seq: Vec<usize> = c.launch_sequence().iter().map(|&(k, _)| k).collect();
        assert_eq!(seq, [0, 1, 2, 2, 1, 2, 2, 1, 2, 2, 3]);
        assert_eq!(c.launches_per_request(), 11);
        // The same launches written out by hand give the same simulation.
        let gpu = crate::profile::tests::h100();
        let grouped = crate::run::run(&s.bind(&gpu).unwrap());
        let mut flat = w.clone();
        flat.clients[0].groups.clear();
        flat.clients[0].kernels = seq.iter().map(|&k| c.kernels[k].clone()).collect();
        let (_, layout) = s.to_spec();
        let by_hand = crate::run::run(&Workload::build(&flat, &layout, &gpu).unwrap());
        assert_eq!(grouped.clients[0].latency_us, by_hand.clients[0].latency_us);
        assert_eq!(grouped.simulated_s, by_hand.simulated_s);
        let gemm = grouped.clients[0].kernels.iter().find(|k| k.name == "gemm").unwrap();
        assert_eq!(gemm.launches, 12);
    }

    #[test]
    fn group_errors_name_the_nested_field() {
        let gpu = crate::profile::tests::h100();
        // A kernel deep in a group names its path and line.
        let t = GROUPED.replace("grid = 64", "grid = 64\nsmem_bytes = 300000");
        let e = parse(&t).unwrap().check_against(&gpu).unwrap_err();
        assert_eq!(e.field, "clients[0].kernels[1].kernels[1].kernels[0].smem_bytes");
        assert_eq!(e.line, 28, "{e}");
        // A group with a kernel's field.
        let e = parse(&GROUPED.replace("repeat = 3", "repeat = 3\ngrid = 4")).unwrap_err();
        assert_eq!(e.field, "clients[0].kernels[1].grid");
        // A kernel without a grid.
        let e = parse(&GROUPED.replace("grid = 1\n", "")).unwrap_err();
        assert_eq!(e.field, "clients[0].kernels[1].kernels[0].grid");
        assert!(e.message.contains("missing"), "{e}");
        // Groups nest one level only.
        let deeper = GROUPED.replace(
            "[[clients.kernels.kernels.kernels]]\nname = \"gemm\"",
            "[[clients.kernels.kernels.kernels]]\nname = \"inner\"\n[[clients.kernels.kernels.kernels.kernels]]\nname = \"gemm\"",
        );
        let e = parse(&deeper).unwrap_err();
        assert!(e.message.contains("one level"), "{e}");
        // A repeat out of range in a group.
        let e = parse(&GROUPED.replace("repeat = 2", "repeat = 0")).unwrap_err();
        assert_eq!(e.field, "clients[0].kernels[1].kernels[1].repeat");
        // Too many launches once unrolled.
        let e = parse(&GROUPED.replace("repeat = 3", "repeat = 1000000")).unwrap_err();
        assert!(e.message.contains("launches per request"), "{e}");
    }
}
