//! From simulated units to fleets: how many copies of which units serve every workload's
//! demand on one GPU type, what that costs per hour, whether the SLOs hold, and the ranking.
//!
//! A fleet is either one unit per workload (each workload on its own GPUs: alone, replicas on a
//! GPU, MIG instances, tensor-parallel), or copies of a unit that mixes the workloads, topped up
//! with the cheapest unit of its own for any workload the copies leave short. Copies of a unit
//! serve independently, so a fleet's throughput is the copies times the unit's.

use crate::evaluate::UnitResult;
use crate::file::PlanSpec;
use crate::layouts::Unit;
use serde::{Deserialize, Serialize};

/// Copies of one unit in a fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub unit: usize,
    pub label: String,
    pub copies: u32,
    /// GPUs of one copy.
    pub gpus: u32,
}

/// What a fleet does for one workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadOutcome {
    pub workload: String,
    pub unit: String,
    pub demand_per_s: f64,
    pub throughput_per_s: f64,
    /// Half-width of the 95% interval (copies of one simulation move together: summed).
    pub ci95_per_s: Option<f64>,
    pub p99_ms: Option<f64>,
    pub slo_p99_ms: Option<f64>,
    /// Throughput at least the demand, and p99 within the SLO.
    pub meets: bool,
}

/// One costed fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub gpu: String,
    pub gpus: u32,
    pub cost_per_hour: f64,
    pub layout: String,
    pub parts: Vec<Part>,
    /// Whether some GPU runs more than one client.
    pub colocated: bool,
    pub feasible: bool,
    /// Why not, when not.
    pub why_not: Option<String>,
    pub workloads: Vec<WorkloadOutcome>,
    /// The least served/demand over the workloads, less one (0.25: 25% more than needed).
    pub headroom: f64,
}

fn describe(parts: &[Part]) -> String {
    parts.iter().map(|p| format!("{} x [{}]", p.copies, p.label)).collect::<Vec<_>>().join(" + ")
}

/// Copies needed to serve `demand` at `x` per copy.
fn copies(demand: f64, x: f64) -> u32 {
    if x <= 0.0 {
        return u32::MAX;
    }
    // A tiny relative slack keeps an exact multiple from needing one more copy by rounding.
    let k = (demand / x * (1.0 - 1e-12)).ceil();
    if k >= u32::MAX as f64 {
        u32::MAX
    } else {
        (k as u32).max(1)
    }
}

/// Builds one candidate from its parts.
fn candidate(plan: &PlanSpec, gi: usize, units: &[Unit], res: &[UnitResult], parts: Vec<Part>) -> Candidate {
    let g = &plan.gpus[gi];
    let gpus: u64 = parts.iter().map(|p| p.copies as u64 * p.gpus as u64).sum();
    let mut workloads = Vec::new();
    let mut why: Vec<String> = Vec::new();
    let mut headroom = f64::INFINITY;
    for wl in &plan.workloads {
        let mut tput = 0.0;
        let mut ci = Some(0.0);
        let mut p99: Option<f64> = None;
        for p in &parts {
            let r = &res[p.unit];
            if let Some(s) = r.served.iter().find(|s| s.workload == wl.name) {
                tput += p.copies as f64 * s.throughput_per_s;
                ci = ci.zip(s.ci95_per_s).map(|(a, b)| a + p.copies as f64 * b);
                p99 = match (p99, s.p99_ms) {
                    (a, Some(b)) => Some(a.map_or(b, |a: f64| a.max(b))),
                    (a, None) => a,
                };
            }
        }
        let slo_ok = match (wl.p99_ms, p99) {
            (Some(slo), Some(p)) => p <= slo,
            (Some(_), None) => false,
            (None, _) => true,
        };
        let enough = tput >= wl.demand_per_s * (1.0 - 1e-9);
        if !enough {
            why.push(format!("{} gets {:.1} of {:.1} {}/s", wl.name, tput, wl.demand_per_s, wl.unit));
        }
        if !slo_ok {
            let p = p99.map_or("no step completed".into(), |p| format!("{p:.1} ms"));
            why.push(format!("{} p99 {} over the SLO of {} ms", wl.name, p, wl.p99_ms.unwrap_or(0.0)));
        }
        headroom = headroom.min(tput / wl.demand_per_s - 1.0);
        workloads.push(WorkloadOutcome {
            workload: wl.name.clone(),
            unit: wl.unit.clone(),
            demand_per_s: wl.demand_per_s,
            throughput_per_s: tput,
            ci95_per_s: ci,
            p99_ms: p99,
            slo_p99_ms: wl.p99_ms,
            meets: enough && slo_ok,
        });
    }
    if gpus > g.max_count as u64 {
        why.push(format!("needs {gpus} GPUs, the plan allows {}", g.max_count));
    }
    let colocated = parts.iter().any(|p| !units[p.unit].one_client_per_gpu());
    let gpus = gpus.min(u32::MAX as u64) as u32;
    Candidate {
        gpu: g.name.clone(),
        gpus,
        cost_per_hour: gpus as f64 * g.cost_per_hour,
        layout: describe(&parts),
        parts,
        colocated,
        feasible: why.is_empty(),
        why_not: (!why.is_empty()).then(|| why.join("; ")),
        workloads,
        headroom,
    }
}

