//! Fluid progress of cohorts, recomputed at events.
//!
//! A block's compute advances at its share of its SM's issue slots times the peak rate of its
//! kind of work times the clock (or, where the scenario gives its warp instructions and they
//! take longer, at its share of the SM's instruction issue rate); its DRAM traffic at its share
//! of bandwidth: at most what its resident threads keep in flight (per-thread rate x threads),
//! capped per SM and shared GPU-wide. A block finishes when both are done (roofline: they overlap), and never
//! faster than the profile's minimum block time. A tensor-core block also spends a fixed latency
//! beside its work (its load pipeline filling before the first MMA, its epilogue draining after
//! the last): its rate r becomes 1 / (latency + 1 / r), the latency overlapping nothing.
//!
//! Issue share on one SM: demands are min(1, warps / warps_to_saturate). The incumbent (the
//! launch resident longest) is served first and newcomers get what it leaves, but at least
//! `in_context_min_issue_share` (same process) or `cross_client_min_issue_share` (another MPS
//! client) of the SM (docs/design.md, phenomenon 1). Within a class, slots are shared max-min fairly
//! in proportion to demand.

use crate::event_queue::Ns;
use crate::fair_share::{water_fill, Claim};
use crate::placement::{Cohorts, Group, Space};
use crate::profile::GpuProfile;
use crate::spec::OpKind;
use crate::workload::{GpuWorkload, Kernel};

/// Parameters of the progress model at the current clock.
#[derive(Debug, Clone, Copy)]
pub struct RateParams {
    /// SM clock in GHz (cycles per ns).
    pub clock_ghz: f64,
    pub fp32: f64,
    pub fp16_tensor: f64,
    pub bf16_tensor: f64,
    pub fp8_tensor: f64,
    pub int32: f64,
    /// Warp instructions an SM issues per clock (one per scheduler).
    pub warp_instructions_per_clk: f64,
    /// Per-SM DRAM cap at this clock, bytes per ns.
    pub per_sm_bw: f64,
    /// What one resident thread pulls at this clock, bytes per ns (Little's law).
    pub per_thread_bw: f64,
    pub block_min_ns: f64,
    pub warps_to_saturate: f64,
    pub tensor_warps_to_saturate: f64,
    pub cross_min_share: f64,
    pub in_context_min_share: f64,
}

/// The progress model's parameters bound from a profile, for any clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateBase {
    at_max: RateParams,
    max_mhz: f64,
    per_sm_bw_gbs: f64,
    per_thread_bw_gbs: f64,
}

impl RateBase {
    pub fn from_profile(g: &GpuProfile) -> RateBase {
        let max_mhz = g.clock.max_sm_mhz.value;
        let at_max = RateParams {
            clock_ghz: max_mhz / 1000.0,
            fp32: g.rates.fp32_flops_per_clk.value,
            fp16_tensor: g.rates.fp16_tensor_flops_per_clk.value,
            bf16_tensor: g.rates.bf16_tensor_flops_per_clk.value,
            fp8_tensor: g.rates.fp8_tensor_flops_per_clk.value,
            int32: g.rates.int32_ops_per_clk.value,
            warp_instructions_per_clk: g.rates.warp_instructions_per_clk.value,
            per_sm_bw: g.memory.per_sm_bw_gbs.value,
            per_thread_bw: g.memory.per_thread_bw_gbs.value,
            block_min_ns: g.launch.block_min_us.value * 1000.0,
            warps_to_saturate: g.sharing.warps_to_saturate_issue.value,
            tensor_warps_to_saturate: g.sharing.tensor_warps_to_saturate_issue.value,
            cross_min_share: g.sharing.cross_client_min_issue_share.value,
            in_context_min_share: g.sharing.in_context_min_issue_share.value,
        };
        RateBase {
            at_max,
            max_mhz,
            per_sm_bw_gbs: g.memory.per_sm_bw_gbs.value,
            per_thread_bw_gbs: g.memory.per_thread_bw_gbs.value,
        }
    }

