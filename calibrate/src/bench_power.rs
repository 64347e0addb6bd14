//! The power model and the clock controller (`power.*`, `clock.step_mhz`, `clock.period_ms`):
//! NVML readings while controlled loads run: idle; SMs held without issuing (`nap`); the FMA
//! kernel on a quarter, half and all of the SMs; DRAM copies on every SM; dense bf16 GEMMs of
//! noise (2048, 4096 and 8192 square) on every SM, the largest long enough for the power
//! controller to act; each reaches the limit at its own clock; last, ten 8192 GEMMs straight from
//! idle (the fast limiter).
//! Window averages come from NVML's energy counter; the clock from the sampled SM clock.

use crate::bench_dram::CopyBuffers;
use crate::bench_gemm::GemmLoad;
use crate::fit_power::PowerPoint;
use crate::kernels::Kernels;
use crate::probe_kernels::{launch_long, launch_nap, FmaBufs, ProbeKernels};
use serde::Serialize;
use simgpu_harness::power_sampler::{average_power, Sample, Sampler};
use simgpu_harness::Gpu;
use simgpu_harness::HarnessError;
use simgpu_sim::power::Activity;
use std::time::{Duration, Instant};

/// Seconds each load runs; the first `WARM_S` are not averaged (NVML and clocks settle).
const LOAD_S: f64 = 2.5;
const WARM_S: f64 = 0.7;
/// NVML's throttle-reason bit for the software power cap.
pub const SW_POWER_CAP: u64 = 0x4;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedPoint {
    pub load: String,
    pub point: PowerPoint,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClockTrace {
    pub samples: Vec<Sample>,
    pub avg_power_w: f64,
    pub mean_mhz: f64,
    pub min_mhz: f64,
    /// Share of samples with the software power cap active.
    pub power_capped: f64,
    pub step_mhz: Option<f64>,
    pub period_ms: Option<f64>,
    pub gemm_tflops: f64,
}

fn nvml_index(gpu: &Gpu) -> Result<u32, HarnessError> {
    Ok(gpu.nvml_device()?.index()?)
}

fn window(samples: &[Sample], from_s: f64) -> Vec<Sample> {
    samples.iter().copied().filter(|s| s.t_s >= from_s).collect()
}

fn mean_clock(samples: &[Sample]) -> f64 {
    samples.iter().map(|s| s.sm_mhz).sum::<f64>() / samples.len().max(1) as f64
}

/// Runs `drive` (which keeps the GPU loaded until the deadline it is given) under the sampler.
fn sampled(
    gpu: &Gpu,
    secs: f64,
    drive: impl FnOnce(Instant) -> Result<f64, HarnessError>,
) -> Result<(Vec<Sample>, f64), HarnessError> {
    let sampler = Sampler::start(nvml_index(gpu)?, Duration::from_millis(10))?;
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let extra = drive(deadline)?;
    gpu.stream().synchronize()?;
    Ok((sampler.finish()?, extra))
}

fn point(load: &str, samples: &[Sample], activity: Activity) -> Result<NamedPoint, HarnessError> {
    let w = window(samples, WARM_S);
    let watts =
        average_power(&w).ok_or_else(|| HarnessError::Measurement(format!("no NVML samples during `{load}`")))?;
    Ok(NamedPoint { load: load.into(), point: PowerPoint { activity, sm_mhz: mean_clock(&w), watts } })
}

pub struct PowerRun {
    pub points: Vec<NamedPoint>,
    pub trace: ClockTrace,
    pub burst: Burst,
}

/// A few dense GEMMs straight from idle: what the SMs deliver before the slow controller has
/// moved (the fast limiter's doing where it falls short of the reported clock).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Burst {
    pub n: usize,
    pub reps: u32,
    pub tflops: f64,
    /// The SM clock NVML reported meanwhile.
    pub reported_mhz: f64,
    /// DRAM traffic at the least (A and B read, C written), GB/s.
    pub dram_gbs: f64,
}

/// Seconds of idle before the burst: the controller returns to the maximum clock.
const BURST_IDLE_S: f64 = 2.0;

fn run_burst(gpu: &Gpu, g: &mut GemmLoad, reps: u32) -> Result<Burst, HarnessError> {
    g.launch()?;
    gpu.stream().synchronize()?;
    std::thread::sleep(Duration::from_secs_f64(BURST_IDLE_S));
    let (elapsed, clock) = g.timed(gpu, reps)?;
    let flops_per_s = g.flops() * reps as f64 / elapsed;
    Ok(Burst {
        n: g.n,
        reps,
        tflops: flops_per_s / 1e12,
        reported_mhz: clock.mean_mhz,
        dram_gbs: flops_per_s / g.flops() * g.bytes() / 1e9,
    })
}