fn part(u: &Unit, copies: u32) -> Part {
    Part { unit: u.id, label: u.label.clone(), copies, gpus: u.gpus.len() as u32 }
}

/// Each workload's units of its own on a GPU type that were simulated and serve it, SLO-feasible
/// first (the order of the enumeration otherwise).
fn solo_options<'a>(plan: &PlanSpec, gi: usize, w: usize, units: &'a [Unit], res: &[UnitResult]) -> Vec<&'a Unit> {
    let name = &plan.workloads[w].name;
    units
        .iter()
        .filter(|u| u.gpu == gi && !u.mixes_workloads() && u.clients[0].workload == w)
        .filter(|u| res[u.id].pruned.is_none() && res[u.id].throughput(name) > 0.0)
        .collect()
}

/// Whether a unit's p99 for workload `w` is within its SLO.
fn slo_ok(plan: &PlanSpec, r: &UnitResult, w: usize) -> bool {
    let wl = &plan.workloads[w];
    let p = r.served.iter().find(|s| s.workload == wl.name).and_then(|s| s.p99_ms);
    wl.p99_ms.is_none_or(|slo| p.is_some_and(|p| p <= slo))
}

/// The fewest GPUs serving `need` of workload `w` with one of its own units (SLO-feasible);
/// the part, or None.
fn top_up(plan: &PlanSpec, opts: &[&Unit], res: &[UnitResult], w: usize, need: f64) -> Option<Part> {
    let name = &plan.workloads[w].name;
    opts.iter()
        .filter(|u| slo_ok(plan, &res[u.id], w))
        .map(|u| {
            let k = copies(need, res[u.id].throughput(name));
            (k as u64 * u.gpus.len() as u64, part(u, k))
        })
        .min_by_key(|(g, p)| (*g, p.unit))
        .map(|(_, p)| p)
}

/// Most combinations of one-workload units tried per GPU type.
const MAX_COMBINATIONS: usize = 100_000;

/// Every fleet the simulated units allow, ranked: feasible ones by cost (then headroom, then
/// layout), then the others by how much of the demand they meet.
pub fn candidates(plan: &PlanSpec, units: &[Unit], res: &[UnitResult]) -> Vec<Candidate> {
    let mut out = Vec::new();
    for gi in 0..plan.gpus.len() {
        let nw = plan.workloads.len();
        let opts: Vec<Vec<&Unit>> = (0..nw).map(|w| solo_options(plan, gi, w, units, res)).collect();
        // Each workload on units of its own.
        if opts.iter().all(|o| !o.is_empty()) {
            let mut combos: Vec<Vec<usize>> = vec![Vec::new()];
            for o in &opts {
                if combos.len() * o.len() > MAX_COMBINATIONS {
                    combos.iter_mut().for_each(|c| c.push(0));
                    continue;
                }
                combos =
                    combos.into_iter().flat_map(|c| (0..o.len()).map(move |i| [c.clone(), vec![i]].concat())).collect();
            }
            for c in combos {
                let parts = c
                    .iter()
                    .enumerate()
                    .map(|(w, &i)| {
                        let u = opts[w][i];
                        part(u, copies(plan.workloads[w].demand_per_s, res[u.id].throughput(&plan.workloads[w].name)))
                    })
                    .collect();
                out.push(candidate(plan, gi, units, res, parts));
            }
        }
        // Copies of a unit that mixes workloads, topped up; the best number of copies.
        for u in units.iter().filter(|u| u.gpu == gi && u.mixes_workloads() && res[u.id].pruned.is_none()) {
            let r = &res[u.id];
            let g = u.gpus.len() as u32;
            let most = (0..nw)
                .filter(|&w| r.throughput(&plan.workloads[w].name) > 0.0)
                .map(|w| copies(plan.workloads[w].demand_per_s, r.throughput(&plan.workloads[w].name)))
                .max()
                .unwrap_or(1)
                .min((plan.gpus[gi].max_count / g).max(1));
            let mut best: Option<Candidate> = None;
            for k in 1..=most {
                let mut parts = vec![part(u, k)];
                for (w, o) in opts.iter().enumerate() {
                    let wl = &plan.workloads[w];
                    let need = wl.demand_per_s - k as f64 * r.throughput(&wl.name);
                    if need > wl.demand_per_s * 1e-9 {
                        if let Some(p) = top_up(plan, o, res, w, need) {
                            parts.push(p);
                        }
                    }
                }
                let c = candidate(plan, gi, units, res, parts);
                let better = best.as_ref().is_none_or(|b| {
                    (c.feasible, -(c.gpus as i64)) > (b.feasible, -(b.gpus as i64))
                        || ((c.feasible, c.gpus) == (b.feasible, b.gpus) && c.headroom > b.headroom)
                });
                if better {
                    best = Some(c);
                }
            }
            out.extend(best);
        }
    }
    rank(&mut out);
    out
}

