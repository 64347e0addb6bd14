//! GPU profiles: datasheet and calibrated parameters, each tagged with where it came from.
//!
//! A profile is TOML. Every parameter is `{ value = ..., source = "key" }` and every key names an
//! entry of the `[sources]` table (a datasheet, a documented default, or a calibration run with
//! GPU, driver, date and command).

use crate::input_error::InputError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest number a profile may state: far beyond any GPU, small enough that no sum overflows.
pub const MAX_PROFILE_NUMBER: f64 = 1.0e12;

/// Longest time a profile may state (slice, switch, launch costs, control period), in microseconds.
pub const MAX_PROFILE_TIME_US: f64 = 1.0e9;

/// One parameter and the key of its source in `[sources]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Param<T> {
    pub value: T,
    pub source: String,
}

impl<T: Copy> Param<T> {
    pub fn get(&self) -> T {
        self.value
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuProfile {
    /// Short name used by scenarios (`gpu = "h100-sxm"`).
    pub name: String,
    pub product: String,
    pub sm: SmLimits,
    pub rates: SmRates,
    pub clock: ClockParams,
    pub memory: MemoryParams,
    pub launch: LaunchParams,
    pub sharing: SharingParams,
    pub power: PowerParams,
    /// Hard partitions the GPU offers (MIG instances, fixed SM partitions); absent: none stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitioning: Option<Partitioning>,
    /// The link to peer GPUs that tensor-parallel collectives use (NVLink, or PCIe without it);
    /// absent: none stated, and no client may span GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkParams>,
    /// Source key -> description (datasheet, default with reasoning, or calibration provenance).
    pub sources: BTreeMap<String, String>,
}

/// Per-SM limits, as the CUDA occupancy calculator uses them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmLimits {
    pub count: Param<u32>,
    pub compute_capability: Param<String>,
    pub max_threads: Param<u32>,
    pub max_warps: Param<u32>,
    pub max_blocks: Param<u32>,
    pub registers: Param<u32>,
    pub max_regs_per_thread: Param<u32>,
    /// Registers are allocated per warp in units of this many.
    pub reg_alloc_unit: Param<u32>,
    pub max_threads_per_block: Param<u32>,
    pub smem_max_kb: Param<u32>,
    pub smem_per_block_max_kb: Param<u32>,
    /// Shared-memory carve-out sizes the SM can be configured to.
    pub smem_carveout_steps_kb: Param<Vec<u32>>,
    pub smem_reserved_per_block_bytes: Param<u32>,
}

/// Peak per-SM arithmetic rates per clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmRates {
    pub fp32_flops_per_clk: Param<f64>,
    pub fp16_tensor_flops_per_clk: Param<f64>,
    pub bf16_tensor_flops_per_clk: Param<f64>,
    /// 0 where the architecture has no FP8 tensor cores.
    pub fp8_tensor_flops_per_clk: Param<f64>,
    pub int32_ops_per_clk: Param<f64>,
    /// Warp instructions one SM can issue per clock (one per warp scheduler).
    pub warp_instructions_per_clk: Param<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockParams {
    pub max_sm_mhz: Param<f64>,
    /// Lowest clock the power controller may set.
    pub min_sm_mhz: Param<f64>,
    pub step_mhz: Param<f64>,
    pub period_ms: Param<f64>,
    /// Proportional part of the controller: over the limit, the clock drops by
    /// gain x (excess power / limit) x max clock, rounded to whole steps (at least one).
    pub gain: Param<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryParams {
    pub capacity_gb: Param<f64>,
    pub peak_bw_gbs: Param<f64>,
    /// What kernels actually reach GPU-wide (bytes read + written), measured with a copy (half
    /// read, half written).
    pub achievable_bw_gbs: Param<f64>,
    /// What a read-only stream reaches GPU-wide. HBM turns its bus around between reads and
    /// writes, so a copy's mix gets less; with this and the copy's figure, a kernel's bandwidth
    /// follows its share of written bytes.
    pub read_bw_gbs: Param<f64>,
    /// What one SM can pull at the maximum clock (outstanding requests / latency).
    pub per_sm_bw_gbs: Param<f64>,
    /// What one resident thread can pull at the maximum clock (Little's law: the bytes a thread
    /// keeps in flight over DRAM latency), so a block of few threads gets less than the SM's cap.
    pub per_thread_bw_gbs: Param<f64>,
    pub l2_mb: Param<f64>,
    /// L2 bandwidth (read + written) for data that stays in L2. Recorded; the engine does not model L2 yet.
    pub l2_bw_gbs: Param<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchParams {
    /// Host CPU time of one kernel launch call.
    pub host_launch_us: Param<f64>,
    /// From the launch call until the kernel can start on an idle GPU.
    pub launch_latency_us: Param<f64>,
    /// Extra launch latency when the launch travels through the MPS server.
    pub mps_extra_latency_us: Param<f64>,
    /// Extra host CPU time of one launch call made by an MPS client (negative where the MPS
    /// client's call is cheaper); added to every host gap of an MPS client.
    pub mps_host_launch_extra_us: Param<f64>,
    /// Shortest time a block takes, however little work it has.
    pub block_min_us: Param<f64>,
    /// From the end of a kernel to the start of the next one already queued in the same stream
    /// (the front end fetching and launching it); 0 where it is folded into `block_min_us`.
    pub stream_gap_us: Param<f64>,
    /// The same between kernels of a CUDA graph.
    pub graph_gap_us: Param<f64>,
    /// Time a tensor-core block spends beside its work: filling its load pipeline before the
    /// first MMA and draining its epilogue after the last (sm90 TMA/wgmma GEMM and attention
    /// kernels). Added to each block of a tensor-core kernel; fitted by the `gemm_latency` step.
    pub tensor_block_latency_us: Param<f64>,
    /// Time per block the block scheduler needs to dispatch a wide grid. Recorded; not modelled yet.
    pub block_dispatch_ns: Param<f64>,
}

/// Mechanism parameters of sharing (docs/design.md, phenomenon 1; time-slicing; MPS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharingParams {
    /// Resident warps (on one SM) needed to use all of its issue slots.
    pub warps_to_saturate_issue: Param<f64>,
    /// The same for tensor-core work (a warp per sub-partition can keep the tensor cores busy).
    pub tensor_warps_to_saturate_issue: Param<f64>,
    /// Share of an SM's issue slots that another MPS client's warps get beside a saturating incumbent.
    pub cross_client_min_issue_share: Param<f64>,
    /// The same for a newer kernel of the same process (another stream, or the next kernel).
    pub in_context_min_issue_share: Param<f64>,
    /// Shared memory (with its per-block reservation) a block may still get beside residents
    /// whose carve-out is fixed.
    pub carveout_slack_bytes: Param<u32>,
    /// Across MPS clients the carve-out chosen by resident blocks stays fixed until they leave.
    pub carveout_locked_across_clients: Param<bool>,
    /// Within one context the carve-out stays fixed too (false: it grows to fit co-resident blocks).
    pub carveout_locked_in_context: Param<bool>,
    pub timeslice_us: Param<f64>,
    pub context_switch_us: Param<f64>,
    /// MPS rounds a client's SM cap down to a multiple of this.
    pub mps_sm_granularity: Param<u32>,
    /// ... and never below this many SMs.
    pub mps_min_sms: Param<u32>,
}

/// The GPU's link to its peers, as collectives see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkParams {
    /// What it is (`nvlink4`, `pcie4-x16`), for reports.
    pub kind: String,
    /// Bytes per second one GPU sends to its peers, GB/s (one direction; it receives as much).
    pub bw_gbs: Param<f64>,
    /// A collective's fixed time beside its bytes (handshake across ranks, protocol steps), us.
    pub latency_us: Param<f64>,
}

/// Hard partitions: fixed SM partitions (green contexts, MPS static partitioning) and MIG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partitioning {
    /// A fixed SM partition holds a multiple of this many SMs ...
    pub sm_granularity: Param<u32>,
    /// ... and at least this many.
    pub sm_min: Param<u32>,
    pub mig: MigTable,
}

