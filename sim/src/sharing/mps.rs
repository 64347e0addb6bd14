//! MPS: a client's active thread percentage becomes a cap on the SMs its blocks may occupy at
//! once, rounded down to the hardware's granularity (never below one granule). It is a limit,
//! not a reservation: the engine enforces it at placement and other clients may use those SMs.
//! Calibrated on an H100 and an H200 (driver 580): whole TPCs, and never fewer than 8 SMs.
//!
//! Mode rules: all members share one context (one SM space) through the MPS server, each member
//! its own process (so the cross-client issue share and carve-out rules apply between them);
//! a launch pays `launch.mps_extra_latency_us` on top of the usual latency, and its call on the host
//! `launch.mps_host_launch_extra_us` on top of every host gap; caps come from
//! `mps_thread_percentage` with the profile's `sharing.mps_sm_granularity` and `sharing.mps_min_sms`.

use super::{Arrangement, MemberPlan, Mode};
use crate::profile::GpuProfile;
use crate::spec::{Partition, SpecError};

pub(crate) struct Mps;

impl Mode for Mps {
    fn check(&self, p: &Partition) -> Result<(), SpecError> {
        for m in &p.members {
            if let Some(pct) = m.mps_thread_percentage {
                if !(pct.is_finite() && pct > 0.0 && pct <= 100.0) {
                    return Err(SpecError::new(
                        format!("clients[{}].mps_thread_percentage", m.client),
                        "must be above 0 and at most 100",
                    ));
                }
            }
        }
        Ok(())
    }

    fn arrange(&self, p: &Partition, partition_sms: u32, gpu: &GpuProfile) -> Arrangement {
        let sh = &gpu.sharing;
        let latency = gpu.launch.launch_latency_us.value + gpu.launch.mps_extra_latency_us.value;
        let members = p
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| MemberPlan {
                context: 0,
                process: i,
                sm_cap: match m.mps_thread_percentage {
                    Some(pct) => sm_cap(pct, partition_sms, sh.mps_sm_granularity.value, sh.mps_min_sms.value),
                    None => partition_sms,
                },
                launch_latency_us: latency,
                host_launch_extra_us: gpu.launch.mps_host_launch_extra_us.value,
            })
            .collect();
        Arrangement { members, contexts: 1, time_slice: None }
    }
}

pub fn sm_cap(percentage: f64, sm_count: u32, granularity: u32, min_sms: u32) -> u32 {
    let g = granularity.max(1);
    let raw = (percentage / 100.0 * sm_count as f64 + 1e-9).floor() as u32;
    ((raw / g) * g).max(min_sms).clamp(g.min(sm_count), sm_count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_down_to_granules() {
        assert_eq!(sm_cap(100.0, 132, 2, 2), 132);
        assert_eq!(sm_cap(50.0, 132, 2, 2), 66);
        assert_eq!(sm_cap(33.0, 132, 2, 2), 42); // 43.56 -> 43 -> 42
        assert_eq!(sm_cap(1.0, 132, 2, 2), 2); // never below one granule
        assert_eq!(sm_cap(25.0, 132, 8, 8), 32);
        assert_eq!(sm_cap(0.1, 132, 8, 8), 8);
        // What an H100 showed: 1-5% -> 8 SMs, 8% -> 10, 10% -> 12, 66% -> 86.
        for (p, n) in [(1.0, 8), (5.0, 8), (8.0, 10), (10.0, 12), (66.0, 86), (75.0, 98)] {
            assert_eq!(sm_cap(p, 132, 2, 8), n, "{p}%");
        }
    }
}