/// All loads. `fp32_peak` and `tensor_peak` are FLOP/clk/SM (as fitted), to express the loads'
/// issue use the way the simulator does.
pub fn run_power(
    gpu: &Gpu,
    k: &Kernels,
    pk: &ProbeKernels,
    tensor_peak: f64,
    trace_s: f64,
) -> Result<PowerRun, HarnessError> {
    let sms = gpu.info().sm_count;
    let smsf = sms as f64;
    let s = gpu.stream();
    let mut points = Vec::new();
    let ns = (LOAD_S * 1e9) as u64;

    let (idle, _) = sampled(gpu, LOAD_S, |d| {
        std::thread::sleep(d.saturating_duration_since(Instant::now()));
        Ok(0.0)
    })?;
    points.push(point("idle", &idle, Activity::default())?);

    let (nap, _) = sampled(gpu, LOAD_S, |_| launch_nap(s, pk, sms, ns).map(|_| 0.0))?;
    points.push(point("SMs held, no issue", &nap, Activity { active_sms: smsf, ..Default::default() })?);

    for k_sms in [sms / 4, sms / 2, sms] {
        let mut bufs = FmaBufs::new(s, k_sms)?;
        let (fma, _) = sampled(gpu, LOAD_S, |_| launch_long(s, pk, &mut bufs, 1024, ns).map(|_| 0.0))?;
        let a = Activity { active_sms: k_sms as f64, fp32_busy_sms: k_sms as f64, ..Default::default() };
        points.push(point(&format!("FMA on {k_sms} SMs"), &fma, a)?);
    }

    let mut copy = CopyBuffers::new(gpu, 512 << 20, 2 * sms)?;
    let bytes = 2.0 * (copy.n_vec as f64) * 16.0;
    let (dram, gbs) = sampled(gpu, LOAD_S, |deadline| {
        let (t0, mut n) = (Instant::now(), 0u64);
        let mut warm_n = 0u64;
        while Instant::now() < deadline {
            for _ in 0..20 {
                copy.launch(gpu, &k.stream_copy, 2 * sms, 1024)?;
            }
            s.synchronize()?;
            n += 20;
            if t0.elapsed().as_secs_f64() < WARM_S {
                warm_n = n;
            }
        }
        Ok((n - warm_n) as f64 * bytes / (t0.elapsed().as_secs_f64() - WARM_S).max(1e-3) / 1e9)
    })?;
    points.push(point("DRAM copy", &dram, Activity { active_sms: smsf, dram_gbs: gbs, ..Default::default() })?);

    // Smaller GEMMs reach the limit at higher clocks: the same kind of load over a range of
    // clocks, which is what makes the voltage curve identifiable.
    for n in [2048, 4096] {
        let mut g = GemmLoad::new(gpu, n)?;
        let (samples, flops_per_s) = sampled(gpu, LOAD_S, |deadline| g.run_until(gpu, deadline))?;
        let a = gemm_activity(&g, smsf, flops_per_s, mean_clock(&window(&samples, WARM_S)), tensor_peak);
        points.push(point(&format!("bf16 GEMM {n}"), &samples, a)?);
    }

    let mut gemm = GemmLoad::new(gpu, 8192)?;
    let (trace_samples, flops_per_s) = sampled(gpu, trace_s, |deadline| gemm.run_until(gpu, deadline))?;
    // The settled part of the trace as one point: NVML's energy counter moves in steps of about
    // a controller period, so short windows of it are noisy (+-60 W in half a second).
    let w = window(&trace_samples, 1.0);
    let a = gemm_activity(&gemm, smsf, flops_per_s, mean_clock(&w), tensor_peak);
    points.push(point("bf16 GEMM", &w, a)?);
    // Ten 8192^3 GEMMs take ~15 ms: far inside one controller period.
    let burst = run_burst(gpu, &mut gemm, 10)?;
    Ok(PowerRun { points, trace: trace_summary(trace_samples, flops_per_s / 1e12), burst })
}