    /// The parameters at an SM clock.
    pub fn at(&self, clock_mhz: f64) -> RateParams {
        let ratio = clock_mhz / self.max_mhz;
        RateParams {
            clock_ghz: clock_mhz / 1000.0,
            // Outstanding requests per SM are fixed, so its pull scales with the clock (assumed).
            per_sm_bw: self.per_sm_bw_gbs * ratio,
            per_thread_bw: self.per_thread_bw_gbs * ratio,
            ..self.at_max
        }
    }
}

impl RateParams {
    /// Peak operations per ns of one fully issued SM.
    pub fn peak_per_ns(&self, op: OpKind) -> f64 {
        let per_clk = match op {
            OpKind::Fp32 => self.fp32,
            OpKind::Fp16Tensor => self.fp16_tensor,
            OpKind::Bf16Tensor => self.bf16_tensor,
            OpKind::Fp8Tensor => self.fp8_tensor,
            OpKind::Int32 => self.int32,
        };
        per_clk * self.clock_ghz
    }

    /// Nanoseconds one block of `k` needs with a whole SM's issue slots to itself: its FLOPs at
    /// the peak rate of its kind, or its warp instructions at the issue rate, whichever is longer.
    pub fn full_sm_ns(&self, k: &Kernel) -> f64 {
        let peak = self.peak_per_ns(k.op);
        let by_flops = if peak > 0.0 { k.flops_per_block / peak } else { 0.0 };
        let by_instructions = k.instructions_per_block / (self.warp_instructions_per_clk * self.clock_ghz);
        by_flops.max(by_instructions)
    }
}

/// Scratch buffers reused across recomputations (no allocation once warm).
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    claims: Vec<Claim>,
    ids: Vec<u32>,
    /// Groups (space, group) whose cohorts handed issue slots back, for the second pass.
    second: Vec<(u32, u32)>,
    /// Numbers recomputations (marks groups already queued for the second pass).
    mark: u64,
    unsettled: Vec<u32>,
    /// Per kernel: `full_sm_ns` at the rate parameters of generation `.0` (two divisions saved
    /// per cohort and recomputation; the value is the same function of the same inputs).
    full_ns: Vec<(u64, f64)>,
}

impl Scratch {
    fn full_sm_ns(&mut self, w: &GpuWorkload, p: &RateParams, gen: u64, kernel: u32) -> f64 {
        let i = kernel as usize;
        if self.full_ns.len() <= i {
            self.full_ns.resize(w.kernels.len(), (0, 0.0));
        }
        let e = &mut self.full_ns[i];
        if e.0 != gen {
            *e = (gen, p.full_sm_ns(&w.kernels[i]));
        }
        e.1
    }
}

/// Splits one SM's issue slots among the residents of a group (writes `issue_alloc`).
/// The incumbent is the launch resident longest; the others are newcomers. The incumbent is
/// served first; newcomers get what it leaves, but at least the profile's newcomer share
/// (one value within a process, one across MPS clients).
fn share_issue(group: &Group, cohorts: &mut Cohorts, p: &RateParams, s: &mut Scratch) {
    let res = &group.residents;
    let Some(&first) = res.first() else { return };
    let (launch, process) = (cohorts.get(first).launch, cohorts.get(first).process);
    let is_incumbent = |c: &crate::placement::Cohort| c.launch == launch;
    let alloc_class = |s: &mut Scratch, cohorts: &mut Cohorts, class: Option<bool>, cap: f64| {
        s.claims.clear();
        s.ids.clear();
        for &r in res {
            let c = cohorts.get(r);
            if class.is_none_or(|inc| is_incumbent(c) == inc) {
                let d = c.shares.issue_demand;
                s.claims.push(Claim { demand: d, weight: d.max(1e-9), alloc: 0.0 });
                s.ids.push(r);
            }
        }
        water_fill(cap, &mut s.claims, &mut s.unsettled);
        for (&r, cl) in s.ids.iter().zip(&s.claims) {
            cohorts.get_mut(r).shares.issue_alloc = cl.alloc;
        }
    };
    if res.iter().all(|&r| is_incumbent(cohorts.get(r))) {
        alloc_class(s, cohorts, None, 1.0);
        return;
    }
    let cross = res.iter().any(|&r| cohorts.get(r).process != process);
    let floor = if cross { p.cross_min_share } else { p.in_context_min_share };
    let demand = |inc: bool, cohorts: &Cohorts| -> f64 {
        res.iter()
            .map(|&r| cohorts.get(r))
            .filter(|c| is_incumbent(c) == inc)
            .map(|c| c.shares.issue_demand)
            .sum::<f64>()
            .min(1.0)
    };
    let (d0, d1) = (demand(true, cohorts), demand(false, cohorts));
    let a1 = d1.min((1.0 - d0).max(floor));
    alloc_class(s, cohorts, Some(false), a1);
    alloc_class(s, cohorts, Some(true), (1.0 - a1).min(d0));
}