/// The MIG GPU-instance profiles of a GPU (`nvidia-smi mig -lgip` / `-lgipp`), one source for
/// the whole table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigTable {
    /// Whether the GPU has MIG at all (false: the RTX 4090, L40S, L4).
    pub supported: bool,
    /// Key in `[sources]`.
    pub source: String,
    #[serde(default)]
    pub compute_slices: u32,
    /// Memory slices; placements count in them, and each carries this share of DRAM bandwidth.
    #[serde(default)]
    pub memory_slices: u32,
    #[serde(default)]
    pub profiles: Vec<MigProfile>,
}

/// One GPU-instance profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigProfile {
    /// As nvidia-smi names it, without "MIG " (`3g.40gb`, `1g.10gb+me`).
    pub name: String,
    pub compute_slices: u32,
    /// Size of each placement, in memory slices.
    pub memory_slices: u32,
    pub sms: u32,
    pub memory_gib: f64,
    pub copy_engines: u32,
    pub max_instances: u32,
    /// Placement starts, in memory slices.
    pub starts: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerParams {
    pub limit_w: Param<f64>,
    /// The instantaneous power the fast limiter holds within a controller period (the SMs' real
    /// clock drops below the controller's to stay under it).
    pub fast_limit_w: Param<f64>,
    pub idle_w: Param<f64>,
    /// Per SM that holds at least one block, at the maximum clock and voltage.
    pub sm_active_w: Param<f64>,
    /// Per SM whose issue slots are fully busy with FP32/INT work, at the maximum clock and voltage.
    pub fp32_busy_w: Param<f64>,
    /// Per SM fully busy with tensor-core work, at the maximum clock and voltage.
    pub tensor_busy_w: Param<f64>,
    /// DRAM and its interface, per TB/s moved.
    pub dram_w_per_tbs: Param<f64>,
    /// Core voltage at the minimum clock relative to the maximum clock's (linear V-f curve).
    pub v_min_ratio: Param<f64>,
}

