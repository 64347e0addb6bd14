//! The front door: what a caller gives the engine, as plain typed values.
//!
//! A [`WorkloadSpec`] says what runs (clients, their kernels, arrivals, timing); a [`Layout`]
//! says where (which GPUs; on each, the partitions of SMs and memory, and how the clients in a
//! partition share it). The TOML scenario is one front end that builds these values
//! ([`crate::Scenario::to_spec`]); a workload generator or the planner builds them directly.
//!
//! Checks here are the only checks of values: they return a [`SpecError`] whose `path` uses the
//! scenario format's field names (`clients[1].kernels[0].block`), so the TOML front end can point
//! at the line.

use std::fmt;

/// Longest host-side time a scenario may state (think time, host gap), in microseconds: 1e6 s,
/// the longest horizon. Bounding inputs here keeps every sum of simulated times far below
/// `u64::MAX` nanoseconds (1.8e19 ns), so time arithmetic cannot wrap.
pub const MAX_HOST_US: f64 = 1.0e12;
/// Longest horizon in seconds.
pub const MAX_DURATION_S: f64 = 1.0e6;
/// Shortest horizon in seconds (nothing shorter holds a kernel launch).
pub const MIN_DURATION_S: f64 = 1.0e-6;
/// Most blocks in one grid (2^40; CUDA allows 2^31-1 x 65535 x 65535, far beyond what one run can simulate).
pub const MAX_GRID: u64 = 1 << 40;
/// Most launches of one kernel in a row.
pub const MAX_REPEAT: u32 = 1_000_000;
/// Most launches in one request (all kernels with their repeats): the stream holds them at once.
pub const MAX_LAUNCHES_PER_REQUEST: u64 = 1_000_000;
/// Highest Poisson arrival rate per client (one request per microsecond).
pub const MAX_ARRIVAL_RATE: f64 = 1.0e6;

/// Which peak rate a kernel's work runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
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
    /// The name the scenario format uses.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Fp32 => "fp32",
            OpKind::Fp16Tensor => "fp16_tensor",
            OpKind::Bf16Tensor => "bf16_tensor",
            OpKind::Fp8Tensor => "fp8_tensor",
            OpKind::Int32 => "int32",
        }
    }

    pub fn is_tensor(self) -> bool {
        matches!(self, OpKind::Fp16Tensor | OpKind::Bf16Tensor | OpKind::Fp8Tensor)
    }
}

/// How a client times a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// From the host issuing the request to its completion.
    #[default]
    Host,
    /// From a start event executing on the GPU (the stream reached it and its context ran) to the end.
    CudaEvents,
}

impl Timing {
    pub fn as_str(self) -> &'static str {
        match self {
            Timing::Host => "host",
            Timing::CudaEvents => "cuda_events",
        }
    }
}

/// Work of one block.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BlockWork {
    pub flops: f64,
    pub dram_bytes: f64,
    /// The share of `dram_bytes` that are writes (0 to 1). None: not known, and costed as the
    /// DRAM copy that measured `memory.achievable_bw_gbs` (half read, half written).
    pub dram_write_share: Option<f64>,
    /// Warp instructions (as Nsight Compute counts them); 0 when unknown.
    pub instructions: f64,
    /// Bytes the block sends to peer GPUs over the link (its share of a collective's traffic);
    /// 0 for kernels that are not collectives. A kernel with link bytes is a collective: on a
    /// tensor-parallel client it waits for the same collective on every rank.
    pub link_bytes: f64,
}

/// One kernel as a client launches it.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelSpec {
    pub name: String,
    /// Blocks in the grid.
    pub grid: u64,
    pub threads_per_block: u32,
    pub regs_per_thread: u32,
    /// Static plus dynamic shared memory per block.
    pub smem_bytes: u32,
    pub per_block: BlockWork,
    pub op: OpKind,
    /// Host time before this launch; `None`: the profile's launch cost.
    pub host_gap_us: Option<f64>,
    /// The host waits for this kernel before going on.
    pub sync: bool,
    /// Launched this many times in a row.
    pub repeat: u32,
}

/// When a client's requests start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrivals {
    /// The next request starts this long after the previous one completed.
    ClosedLoop { think_us: f64 },
    /// Requests arrive as a Poisson process; they queue while one is in flight.
    Poisson { rate_per_s: f64 },
}