/// The per-SM shares of one group's residents, from their issue demands.
fn share_group(w: &GpuWorkload, g: &Group, cohorts: &mut Cohorts, p: &RateParams, gen: u64, s: &mut Scratch) {
    share_issue(g, cohorts, p, s);
    compute_bound_rates(w, g, cohorts, p, gen, s);
    share_sm_bandwidth(w, g, cohorts, p, s);
}

/// Recomputes `rate` of every live cohort. `running(space)` says whether a space's blocks run
/// now (time-slicing freezes the others), and `visit` lists every space that runs (others may
/// be listed too: they are skipped); `gen` numbers the rate parameters `p` (it changes when
/// they do).
///
/// Incremental, with the same results as computing everything afresh: a group's first-pass
/// shares depend only on its residents and `p`, so they are kept (`first_pass`) until either
/// changes; the bandwidth pools are shared afresh; a second pass redoes only the groups whose
/// cohorts handed issue slots back.
#[allow(clippy::too_many_arguments)]
pub fn recompute(
    w: &GpuWorkload,
    spaces: &mut [Space],
    visit: &[u32],
    cohorts: &mut Cohorts,
    p: &RateParams,
    gen: u64,
    running: &dyn Fn(u32) -> bool,
    s: &mut Scratch,
    now: Ns,
) -> Outcome {
    // Every cohort of a running space gets its rate from the bandwidth pass below; only those
    // of spaces switched out need a zero.
    let all_run = visit.len() == spaces.len() && visit.iter().all(|&v| running(v));
    if !all_run {
        for i in 0..cohorts.live.len() {
            let id = cohorts.live[i];
            cohorts.get_mut(id).rate = 0.0;
        }
    }
    // Each group's shares depend on its own residents only: the order spaces are visited in
    // does not matter.
    for &space in visit {
        if !running(space) {
            continue;
        }
        let sp = &mut spaces[space as usize];
        for g in sp.groups.iter_mut().filter(|g| g.alive && !g.residents.is_empty()) {
            if g.rates_gen == gen {
                copy_shares(g, cohorts, |c| c.shares = c.first_pass);
                continue;
            }
            // Warp-based issue demand.
            for &r in &g.residents {
                let c = cohorts.get_mut(r);
                let k = &w.kernels[c.kernel as usize];
                let saturate = if k.op.is_tensor() { p.tensor_warps_to_saturate } else { p.warps_to_saturate };
                c.shares.issue_demand = (c.blocks_per_sm as f64 * k.footprint.warps as f64 / saturate).min(1.0);
            }
            share_group(w, g, cohorts, p, gen, s);
            copy_shares(g, cohorts, |c| c.first_pass = c.shares);
            g.rates_gen = gen;
        }
    }
    share_pools(w, cohorts, running, s);
    // Memory-bound cohorts use fewer issue slots than they were given: hand them back to
    // co-resident cohorts (a second pass is needed only if some have neighbours).
    let mut shared = false;
    s.second.clear();
    s.mark += 1;
    for i in 0..cohorts.live.len() {
        let id = cohorts.live[i];
        let c = cohorts.get_mut(id);
        // Against the rate of its work alone (the latency is applied once, in the final rate),
        // and only where bandwidth took a real part of it: a rate a rounding below its issue
        // share's hands nothing back.
        let rate = if c.rate > 0.0 { c.work_rate } else { 0.0 };
        let sh = &mut c.shares;
        if rate > 0.0 && sh.r0 > 0.0 && rate < sh.r0 * (1.0 - 1e-9) {
            sh.issue_demand = sh.issue_demand.min(sh.issue_alloc * rate / sh.r0);
            let group = &mut spaces[c.space as usize].groups[c.group as usize];
            shared |= group.residents.len() > 1;
            if group.second_mark != s.mark {
                group.second_mark = s.mark;
                s.second.push((c.space, c.group));
            }
        }
    }
    if shared {
        // Only groups with a changed demand can change; the others would compute the same.
        for i in 0..s.second.len() {
            let (space, g) = s.second[i];
            let group = &mut spaces[space as usize].groups[g as usize];
            // The same demands as last time give the same shares.
            let same = |&r: &u32| {
                let c = cohorts.get(r);
                c.shares.issue_demand.to_bits() == c.second_pass.issue_demand.to_bits()
            };
            if group.second_gen == gen && group.rates_gen == gen && group.residents.iter().all(same) {
                copy_shares(group, cohorts, |c| c.shares = c.second_pass);
                continue;
            }
            share_group(w, group, cohorts, p, gen, s);
            copy_shares(group, cohorts, |c| c.second_pass = c.shares);
            group.second_gen = gen;
        }
        share_pools(w, cohorts, running, s);
    }
    // What the power model needs, and the next completion, in one pass (sums in live order).
    let mut out = Outcome::default();
    // The earliest completion's rounded-up delay, and below what a delay must be to beat it:
    // ceil(x) < d exactly when x <= d - 1, so most cohorts skip the rounding (exact while d - 1
    // is, below 2^52).
    let mut beat_below = f64::INFINITY;
    for i in 0..cohorts.live.len() {
        let id = cohorts.live[i];
        let c = cohorts.get_mut(id);
        let k = &w.kernels[c.kernel as usize];
        let full = s.full_sm_ns(w, p, gen, c.kernel);
        c.issue_used = (c.rate * full * c.blocks_per_sm as f64).min(1.0);
        c.dram_bytes_per_ns = c.rate * k.bytes_per_block * (c.blocks_per_sm * c.n_sms) as f64;
        if c.rate <= 0.0 {
            continue;
        }
        if k.op.is_tensor() {
            out.tensor_busy_sms += c.issue_used * c.n_sms as f64;
        } else {
            out.fp32_busy_sms += c.issue_used * c.n_sms as f64;
        }
        out.dram_gbs += c.dram_bytes_per_ns;
        let x = c.remaining / c.rate;
        if x <= beat_below || x.is_nan() {
            let d = ceil_ns(x);
            if out.next.is_none_or(|(nt, _)| now + d < nt) {
                out.next = Some((now + d, id));
                beat_below = if d < 1 << 52 { d as f64 - 1.0 } else { f64::INFINITY };
            }
        }
    }
    out
}

