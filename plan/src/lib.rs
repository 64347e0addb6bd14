//! simgpu's planner: which layout serves these workloads at the lowest cost, and does
//! co-location pay off?
//!
//! A plan ([`file`]) names workloads (a model and a step, with a demand and an SLO), GPU types
//! (how many may be bought, at what price) and the ways of sharing allowed. [`layouts`] lists
//! every unit those allow (a way of placing replicas on one GPU, or on a tensor-parallel
//! client's GPUs); [`evaluate`] checks each one's memory and simulates it; [`costing`] builds
//! fleets from copies of units, costs and ranks them, and gives the verdict.
//!
//! Order and determinism: units are numbered in enumeration order and simulated in parallel
//! (rayon), each on one thread; results are kept by number, so the report is the same bytes
//! for any thread count, and shards ([`Shard`]) merged give what one run gives. Pure: no I/O.

pub mod costing;
pub mod evaluate;
pub mod file;
pub mod layouts;

use costing::Candidate;
use evaluate::UnitResult;
use file::PlanSpec;
use layouts::Unit;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Part `index` (from 0) of `count` of a plan's simulations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Every shard simulates the units of one workload alone (the bounds of the pruning need
    /// them all; they are few); the others go round-robin.
    fn takes(&self, u: &Unit, nth_mixed: usize) -> bool {
        !u.mixes_workloads() || nth_mixed % self.count == self.index
    }
}

/// Layout counts, for the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub enumerated: usize,
    pub does_not_fit: usize,
    pub invalid: usize,
    pub dominated: usize,
    pub simulated: usize,
}

