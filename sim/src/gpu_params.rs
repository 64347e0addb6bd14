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
    /// GPU-wide bandwidth of a read-only stream, bytes per ns: the unit pools are counted in.
    pub read_bw: f64,
    /// A written byte's cost in read bytes (`MemoryParams::write_cost`).
    pub write_cost: f64,
    pub power: PowerModel,
    /// The controller as it starts: at the maximum clock.
    pub clock: ClockController,
    pub fast_limit: FastLimit,
    pub control_period_ns: Ns,
}

impl GpuParams {
    /// What a kernel's byte costs of the DRAM pool, in read bytes: reads 1, writes
    /// `write_cost` (so that a copy's mix moves `achievable_bw`); a kernel whose mix is not
    /// known is costed as the copy.
    pub fn bandwidth_weight(&self, write_share: Option<f64>) -> f64 {
        let w = write_share.unwrap_or(0.5);
        (1.0 - w) + w * self.write_cost
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
            read_bw: g.memory.read_bw_gbs.value,
            write_cost: g.memory.write_cost(),
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