/// What a recomputation gives the engine: issue slots used (SMs' worth) by tensor and by other
/// work, DRAM GB/s, and the next completion (time, cohort).
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    pub tensor_busy_sms: f64,
    pub fp32_busy_sms: f64,
    pub dram_gbs: f64,
    pub next: Option<(Ns, u32)>,
}

/// Nanoseconds to cover `x` (>= 0), rounded up; huge values saturate.
pub fn ceil_ns(x: f64) -> Ns {
    // 2^62 (u64::MAX as f64 is 2^64): where finite values saturate.
    const CAP: f64 = u64::MAX as f64 / 4.0;
    if x.is_finite() {
        let x = x.max(0.0);
        if x >= CAP {
            return CAP as Ns;
        }
        // ceil without a libm call (no SSE4.1 assumed): exact below 2^62, where every value
        // at or above 2^52 is already whole.
        let t = x as Ns;
        t + ((t as f64) < x) as Ns
    } else {
        u64::MAX / 4
    }
}

/// A block rate (fraction per ns) with a fixed per-block latency beside the work it measures.
/// (Fluid: while the rate changes, the latency is spread over the block's life. The bandwidth
/// the block was granted but leaves unused during its latency is not handed to others.)
pub(crate) fn with_latency(rate: f64, latency_ns: f64) -> f64 {
    if latency_ns > 0.0 && rate > 0.0 {
        1.0 / (latency_ns + 1.0 / rate)
    } else {
        rate
    }
}