impl SmRates {
    /// Peak operations per clock of one SM for work of kind `op`.
    pub fn per_clk(&self, op: crate::spec::OpKind) -> f64 {
        use crate::spec::OpKind::*;
        match op {
            Fp32 => self.fp32_flops_per_clk.value,
            Fp16Tensor => self.fp16_tensor_flops_per_clk.value,
            Bf16Tensor => self.bf16_tensor_flops_per_clk.value,
            Fp8Tensor => self.fp8_tensor_flops_per_clk.value,
            Int32 => self.int32_ops_per_clk.value,
        }
    }
}

impl MemoryParams {
    /// What a written byte costs of a DRAM pool counted in read bytes: `2 x read / achievable - 1`,
    /// so that a copy's mix (half read, half written) moves the achievable bandwidth.
    pub fn write_cost(&self) -> f64 {
        2.0 * self.read_bw_gbs.value / self.achievable_bw_gbs.value - 1.0
    }
}

impl GpuProfile {
    /// Parses and checks a profile. `file` is only used in error messages.
    pub fn from_toml(file: &str, text: &str) -> Result<GpuProfile, InputError> {
        let p: GpuProfile = toml::from_str(text).map_err(|e| InputError::from_toml(file, text, &e))?;
        p.check().map_err(|(field, msg)| {
            let span = find_path_span(text, &field);
            InputError::new(file, text, span, &field, msg)
        })?;
        Ok(p)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    pub fn sm_count(&self) -> u32 {
        self.sm.count.value
    }

    /// Whether any parameter comes from a calibration run (a source whose description
    /// `simgpu calibrate` wrote: it starts "simgpu calibrate on <GPU>"), and that run's date
    /// (the first YYYY-MM-DD in it).
    pub fn calibration(&self) -> Option<Option<String>> {
        let keys: std::collections::BTreeSet<&str> = self
            .source_keys()
            .into_iter()
            .map(|(_, k)| k)
            .filter(|k| self.sources.get(*k).is_some_and(|d| d.starts_with("simgpu calibrate")))
            .collect();
        if keys.is_empty() {
            return None;
        }
        Some(keys.iter().find_map(|k| self.sources.get(*k).and_then(|d| first_date(d))))
    }

    /// Checks ranges and that every source key is defined. Returns (field, message).
    fn check(&self) -> Result<(), (String, String)> {
        let s = &self.sm;
        let positive_u32 = [
            ("sm.count", &s.count),
            ("sm.max_threads", &s.max_threads),
            ("sm.max_warps", &s.max_warps),
            ("sm.max_blocks", &s.max_blocks),
            ("sm.registers", &s.registers),
            ("sm.max_regs_per_thread", &s.max_regs_per_thread),
            ("sm.reg_alloc_unit", &s.reg_alloc_unit),
            ("sm.max_threads_per_block", &s.max_threads_per_block),
            ("sm.smem_max_kb", &s.smem_max_kb),
            ("sm.smem_per_block_max_kb", &s.smem_per_block_max_kb),
            ("sharing.mps_sm_granularity", &self.sharing.mps_sm_granularity),
        ];
        for (name, p) in positive_u32 {
            if p.value == 0 {
                return Err((name.into(), "must be positive".into()));
            }
        }
        // Upper bounds well beyond any GPU, so that occupancy products fit in 32 bits.
        let at_most_u32 = [
            ("sm.max_threads", s.max_threads.value, 1 << 13),
            ("sm.max_warps", s.max_warps.value, 1 << 8),
            ("sm.max_blocks", s.max_blocks.value, 1 << 8),
            ("sm.registers", s.registers.value, 1 << 20),
            ("sm.max_regs_per_thread", s.max_regs_per_thread.value, 1 << 10),
            ("sm.reg_alloc_unit", s.reg_alloc_unit.value, 1 << 12),
            ("sm.max_threads_per_block", s.max_threads_per_block.value, 1 << 13),
            ("sm.smem_max_kb", s.smem_max_kb.value, 1 << 12),
            ("sm.smem_per_block_max_kb", s.smem_per_block_max_kb.value, s.smem_max_kb.value),
            ("sm.smem_reserved_per_block_bytes", s.smem_reserved_per_block_bytes.value, 1 << 16),
            ("sharing.carveout_slack_bytes", self.sharing.carveout_slack_bytes.value, 1 << 20),
            ("sharing.mps_sm_granularity", self.sharing.mps_sm_granularity.value, s.count.value),
            ("sharing.mps_min_sms", self.sharing.mps_min_sms.value, s.count.value),
        ];
        for (name, v, max) in at_most_u32 {
            if v > max {
                return Err((name.into(), format!("{v} is out of range (at most {max})")));
            }
        }
        if s.count.value > crate::sm_set::MAX_SMS as u32 {
            return Err(("sm.count".into(), format!("at most {} SMs are supported", crate::sm_set::MAX_SMS)));
        }
        // Every number is finite and none is negative; those below must also be positive.
        let (r, m, l, pw) = (&self.rates, &self.memory, &self.launch, &self.power);
        let non_negative_f64 = [
            ("rates.fp16_tensor_flops_per_clk", &r.fp16_tensor_flops_per_clk),
            ("rates.bf16_tensor_flops_per_clk", &r.bf16_tensor_flops_per_clk),
            ("rates.fp8_tensor_flops_per_clk", &r.fp8_tensor_flops_per_clk),
            ("rates.int32_ops_per_clk", &r.int32_ops_per_clk),
            ("memory.capacity_gb", &m.capacity_gb),
            ("memory.peak_bw_gbs", &m.peak_bw_gbs),
            ("memory.l2_mb", &m.l2_mb),
            ("memory.l2_bw_gbs", &m.l2_bw_gbs),
            ("launch.host_launch_us", &l.host_launch_us),
            ("launch.launch_latency_us", &l.launch_latency_us),
            ("launch.mps_extra_latency_us", &l.mps_extra_latency_us),
            ("launch.block_dispatch_ns", &l.block_dispatch_ns),
            ("launch.tensor_block_latency_us", &l.tensor_block_latency_us),
            ("launch.stream_gap_us", &l.stream_gap_us),
            ("launch.graph_gap_us", &l.graph_gap_us),
            ("sharing.context_switch_us", &self.sharing.context_switch_us),
            ("power.idle_w", &pw.idle_w),
            ("power.sm_active_w", &pw.sm_active_w),
            ("power.fp32_busy_w", &pw.fp32_busy_w),
            ("power.tensor_busy_w", &pw.tensor_busy_w),
            ("power.dram_w_per_tbs", &pw.dram_w_per_tbs),
        ];
        for (name, p) in non_negative_f64 {
            if !(p.value.is_finite() && (0.0..=MAX_PROFILE_NUMBER).contains(&p.value)) {
                return Err((name.into(), format!("must be a number from 0 to {MAX_PROFILE_NUMBER:e}")));
            }
        }
        if !(pw.v_min_ratio.value.is_finite() && pw.v_min_ratio.value > 0.0 && pw.v_min_ratio.value <= 1.0) {
            return Err(("power.v_min_ratio".into(), "must lie in (0, 1]".into()));
        }
        let positive_f64 = [
            ("rates.fp32_flops_per_clk", &self.rates.fp32_flops_per_clk),
            ("rates.warp_instructions_per_clk", &self.rates.warp_instructions_per_clk),
            ("clock.max_sm_mhz", &self.clock.max_sm_mhz),
            ("clock.min_sm_mhz", &self.clock.min_sm_mhz),
            ("clock.step_mhz", &self.clock.step_mhz),
            ("clock.period_ms", &self.clock.period_ms),
            ("memory.achievable_bw_gbs", &self.memory.achievable_bw_gbs),
            ("memory.read_bw_gbs", &self.memory.read_bw_gbs),
            ("memory.per_sm_bw_gbs", &self.memory.per_sm_bw_gbs),
            ("memory.per_thread_bw_gbs", &self.memory.per_thread_bw_gbs),
            ("launch.block_min_us", &self.launch.block_min_us),
            ("sharing.warps_to_saturate_issue", &self.sharing.warps_to_saturate_issue),
            ("sharing.tensor_warps_to_saturate_issue", &self.sharing.tensor_warps_to_saturate_issue),
            ("sharing.timeslice_us", &self.sharing.timeslice_us),
            ("power.limit_w", &self.power.limit_w),
            ("power.fast_limit_w", &self.power.fast_limit_w),
        ];
        for (name, p) in positive_f64 {
            if !(p.value.is_finite() && p.value > 0.0 && p.value <= MAX_PROFILE_NUMBER) {
                return Err((name.into(), format!("must be a positive number, at most {MAX_PROFILE_NUMBER:e}")));
            }
        }
        // A written byte costs (2 x read / copy - 1) read bytes' time: positive only above half.
        if self.memory.read_bw_gbs.value <= 0.5 * self.memory.achievable_bw_gbs.value {
            return Err((
                "memory.read_bw_gbs".into(),
                format!(
                    "must exceed half of memory.achievable_bw_gbs ({}): a copy moves half its bytes as reads",
                    self.memory.achievable_bw_gbs.value
                ),
            ));
        }
        if self.power.fast_limit_w.value < self.power.limit_w.value {
            return Err((
                "power.fast_limit_w".into(),
                format!(
                    "must be at least power.limit_w ({}): the fast limiter holds instantaneous power above the average the slow one holds",
                    self.power.limit_w.value
                ),
            ));
        }
        // Times the engine adds to the clock: bounded, so that sums of them cannot wrap (1e9 us is
        // 1,000 s, far beyond any real slice, switch or launch; u64 nanoseconds hold 1.8e13 s).
        let times_us = [
            ("sharing.timeslice_us", self.sharing.timeslice_us.value),
            ("sharing.context_switch_us", self.sharing.context_switch_us.value),
            ("launch.host_launch_us", self.launch.host_launch_us.value),
            ("launch.launch_latency_us", self.launch.launch_latency_us.value),
            ("launch.mps_extra_latency_us", self.launch.mps_extra_latency_us.value),
            ("launch.block_min_us", self.launch.block_min_us.value),
            ("launch.tensor_block_latency_us", self.launch.tensor_block_latency_us.value),
            ("launch.stream_gap_us", self.launch.stream_gap_us.value),
            ("launch.graph_gap_us", self.launch.graph_gap_us.value),
        ];
        for (name, us) in times_us {
            if !(us.is_finite() && (0.0..=MAX_PROFILE_TIME_US).contains(&us)) {
                return Err((name.into(), format!("must be a time from 0 to {MAX_PROFILE_TIME_US:e} us")));
            }
        }
        // A signed difference: an MPS client's launch call may cost less than a plain one, never
        // less than nothing.
        let host = self.launch.host_launch_us.value;
        let extra = self.launch.mps_host_launch_extra_us.value;
        if !(extra.is_finite() && (-host..=MAX_PROFILE_TIME_US).contains(&extra)) {
            return Err((
                "launch.mps_host_launch_extra_us".into(),
                format!("must be from -launch.host_launch_us ({host}) to {MAX_PROFILE_TIME_US:e} us"),
            ));
        }
        let period_ms = self.clock.period_ms.value;
        if !(period_ms.is_finite() && period_ms * 1e3 <= MAX_PROFILE_TIME_US) {
            return Err((
                "clock.period_ms".into(),
                format!("must be a time of at most {:e} ms", MAX_PROFILE_TIME_US / 1e3),
            ));
        }
        // Clocks and rates beyond any GPU would overflow the statistics' sums.
        for (name, v) in [
            ("clock.max_sm_mhz", self.clock.max_sm_mhz.value),
            ("clock.min_sm_mhz", self.clock.min_sm_mhz.value),
            ("clock.step_mhz", self.clock.step_mhz.value),
        ] {
            if v > 1.0e5 {
                return Err((name.into(), format!("{v} MHz is out of range (at most 1e5)")));
            }
        }
        if !(self.clock.gain.value.is_finite() && self.clock.gain.value >= 0.0) {
            return Err(("clock.gain".into(), "must be a number >= 0".into()));
        }
        for (name, share) in [
            ("sharing.cross_client_min_issue_share", self.sharing.cross_client_min_issue_share.value),
            ("sharing.in_context_min_issue_share", self.sharing.in_context_min_issue_share.value),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err((name.into(), "must lie in [0, 1]".into()));
            }
        }
        if self.clock.min_sm_mhz.value > self.clock.max_sm_mhz.value {
            return Err(("clock.min_sm_mhz".into(), "must not exceed clock.max_sm_mhz".into()));
        }
        let steps = &s.smem_carveout_steps_kb.value;
        if steps.is_empty() || steps.windows(2).any(|w| w[0] >= w[1]) || steps.last() != Some(&s.smem_max_kb.value) {
            return Err((
                "sm.smem_carveout_steps_kb".into(),
                "must be strictly increasing and end at sm.smem_max_kb".into(),
            ));
        }
        if let Some(pt) = &self.partitioning {
            check_partitioning(pt, s.count.value)?;
        }
        if let Some(l) = &self.link {
            if !(l.bw_gbs.value.is_finite() && l.bw_gbs.value > 0.0) {
                return Err(("link.bw_gbs".into(), "must be a number > 0".into()));
            }
            if !(l.latency_us.value.is_finite() && l.latency_us.value >= 0.0) {
                return Err(("link.latency_us".into(), "must be a number >= 0".into()));
            }
        }
        for (name, src) in self.source_keys() {
            if !self.sources.contains_key(src) {
                return Err((format!("{name}.source"), format!("source `{src}` is not defined in [sources]")));
            }
        }
        Ok(())
    }