/// One client: a host thread with one in-order stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSpec {
    pub name: String,
    /// Requests to run; `None`: until the horizon.
    pub requests: Option<u64>,
    /// Leading requests left out of the statistics.
    pub warmup_requests: u64,
    pub arrivals: Arrivals,
    pub timing: Timing,
    pub unit: String,
    pub units_per_request: f64,
    /// Its launches replay a CUDA graph: back-to-back kernels start `launch.graph_gap_us` apart
    /// instead of `launch.stream_gap_us`.
    pub cuda_graph: bool,
    /// Kernel entries of one request, in stream order (each group's members in place).
    pub kernels: Vec<KernelSpec>,
    /// Runs of consecutive entries launched `repeat` times over (one transformer layer, once
    /// per layer). A group may hold whole groups, one level deep.
    pub groups: Vec<KernelGroup>,
}

/// `len` consecutive kernel entries from `first`, launched in order `repeat` times over.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelGroup {
    pub name: String,
    pub first: usize,
    pub len: usize,
    pub repeat: u32,
}

impl KernelGroup {
    fn end(&self) -> usize {
        self.first + self.len
    }

    fn contains(&self, o: &KernelGroup) -> bool {
        self.first <= o.first && o.end() <= self.end() && (self.first, self.len) != (o.first, o.len)
    }
}

impl ClientSpec {
    /// The kernel entries one request launches, in stream order: (entry, times in a row).
    /// Groups are unrolled; expects a checked spec.
    pub fn launch_sequence(&self) -> Vec<(usize, u32)> {
        let mut out = Vec::new();
        self.walk(0, self.kernels.len(), None, 1, true, &mut |i, n| out.push((i, n as u32)));
        out
    }

    /// Launches of one request (kernels times their repeats, groups times theirs), saturating.
    pub fn launches_per_request(&self) -> u64 {
        let mut total = 0u64;
        self.walk(0, self.kernels.len(), None, 1, false, &mut |_, n| total = total.saturating_add(n));
        total
    }

    /// The outermost group starting at `i` inside `[lo, hi)` other than `inside` itself (the
    /// scenario writer nests groups by the same rule).
    pub(crate) fn group_at(&self, i: usize, hi: usize, inside: Option<usize>) -> Option<usize> {
        let ok = |g: &KernelGroup| inside.is_none_or(|o| self.groups[o].contains(g));
        (0..self.groups.len())
            .filter(|&g| Some(g) != inside && self.groups[g].first == i && self.groups[g].end() <= hi)
            .filter(|&g| ok(&self.groups[g]))
            .max_by_key(|&g| self.groups[g].len)
    }

    /// Visits the entries of `[lo, hi)` in stream order, calling `emit(entry, launches in a
    /// row)`. `unroll`: a group's entries are visited once per repeat; otherwise once, with the
    /// group's repeat multiplied into `times` (counting without unrolling, so huge repeats cost
    /// nothing).
    fn walk(
        &self,
        lo: usize,
        hi: usize,
        inside: Option<usize>,
        times: u64,
        unroll: bool,
        emit: &mut dyn FnMut(usize, u64),
    ) {
        let mut i = lo;
        while i < hi {
            match self.group_at(i, hi, inside) {
                Some(g) => {
                    let grp = &self.groups[g];
                    if unroll {
                        for _ in 0..grp.repeat {
                            self.walk(grp.first, grp.end(), Some(g), times, unroll, emit);
                        }
                    } else {
                        self.walk(grp.first, grp.end(), Some(g), times.saturating_mul(grp.repeat as u64), unroll, emit);
                    }
                    i = grp.end();
                }
                None => {
                    emit(i, times.saturating_mul(self.kernels[i].repeat as u64));
                    i += 1;
                }
            }
        }
    }