/// Applies `f` to every resident of `g` (moving shares to or from where they are kept).
fn copy_shares(g: &Group, cohorts: &mut Cohorts, f: impl Fn(&mut crate::placement::Cohort)) {
    for &r in &g.residents {
        f(cohorts.get_mut(r));
    }
}

/// Per-block rate (fraction/ns) allowed by issue share and minimum block time.
fn compute_bound_rates(w: &GpuWorkload, g: &Group, cohorts: &mut Cohorts, p: &RateParams, gen: u64, s: &mut Scratch) {
    let by_min = 1.0 / p.block_min_ns;
    for &r in &g.residents {
        let c = cohorts.get_mut(r);
        let full = s.full_sm_ns(w, p, gen, c.kernel);
        let sh = &mut c.shares;
        sh.r0 = if full > 0.0 { (sh.issue_alloc / c.blocks_per_sm as f64 / full).min(by_min) } else { by_min };
    }
}

/// Splits one SM's DRAM cap among its residents (writes `sm_bw`, bytes/ns per SM). A cohort
/// asks for what its compute rate would consume, but no more than its resident threads can
/// keep in flight (Little's law: a block of 128 threads cannot pull what 1024 do).
fn share_sm_bandwidth(w: &GpuWorkload, g: &Group, cohorts: &mut Cohorts, p: &RateParams, s: &mut Scratch) {
    s.claims.clear();
    for &r in &g.residents {
        let c = &cohorts.get(r);
        let k = &w.kernels[c.kernel as usize];
        let blocks = c.blocks_per_sm as f64;
        let in_flight = p.per_thread_bw * k.footprint.threads as f64 * blocks;
        s.claims.push(Claim {
            demand: (c.shares.r0 * k.bytes_per_block * blocks).min(in_flight),
            weight: c.blocks_per_sm as f64,
            alloc: 0.0,
        });
    }
    water_fill(p.per_sm_bw, &mut s.claims, &mut s.unsettled);
    for (&r, cl) in g.residents.iter().zip(&s.claims) {
        cohorts.get_mut(r).shares.sm_bw = cl.alloc;
    }
}

/// DRAM pools, then (where collectives run) the link.
fn share_pools(w: &GpuWorkload, cohorts: &mut Cohorts, running: &dyn Fn(u32) -> bool, s: &mut Scratch) {
    share_global_bandwidth(w, cohorts, running, s);
    if w.has_collectives {
        share_link(w, cohorts, running, s);
    }
}

