//! The profile values the engine needs, bound once into typed fields, so the event loop never
//! reads the raw profile (whose values carry their sources as strings).

use crate::event_queue::Ns;
use crate::fast_power_limit::FastLimit;
use crate::occupancy::SmLimits;
use crate::placement::CarveoutRules;
use crate::power::{ClockController, PowerModel};
use crate::profile::GpuProfile;
use crate::progress::RateBase;

#[derive(Debug, Clone)]
pub(crate) struct GpuParams {
    pub n_sms: u32,
    pub limits: SmLimits,
    pub carveout: CarveoutRules,
    pub rates: RateBase,
    /// GPU-wide achievable DRAM bandwidth of a copy (half read, half written), bytes per ns.
    pub achievable_bw: f64,
    /// GPU-wide bandwidth of a read-only stream, bytes per ns: the unit pools are counted in.
    pub read_bw: f64,
    pub power: PowerModel,
    /// The controller as it starts: at the maximum clock.
    pub clock: ClockController,
    pub fast_limit: FastLimit,
    pub control_period_ns: Ns,
}

impl GpuParams {
    /// What a kernel's byte costs of the DRAM pool, in read bytes: reads 1, writes
    /// `2 x read_bw / achievable_bw - 1` (so that a copy's mix moves `achievable_bw`); a kernel
    /// whose mix is not known is costed as the copy.
    pub fn bandwidth_weight(&self, write_share: Option<f64>) -> f64 {
        let w = write_share.unwrap_or(0.5);
        let write_cost = 2.0 * self.read_bw / self.achievable_bw - 1.0;
        (1.0 - w) + w * write_cost
    }

    pub fn from_profile(g: &GpuProfile) -> GpuParams {
        GpuParams {
            n_sms: g.sm_count(),
            limits: SmLimits::from_profile(g),
            carveout: CarveoutRules {
                locked_across_clients: g.sharing.carveout_locked_across_clients.value,
                locked_in_context: g.sharing.carveout_locked_in_context.value,
            },
            rates: RateBase::from_profile(g),
            achievable_bw: g.memory.achievable_bw_gbs.value,
            read_bw: g.memory.read_bw_gbs.value,
            power: PowerModel::new(g),
            clock: ClockController::new(g),
            fast_limit: FastLimit {
                limit_w: g.power.fast_limit_w.value,
                step_mhz: g.clock.step_mhz.value,
                min_mhz: g.clock.min_sm_mhz.value,
            },
            // Truncated, not rounded: the values reports were committed with.
            control_period_ns: ((g.clock.period_ms.value * 1e6) as Ns).max(1),
        }
    }
}