    /// Groups lie within the kernels, nest at most one level, and never overlap partly.
    fn check_groups(&self, ci: usize) -> Result<(), SpecError> {
        for (gi, g) in self.groups.iter().enumerate() {
            let at = |x: &str| format!("clients[{ci}].groups[{gi}].{x}");
            check_name(&g.name, &at("name"))?;
            if g.len == 0 || g.end() > self.kernels.len() {
                return Err(SpecError::new(at("kernels"), "a group holds one or more of the client's kernels"));
            }
            if !(1..=MAX_REPEAT).contains(&g.repeat) {
                return Err(SpecError::new(at("repeat"), format!("must be 1 to {MAX_REPEAT}")));
            }
            let mut depth = 0;
            for (oi, o) in self.groups.iter().enumerate() {
                if oi == gi {
                    continue;
                }
                let disjoint = o.end() <= g.first || g.end() <= o.first;
                if (o.first, o.len) == (g.first, g.len) || !(disjoint || o.contains(g) || g.contains(o)) {
                    return Err(SpecError::new(
                        at("kernels"),
                        format!("overlaps group `{}` without nesting in it", o.name),
                    ));
                }
                depth += o.contains(g) as usize;
            }
            if depth > 1 {
                return Err(SpecError::new(at("kernels"), "groups nest one level deep at most"));
            }
        }
        Ok(())
    }
}

/// What runs.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSpec {
    pub name: String,
    pub seed: u64,
    /// Simulated-time horizon.
    pub duration_s: f64,
    pub clients: Vec<ClientSpec>,
}

/// How the clients of one partition share it. Each mode's rules live in `sharing/<mode>.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sharing {
    /// One client alone on the partition.
    Dedicated,
    /// All clients are streams of one process (one context).
    Streams,
    /// One context per client; the partition runs one at a time.
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

/// What part of a GPU a partition owns. The SMs, memory slices and placements a MIG profile
/// takes come from the GPU profile's table (`[partitioning.mig]`); [`crate::partition`] checks
/// the rules and resolves each slice to SMs and a DRAM pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slice {
    /// The whole GPU: alone on it.
    Whole,
    /// A fixed SM partition (green context, MPS static partition): `count` SMs of its own, in
    /// the GPU's granularity, starting at `first` or at the lowest free SM; DRAM bandwidth,
    /// capacity and the power budget stay shared with the GPU's other partitions.
    Sms { first: Option<u32>, count: u32 },
    /// A MIG GPU instance of a profile the GPU's table names (`3g.40gb`), at placement `start`
    /// (in memory slices) or the first free one: its own SMs, DRAM bandwidth, capacity and L2.
    Mig { profile: String, start: Option<u32> },
}

impl Slice {
    /// How reports and layout labels name it.
    pub fn label(&self) -> String {
        match self {
            Slice::Whole => "whole GPU".into(),
            Slice::Sms { count, .. } => format!("{count} SMs"),
            Slice::Mig { profile, .. } => profile.clone(),
        }
    }
}

/// A client in a partition, with what its sharing mode needs to know about it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Member {
    /// Index into [`WorkloadSpec::clients`].
    pub client: usize,
    /// MPS only: CUDA_MPS_ACTIVE_THREAD_PERCENTAGE.
    pub mps_thread_percentage: Option<f64>,
}

/// SMs and memory that some clients share in one way.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    pub slice: Slice,
    pub sharing: Sharing,
    pub members: Vec<Member>,
}

/// One GPU and its partitions (disjoint SMs).
#[derive(Debug, Clone, PartialEq)]
pub struct GpuLayout {
    pub partitions: Vec<Partition>,
}

/// Where the clients run.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Name of the arrangement for reports (the scenario's `sharing`).
    pub label: String,
    pub gpus: Vec<GpuLayout>,
}

impl Layout {
    /// The layout a scenario's `sharing` implies: one whole GPU shared in that mode, or, for
    /// `dedicated`, one GPU per client. `mps_percentages[i]` belongs to client i.
    pub fn whole_gpu(sharing: Sharing, mps_percentages: &[Option<f64>]) -> Layout {
        let member = |client: usize| Member { client, mps_thread_percentage: mps_percentages[client] };
        let whole = |sharing, members| Partition { slice: Slice::Whole, sharing, members };
        let gpus = match sharing {
            Sharing::Dedicated => (0..mps_percentages.len())
                .map(|c| GpuLayout { partitions: vec![whole(Sharing::Dedicated, vec![member(c)])] })
                .collect(),
            s => vec![GpuLayout { partitions: vec![whole(s, (0..mps_percentages.len()).map(member).collect())] }],
        };
        Layout { label: sharing.as_str().to_string(), gpus }
    }