/// The least share of its demand any workload gets.
fn met(c: &Candidate) -> f64 {
    c.workloads.iter().map(|w| w.throughput_per_s / w.demand_per_s).fold(f64::INFINITY, f64::min)
}

fn rank(c: &mut [Candidate]) {
    c.sort_by(|a, b| {
        b.feasible
            .cmp(&a.feasible)
            .then_with(|| {
                if a.feasible {
                    a.cost_per_hour.total_cmp(&b.cost_per_hour).then(b.headroom.total_cmp(&a.headroom))
                } else {
                    met(b).min(1.0).total_cmp(&met(a).min(1.0)).then(a.cost_per_hour.total_cmp(&b.cost_per_hour))
                }
            })
            .then_with(|| a.gpu.cmp(&b.gpu))
            .then_with(|| a.layout.cmp(&b.layout))
    });
}

/// The plain answer: does co-location pay off against dedicated GPUs, and by how much.
pub fn verdict(c: &[Candidate]) -> String {
    let money = |x: f64| format!("${x:.2}/h");
    let Some(best) = c.iter().find(|c| c.feasible) else {
        return match c.first() {
            Some(x) => format!(
                "nothing fits: no layout within the plan's GPUs serves every workload within its SLO; \
                 the closest, {} on {} {}, fails because {}",
                x.layout,
                x.gpus,
                x.gpu,
                x.why_not.as_deref().unwrap_or("?")
            ),
            None => "nothing fits: no layout could be simulated (see the pruned layouts)".into(),
        };
    };
    let dedicated = c.iter().find(|c| c.feasible && !c.colocated);
    let coloc = c.iter().find(|c| c.feasible && c.colocated);
    match (best.colocated, dedicated, coloc) {
        (true, Some(d), _) if best.cost_per_hour < d.cost_per_hour => format!(
            "co-location pays off: yes, by {:.0}% cost against dedicated ({} on {} {} against {} on {} {})",
            (1.0 - best.cost_per_hour / d.cost_per_hour) * 100.0,
            money(best.cost_per_hour),
            best.gpus,
            best.gpu,
            money(d.cost_per_hour),
            d.gpus,
            d.gpu
        ),
        (true, Some(d), _) => format!(
            "co-location pays off: no, it costs the same as dedicated GPUs ({}, {} {} against {} {})",
            money(d.cost_per_hour),
            best.gpus,
            best.gpu,
            d.gpus,
            d.gpu
        ),
        (true, None, _) => format!(
            "co-location pays off: yes, dedicated GPUs cannot serve the demand within the plan's limits; \
             the best layout costs {}",
            money(best.cost_per_hour)
        ),
        (false, _, Some(x)) => format!(
            "co-location pays off: no, dedicated GPUs are cheapest ({} on {} {}); the best co-located layout costs {} (+{:.0}%)",
            money(best.cost_per_hour),
            best.gpus,
            best.gpu,
            money(x.cost_per_hour),
            (x.cost_per_hour / best.cost_per_hour - 1.0) * 100.0
        ),
        (false, _, None) => format!(
            "co-location pays off: no, no co-located layout serves the demand; dedicated GPUs cost {}",
            money(best.cost_per_hour)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_round_up_but_not_past_an_exact_multiple() {
        assert_eq!(copies(1000.0, 500.0), 2);
        assert_eq!(copies(1000.0, 499.9), 3);
        assert_eq!(copies(1.0, 1000.0), 1);
        assert_eq!(copies(1.0, 0.0), u32::MAX);
    }
}
