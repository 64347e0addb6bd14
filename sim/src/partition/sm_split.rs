//! Fixed SM partitions (green contexts, libsmctrl, MPS static partitioning): each partition
//! owns SMs no other partition's blocks may use, in whole chunks of the GPU's granularity, while
//! DRAM bandwidth, capacity and the power budget stay shared (unlike MIG).

use super::{Placed, GIB};
use crate::profile::GpuProfile;
use crate::spec::{GpuLayout, Slice, SpecError};

pub(super) fn place(gi: usize, g: &GpuLayout, gpu: &GpuProfile) -> Result<Vec<Placed>, SpecError> {
    let n = gpu.sm_count();
    let at = |pi: usize, field: &str| format!("gpus[{gi}].partitions[{pi}].{field}");
    let Some(pt) = &gpu.partitioning else {
        return Err(SpecError::new(
            at(0, "sms"),
            format!("GPU profile `{}` states no SM-partition granularity ([partitioning])", gpu.name),
        ));
    };
    let (gran, min) = (pt.sm_granularity.value, pt.sm_min.value);
    let mut used = vec![false; n as usize];
    let mut out = vec![None; g.partitions.len()];
    // Partitions that name their first SM are placed before those that take the lowest free run.
    let mut order: Vec<usize> = (0..g.partitions.len()).collect();
    order.sort_by_key(|&pi| !matches!(g.partitions[pi].slice, Slice::Sms { first: Some(_), .. }));
    for pi in order {
        let Slice::Sms { first, count } = g.partitions[pi].slice else { continue };
        if count < min || count % gran != 0 {
            return Err(SpecError::new(
                at(pi, "sms"),
                format!(
                    "{count} SMs: a fixed SM partition on {} takes at least {min} SMs, in multiples of {gran}",
                    gpu.name
                ),
            ));
        }
        let free = |f: u32| f.checked_add(count).is_some_and(|e| e <= n) && (f..f + count).all(|s| !used[s as usize]);
        let f = match first {
            Some(f) => {
                if f % gran != 0 {
                    return Err(SpecError::new(
                        at(pi, "first"),
                        format!("must be a multiple of {gran} (the SM granularity)"),
                    ));
                }
                if !free(f) {
                    return Err(SpecError::new(
                        at(pi, "first"),
                        format!(
                            "SMs {f}..{} overlap another partition or run past the GPU's {n} SMs",
                            f.saturating_add(count)
                        ),
                    ));
                }
                f
            }
            None => (0..n).step_by(gran as usize).find(|&f| free(f)).ok_or_else(|| {
                let taken = used.iter().filter(|u| **u).count();
                SpecError::new(
                    at(pi, "sms"),
                    format!("{count} more SMs do not fit: {taken} of the GPU's {n} are already in other partitions"),
                )
            })?,
        };
        used[f as usize..(f + count) as usize].iter_mut().for_each(|u| *u = true);
        let capacity_gib = gpu.memory.capacity_gb.value * 1e9 / GIB;
        out[pi] = Some(Placed { first: f, count, own_bandwidth_share: None, capacity_gib });
    }
    Ok(out.into_iter().flatten().collect())
}