    /// The GPUs (indices) client `c` runs on: one, or its tensor-parallel ranks'.
    pub fn gpus_of(&self, c: usize) -> Vec<usize> {
        let on = |g: &GpuLayout| g.partitions.iter().any(|p| p.members.iter().any(|m| m.client == c));
        (0..self.gpus.len()).filter(|&g| on(&self.gpus[g])).collect()
    }

    /// The reference of slowdown attribution: each of `clients` alone on whole GPUs of its own,
    /// as many as it spans here (a tensor-parallel client keeps its ranks).
    pub fn alone(&self, clients: usize) -> Layout {
        let mut gpus = Vec::new();
        for c in 0..clients {
            for _ in 0..self.gpus_of(c).len().max(1) {
                let member = Member { client: c, mps_thread_percentage: None };
                gpus.push(GpuLayout {
                    partitions: vec![Partition {
                        slice: Slice::Whole,
                        sharing: Sharing::Dedicated,
                        members: vec![member],
                    }],
                });
            }
        }
        Layout { label: Sharing::Dedicated.as_str().to_string(), gpus }
    }
}

/// A value the engine cannot take, with the scenario-format path of the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// `clients[1].kernels[0].block`; empty when no single field is at fault.
    pub path: String,
    pub message: String,
}

impl SpecError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> SpecError {
        SpecError { path: path.into(), message: message.into() }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "field `{}`: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for SpecError {}

fn finite_in(v: f64, lo: f64, hi: f64) -> bool {
    v.is_finite() && v >= lo && v <= hi
}

impl WorkloadSpec {
    /// Checks every value that needs no GPU profile.
    pub fn check(&self) -> Result<(), SpecError> {
        if !finite_in(self.duration_s, MIN_DURATION_S, MAX_DURATION_S) {
            return Err(SpecError::new(
                "duration_s",
                format!("must be a number of seconds from {MIN_DURATION_S:e} to {MAX_DURATION_S:e}"),
            ));
        }
        if self.clients.is_empty() {
            return Err(SpecError::new("clients", "at least one client is needed"));
        }
        check_name(&self.name, "name")?;
        let mut names = std::collections::BTreeSet::new();
        for (ci, c) in self.clients.iter().enumerate() {
            c.check(ci)?;
            if !names.insert(c.name.trim()) {
                return Err(SpecError::new(format!("clients[{ci}].name"), "client names must be non-empty and unique"));
            }
        }
        Ok(())
    }
}

impl ClientSpec {
    fn check(&self, ci: usize) -> Result<(), SpecError> {
        let f = |x: &str| format!("clients[{ci}].{x}");
        check_name(&self.name, &f("name"))?;
        check_name(&self.unit, &f("unit"))?;
        match self.arrivals {
            Arrivals::ClosedLoop { think_us } => host_time(think_us, &f("think_us"))?,
            Arrivals::Poisson { rate_per_s } => {
                if !(rate_per_s.is_finite() && rate_per_s > 0.0 && rate_per_s <= MAX_ARRIVAL_RATE) {
                    return Err(SpecError::new(
                        f("arrival_rate_per_s"),
                        format!("must be a positive rate of at most {MAX_ARRIVAL_RATE:e} per second"),
                    ));
                }
            }
        }
        if !(self.units_per_request.is_finite() && self.units_per_request > 0.0 && self.units_per_request <= 1e15) {
            return Err(SpecError::new(f("units_per_request"), "must be positive, at most 1e15"));
        }
        if self.requests == Some(0) {
            return Err(SpecError::new(f("requests"), "must be at least 1 (omit it to run until the horizon)"));
        }
        if let Some(n) = self.requests {
            if self.warmup_requests >= n {
                return Err(SpecError::new(
                    f("warmup_requests"),
                    format!("must be less than requests ({n}), or no request would be measured"),
                ));
            }
        }
        if self.kernels.is_empty() {
            return Err(SpecError::new(f("kernels"), "a client needs at least one kernel"));
        }
        for (ki, k) in self.kernels.iter().enumerate() {
            k.check(&format!("clients[{ci}].kernels[{ki}]"))?;
        }
        self.check_groups(ci)?;
        let launches = self.launches_per_request();
        if launches > MAX_LAUNCHES_PER_REQUEST {
            return Err(SpecError::new(
                f("kernels"),
                format!(
                    "{launches} launches per request (kernels times repeat, groups times theirs); \
                     at most {MAX_LAUNCHES_PER_REQUEST}"
                ),
            ));
        }
        Ok(())
    }
}

impl KernelSpec {
    fn check(&self, at: &str) -> Result<(), SpecError> {
        let g = |x: &str| format!("{at}.{x}");
        check_name(&self.name, &g("name"))?;
        if !(1..=MAX_GRID).contains(&self.grid) {
            return Err(SpecError::new(g("grid"), "must be 1 to 2^40 blocks (a number or [x, y, z])"));
        }
        if self.threads_per_block == 0 {
            return Err(SpecError::new(g("block"), "must be a positive thread count (a number or [x, y, z])"));
        }
        if !(1..=MAX_REPEAT).contains(&self.repeat) {
            return Err(SpecError::new(g("repeat"), format!("must be 1 to {MAX_REPEAT}")));
        }
        if let Some(h) = self.host_gap_us {
            host_time(h, &g("host_gap_us"))?;
        }
        let w = &self.per_block;
        for (name, v) in [
            ("flops", w.flops),
            ("dram_bytes", w.dram_bytes),
            ("instructions", w.instructions),
            ("link_bytes", w.link_bytes),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(SpecError::new(g(name), "must be a finite number >= 0"));
            }
        }
        if let Some(s) = w.dram_write_share {
            if !(0.0..=1.0).contains(&s) {
                return Err(SpecError::new(g("dram_write_share"), "must be a share from 0 to 1"));
            }
        }
        Ok(())
    }
}

