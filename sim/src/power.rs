//! Power and the clock controller.
//!
//! Power = idle + (f/fmax)(V/Vmax)^2 x (active SMs x sm_active_w + busy FP32 issue x fp32_busy_w
//! plus busy tensor issue x tensor_busy_w) plus DRAM TB/s x dram_w_per_tbs, with a linear V-f curve.
//! Every `period` the controller compares the period's average power with the limit: over it,
//! the clock drops by gain x (excess / limit) x max clock, in whole steps and at least one (not
//! below the floor); when one step up would stay under the limit, the clock rises one step (not
//! above the maximum).

use crate::profile::GpuProfile;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PowerModel {
    pub idle_w: f64,
    pub sm_active_w: f64,
    pub fp32_busy_w: f64,
    pub tensor_busy_w: f64,
    pub dram_w_per_tbs: f64,
    pub v_min_ratio: f64,
    pub f_min: f64,
    pub f_max: f64,
}

/// What is happening on the GPU at an instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Activity {
    pub active_sms: f64,
    /// Sum over SMs of the share of issue slots busy with FP32/INT work.
    pub fp32_busy_sms: f64,
    pub tensor_busy_sms: f64,
    /// Bytes per ns = GB/s.
    pub dram_gbs: f64,
}

impl PowerModel {
    pub fn new(g: &GpuProfile) -> PowerModel {
        let p = &g.power;
        PowerModel {
            idle_w: p.idle_w.value,
            sm_active_w: p.sm_active_w.value,
            fp32_busy_w: p.fp32_busy_w.value,
            tensor_busy_w: p.tensor_busy_w.value,
            dram_w_per_tbs: p.dram_w_per_tbs.value,
            v_min_ratio: p.v_min_ratio.value,
            f_min: g.clock.min_sm_mhz.value,
            f_max: g.clock.max_sm_mhz.value,
        }
    }

    /// Voltage relative to the maximum clock's.
    pub fn voltage_ratio(&self, mhz: f64) -> f64 {
        if self.f_max <= self.f_min {
            return 1.0;
        }
        let x = ((mhz - self.f_min) / (self.f_max - self.f_min)).clamp(0.0, 1.0);
        self.v_min_ratio + (1.0 - self.v_min_ratio) * x
    }

    pub fn watts(&self, a: &Activity, mhz: f64) -> f64 {
        let v = self.voltage_ratio(mhz);
        let scale = mhz / self.f_max * v * v;
        let dynamic = a.active_sms * self.sm_active_w
            + a.fp32_busy_sms * self.fp32_busy_w
            + a.tensor_busy_sms * self.tensor_busy_w;
        self.idle_w + scale * dynamic + a.dram_gbs / 1000.0 * self.dram_w_per_tbs
    }
}

/// The power controller's state.
#[derive(Debug, Clone, Copy)]
pub struct ClockController {
    pub limit_w: f64,
    pub step_mhz: f64,
    pub min_mhz: f64,
    pub max_mhz: f64,
    pub gain: f64,
    pub mhz: f64,
}

impl ClockController {
    pub fn new(g: &GpuProfile) -> ClockController {
        ClockController {
            limit_w: g.power.limit_w.value,
            step_mhz: g.clock.step_mhz.value,
            min_mhz: g.clock.min_sm_mhz.value,
            max_mhz: g.clock.max_sm_mhz.value,
            gain: g.clock.gain.value,
            mhz: g.clock.max_sm_mhz.value,
        }
    }

    /// One control period with the given average power; returns true if the clock moved.
    /// `watts_one_step_up` is the power the same load would draw one step higher.
    pub fn update(&mut self, avg_w: f64, watts_one_step_up: f64) -> bool {
        let before = self.mhz;
        if avg_w > self.limit_w {
            let excess = self.gain * (avg_w - self.limit_w) / self.limit_w * self.max_mhz;
            let steps = (excess / self.step_mhz).round().max(1.0);
            self.mhz = (self.mhz - steps * self.step_mhz).max(self.min_mhz);
        } else if self.mhz < self.max_mhz && watts_one_step_up <= self.limit_w {
            self.mhz = (self.mhz + self.step_mhz).min(self.max_mhz);
        }
        self.mhz != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::tests::h100;

    #[test]
    fn power_grows_with_load_and_clock() {
        let m = PowerModel::new(&h100());
        let idle = m.watts(&Activity::default(), 1980.0);
        assert_eq!(idle, m.idle_w);
        let load = Activity { active_sms: 132.0, fp32_busy_sms: 132.0, tensor_busy_sms: 0.0, dram_gbs: 0.0 };
        let hi = m.watts(&load, 1980.0);
        let lo = m.watts(&load, 1500.0);
        assert!(hi > lo && lo > idle);
        // Lower clock, lower voltage: power falls faster than the clock.
        assert!((hi - idle) / (lo - idle) > 1980.0 / 1500.0);
    }

    #[test]
    fn controller_steps_down_over_limit_and_back_up() {
        let mut c = ClockController::new(&h100());
        c.gain = 0.0;
        assert!(c.update(800.0, 810.0));
        assert_eq!(c.mhz, 1965.0);
        assert!(!c.update(690.0, 705.0)); // one step up would cross the limit: hold
        assert!(c.update(600.0, 610.0));
        assert_eq!(c.mhz, 1980.0);
        assert!(!c.update(600.0, 610.0));
        for _ in 0..1000 {
            c.update(1000.0, 1000.0);
        }
        assert_eq!(c.mhz, c.min_mhz);
    }

    #[test]
    fn proportional_drop_for_large_excess() {
        let mut c = ClockController::new(&h100());
        c.gain = 0.25;
        // 50% over: 0.25 x 0.5 x 1980 = 247.5 MHz -> 16.5 -> 17 steps of 15 MHz.
        assert!(c.update(1050.0, 1060.0));
        assert_eq!(c.mhz, 1980.0 - 17.0 * 15.0);
        // Barely over: one step.
        assert!(c.update(701.0, 710.0));
        assert_eq!(c.mhz, 1980.0 - 18.0 * 15.0);
    }
}
