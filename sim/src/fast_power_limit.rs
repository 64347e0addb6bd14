//! The fast power limiter: within a controller period the card also holds its instantaneous
//! power under a higher level, by lowering the clock the SMs actually run at below the one the
//! slow controller (and NVML) reports. Seen on the H100 as dense GEMMs straight from idle running
//! at ~1570 MHz worth of work while NVML read 1980 MHz, and as instantaneous power peaking at
//! 727-760 W under a 700 W average (docs/power.md).
//!
//! Model: the effective clock is the highest of the controller's bins, at or below its clock,
//! where the present activity draws at most `limit_w`.

use crate::power::{Activity, PowerModel};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FastLimit {
    pub limit_w: f64,
    pub step_mhz: f64,
    pub min_mhz: f64,
}

impl FastLimit {
    /// The clock the SMs run at when the controller asks for `mhz` under activity `a`.
    pub fn effective_mhz(&self, m: &PowerModel, a: &Activity, mhz: f64) -> f64 {
        if m.watts(a, mhz) <= self.limit_w || self.step_mhz <= 0.0 {
            return mhz;
        }
        // Power grows with the clock: step down the bins until under the limit (a bounded walk,
        // at most the clock range over the bin).
        let mut f = mhz;
        while f - self.step_mhz >= self.min_mhz {
            f -= self.step_mhz;
            if m.watts(a, f) <= self.limit_w {
                return f;
            }
        }
        f.max(self.min_mhz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::tests::h100;

    #[test]
    fn caps_only_what_draws_over_the_limit() {
        let m = PowerModel::new(&h100());
        let fl = FastLimit { limit_w: 600.0, step_mhz: 15.0, min_mhz: m.f_min };
        let light = Activity { active_sms: 132.0, fp32_busy_sms: 20.0, ..Activity::default() };
        assert_eq!(fl.effective_mhz(&m, &light, 1980.0), 1980.0);
        let heavy = Activity { active_sms: 132.0, tensor_busy_sms: 132.0, ..Activity::default() };
        let f = fl.effective_mhz(&m, &heavy, 1980.0);
        assert!(f < 1980.0, "{f}");
        assert!(m.watts(&heavy, f) <= 600.0);
        assert!(m.watts(&heavy, f + 15.0) > 600.0, "the highest bin under the limit");
        // Never above what the controller asks.
        assert!(fl.effective_mhz(&m, &heavy, f - 30.0) <= f - 30.0);
    }
}