/// What the simulations of one shard (or of the whole plan) found: what `plan merge` takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Simulated {
    pub plan: String,
    /// Of the plan file's text: shards of one plan only merge with each other.
    pub fingerprint: String,
    pub shard: Shard,
    pub units_total: usize,
    pub units: Vec<UnitResult>,
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanReport {
    pub plan: String,
    pub seed: u64,
    pub gpus: Vec<GpuUsed>,
    pub workloads: Vec<WorkloadUsed>,
    pub layouts: Counts,
    /// Ranked: the first feasible one is the recommendation.
    pub candidates: Vec<Candidate>,
    pub recommendation: Option<Candidate>,
    pub verdict: String,
    /// Said where the recommendation rests on a GPU profile that was never calibrated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caution: Option<String>,
    pub units: Vec<UnitResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuUsed {
    pub name: String,
    pub profile_origin: String,
    pub calibrated: bool,
    pub calibration_date: Option<String>,
    pub max_count: u32,
    pub cost_per_hour: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadUsed {
    pub name: String,
    pub model: String,
    pub model_origin: String,
    pub step: String,
    pub host: String,
    pub demand_per_s: f64,
    pub unit: String,
    pub slo_p99_ms: Option<f64>,
}

/// A 64-bit FNV-1a of the plan file's text, in hex.
pub fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Called as units finish: (done, total, the unit's label).
pub type ProgressFn<'a> = &'a (dyn Fn(usize, usize, &str) + Sync);

/// Returns true when the caller wants the planner to stop (Ctrl-C).
pub type StopFn<'a> = &'a (dyn Fn() -> bool + Sync);

/// What the caller hears and how it stops the planner.
#[derive(Clone, Copy)]
pub struct Hooks<'a> {
    pub progress: Option<ProgressFn<'a>>,
    pub stop: StopFn<'a>,
}

fn run_units(plan: &PlanSpec, units: &[&Unit], hooks: Hooks<'_>, done: &AtomicUsize, total: usize) -> Vec<UnitResult> {
    let progress = hooks.progress;
    units
        .par_iter()
        .map(|u| {
            let r = match evaluate::memory_fit(plan, u) {
                Err(why) => UnitResult::pruned(plan, u, why),
                Ok(()) if (hooks.stop)() => UnitResult::pruned(plan, u, INTERRUPTED.into()),
                Ok(()) => {
                    evaluate::simulate(plan, u, hooks.stop).unwrap_or_else(|why| UnitResult::pruned(plan, u, why))
                }
            };
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(p) = progress {
                p(n, total, &u.label);
            }
            r
        })
        .collect()
}

/// The lowest cost any fleet using mixed unit `u` could have: a bound for pruning. Each client
/// serves at most what its workload serves alone on a whole GPU (sharing never makes a client
/// faster); the clients drawing on one DRAM pool (the GPU's, or a MIG instance's) move no more
/// bytes than the pool can; the clients on one set of SMs (the GPU's, a MIG instance's, an SM
/// partition's) need no less SM time than their FLOPs at peak. Each resource gives a bound of its
/// own and the larger one is kept. Workloads the copies leave short are topped up at their best
/// GPUs per throughput, in fractions of a GPU. Each pool is bounded on its own, with each
/// workload's remaining demand available to it (a relaxation: the bound stays below the truth).
/// None where it cannot tell (a tensor-parallel client).
pub fn cost_bound(plan: &PlanSpec, units: &[Unit], res: &[Option<UnitResult>], u: &Unit) -> Option<f64> {
    cost_bound_with(plan, units, res, u, &needs_of(plan))
}

/// Per GPU type and workload, what it needs per unit of throughput (None where its step cannot
/// be generated).
fn needs_of(plan: &PlanSpec) -> Vec<Vec<Option<evaluate::Needs>>> {
    (0..plan.gpus.len())
        .map(|g| (0..plan.workloads.len()).map(|w| evaluate::needs_per_unit(plan, g, w).ok()).collect())
        .collect()
}

fn cost_bound_with(
    plan: &PlanSpec,
    units: &[Unit],
    res: &[Option<UnitResult>],
    u: &Unit,
    needs: &[Vec<Option<evaluate::Needs>>],
) -> Option<f64> {
    if u.gpus.len() != 1 || u.clients.iter().any(|c| c.tp > 1) {
        return None;
    }
    let g = &plan.gpus[u.gpu];
    let nw = plan.workloads.len();
    let name = |w: usize| plan.workloads[w].name.as_str();
    let solo = |w: usize| {
        units
            .iter()
            .filter(move |x| x.gpu == u.gpu && !x.mixes_workloads() && x.clients[0].workload == w)
            .filter_map(|x| res[x.id].as_ref().map(|r| (x, r)))
            .filter(|(_, r)| r.pruned.is_none())
    };
    // Per workload: its alone throughput, its own units, what it needs of DRAM and SMs per unit.
    let mut alone = vec![0.0; nw];
    let mut own: Vec<Vec<(f64, f64)>> = vec![Vec::new(); nw];
    let mut bytes = vec![0.0; nw];
    let mut sm_ns = vec![0.0; nw];
    for w in 0..nw {
        alone[w] = solo(w).find(|(x, _)| x.clients.len() == 1 && x.clients[0].tp == 1)?.1.throughput(name(w));
        let slo = plan.workloads[w].p99_ms;
        for (x, r) in solo(w) {
            let s = r.served.iter().find(|s| s.workload == name(w));
            let keeps = slo.is_none_or(|slo| s.and_then(|s| s.p99_ms).is_some_and(|p| p <= slo));
            if r.throughput(name(w)) > 0.0 && keeps {
                own[w].push((x.gpus.len() as f64, r.throughput(name(w))));
            }
        }
        let n = needs[u.gpu][w]?;
        (bytes[w], sm_ns[w]) = (n.dram_bytes, n.sm_ns);
    }
    // The DRAM pools (bytes per second, clients) and the SM sets (SM-ns per second, clients).
    let table = g.profile.partitioning.as_ref().map(|p| &p.mig);
    let n_sms = g.profile.sm.count.value as f64;
    let (mut shared_bw, mut whole_sms): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    let mut dram: Vec<(f64, Vec<usize>)> = Vec::new();
    let mut sms: Vec<(f64, Vec<usize>)> = Vec::new();
    for p in &u.gpus[0] {
        let members: Vec<usize> = p.members.iter().map(|&(c, _)| c).collect();
        match &p.slice {
            simgpu_sim::spec::Slice::Mig { profile, .. } => {
                let t = table?;
                let m = t.profiles.iter().find(|m| &m.name == profile)?;
                let share = m.memory_slices as f64 / t.memory_slices.max(1) as f64;
                dram.push((evaluate::pool_bytes_per_s(plan, u.gpu, share), members.clone()));
                sms.push((m.sms as f64 * 1e9, members));
            }
            simgpu_sim::spec::Slice::Sms { count, .. } => {
                shared_bw.extend(members.iter().copied());
                sms.push((*count as f64 * 1e9, members));
            }
            simgpu_sim::spec::Slice::Whole => {
                shared_bw.extend(members.iter().copied());
                whole_sms.extend(members);
            }
        }
    }
    if !shared_bw.is_empty() {
        dram.push((evaluate::pool_bytes_per_s(plan, u.gpu, 1.0), shared_bw));
    }
    if !whole_sms.is_empty() {
        sms.push((n_sms * 1e9, whole_sms));
    }
    // A client alone in a pool of either resource is held to it whatever the other resource
    // allows: those limits join its alone throughput as its own bound (exactly, not relaxed).
    let mut boxes: Vec<f64> = u.clients.iter().map(|c| alone[c.workload]).collect();
    for (pools, need) in [(&dram, &bytes), (&sms, &sm_ns)] {
        for (capacity, members) in pools.iter() {
            if let [c] = members[..] {
                let n = need[u.clients[c].workload];
                if n > 0.0 {
                    boxes[c] = boxes[c].min(capacity / n);
                }
            }
        }
    }
    let by_dram = bound_over(plan, u, &boxes, &own, &bytes, &dram);
    let by_sms = bound_over(plan, u, &boxes, &own, &sm_ns, &sms);
    let best = by_dram.max(by_sms);
    best.is_finite().then_some(best)
}

/// The cost bound of mixed unit `u` over one kind of resource: `pools` of it (capacity per
/// second, clients), each workload needing `per_unit` of it per unit of throughput, each client
/// serving at most its `boxes` bound; `own[w]`: workload w's own units that keep its SLO, as
/// (GPUs per copy, throughput per copy). Per number of copies, each workload is given the most
/// it could get with the others serving nothing (so the true throughputs are below these, all
/// at once), and topped up the way `costing` tops up: the fewest whole copies of one own unit.
fn bound_over(
    plan: &PlanSpec,
    u: &Unit,
    boxes: &[f64],
    own: &[Vec<(f64, f64)>],
    per_unit: &[f64],
    pools: &[(f64, Vec<usize>)],
) -> f64 {
    let g = &plan.gpus[u.gpu];
    let top_up = |w: usize, need: f64| {
        own[w].iter().map(|&(gpus, x)| (need / x * (1.0 - 1e-12)).ceil().max(1.0) * gpus).fold(f64::INFINITY, f64::min)
    };
    let mut best = f64::INFINITY;
    for k in 1..=g.max_count {
        let k = k as f64;
        let mut gpus = k;
        for (w, (wl, &need_per_unit)) in plan.workloads.iter().zip(per_unit).enumerate() {
            let demand = wl.demand_per_s;
            let mut served = 0.0;
            for (capacity, clients) in pools {
                let mut left = *capacity;
                let mut got = 0.0;
                for &c in clients.iter().filter(|&&c| u.clients[c].workload == w) {
                    let by_pool = if need_per_unit > 0.0 { left / need_per_unit } else { f64::INFINITY };
                    let x = boxes[c].min(by_pool).min((demand / k - got).max(0.0));
                    got += x;
                    left -= x * need_per_unit;
                }
                served += got;
            }
            let need = demand - k * served;
            if need > demand * 1e-9 {
                gpus += top_up(w, need);
            }
        }
        best = best.min(gpus * g.cost_per_hour);
        if k * g.cost_per_hour >= best {
            break;
        }
    }
    best
}

/// Why a unit was left: the caller stopped the planner (its results are not a plan's).
pub const INTERRUPTED: &str = "interrupted";

pub fn simulate(plan: &PlanSpec, text_fingerprint: &str, shard: Shard, hooks: Hooks<'_>) -> Simulated {
    let progress = hooks.progress;
    let units = layouts::units(plan);
    let mut nth = 0;
    let mine: Vec<&Unit> = units
        .iter()
        .filter(|u| {
            let take = shard.takes(u, nth);
            nth += u.mixes_workloads() as usize;
            take
        })
        .collect();
    let total = mine.len();
    let done = AtomicUsize::new(0);
    let (solo, mixed): (Vec<&Unit>, Vec<&Unit>) = mine.iter().partition(|u| !u.mixes_workloads());
    let mut res: Vec<Option<UnitResult>> = vec![None; units.len()];
    for r in run_units(plan, &solo, hooks, &done, total) {
        let id = r.id;
        res[id] = Some(r);
    }
    // The cheapest feasible fleet of own units: mixed units that cannot beat it are dominated.
    let known: Vec<UnitResult> = units
        .iter()
        .map(|u| res[u.id].clone().unwrap_or_else(|| UnitResult::pruned(plan, u, "not simulated".into())))
        .collect();
    let best = costing::candidates(plan, &units, &known).into_iter().find(|c| c.feasible).map(|c| c.cost_per_hour);
    let mut to_run = Vec::new();
    let needs = needs_of(plan);
    for u in mixed {
        // What does not fit is told as such, not as dominated.
        let fits = evaluate::memory_fit(plan, u).is_ok();
        match (best.filter(|_| fits), cost_bound_with(plan, &units, &res, u, &needs)) {
            (Some(b), Some(lb)) if lb > b * (1.0 + 1e-9) => {
                res[u.id] = Some(UnitResult::pruned(
                    plan,
                    u,
                    format!("dominated: at its workloads' alone throughput it would cost at least ${lb:.2}/h, more than ${b:.2}/h"),
                ));
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(p) = progress {
                    p(n, total, &u.label);
                }
            }
            _ => to_run.push(u),
        }
    }
    for r in run_units(plan, &to_run, hooks, &done, total) {
        let id = r.id;
        res[id] = Some(r);
    }
    Simulated {
        plan: plan.name.clone(),
        fingerprint: text_fingerprint.to_string(),
        shard,
        units_total: units.len(),
        units: res.into_iter().flatten().collect(),
    }
}

/// The shards of one plan as one run's results (errors: shards of other plans, missing, twice).
pub fn merge(parts: Vec<Simulated>) -> Result<Simulated, String> {
    let first = parts.first().ok_or("no shard results to merge")?.clone();
    let mut units: Vec<Option<UnitResult>> = vec![None; first.units_total];
    let mut seen = vec![false; first.shard.count.max(1)];
    for p in &parts {
        if p.fingerprint != first.fingerprint || p.units_total != first.units_total {
            return Err(format!(
                "shard {}/{} is of another plan (or another version of it)",
                p.shard.index + 1,
                p.shard.count
            ));
        }
        if p.shard.count != first.shard.count {
            return Err("the shards split the plan in different numbers of parts".into());
        }
        if std::mem::replace(&mut seen[p.shard.index], true) {
            return Err(format!("shard {}/{} is given twice", p.shard.index + 1, p.shard.count));
        }
        for u in &p.units {
            let slot = units.get_mut(u.id).ok_or_else(|| format!("unit {} is not in the plan", u.id))?;
            match slot {
                // Every shard simulates the units alone: they must agree.
                Some(x) if x != u => return Err(format!("shards disagree on layout {} ({})", u.id, u.label)),
                _ => *slot = Some(u.clone()),
            }
        }
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        return Err(format!("shard {}/{} is missing", i + 1, first.shard.count));
    }
    let units: Vec<UnitResult> = units
        .into_iter()
        .enumerate()
        .map(|(i, u)| u.ok_or(i))
        .collect::<Result<_, _>>()
        .map_err(|i| format!("layout {i} is in no shard"))?;
    Ok(Simulated { shard: Shard::WHOLE, units, ..first })
}

/// The ranked fleets and the verdict from a plan's simulated units (a whole run's, or merged
/// shards': every shard prunes against the same units alone, so they agree).
pub fn report(plan: &PlanSpec, sim: &Simulated) -> Result<PlanReport, String> {
    let units = layouts::units(plan);
    if units.len() != sim.units_total || sim.units.len() != units.len() {
        return Err(format!(
            "the results hold {} of {} layouts, the plan has {}: merge every shard first",
            sim.units.len(),
            sim.units_total,
            units.len()
        ));
    }
    for (u, r) in units.iter().zip(&sim.units) {
        if u.id != r.id || u.label != r.label {
            return Err(format!("layout {} is `{}` in the results and `{}` in the plan", u.id, r.label, u.label));
        }
    }
    let candidates = costing::candidates(plan, &units, &sim.units);
    let mut counts = Counts { enumerated: units.len(), ..Counts::default() };
    for r in &sim.units {
        match r.pruned.as_deref() {
            None => counts.simulated += 1,
            Some(w) if w.starts_with("does not fit") => counts.does_not_fit += 1,
            Some(w) if w.starts_with("dominated") => counts.dominated += 1,
            Some(_) => counts.invalid += 1,
        }
    }
    let gpus: Vec<GpuUsed> = plan
        .gpus
        .iter()
        .map(|g| GpuUsed {
            name: g.name.clone(),
            profile_origin: g.origin.clone(),
            calibrated: g.profile.calibration().is_some(),
            calibration_date: g.profile.calibration().flatten(),
            max_count: g.max_count,
            cost_per_hour: g.cost_per_hour,
        })
        .collect();
    let workloads = plan
        .workloads
        .iter()
        .map(|w| WorkloadUsed {
            name: w.name.clone(),
            model: w.model.clone(),
            model_origin: w.model_origin.clone(),
            step: step_label(w),
            host: w.host_note.clone(),
            demand_per_s: w.demand_per_s,
            unit: w.unit.clone(),
            slo_p99_ms: w.p99_ms,
        })
        .collect();
    let recommendation = candidates.iter().find(|c| c.feasible).cloned();
    let caution = recommendation.as_ref().and_then(|r| {
        let g = gpus.iter().find(|g| g.name == r.gpu)?;
        (!g.calibrated).then(|| {
            format!(
                "the recommended {}'s profile is not calibrated (datasheet values and documented defaults): its power \
                 limiter, bandwidth and kernel times have not been checked on the card; calibrate one \
                 (`simgpu calibrate`) before buying on this answer",
                g.name
            )
        })
    });
    Ok(PlanReport {
        plan: plan.name.clone(),
        seed: plan.seed,
        gpus,
        workloads,
        layouts: counts,
        recommendation,
        caution,
        verdict: costing::verdict(&candidates),
        candidates,
        units: sim.units.clone(),
    })
}

/// How a workload's step reads in reports.
pub fn step_label(w: &file::WorkloadReq) -> String {
    use simgpu_workloads::Phase;
    let dtype = if w.weight_bytes == 1.0 { "fp8" } else { "bf16" };
    let launch = match w.launch {
        file::LaunchReq::Eager { .. } => "eager",
        file::LaunchReq::Graph { .. } => "graph",
    };
    let step = match w.phase {
        Phase::Decode { batch, context } => format!("decode b{batch} ctx{context}"),
        Phase::Prefill { batch, prompt } => format!("prefill b{batch} p{prompt}"),
        Phase::Encode { batch, seq } => format!("encode b{batch} s{seq}"),
        Phase::Chunk { batch, chunk, context } => format!("chunk b{batch} c{chunk} ctx{context}"),
    };
    format!("{step} {dtype} {launch}")
}