/// A GEMM loop's activity as the simulator counts it: tensor issue is the FLOP rate over the peak
/// at the clock it ran at; DRAM traffic the operands' least.
fn gemm_activity(g: &GemmLoad, sms: f64, flops_per_s: f64, mhz: f64, tensor_peak: f64) -> Activity {
    let busy = sms * (flops_per_s / (sms * mhz * 1e6) / tensor_peak).min(1.0);
    let dram_gbs = flops_per_s / g.flops() * g.bytes() / 1e9;
    Activity { active_sms: sms, tensor_busy_sms: busy, dram_gbs, ..Default::default() }
}

/// Averages, the power-capped share, and the controller's step and period where it moved.
pub fn trace_summary(samples: Vec<Sample>, gemm_tflops: f64) -> ClockTrace {
    let w = window(&samples, WARM_S);
    let mut changes = Vec::new();
    for p in w.windows(2) {
        if p[1].sm_mhz != p[0].sm_mhz {
            changes.push((p[1].t_s, (p[1].sm_mhz - p[0].sm_mhz).abs()));
        }
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let (step, period) = if changes.len() >= 3 {
        (med(changes.iter().map(|c| c.1).collect()), med(changes.windows(2).map(|c| (c[1].0 - c[0].0) * 1e3).collect()))
    } else {
        (None, None)
    };
    ClockTrace {
        avg_power_w: average_power(&w).unwrap_or(0.0),
        mean_mhz: mean_clock(&w),
        min_mhz: w.iter().map(|s| s.sm_mhz).fold(f64::INFINITY, f64::min),
        power_capped: w.iter().filter(|s| s.throttle & SW_POWER_CAP != 0).count() as f64 / w.len().max(1) as f64,
        step_mhz: step,
        period_ms: period,
        gemm_tflops,
        samples,
    }
}

/// The controller as fitted from the GEMM trace (only when the load was held by the power cap).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControllerFit {
    /// Power (energy-counter average) the controller held while capped, W.
    pub limit_w: f64,
    pub step_mhz: f64,
    pub period_ms: f64,
    pub gain: f64,
    /// RMS clock error of the simulated controller against the trace over its first seconds.
    pub rms_mhz: f64,
    pub step_measured: bool,
    pub period_measured: bool,
}