    /// (parameter name, source key) for every parameter.
    pub fn source_keys(&self) -> Vec<(&'static str, &str)> {
        let (s, r, c, m, l, sh, p) =
            (&self.sm, &self.rates, &self.clock, &self.memory, &self.launch, &self.sharing, &self.power);
        let mut keys = vec![
            ("sm.count", s.count.source.as_str()),
            ("sm.compute_capability", &s.compute_capability.source),
            ("sm.max_threads", &s.max_threads.source),
            ("sm.max_warps", &s.max_warps.source),
            ("sm.max_blocks", &s.max_blocks.source),
            ("sm.registers", &s.registers.source),
            ("sm.max_regs_per_thread", &s.max_regs_per_thread.source),
            ("sm.reg_alloc_unit", &s.reg_alloc_unit.source),
            ("sm.max_threads_per_block", &s.max_threads_per_block.source),
            ("sm.smem_max_kb", &s.smem_max_kb.source),
            ("sm.smem_per_block_max_kb", &s.smem_per_block_max_kb.source),
            ("sm.smem_carveout_steps_kb", &s.smem_carveout_steps_kb.source),
            ("sm.smem_reserved_per_block_bytes", &s.smem_reserved_per_block_bytes.source),
            ("rates.fp32_flops_per_clk", &r.fp32_flops_per_clk.source),
            ("rates.fp16_tensor_flops_per_clk", &r.fp16_tensor_flops_per_clk.source),
            ("rates.bf16_tensor_flops_per_clk", &r.bf16_tensor_flops_per_clk.source),
            ("rates.fp8_tensor_flops_per_clk", &r.fp8_tensor_flops_per_clk.source),
            ("rates.int32_ops_per_clk", &r.int32_ops_per_clk.source),
            ("rates.warp_instructions_per_clk", &r.warp_instructions_per_clk.source),
            ("clock.max_sm_mhz", &c.max_sm_mhz.source),
            ("clock.min_sm_mhz", &c.min_sm_mhz.source),
            ("clock.step_mhz", &c.step_mhz.source),
            ("clock.period_ms", &c.period_ms.source),
            ("clock.gain", &c.gain.source),
            ("memory.capacity_gb", &m.capacity_gb.source),
            ("memory.peak_bw_gbs", &m.peak_bw_gbs.source),
            ("memory.achievable_bw_gbs", &m.achievable_bw_gbs.source),
            ("memory.read_bw_gbs", &m.read_bw_gbs.source),
            ("memory.per_sm_bw_gbs", &m.per_sm_bw_gbs.source),
            ("memory.per_thread_bw_gbs", &m.per_thread_bw_gbs.source),
            ("memory.l2_mb", &m.l2_mb.source),
            ("memory.l2_bw_gbs", &m.l2_bw_gbs.source),
            ("launch.host_launch_us", &l.host_launch_us.source),
            ("launch.launch_latency_us", &l.launch_latency_us.source),
            ("launch.mps_extra_latency_us", &l.mps_extra_latency_us.source),
            ("launch.mps_host_launch_extra_us", &l.mps_host_launch_extra_us.source),
            ("launch.block_min_us", &l.block_min_us.source),
            ("launch.block_dispatch_ns", &l.block_dispatch_ns.source),
            ("launch.tensor_block_latency_us", &l.tensor_block_latency_us.source),
            ("launch.stream_gap_us", &l.stream_gap_us.source),
            ("launch.graph_gap_us", &l.graph_gap_us.source),
            ("sharing.warps_to_saturate_issue", &sh.warps_to_saturate_issue.source),
            ("sharing.tensor_warps_to_saturate_issue", &sh.tensor_warps_to_saturate_issue.source),
            ("sharing.cross_client_min_issue_share", &sh.cross_client_min_issue_share.source),
            ("sharing.in_context_min_issue_share", &sh.in_context_min_issue_share.source),
            ("sharing.carveout_slack_bytes", &sh.carveout_slack_bytes.source),
            ("sharing.mps_min_sms", &sh.mps_min_sms.source),
            ("sharing.carveout_locked_across_clients", &sh.carveout_locked_across_clients.source),
            ("sharing.carveout_locked_in_context", &sh.carveout_locked_in_context.source),
            ("sharing.timeslice_us", &sh.timeslice_us.source),
            ("sharing.context_switch_us", &sh.context_switch_us.source),
            ("sharing.mps_sm_granularity", &sh.mps_sm_granularity.source),
            ("power.limit_w", &p.limit_w.source),
            ("power.fast_limit_w", &p.fast_limit_w.source),
            ("power.idle_w", &p.idle_w.source),
            ("power.sm_active_w", &p.sm_active_w.source),
            ("power.fp32_busy_w", &p.fp32_busy_w.source),
            ("power.tensor_busy_w", &p.tensor_busy_w.source),
            ("power.dram_w_per_tbs", &p.dram_w_per_tbs.source),
            ("power.v_min_ratio", &p.v_min_ratio.source),
        ];
        if let Some(pt) = &self.partitioning {
            keys.push(("partitioning.sm_granularity", &pt.sm_granularity.source));
            keys.push(("partitioning.sm_min", &pt.sm_min.source));
            keys.push(("partitioning.mig", &pt.mig.source));
        }
        if let Some(l) = &self.link {
            keys.push(("link.bw_gbs", &l.bw_gbs.source));
            keys.push(("link.latency_us", &l.latency_us.source));
        }
        keys
    }
}

