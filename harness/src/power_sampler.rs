//! NVML sampling on a thread of its own: power, SM clock, throttle reasons and the energy
//! counter, every few milliseconds, while a load runs. NVML's power reading is a 1 s average on
//! Ampere and later, so window averages come from the energy counter instead.

use crate::error::HarnessError;
use nvml_wrapper::enum_wrappers::device::Clock;
use nvml_wrapper::Nvml;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Seconds since the sampler started.
    pub t_s: f64,
    pub power_w: f64,
    pub sm_mhz: f64,
    /// Millijoules since the driver loaded.
    pub energy_mj: u64,
    /// NVML clock-event (throttle) reason bits; 0x4 is the software power cap.
    pub throttle: u64,
}

pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<Vec<Sample>, HarnessError>>>,
}

fn nvml_err(e: impl std::fmt::Display) -> HarnessError {
    HarnessError::Nvml(e.to_string())
}

/// One reading now (used by the sampler and for single checks).
pub fn read(nvml: &Nvml, index: u32, t0: Instant) -> Result<Sample, HarnessError> {
    let d = nvml.device_by_index(index).map_err(nvml_err)?;
    Ok(Sample {
        t_s: t0.elapsed().as_secs_f64(),
        power_w: d.power_usage().map_err(nvml_err)? as f64 / 1000.0,
        sm_mhz: d.clock_info(Clock::SM).map_err(nvml_err)? as f64,
        energy_mj: d.total_energy_consumption().map_err(nvml_err)?,
        throttle: d.current_throttle_reasons().map(|r| r.bits()).unwrap_or(0),
    })
}

impl Sampler {
    pub fn start(index: u32, period: Duration) -> Result<Sampler, HarnessError> {
        let nvml = Nvml::init().map_err(HarnessError::from)?;
        // Fail now, not on the thread, if this device cannot be read.
        read(&nvml, index, Instant::now())?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut out = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                out.push(read(&nvml, index, t0)?);
                std::thread::sleep(period);
            }
            out.push(read(&nvml, index, t0)?);
            Ok(out)
        });
        Ok(Sampler { stop, handle: Some(handle) })
    }

    pub fn finish(mut self) -> Result<Vec<Sample>, HarnessError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            _ => Err(HarnessError::Nvml("the NVML sampling thread failed".into())),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Average power over samples from the energy counter (W), or from readings if it did not move.
pub fn average_power(samples: &[Sample]) -> Option<f64> {
    let (first, last) = (samples.first()?, samples.last()?);
    let dt = last.t_s - first.t_s;
    if dt > 0.0 && last.energy_mj > first.energy_mj {
        return Some((last.energy_mj - first.energy_mj) as f64 / 1000.0 / dt);
    }
    Some(samples.iter().map(|s| s.power_w).sum::<f64>() / samples.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_power_uses_the_energy_counter() {
        let s = |t: f64, e: u64| Sample { t_s: t, power_w: 1.0, sm_mhz: 1980.0, energy_mj: e, throttle: 0 };
        assert_eq!(average_power(&[s(0.0, 1000), s(2.0, 801_000)]), Some(400.0));
        assert_eq!(average_power(&[s(0.0, 5), s(1.0, 5)]), Some(1.0));
        assert_eq!(average_power(&[]), None);
    }
}
