//! MIG GPU instances, by the rules of the profile's table (`nvidia-smi mig -lgip` / `-lgipp`):
//! a profile the GPU offers, at one of its placements (start and size in memory slices), no two
//! instances on one memory slice, no more instances of a profile than it allows, no more compute
//! slices than the GPU has. Each instance gets its profile's SMs and its memory slices' share of
//! DRAM bandwidth and capacity; power stays GPU-wide.

use super::Placed;
use crate::profile::{GpuProfile, MigProfile};
use crate::spec::{GpuLayout, Slice, SpecError};

pub(super) fn place(gi: usize, g: &GpuLayout, gpu: &GpuProfile) -> Result<Vec<Placed>, SpecError> {
    let at = |pi: usize, field: &str| format!("gpus[{gi}].partitions[{pi}].{field}");
    let table = match &gpu.partitioning {
        Some(pt) if pt.mig.supported => &pt.mig,
        Some(_) => return Err(SpecError::new(at(0, "mig"), format!("{} has no MIG ({})", gpu.product, gpu.name))),
        None => {
            return Err(SpecError::new(
                at(0, "mig"),
                format!("GPU profile `{}` has no MIG table ([partitioning.mig])", gpu.name),
            ))
        }
    };
    let mut slices_used = vec![None::<usize>; table.memory_slices as usize];
    let mut starts = vec![0u32; g.partitions.len()];
    let mut profiles: Vec<&MigProfile> = Vec::with_capacity(g.partitions.len());
    for (pi, p) in g.partitions.iter().enumerate() {
        let Slice::Mig { profile, .. } = &p.slice else { unreachable!("the caller checked every slice is MIG") };
        let found = table.profiles.iter().find(|m| m.name == *profile).ok_or_else(|| {
            let names: Vec<&str> = table.profiles.iter().map(|m| m.name.as_str()).collect();
            SpecError::new(
                at(pi, "mig"),
                format!("{} has no MIG profile `{profile}` (it has {})", gpu.name, names.join(", ")),
            )
        })?;
        profiles.push(found);
        let count = profiles.iter().filter(|m| m.name == found.name).count() as u32;
        if count > found.max_instances {
            return Err(SpecError::new(
                at(pi, "mig"),
                format!("at most {} instance(s) of {} fit on one GPU", found.max_instances, found.name),
            ));
        }
    }
    let compute: u32 = profiles.iter().map(|m| m.compute_slices).sum();
    if compute > table.compute_slices {
        return Err(SpecError::new(
            at(g.partitions.len() - 1, "mig"),
            format!("these instances take {compute} compute slices; the GPU has {}", table.compute_slices),
        ));
    }
    // Instances with a stated start are placed first, as stated; the others are then fitted
    // around them by a search over their profiles' placements (at most seven instances of at
    // most eight placements each), the largest first, each trying its placements in order: the
    // driver also finds a free placement for any set the table allows, whatever the order.
    for (pi, p) in g.partitions.iter().enumerate() {
        let Slice::Mig { start: Some(s), .. } = p.slice else { continue };
        let m = profiles[pi];
        if !m.starts.contains(&s) {
            let list: Vec<String> = m.starts.iter().map(u32::to_string).collect();
            return Err(SpecError::new(
                at(pi, "start"),
                format!(
                    "{} may start only at memory slice {} (placements {{{}}}:{})",
                    m.name,
                    list.join(" or "),
                    list.join(","),
                    m.memory_slices
                ),
            ));
        }
        if let Some(other) = (s..s + m.memory_slices).find_map(|i| slices_used[i as usize]) {
            return Err(SpecError::new(
                at(pi, "start"),
                format!("{} at {s}:{} overlaps the memory slices of partitions[{other}]", m.name, m.memory_slices),
            ));
        }
        (s..s + m.memory_slices).for_each(|i| slices_used[i as usize] = Some(pi));
        starts[pi] = s;
    }
    let mut open: Vec<usize> = (0..g.partitions.len())
        .filter(|&pi| matches!(g.partitions[pi].slice, Slice::Mig { start: None, .. }))
        .collect();
    open.sort_by_key(|&pi| std::cmp::Reverse(profiles[pi].memory_slices));
    if !fit(&open, &profiles, &mut slices_used, &mut starts) {
        let pi = *open.last().unwrap_or(&0);
        return Err(SpecError::new(
            at(pi, "mig"),
            "no placements of these instances leave their memory slices apart (state `start` to see which collide)",
        ));
    }
    // SMs in placement order; the table's counts never exceed the GPU's SMs for a valid set.
    let mut by_start: Vec<usize> = (0..g.partitions.len()).collect();
    by_start.sort_by_key(|&pi| starts[pi]);
    let mut out = vec![None; g.partitions.len()];
    let mut next = 0u32;
    for pi in by_start {
        let m = profiles[pi];
        if next + m.sms > gpu.sm_count() {
            return Err(SpecError::new(
                at(pi, "mig"),
                format!("the instances need more SMs than the GPU's {}", gpu.sm_count()),
            ));
        }
        out[pi] = Some(Placed {
            first: next,
            count: m.sms,
            own_bandwidth_share: Some(m.memory_slices as f64 / table.memory_slices as f64),
            capacity_gib: m.memory_gib,
        });
        next += m.sms;
    }
    Ok(out.into_iter().flatten().collect())
}

/// Places the instances `open` (indices into `profiles`) on free memory slices, the first of
/// them first, backtracking; true when every one found a placement.
fn fit(open: &[usize], profiles: &[&MigProfile], used: &mut [Option<usize>], starts: &mut [u32]) -> bool {
    let Some((&pi, rest)) = open.split_first() else { return true };
    let m = profiles[pi];
    for &s in &m.starts {
        let span = s as usize..(s + m.memory_slices) as usize;
        if used[span.clone()].iter().any(Option::is_some) {
            continue;
        }
        used[span.clone()].iter_mut().for_each(|u| *u = Some(pi));
        if fit(rest, profiles, used, starts) {
            starts[pi] = s;
            return true;
        }
        used[span].iter_mut().for_each(|u| *u = None);
    }
    false
}