/// Ranges of the partitioning tables: every profile fits the GPU and the slice geometry.
fn check_partitioning(pt: &Partitioning, sm_count: u32) -> Result<(), (String, String)> {
    for (name, v) in
        [("partitioning.sm_granularity", pt.sm_granularity.value), ("partitioning.sm_min", pt.sm_min.value)]
    {
        if v == 0 || v > sm_count {
            return Err((name.into(), format!("must be 1 to sm.count ({sm_count})")));
        }
    }
    let m = &pt.mig;
    if !m.supported {
        if !m.profiles.is_empty() {
            return Err(("partitioning.mig.profiles".into(), "a GPU without MIG lists no MIG profiles".into()));
        }
        return Ok(());
    }
    for (name, v) in
        [("partitioning.mig.compute_slices", m.compute_slices), ("partitioning.mig.memory_slices", m.memory_slices)]
    {
        if !(1..=8).contains(&v) {
            return Err((name.into(), "must be 1 to 8".into()));
        }
    }
    if m.profiles.is_empty() {
        return Err(("partitioning.mig.profiles".into(), "a GPU with MIG lists its profiles".into()));
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, p) in m.profiles.iter().enumerate() {
        let at = |f: &str| format!("partitioning.mig.profiles[{i}].{f}");
        if p.name.trim().is_empty() || !names.insert(p.name.as_str()) {
            return Err((at("name"), "profile names must be non-empty and unique".into()));
        }
        if !(1..=m.compute_slices).contains(&p.compute_slices) {
            return Err((at("compute_slices"), format!("must be 1 to {}", m.compute_slices)));
        }
        if !(1..=m.memory_slices).contains(&p.memory_slices) {
            return Err((at("memory_slices"), format!("must be 1 to {}", m.memory_slices)));
        }
        if !(1..=sm_count).contains(&p.sms) {
            return Err((at("sms"), format!("must be 1 to sm.count ({sm_count})")));
        }
        if !(p.memory_gib.is_finite() && p.memory_gib > 0.0 && p.memory_gib <= MAX_PROFILE_NUMBER) {
            return Err((at("memory_gib"), "must be a positive number".into()));
        }
        if p.max_instances == 0 || p.starts.is_empty() {
            return Err((at("starts"), "a profile needs at least one placement and max_instances >= 1".into()));
        }
        if let Some(s) = p.starts.iter().find(|&&s| s.saturating_add(p.memory_slices) > m.memory_slices) {
            return Err((at("starts"), format!("a placement at {s} runs past memory slice {}", m.memory_slices)));
        }
    }
    Ok(())
}