/// Names and units appear in tables and traces: printable, non-empty, at most 200 characters.
fn check_name(name: &str, path: &str) -> Result<(), SpecError> {
    if name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(SpecError::new(
            path,
            "must be non-empty, printable (no tabs or newlines) and at most 200 characters",
        ));
    }
    Ok(())
}

fn host_time(v: f64, path: &str) -> Result<(), SpecError> {
    if finite_in(v, 0.0, MAX_HOST_US) {
        Ok(())
    } else {
        Err(SpecError::new(path, format!("must be a number of microseconds from 0 to {MAX_HOST_US:e} (1e6 s)")))
    }
}

impl Layout {
    /// Checks the layout against the workload: every client in one partition, or (tensor
    /// parallel) in one partition on each of several GPUs, where its collectives join the
    /// ranks; per-mode rules. What a slice may be on a GPU (SM counts, MIG placements) needs the GPU profile:
    /// [`crate::partition::resolve`] checks it.
    pub fn check(&self, w: &WorkloadSpec) -> Result<(), SpecError> {
        // The last GPU each client was seen on.
        let mut seen: Vec<Option<usize>> = vec![None; w.clients.len()];
        if self.gpus.is_empty() {
            return Err(SpecError::new("gpus", "a layout needs at least one GPU"));
        }
        for (gi, g) in self.gpus.iter().enumerate() {
            if g.partitions.is_empty() {
                return Err(SpecError::new(format!("gpus[{gi}].partitions"), "a GPU needs at least one partition"));
            }
            for (pi, p) in g.partitions.iter().enumerate() {
                let at = format!("gpus[{gi}].partitions[{pi}]");
                if p.members.is_empty() {
                    return Err(SpecError::new(format!("{at}.clients"), "a partition needs at least one client"));
                }
                for m in &p.members {
                    if m.client >= w.clients.len() {
                        return Err(SpecError::new(format!("{at}.clients"), format!("no client {}", m.client)));
                    }
                    if seen[m.client].replace(gi) == Some(gi) {
                        return Err(SpecError::new(
                            format!("{at}.clients"),
                            format!(
                                "client `{}` is in two partitions of one GPU (a client runs in one partition, \
                                 or tensor-parallel in one on each of several GPUs)",
                                w.clients[m.client].name
                            ),
                        ));
                    }
                }
                crate::sharing::check_partition(p)?;
            }
        }
        if let Some(c) = seen.iter().position(Option::is_none) {
            return Err(SpecError::new(format!("clients[{c}]"), "this client is in no partition of the layout"));
        }
        Ok(())
    }
}