/// Shares the GPU's link among the running collectives, per block, and caps their rates by
/// it. A gated collective (waiting for a rank) spins: rate 0, asking nothing of the link.
fn share_link(w: &GpuWorkload, cohorts: &mut Cohorts, running: &dyn Fn(u32) -> bool, s: &mut Scratch) {
    s.claims.clear();
    s.ids.clear();
    for &id in &cohorts.live {
        let c = cohorts.get(id);
        let k = &w.kernels[c.kernel as usize];
        if k.link_bytes_per_block > 0.0 && running(c.space) {
            let blocks = (c.n_sms * c.blocks_per_sm) as f64;
            let demand = if c.gated { 0.0 } else { c.work_rate * blocks * k.link_bytes_per_block };
            s.claims.push(Claim { demand, weight: blocks, alloc: 0.0 });
            s.ids.push(id);
        }
    }
    water_fill(w.link_bw, &mut s.claims, &mut s.unsettled);
    for (&id, cl) in s.ids.iter().zip(&s.claims) {
        let c = cohorts.get_mut(id);
        let k = &w.kernels[c.kernel as usize];
        let blocks = (c.n_sms * c.blocks_per_sm) as f64;
        let rate = if c.gated { 0.0 } else { c.work_rate.min(cl.alloc / blocks / k.link_bytes_per_block) };
        c.work_rate = rate;
        c.rate = with_latency(rate, k.block_latency_ns);
    }
}

/// Shares each pool's bandwidth (the whole GPU's, or a partition's) per block and sets each
/// running cohort's final rate.
fn share_global_bandwidth(w: &GpuWorkload, cohorts: &mut Cohorts, running: &dyn Fn(u32) -> bool, s: &mut Scratch) {
    // One pool (the whole GPU) is the common case: no per-cohort pool lookup then.
    let single = w.pools.len() == 1;
    for (pool, &capacity) in w.pools.iter().enumerate() {
        s.claims.clear();
        s.ids.clear();
        for &id in &cohorts.live {
            let c = &cohorts.get(id);
            if running(c.space) && (single || w.spaces[c.space as usize].pool == pool) {
                // In read bytes: the pool's unit (a written byte costs more of it).
                let bw_weight = w.kernels[c.kernel as usize].bw_weight;
                // A gated collective spins without touching memory.
                let sm_bw = if c.gated { 0.0 } else { c.shares.sm_bw };
                s.claims.push(Claim {
                    demand: sm_bw * c.n_sms as f64 * bw_weight,
                    weight: (c.n_sms * c.blocks_per_sm) as f64,
                    alloc: 0.0,
                });
                s.ids.push(id);
            }
        }
        water_fill(capacity, &mut s.claims, &mut s.unsettled);
        for (&id, cl) in s.ids.iter().zip(&s.claims) {
            let c = cohorts.get_mut(id);
            let k = &w.kernels[c.kernel as usize];
            let blocks = (c.n_sms * c.blocks_per_sm) as f64;
            let r0 = c.shares.r0;
            let bytes_per_ns = cl.alloc / k.bw_weight;
            let rate = if k.bytes_per_block > 0.0 { r0.min(bytes_per_ns / blocks / k.bytes_per_block) } else { r0 };
            c.work_rate = rate;
            c.rate = with_latency(rate, k.block_latency_ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ceil_ns;
    use proptest::prelude::*;

    /// What `ceil_ns` computed before it avoided the libm call.
    fn by_libm(x: f64) -> u64 {
        if x.is_finite() {
            x.max(0.0).ceil().min(u64::MAX as f64 / 4.0) as u64
        } else {
            u64::MAX / 4
        }
    }

    #[test]
    fn edges_as_libm() {
        for x in [0.0, -0.0, -1.5, 0.5, 1.0, 1.0 + f64::EPSILON, 4503599627370495.5, 2f64.powi(52), 2f64.powi(62)]
            .into_iter()
            .chain([2f64.powi(62) - 1024.0, 2f64.powi(63), 1e300, f64::INFINITY, f64::NEG_INFINITY, f64::NAN])
        {
            assert_eq!(ceil_ns(x), by_libm(x), "{x}");
        }
    }

    proptest! {
        #[test]
        fn ceil_ns_is_ceil(bits in any::<u64>(), small in 0.0f64..1e7) {
            let x = f64::from_bits(bits);
            prop_assert_eq!(ceil_ns(x), by_libm(x));
            prop_assert_eq!(ceil_ns(small), by_libm(small));
        }
    }
}