/// The first YYYY-MM-DD in a text.
fn first_date(text: &str) -> Option<String> {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(9)).find_map(|i| {
        let w = &b[i..i + 10];
        let digits = |r: std::ops::Range<usize>| w[r].iter().all(u8::is_ascii_digit);
        let ok = digits(0..4) && w[4] == b'-' && digits(5..7) && w[7] == b'-' && digits(8..10);
        ok.then(|| text[i..i + 10].to_string())
    })
}

/// Byte span of the place that sets a dotted parameter path: `count = ...` under `[sm]`,
/// `sm.count = ...`, or the `value = ...` line of a `[sm.count]` table (else its header).
pub(crate) fn find_path_span(text: &str, path: &str) -> Option<std::ops::Range<usize>> {
    let mut table = String::new();
    let mut header = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        let start = offset + (line.len() - t.len());
        offset += line.len();
        if t.starts_with('[') {
            table = t.trim_start_matches('[').split(']').next().unwrap_or("").trim().to_string();
            if table == path {
                header = Some(start..start + t.trim_end().len());
            }
        } else if let Some((k, _)) = t.split_once('=') {
            let k = k.trim();
            let full = if table.is_empty() { k.to_string() } else { format!("{table}.{k}") };
            if full == path || (table == path && k == "value") {
                return Some(start..start + k.len());
            }
        }
    }
    header
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn h100_text() -> &'static str {
        include_str!("../../models/gpus/h100-sxm.toml")
    }

    pub fn h100() -> GpuProfile {
        GpuProfile::from_toml("h100-sxm.toml", h100_text()).unwrap()
    }

    #[test]
    fn bundled_profiles_parse() {
        for (name, text) in [
            ("h100-sxm", h100_text()),
            ("h200", include_str!("../../models/gpus/h200.toml")),
            ("rtx-4090", include_str!("../../models/gpus/rtx-4090.toml")),
            ("a100-sxm", include_str!("../../models/gpus/a100-sxm.toml")),
            ("l40s", include_str!("../../models/gpus/l40s.toml")),
            ("l4", include_str!("../../models/gpus/l4.toml")),
            ("h100-sxm", include_str!("../../models/gpus/h100-sxm.calibrated.toml")),
            ("h200", include_str!("../../models/gpus/h200.calibrated.toml")),
        ] {
            let p = GpuProfile::from_toml(name, text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.name, name);
        }
    }

    #[test]
    fn profile_round_trips() {
        let p = h100();
        let again = GpuProfile::from_toml("rt", &p.to_toml()).unwrap();
        assert_eq!(p, again);
    }

    #[test]
    fn fast_limit_below_the_limit_is_refused() {
        let text = h100_text().replacen("fast_limit_w = { value = 756.0", "fast_limit_w = { value = 600.0", 1);
        let e = GpuProfile::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(e.field, "power.fast_limit_w");
        assert!(e.message.contains("at least power.limit_w"), "{e}");
    }

    #[test]
    fn undefined_source_is_an_error() {
        let text = h100_text().replacen("source = \"datasheet\"", "source = \"nowhere\"", 1);
        let e = GpuProfile::from_toml("p.toml", &text).unwrap_err();
        assert!(e.message.contains("nowhere"), "{e}");
    }

    #[test]
    fn zero_sm_count_is_located() {
        let text = h100_text().replacen("count = { value = 132", "count = { value = 0", 1);
        let e = GpuProfile::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(e.field, "sm.count");
        assert!(e.line > 0);
    }
}
