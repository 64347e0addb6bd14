//! The SM clock during a measurement. Rates per clock need the clock the kernel actually ran
//! at, not the maximum: a card at its power limit, or one still ramping up from idle, runs lower.
//! NVML is polled from a second thread while the work runs on the calling thread (which holds
//! the CUDA context); without NVML the maximum clock is assumed, and the reading says so.

use crate::device::Gpu;
use nvml_wrapper::enum_wrappers::device::Clock;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ClockSource {
    /// Mean of NVML SM-clock samples taken while the kernel ran.
    NvmlSampled,
    /// NVML unavailable (or no sample): the device's maximum SM clock was assumed.
    MaxClockAssumed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClockReading {
    pub mean_mhz: f64,
    pub min_mhz: f64,
    pub max_mhz: f64,
    pub samples: usize,
    pub source: ClockSource,
}

impl ClockReading {
    fn assumed(max_mhz: f64) -> ClockReading {
        ClockReading { mean_mhz: max_mhz, min_mhz: max_mhz, max_mhz, samples: 0, source: ClockSource::MaxClockAssumed }
    }

    fn from_samples(mhz: &[u32]) -> Option<ClockReading> {
        if mhz.is_empty() {
            return None;
        }
        let v: Vec<f64> = mhz.iter().map(|&m| m as f64).collect();
        Some(ClockReading {
            mean_mhz: v.iter().sum::<f64>() / v.len() as f64,
            min_mhz: v.iter().cloned().fold(f64::INFINITY, f64::min),
            max_mhz: v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            samples: v.len(),
            source: ClockSource::NvmlSampled,
        })
    }
}

/// Runs `work` (which should launch and synchronize) while sampling the SM clock every `period`.
pub fn with_sm_clock<R>(gpu: &Gpu, period: Duration, work: impl FnOnce() -> R) -> (R, ClockReading) {
    let fallback = ClockReading::assumed(gpu.info().max_sm_clock_mhz);
    let Ok(dev) = gpu.nvml_device() else {
        return (work(), fallback);
    };
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut mhz = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Ok(c) = dev.clock_info(Clock::SM) {
                    mhz.push(c);
                }
                std::thread::sleep(period);
            }
            mhz
        });
        let r = work();
        stop.store(true, Ordering::Relaxed);
        let mhz = sampler.join().unwrap_or_default();
        (r, ClockReading::from_samples(&mhz).unwrap_or(fallback))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_summarised() {
        let r = ClockReading::from_samples(&[1980, 1950, 1980, 1930]).expect("samples");
        assert_eq!(r.samples, 4);
        assert!((r.mean_mhz - 1960.0).abs() < 1e-9);
        assert_eq!((r.min_mhz, r.max_mhz), (1930.0, 1980.0));
        assert_eq!(r.source, ClockSource::NvmlSampled);
        assert!(ClockReading::from_samples(&[]).is_none());
    }
}