/// Fits the controller: the held power, the clock bin, the shortest interval between moves,
/// and the gain that best replays the descent from the maximum clock, given `watts(mhz)` of
/// the load from the fitted power model.
/// `base_step`/`base_period_ms` are kept where the trace moved too rarely to show them (a clock
/// that jumps once and holds says nothing about the bin size).
pub fn fit_controller(
    samples: &[Sample],
    fmax: f64,
    fmin: f64,
    base_step: f64,
    base_period_ms: f64,
    watts: &dyn Fn(f64) -> f64,
) -> Option<ControllerFit> {
    let settled = window(samples, 1.0);
    let capped = settled.iter().filter(|s| s.throttle & SW_POWER_CAP != 0).count();
    if settled.len() < 20 || capped * 2 < settled.len() {
        return None;
    }
    let limit_w = average_power(&settled)?;
    let mut deltas = Vec::new();
    let mut times = Vec::new();
    for w in samples.windows(2) {
        if w[1].sm_mhz != w[0].sm_mhz {
            deltas.push((w[1].sm_mhz - w[0].sm_mhz).abs());
            times.push(w[1].t_s);
        }
    }
    // The bin: the smallest move seen at least three times.
    let smallest = deltas
        .iter()
        .copied()
        .filter(|&d| deltas.iter().filter(|&&x| (x - d).abs() < 0.5).count() >= 3)
        .fold(f64::INFINITY, f64::min);
    let step_measured = smallest.is_finite() && smallest > 0.0;
    let step = if step_measured { smallest } else { base_step };
    let mut gaps: Vec<f64> = times.windows(2).map(|t| t[1] - t[0]).collect();
    gaps.sort_by(f64::total_cmp);
    let sample_dt = samples.windows(2).map(|w| w[1].t_s - w[0].t_s).sum::<f64>() / (samples.len().max(2) - 1) as f64;
    let period_measured = gaps.len() >= 3;
    let period_s = if period_measured { gaps[gaps.len() / 10].max(sample_dt) } else { base_period_ms / 1e3 };
    // The trace starts with the load; replay the controller from the maximum clock.
    let t0 = samples.first()?.t_s;
    let horizon: Vec<&Sample> = samples.iter().filter(|s| s.t_s - t0 <= 3.0).collect();
    let replay = |gain: f64| {
        let mut c = simgpu_sim::power::ClockController {
            limit_w,
            step_mhz: step,
            min_mhz: fmin,
            max_mhz: fmax,
            gain,
            mhz: fmax,
        };
        let mut next = t0 + period_s;
        let mut err = 0.0;
        for s in &horizon {
            while s.t_s >= next {
                let up = watts((c.mhz + step).min(fmax));
                c.update(watts(c.mhz), up);
                next += period_s;
            }
            err += (c.mhz - s.sm_mhz).powi(2);
        }
        (err / horizon.len().max(1) as f64).sqrt()
    };
    let (gain, rms) = (0..=300).map(|i| i as f64 / 100.0).map(|g| (g, replay(g))).min_by(|a, b| a.1.total_cmp(&b.1))?;
    Some(ControllerFit {
        limit_w,
        step_mhz: step,
        period_ms: period_s * 1e3,
        gain,
        rms_mhz: rms,
        step_measured,
        period_measured,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_jump_keeps_the_base_step() {
        // 1980 -> 1755 once, then held: the bin and period are not visible.
        let samples: Vec<Sample> = (0..300)
            .map(|i| {
                let t = i as f64 * 0.01;
                let mhz = if t < 0.2 { 1980.0 } else { 1755.0 };
                Sample {
                    t_s: t,
                    power_w: 440.0,
                    sm_mhz: mhz,
                    energy_mj: (t * 440_000.0) as u64,
                    throttle: SW_POWER_CAP,
                }
            })
            .collect();
        let watts = |mhz: f64| 440.0 + (mhz - 1755.0) * 0.8;
        let f = fit_controller(&samples, 1980.0, 990.0, 15.0, 100.0, &watts).unwrap();
        assert!(!f.step_measured && !f.period_measured);
        assert_eq!(f.step_mhz, 15.0);
        assert_eq!(f.period_ms, 100.0);
        assert!(f.rms_mhz < 40.0, "{f:?}");
    }

    use super::*;

    #[test]
    fn controller_step_and_period_from_a_trace() {
        let mut samples = Vec::new();
        let mut mhz = 1980.0;
        for i in 0..300 {
            let t = i as f64 * 0.01;
            if i > 100 && i % 10 == 0 {
                mhz -= 15.0;
            }
            samples.push(Sample {
                t_s: t,
                power_w: 700.0,
                sm_mhz: mhz,
                energy_mj: (t * 700_000.0) as u64,
                throttle: SW_POWER_CAP,
            });
        }
        let c = trace_summary(samples, 700.0);
        assert_eq!(c.step_mhz, Some(15.0));
        assert!((c.period_ms.unwrap() - 100.0).abs() < 1e-6);
        assert_eq!(c.power_capped, 1.0);
        assert!((c.avg_power_w - 700.0).abs() < 1.0);
    }

    #[test]
    fn controller_gain_is_recovered_from_a_replayed_trace() {
        // A load drawing 300 W + 0.25 W/MHz; limit 600 W; the true controller: 15 MHz bins,
        // 50 ms period, gain 0.4. Sample its trajectory every 10 ms, then fit.
        let watts = |mhz: f64| 300.0 + 0.25 * mhz;
        let mut c = simgpu_sim::power::ClockController {
            limit_w: 600.0,
            step_mhz: 15.0,
            min_mhz: 990.0,
            max_mhz: 1980.0,
            gain: 0.4,
            mhz: 1980.0,
        };
        let mut samples = Vec::new();
        let mut energy = 0.0;
        for i in 0..400 {
            let t = i as f64 * 0.01;
            if i > 0 && i % 5 == 0 {
                c.update(watts(c.mhz), watts(c.mhz + 15.0));
            }
            energy += watts(c.mhz) * 0.01 * 1000.0;
            let throttle = if c.mhz < 1980.0 { SW_POWER_CAP } else { 0 };
            samples.push(Sample { t_s: t, power_w: watts(c.mhz), sm_mhz: c.mhz, energy_mj: energy as u64, throttle });
        }
        let f = fit_controller(&samples, 1980.0, 990.0, 30.0, 200.0, &watts).unwrap();
        assert!(f.step_measured && f.period_measured);
        assert_eq!(f.step_mhz, 15.0);
        assert!((f.period_ms - 50.0).abs() < 11.0, "{f:?}");
        assert!((f.gain - 0.4).abs() < 0.1, "{f:?}");
        assert!((f.limit_w - 600.0).abs() < 15.0, "{f:?}");
    }
}
