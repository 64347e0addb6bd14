//! `simgpu calibrate`: runs every microbenchmark in turn, fits, and returns a GPU profile whose
//! fitted parameters name a calibration source (GPU, driver, CUDA version, date, simgpu version,
//! command), plus a report with every sample, fit and residual. A step that cannot run (no MPS
//! without `--mps`, a library missing mid-way) leaves its parameters as they were and says why.

use crate::bench_sharing::{carveout_fit, newcomer_share};
use crate::device::Gpu;
use crate::error::CalibrateError;
use crate::fit::{fit_bandwidth, fit_fma_rate};
use crate::kernels::Kernels;
use crate::probe_kernels::ProbeKernels;
use serde::Serialize;
use simgpu_sim::profile::{GpuProfile, Param};

pub struct Options {
    pub ordinal: usize,
    pub mps: bool,
    /// Seconds of the dense-GEMM run that exercises the power controller.
    pub power_trace_s: f64,
    /// The command line, for provenance.
    pub command: String,
    pub simgpu_version: String,
    /// Run only these steps (empty: all); for re-measuring one mechanism while debugging.
    pub only: Vec<String>,
}

/// What the caller shows while calibration runs.
pub enum Progress<'a> {
    Start { step: &'a str, index: usize, total: usize },
    Done { step: &'a str, summary: String },
    Skipped { step: &'a str, why: String },
}

/// One fitted parameter: what the base profile said and what calibration found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub parameter: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub device: crate::device::DeviceInfo,
    pub date: String,
    pub command: String,
    pub steps: serde_json::Map<String, serde_json::Value>,
    pub skipped: Vec<(String, String)>,
    pub changes: Vec<Change>,
    pub seconds: f64,
}

pub const STEPS: [&str; 10] =
    ["device", "fma", "issue", "dram", "launch", "gemm", "streams", "timeslice", "mps", "power"];

/// Today's date (UTC) as YYYY-MM-DD, from the system clock.
pub fn today() -> String {
    let days =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0)
            as i64;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

const SOURCE: &str = "calibration";

type Steps = serde_json::Map<String, serde_json::Value>;
type StepBody<'a> = dyn FnMut(&mut Fitter, &mut Steps) -> Result<String, CalibrateError> + 'a;

struct Fitter<'a> {
    profile: &'a mut GpuProfile,
    changes: Vec<Change>,
}

impl Fitter<'_> {
    fn set<T: Clone + std::fmt::Debug + PartialEq>(
        &mut self,
        name: &str,
        p: impl FnOnce(&mut GpuProfile) -> &mut Param<T>,
        v: T,
    ) {
        let param = p(self.profile);
        self.changes.push(Change {
            parameter: name.into(),
            before: format!("{:?} ({})", param.value, param.source),
            after: format!("{v:?}"),
        });
        param.value = v;
        param.source = SOURCE.into();
    }
}

fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Runs the calibration on `opts.ordinal`, starting from `base` (the datasheet profile).
pub fn run(
    opts: &Options,
    base: &GpuProfile,
    progress: &mut dyn FnMut(Progress),
) -> Result<(GpuProfile, Report), CalibrateError> {
    let started = std::time::Instant::now();
    let total = STEPS.len();
    progress(Progress::Start { step: "device", index: 0, total });
    let gpu = Gpu::open(opts.ordinal)?;
    let info = gpu.info().clone();
    let k = Kernels::load(&gpu)?;
    let pk = ProbeKernels::load(&gpu)?;
    progress(Progress::Done {
        step: "device",
        summary: format!(
            "{}, {} SMs, cc {}.{}, driver {}, CUDA {}",
            info.name,
            info.sm_count,
            info.compute_capability.0,
            info.compute_capability.1,
            info.nvidia_driver_version.as_deref().unwrap_or("?"),
            info.cuda_driver_version
        ),
    });
    let mut profile = base.clone();
    let mut f = Fitter { profile: &mut profile, changes: Vec::new() };
    let mut steps = serde_json::Map::new();
    let mut skipped = Vec::new();
    let fmax = info.max_sm_clock_mhz;
    if (info.sm_count as f64 - f.profile.sm.count.value as f64).abs() > 0.0 {
        return Err(CalibrateError::Measurement(format!(
            "the GPU has {} SMs but profile `{}` says {}: pick the matching base profile",
            info.sm_count, base.name, base.sm.count.value
        )));
    }
    f.set("clock.max_sm_mhz", |p| &mut p.clock.max_sm_mhz, fmax);

    let step = |name: &str,
                idx: usize,
                body: &mut StepBody,
                f: &mut Fitter,
                steps: &mut Steps,
                skipped: &mut Vec<(String, String)>,
                progress: &mut dyn FnMut(Progress)| {
        progress(Progress::Start { step: name, index: idx, total });
        if !opts.only.is_empty() && !opts.only.iter().any(|o| o == name) {
            progress(Progress::Skipped { step: name, why: "not selected (--only)".into() });
            skipped.push((name.to_string(), "not selected (--only)".into()));
            return;
        }
        match body(f, steps) {
            Ok(summary) => progress(Progress::Done { step: name, summary }),
            Err(e) => {
                progress(Progress::Skipped { step: name, why: e.to_string() });
                skipped.push((name.to_string(), e.to_string()));
            }
        }
    };

    let mut fp32_rate = f.profile.rates.fp32_flops_per_clk.value;
    step(
        "fma",
        1,
        &mut |f, st| {
            let samples = crate::run_fma(&gpu, &k, &crate::FmaConfig::for_sm_count(info.sm_count))?;
            let pts: Vec<(f64, f64)> = samples.iter().map(|s| s.fit_point()).collect();
            let fit = fit_fma_rate(&pts).ok_or_else(|| CalibrateError::Measurement("no FMA samples".into()))?;
            st.insert("fma".into(), serde_json::json!({"samples": to_json(&samples), "fit": to_json(&fit)}));
            f.set("rates.fp32_flops_per_clk", |p| &mut p.rates.fp32_flops_per_clk, round(fit.flops_per_clk_per_sm, 1));
            fp32_rate = fit.flops_per_clk_per_sm;
            Ok(format!(
                "{:.1} FLOP/clk/SM (residual {:.2}%)",
                fit.flops_per_clk_per_sm,
                fit.rms_relative_residual * 100.0
            ))
        },
        &mut f,
        &mut steps,
        &mut skipped,
        progress,
    );

    let mut saturate = f.profile.sharing.warps_to_saturate_issue.value;
    step(
        "issue",
        2,
        &mut |f, st| {
            let pts = crate::bench_sharing::issue_sweep(&gpu, &pk)?;
            let fit = fit_bandwidth(&pts).ok_or_else(|| CalibrateError::Measurement("no issue samples".into()))?;
            st.insert("issue".into(), serde_json::json!({"samples_warps_flop_per_ns": pts, "fit": to_json(&fit)}));
            saturate = (fit.total_gbs / fit.per_sm_gbs).clamp(1.0, 64.0);
            f.set("sharing.warps_to_saturate_issue", |p| &mut p.sharing.warps_to_saturate_issue, round(saturate, 1));
            Ok(format!("issue slots full at {saturate:.1} warps per SM"))
        },
        &mut f,
        &mut steps,
        &mut skipped,
        progress,
    );

    step(
        "dram",
        3,
        &mut |f, st| {
            let mut cfg = crate::DramConfig::for_sm_count(info.sm_count);
            cfg.reps = 2;
            let samples = crate::run_dram(&gpu, &k, &cfg)?;
            let pts: Vec<(f64, f64)> = samples.iter().map(|s| s.fit_point()).collect();
            let fit = fit_bandwidth(&pts).ok_or_else(|| CalibrateError::Measurement("no DRAM samples".into()))?;
            let clock = samples.iter().map(|s| s.clock.mean_mhz).sum::<f64>() / samples.len().max(1) as f64;
            st.insert("dram".into(), serde_json::json!({"samples": to_json(&samples), "fit": to_json(&fit)}));
            // The profile's per-SM cap is at the maximum clock (the simulator scales it with the clock).
            let per_sm = fit.per_sm_gbs * fmax / clock.max(1.0);
            f.set("memory.per_sm_bw_gbs", |p| &mut p.memory.per_sm_bw_gbs, round(per_sm, 1));
            f.set("memory.achievable_bw_gbs", |p| &mut p.memory.achievable_bw_gbs, round(fit.total_gbs, 0));
            let l2 = crate::bench_dram::run_l2(&gpu, &k)?;
            st.insert("l2_gbs".into(), serde_json::json!(l2));
            f.set("memory.l2_bw_gbs", |p| &mut p.memory.l2_bw_gbs, round(l2, 0));
            Ok(format!(
                "{:.1} GB/s per SM, {:.0} GB/s in all (residual {:.0} GB/s); L2 {:.0} GB/s",
                per_sm, fit.total_gbs, fit.rms_residual, l2
            ))
        },
        &mut f,
        &mut steps,
        &mut skipped,
        progress,
    );

    let mut plain_round_trip = None;
    step(
        "launch",
        4,
        &mut |f, st| {
            let r = crate::run_launch(&gpu, &k, &crate::LaunchBenchConfig::default())?;
            st.insert("launch".into(), to_json(&r));
            let latency = (r.host_round_trip_us.median - r.back_to_back_kernel_us).max(0.0);
            plain_round_trip = Some(r.host_round_trip_us.median);
            f.set("launch.host_launch_us", |p| &mut p.launch.host_launch_us, round(r.host_launch_us.median, 2));
            f.set("launch.launch_latency_us", |p| &mut p.launch.launch_latency_us, round(latency, 2));
            f.set("launch.block_min_us", |p| &mut p.launch.block_min_us, round(r.back_to_back_kernel_us, 2));
            f.set("launch.block_dispatch_ns", |p| &mut p.launch.block_dispatch_ns, round(r.block_dispatch_ns, 2));
            Ok(format!(
                "launch call {:.2} us, launch to start {:.2} us, shortest kernel {:.2} us, {:.2} ns per block dispatched",
                r.host_launch_us.median, latency, r.back_to_back_kernel_us, r.block_dispatch_ns
            ))
        },
        &mut f,
        &mut steps,
        &mut skipped,
        progress,
    );

    let mut tensor_peak = f.profile.rates.bf16_tensor_flops_per_clk.value;
    step(
        "gemm",
        5,
        &mut |f, st| {
            let samples = crate::bench_gemm::run_gemm(&gpu, &[2048, 4096, 8192], 10)?;
            let best = samples.iter().map(|s| s.flops_per_clk_per_sm).fold(0.0, f64::max);
            st.insert("gemm".into(), to_json(&samples));
            if best <= 0.0 {
                return Err(CalibrateError::Measurement("GEMM gave no rate".into()));
            }
            tensor_peak = best;
            f.set("rates.bf16_tensor_flops_per_clk", |p| &mut p.rates.bf16_tensor_flops_per_clk, round(best, 0));
            f.set("rates.fp16_tensor_flops_per_clk", |p| &mut p.rates.fp16_tensor_flops_per_clk, round(best, 0));
            let top = samples.iter().map(|s| s.tflops).fold(0.0, f64::max);
            Ok(format!("bf16 {top:.0} TFLOP/s = {best:.0} FLOP/clk/SM"))
        },
        &mut f,
        &mut steps,
        &mut skipped,
        progress,
    );

    step(
        "streams",
        6,
        &mut |f, st| {
            let r = crate::bench_sharing::in_context(&gpu, &pk, fp32_rate)?;
            st.insert("streams".into(), to_json(&r));
            let (slack, locked) =
                carveout_fit(&r, true).ok_or_else(|| CalibrateError::Measurement("no shared-memory probe".into()))?;
            f.set("sharing.carveout_locked_in_context", |p| &mut p.sharing.carveout_locked_in_context, locked);
            f.set("sharing.carveout_slack_bytes", |p| &mut p.sharing.carveout_slack_bytes, slack);
            if let Some(share) = newcomer_share(&r, saturate, true) {
                f.set(
                    "sharing.in_context_min_issue_share",
                    |p| &mut p.sharing.in_context_min_issue_share,
                    round(share, 4),
                );
            }
            Ok(crate::bench_sharing::summary(&r))
        },
        &mut f,
        &mut steps,
        &mut skipped,
        progress,
    );

    step(
        "timeslice",
        7,
        &mut |f, st| {
            let records = crate::bench_timeslice::measure(400, &[])?;
            let fit = crate::bench_timeslice::fit(&records);
            st.insert("timeslice".into(), serde_json::json!({"records": to_json(&records), "fit": to_json(&fit)}));
            let fit = fit.ok_or_else(|| {
                CalibrateError::Measurement("the two contexts never took turns (no gaps seen)".into())
            })?;
            f.set("sharing.timeslice_us", |p| &mut p.sharing.timeslice_us, round(fit.slice_us, 1));
            f.set("sharing.context_switch_us", |p| &mut p.sharing.context_switch_us, round(fit.switch_us, 1));
            Ok(format!("slice {:.0} us, switch {:.1} us ({} gaps)", fit.slice_us, fit.switch_us, fit.gaps_seen))
        },
        &mut f,
        &mut steps,
        &mut skipped,
        progress,
    );

    step(
        "mps",
        8,
        &mut |f, st| {
            if !opts.mps {
                return Err(CalibrateError::Mps("not asked for (run with --mps)".into()));
            }
            let mut daemon = crate::mps_daemon::MpsDaemon::start()?;
            let counts = crate::bench_mps::sm_counts(&daemon)?;
            let gran = crate::bench_mps::fit_granularity(&counts, info.sm_count);
            let launch = crate::bench_mps::launch_under_mps(&daemon)?;
            let hold_iters = crate::probe_kernels::seed_iters(crate::bench_sharing::LONG_S, fp32_rate, fmax);
            let cross = crate::bench_mps::cross_client(&daemon, hold_iters)?;
            daemon.stop();
            st.insert("mps".into(), serde_json::json!({"granularity": to_json(&gran), "launch": to_json(&launch), "cross_client": to_json(&cross)}));
            let mut said = Vec::new();
            if let Some(g) = &gran {
                f.set("sharing.mps_sm_granularity", |p| &mut p.sharing.mps_sm_granularity, g.granularity);
                f.set("sharing.mps_min_sms", |p| &mut p.sharing.mps_min_sms, g.min_sms);
                said.push(format!(
                    "caps in steps of {} SMs, at least {} (rule {})",
                    g.granularity,
                    g.min_sms,
                    if g.floor_rule_matches { "matches" } else { "does not match" }
                ));
            }
            if let Some(plain) = plain_round_trip {
                let extra = (launch.host_round_trip_us.median - plain).max(0.0);
                f.set("launch.mps_extra_latency_us", |p| &mut p.launch.mps_extra_latency_us, round(extra, 2));
                said.push(format!("+{extra:.1} us per launch"));
            }
            if let Some((_, locked)) = carveout_fit(&cross, false) {
                f.set(
                    "sharing.carveout_locked_across_clients",
                    |p| &mut p.sharing.carveout_locked_across_clients,
                    locked,
                );
            }
            if let Some(share) = newcomer_share(&cross, saturate, false) {
                f.set(
                    "sharing.cross_client_min_issue_share",
                    |p| &mut p.sharing.cross_client_min_issue_share,
                    round(share, 4),
                );
            }
            said.push(crate::bench_sharing::summary(&cross));
            Ok(said.join("; "))
        },
        &mut f,
        &mut steps,
        &mut skipped,
        progress,
    );

    step(
        "power",
        9,
        &mut |f, st| {
            let limit = gpu.nvml_device()?.enforced_power_limit()? as f64 / 1000.0;
            let run = crate::bench_power::run_power(&gpu, &k, &pk, tensor_peak, opts.power_trace_s)?;
            let pts: Vec<_> = run.points.iter().map(|p| p.point).collect();
            let fmin = f.profile.clock.min_sm_mhz.value;
            let fit = crate::fit_power::fit_power(&pts, fmin, fmax)
                .ok_or_else(|| CalibrateError::Measurement("too few power readings".into()))?;
            let t = &run.trace;
            st.insert("power".into(), serde_json::json!({"limit_w": limit, "points": to_json(&run.points), "fit": to_json(&fit), "clock_trace": to_json(t)}));
            f.set("power.idle_w", |p| &mut p.power.idle_w, round(fit.model.idle_w, 1));
            f.set("power.sm_active_w", |p| &mut p.power.sm_active_w, round(fit.model.sm_active_w.max(0.0), 3));
            f.set("power.fp32_busy_w", |p| &mut p.power.fp32_busy_w, round(fit.model.fp32_busy_w.max(0.0), 3));
            f.set("power.tensor_busy_w", |p| &mut p.power.tensor_busy_w, round(fit.model.tensor_busy_w.max(0.0), 3));
            f.set("power.dram_w_per_tbs", |p| &mut p.power.dram_w_per_tbs, round(fit.model.dram_w_per_tbs.max(0.0), 1));
            if fit.v_fitted {
                f.set("power.v_min_ratio", |p| &mut p.power.v_min_ratio, fit.model.v_min_ratio);
            }
            // The GEMM load's power against the clock, from the fitted model.
            let gemm = run.points.iter().rev().find(|p| p.load == "bf16 GEMM").map(|p| p.point.activity);
            let model = fit.model;
            let (base_step, base_period) = (f.profile.clock.step_mhz.value, f.profile.clock.period_ms.value);
            let controller = gemm.and_then(|a| {
                crate::bench_power::fit_controller(&t.samples, fmax, fmin, base_step, base_period, &|mhz| {
                    model.watts(&a, mhz)
                })
            });
            st.insert("controller".into(), to_json(&controller));
            let limit_note = match &controller {
                Some(c) => {
                    // The power the controller holds, in NVML's units, is what the model must use.
                    f.set("power.limit_w", |p| &mut p.power.limit_w, round(c.limit_w, 0));
                    if c.step_measured {
                        f.set("clock.step_mhz", |p| &mut p.clock.step_mhz, round(c.step_mhz, 1));
                    }
                    if c.period_measured {
                        f.set("clock.period_ms", |p| &mut p.clock.period_ms, round(c.period_ms, 1));
                    }
                    f.set("clock.gain", |p| &mut p.clock.gain, round(c.gain, 2));
                    format!(
                        "held at {:.0} W (NVML enforced limit {limit:.0} W), {:.0} MHz steps every {:.0} ms, gain {:.2} (replay error {:.0} MHz)",
                        c.limit_w, c.step_mhz, c.period_ms, c.gain, c.rms_mhz
                    )
                }
                None => {
                    f.set("power.limit_w", |p| &mut p.power.limit_w, round(limit, 0));
                    format!("NVML enforced limit {limit:.0} W, not reached")
                }
            };
            Ok(format!(
            "idle {:.0} W; GEMM {:.0} TFLOP/s at {:.0} W, clock mean {:.0} MHz (min {:.0}), power-capped {:.0}% of the time; {limit_note}; fit residual {:.1} W",
            fit.model.idle_w,
            t.gemm_tflops,
            t.avg_power_w,
            t.mean_mhz,
            t.min_mhz,
            t.power_capped * 100.0,
            fit.rms_residual_w
        ))
        },
        &mut f,
        &mut steps,
        &mut skipped,
        progress,
    );

    let changes = f.changes;
    let date = today();
    let provenance = format!(
        "simgpu calibrate on {} ({}), NVIDIA driver {}, CUDA driver API {}, {}, simgpu {}, command: {}",
        info.name,
        info.uuid,
        info.nvidia_driver_version.as_deref().unwrap_or("unknown"),
        info.cuda_driver_version,
        date,
        opts.simgpu_version,
        opts.command
    );
    profile.sources.insert(SOURCE.into(), provenance);
    let report = Report {
        device: info,
        date,
        command: opts.command.clone(),
        steps,
        skipped,
        changes,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((profile, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_format() {
        let d = today();
        assert_eq!(d.len(), 10);
        assert!(d.starts_with("20"));
    }

    #[test]
    fn without_a_gpu_the_run_fails_cleanly() {
        let base = GpuProfile::from_toml("h100", include_str!("../../models/gpus/h100-sxm.toml")).unwrap();
        let opts = Options {
            ordinal: 0,
            mps: false,
            power_trace_s: 1.0,
            command: "test".into(),
            simgpu_version: "0".into(),
            only: vec![],
        };
        if crate::device::check_cuda_driver().is_err() {
            let e = run(&opts, &base, &mut |_| {}).unwrap_err();
            assert_eq!(e, CalibrateError::NoCudaDriver);
        }
    }
}
