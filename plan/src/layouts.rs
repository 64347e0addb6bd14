//! The layouts a plan tries: for each GPU type, every way the plan's choices allow of putting
//! replicas of its workloads on one GPU (or, tensor-parallel, on a few), each one a [`Unit`] that
//! is simulated once. Fleets are built from copies of units ([`crate::costing`]).
//!
//! Per workload alone: one replica on a GPU (dedicated), N replicas time-sliced or under MPS
//! (uncapped and at 100/N percent, seed 002's rule), one replica in each instance of a MIG profile,
//! tensor-parallel over several GPUs. All workloads together on one GPU: time-sliced, under MPS
//! over a grid of thread percentages, in MIG instances, in fixed SM partitions, and beside the
//! ranks of a tensor-parallel generator (seed 003's question).

use crate::file::{Choice, GpuOption, PlanSpec};
use simgpu_sim::spec::{Sharing, Slice};
use simgpu_workloads::Phase;

/// One client of a unit.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitClient {
    /// Index into the plan's workloads.
    pub workload: usize,
    /// Tensor-parallel degree (1: one GPU).
    pub tp: u32,
    pub name: String,
}

/// A partition of one GPU of a unit.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitPart {
    pub slice: Slice,
    pub sharing: Sharing,
    /// (index into the unit's clients, MPS thread percentage).
    pub members: Vec<(usize, Option<f64>)>,
}

/// A layout simulated once: clients on one GPU, or on a tensor-parallel client's GPUs.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// Its place in the enumeration (the same on every run and every shard).
    pub id: usize,
    /// Index into the plan's GPU types.
    pub gpu: usize,
    /// The way of sharing it tries.
    pub choice: Choice,
    pub label: String,
    pub clients: Vec<UnitClient>,
    /// Per GPU of one copy, its partitions.
    pub gpus: Vec<Vec<UnitPart>>,
}

impl Unit {
    /// Whether clients of more than one workload run in it.
    pub fn mixes_workloads(&self) -> bool {
        self.clients.iter().any(|c| c.workload != self.clients[0].workload)
    }

    /// Whether every GPU runs one client alone (dedicated, or one tensor-parallel client).
    pub fn one_client_per_gpu(&self) -> bool {
        self.gpus.iter().all(|g| g.len() == 1 && g[0].members.len() == 1)
    }

    /// Replicas of workload `w` (a tensor-parallel client counts once).
    pub fn replicas(&self, w: usize) -> u32 {
        self.clients.iter().filter(|c| c.workload == w).count() as u32
    }
}

fn whole(sharing: Sharing, members: Vec<(usize, Option<f64>)>) -> UnitPart {
    let sharing = if members.len() == 1 { Sharing::Dedicated } else { sharing };
    UnitPart { slice: Slice::Whole, sharing, members }
}

/// Names the clients of a unit: the workload's name, numbered when it has replicas.
fn clients_for(plan: &PlanSpec, replicas: &[(usize, u32, u32)]) -> Vec<UnitClient> {
    let mut out = Vec::new();
    for &(w, n, tp) in replicas {
        for r in 0..n {
            let base = &plan.workloads[w].name;
            let name = if n > 1 { format!("{base}#{}", r + 1) } else { base.clone() };
            out.push(UnitClient { workload: w, tp, name });
        }
    }
    out
}

/// Whether a workload's model can be split over ranks (decoders; not encoder batches).
fn splittable(plan: &PlanSpec, w: usize, tp: u32) -> bool {
    let wl = &plan.workloads[w];
    !matches!(wl.phase, Phase::Encode { .. }) && wl.config.shard(tp as u64).is_ok()
}

/// The MIG profiles a layout may use on a GPU (media-extension variants add nothing here).
fn mig_profiles(g: &GpuOption) -> Vec<&simgpu_sim::profile::MigProfile> {
    match &g.profile.partitioning {
        Some(p) if p.mig.supported => p.mig.profiles.iter().filter(|m| !m.name.contains('+')).collect(),
        _ => Vec::new(),
    }
}

/// Every unit of the plan, in a fixed order: GPU types in the plan's order; per type, each
/// workload's layouts alone, then the layouts that mix them.
pub fn units(plan: &PlanSpec) -> Vec<Unit> {
    let mut out: Vec<Unit> = Vec::new();
    let ch = &plan.choices;
    let mut push = |gpu: usize, choice: Choice, label: String, clients: Vec<UnitClient>, gpus: Vec<Vec<UnitPart>>| {
        let id = out.len();
        out.push(Unit { id, gpu, choice, label, clients, gpus });
    };
    for (gi, g) in plan.gpus.iter().enumerate() {
        let n_sms = g.profile.sm.count.value;
        let migs = mig_profiles(g);
        let (mig_cs, mig_ms) =
            g.profile.partitioning.as_ref().map_or((0, 0), |p| (p.mig.compute_slices, p.mig.memory_slices));
        for (w, wl) in plan.workloads.iter().enumerate() {
            let name = &wl.name;
            push(
                gi,
                Choice::Dedicated,
                format!("{name} alone"),
                clients_for(plan, &[(w, 1, 1)]),
                vec![vec![whole(Sharing::Dedicated, vec![(0, None)])]],
            );
            for n in 2..=ch.replicas {
                let cl = clients_for(plan, &[(w, n, 1)]);
                let all = |pct: Option<f64>| (0..n as usize).map(|i| (i, pct)).collect::<Vec<_>>();
                if ch.allows(Choice::Timeslice) {
                    push(
                        gi,
                        Choice::Timeslice,
                        format!("{name} x{n} timeslice"),
                        cl.clone(),
                        vec![vec![whole(Sharing::Timeslice, all(None))]],
                    );
                }
                if ch.allows(Choice::Mps) {
                    push(
                        gi,
                        Choice::Mps,
                        format!("{name} x{n} mps"),
                        cl.clone(),
                        vec![vec![whole(Sharing::Mps, all(None))]],
                    );
                    let pct = (100 / n) as f64;
                    push(
                        gi,
                        Choice::Mps,
                        format!("{name} x{n} mps {pct}%"),
                        cl.clone(),
                        vec![vec![whole(Sharing::Mps, all(Some(pct)))]],
                    );
                }
            }
            if ch.allows(Choice::Mig) {
                for m in &migs {
                    let n = m.max_instances.min(mig_cs / m.compute_slices.max(1)).min(mig_ms / m.memory_slices.max(1));
                    // One instance alone is a smaller GPU at the same price.
                    if n < 2 {
                        continue;
                    }
                    let cl = clients_for(plan, &[(w, n, 1)]);
                    let parts = (0..n as usize)
                        .map(|i| UnitPart {
                            slice: Slice::Mig { profile: m.name.clone(), start: None },
                            sharing: Sharing::Dedicated,
                            members: vec![(i, None)],
                        })
                        .collect();
                    push(gi, Choice::Mig, format!("{name} x{n} mig {}", m.name), cl, vec![parts]);
                    // Two replicas under MPS inside each instance.
                    if ch.allows(Choice::Mps) && ch.replicas >= 2 {
                        let cl = clients_for(plan, &[(w, 2 * n, 1)]);
                        let parts = (0..n as usize)
                            .map(|i| UnitPart {
                                slice: Slice::Mig { profile: m.name.clone(), start: None },
                                sharing: Sharing::Mps,
                                members: vec![(2 * i, None), (2 * i + 1, None)],
                            })
                            .collect();
                        let label = format!("{name} x{} mig {} mps x2 in each", 2 * n, m.name);
                        push(gi, Choice::Mig, label, cl, vec![parts]);
                    }
                }
            }
            if ch.allows(Choice::TensorParallel) && g.profile.link.is_some() {
                for &tp in &ch.tensor_parallel {
                    if tp <= g.max_count && splittable(plan, w, tp) {
                        let cl = clients_for(plan, &[(w, 1, tp)]);
                        let gpus = (0..tp).map(|_| vec![whole(Sharing::Dedicated, vec![(0, None)])]).collect();
                        push(gi, Choice::TensorParallel, format!("{name} tp{tp}"), cl, gpus);
                    }
                }
            }
        }
        if plan.workloads.len() < 2 {
            continue;
        }
        // Every workload on one GPU, each with 1 to `replicas` replicas.
        let nw = plan.workloads.len();
        let names: Vec<&str> = plan.workloads.iter().map(|w| w.name.as_str()).collect();
        for counts in replica_vectors(nw, ch.replicas) {
            let spec: Vec<(usize, u32, u32)> = counts.iter().enumerate().map(|(w, &n)| (w, n, 1)).collect();
            let cl = clients_for(plan, &spec);
            let what: Vec<String> = counts
                .iter()
                .zip(&names)
                .map(|(&n, nm)| if n > 1 { format!("{nm} x{n}") } else { nm.to_string() })
                .collect();
            let what = what.join(" + ");
            let everyone = |pct: &dyn Fn(usize) -> Option<f64>| {
                (0..cl.len()).map(|i| (i, pct(cl[i].workload))).collect::<Vec<_>>()
            };
            if ch.allows(Choice::Timeslice) {
                push(
                    gi,
                    Choice::Timeslice,
                    format!("{what} timeslice"),
                    cl.clone(),
                    vec![vec![whole(Sharing::Timeslice, everyone(&|_| None))]],
                );
            }
            if ch.allows(Choice::Mps) {
                push(
                    gi,
                    Choice::Mps,
                    format!("{what} mps"),
                    cl.clone(),
                    vec![vec![whole(Sharing::Mps, everyone(&|_| None))]],
                );
                let grid: Vec<u32> = ch.mps_percentages.iter().copied().chain([100]).collect();
                for pcts in grid_vectors(nw, &grid) {
                    if pcts.iter().all(|&p| p == 100) {
                        continue;
                    }
                    let label: Vec<String> = pcts.iter().map(|p| p.to_string()).collect();
                    let pct = |w: usize| (pcts[w] < 100).then_some(pcts[w] as f64);
                    push(
                        gi,
                        Choice::Mps,
                        format!("{what} mps {}%", label.join("/")),
                        cl.clone(),
                        vec![vec![whole(Sharing::Mps, everyone(&pct))]],
                    );
                }
            }
            if ch.allows(Choice::Mig) && !migs.is_empty() {
                for pick in grid_vectors(nw, &(0..migs.len() as u32).collect::<Vec<_>>()) {
                    let cs: u32 = pick.iter().zip(&counts).map(|(&m, &n)| migs[m as usize].compute_slices * n).sum();
                    let ms: u32 = pick.iter().zip(&counts).map(|(&m, &n)| migs[m as usize].memory_slices * n).sum();
                    if cs > mig_cs || ms > mig_ms {
                        continue;
                    }
                    let parts = cl
                        .iter()
                        .enumerate()
                        .map(|(i, c)| UnitPart {
                            slice: Slice::Mig { profile: migs[pick[c.workload] as usize].name.clone(), start: None },
                            sharing: Sharing::Dedicated,
                            members: vec![(i, None)],
                        })
                        .collect();
                    let label: Vec<String> = pick.iter().map(|&m| migs[m as usize].name.clone()).collect();
                    push(gi, Choice::Mig, format!("{what} mig {}", label.join("/")), cl.clone(), vec![parts]);
                }
            }
            // Every workload once in each instance of one profile, under MPS inside it.
            if ch.allows(Choice::Mig) && ch.allows(Choice::Mps) && counts.iter().all(|&n| n == 1) {
                for m in &migs {
                    let n = m.max_instances.min(mig_cs / m.compute_slices.max(1)).min(mig_ms / m.memory_slices.max(1));
                    if n < 1 {
                        continue;
                    }
                    let spec: Vec<(usize, u32, u32)> = (0..nw).map(|w| (w, n, 1)).collect();
                    let cl = clients_for(plan, &spec);
                    let parts = (0..n as usize)
                        .map(|i| UnitPart {
                            slice: Slice::Mig { profile: m.name.clone(), start: None },
                            sharing: Sharing::Mps,
                            members: (0..nw).map(|w| (w * n as usize + i, None)).collect(),
                        })
                        .collect();
                    push(gi, Choice::Mig, format!("{what} mps in each of {n} mig {}", m.name), cl, vec![parts]);
                }
            }
            // Fixed SM partitions between two workloads, one replica each.
            if ch.allows(Choice::SmPartitions) && nw == 2 && counts == [1, 1] {
                let gran = g.profile.partitioning.as_ref().map_or(1, |p| p.sm_granularity.value.max(1));
                let min = g.profile.partitioning.as_ref().map_or(1, |p| p.sm_min.value.max(gran));
                let mut seen = Vec::new();
                for k in 1..ch.sm_split_steps {
                    let a = ((n_sms as f64 * k as f64 / ch.sm_split_steps as f64 / gran as f64).round() as u32) * gran;
                    let b = (n_sms.saturating_sub(a) / gran) * gran;
                    if a < min || b < min || seen.contains(&a) {
                        continue;
                    }
                    seen.push(a);
                    let part = |count: u32, i: usize| UnitPart {
                        slice: Slice::Sms { first: None, count },
                        sharing: Sharing::Dedicated,
                        members: vec![(i, None)],
                    };
                    push(
                        gi,
                        Choice::SmPartitions,
                        format!("{what} sms {a}/{b}"),
                        cl.clone(),
                        vec![vec![part(a, 0), part(b, 1)]],
                    );
                }
            }
        }
        // A tensor-parallel generator with the other workloads beside its ranks, under MPS.
        if ch.allows(Choice::TensorParallel) && ch.allows(Choice::Mps) && g.profile.link.is_some() {
            for (w0, wl0) in plan.workloads.iter().enumerate() {
                for &tp in &ch.tensor_parallel {
                    if tp > g.max_count || !splittable(plan, w0, tp) {
                        continue;
                    }
                    let others: Vec<usize> = (0..nw).filter(|&w| w != w0).collect();
                    let other_names: Vec<&str> = others.iter().map(|&w| names[w]).collect();
                    // Beside rank 0 only.
                    let mut spec = vec![(w0, 1, tp)];
                    spec.extend(others.iter().map(|&w| (w, 1, 1)));
                    let cl = clients_for(plan, &spec);
                    let mut gpus = vec![vec![whole(Sharing::Mps, (0..cl.len()).map(|i| (i, None)).collect())]];
                    gpus.extend((1..tp).map(|_| vec![whole(Sharing::Dedicated, vec![(0, None)])]));
                    let label = format!("{} tp{tp} + {} beside rank 0 mps", wl0.name, other_names.join(" + "));
                    push(gi, Choice::TensorParallel, label, cl, gpus);
                    // Beside every rank.
                    let mut spec = vec![(w0, 1, tp)];
                    spec.extend(others.iter().map(|&w| (w, tp, 1)));
                    let cl = clients_for(plan, &spec);
                    let gpus = (0..tp as usize)
                        .map(|r| {
                            let mut m = vec![(0, None)];
                            for (j, _) in others.iter().enumerate() {
                                m.push((1 + j * tp as usize + r, None));
                            }
                            vec![whole(Sharing::Mps, m)]
                        })
                        .collect();
                    let label = format!("{} tp{tp} + {} beside each rank mps", wl0.name, other_names.join(" + "));
                    push(gi, Choice::TensorParallel, label, cl, gpus);
                }
            }
        }
    }
    out
}

/// Every vector of `n` replica counts from 1 to `max`, in lexicographic order.
fn replica_vectors(n: usize, max: u32) -> Vec<Vec<u32>> {
    grid_vectors(n, &(1..=max).collect::<Vec<_>>())
}

/// Every vector of `n` values from `grid`, in lexicographic order of their indices.
fn grid_vectors(n: usize, grid: &[u32]) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new()];
    for _ in 0..n {
        out = out.into_iter().flat_map(|v| grid.iter().map(move |&x| [v.clone(), vec![x]].concat())).collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids() {
        assert_eq!(replica_vectors(2, 2), vec![vec![1, 1], vec![1, 2], vec![2, 1], vec![2, 2]]);
        assert_eq!(grid_vectors(1, &[25, 100]), vec![vec![25], vec![100]]);
        assert_eq!(grid_vectors(3, &[1, 2, 3]).len(), 27);
    }
}
