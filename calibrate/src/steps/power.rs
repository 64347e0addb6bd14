//! `power`: the power model and the clock controller, from NVML under controlled loads.

use crate::bench_power::{fit_controller, run_power};
use crate::fit_power::fit_power;
use crate::step::{round, to_json, Field, Session, Step, Writes};
use simgpu_harness::HarnessError;

const IDLE: Field<f64> = Field { name: "power.idle_w", get: |p| &mut p.power.idle_w };
const SM_ACTIVE: Field<f64> = Field { name: "power.sm_active_w", get: |p| &mut p.power.sm_active_w };
const FP32_BUSY: Field<f64> = Field { name: "power.fp32_busy_w", get: |p| &mut p.power.fp32_busy_w };
const TENSOR_BUSY: Field<f64> = Field { name: "power.tensor_busy_w", get: |p| &mut p.power.tensor_busy_w };
const DRAM: Field<f64> = Field { name: "power.dram_w_per_tbs", get: |p| &mut p.power.dram_w_per_tbs };
const V_MIN: Field<f64> = Field { name: "power.v_min_ratio", get: |p| &mut p.power.v_min_ratio };
const LIMIT: Field<f64> = Field { name: "power.limit_w", get: |p| &mut p.power.limit_w };
const FAST_LIMIT: Field<f64> = Field { name: "power.fast_limit_w", get: |p| &mut p.power.fast_limit_w };
const STEP_MHZ: Field<f64> = Field { name: "clock.step_mhz", get: |p| &mut p.clock.step_mhz };
const PERIOD: Field<f64> = Field { name: "clock.period_ms", get: |p| &mut p.clock.period_ms };
const GAIN: Field<f64> = Field { name: "clock.gain", get: |p| &mut p.clock.gain };

pub const STEP: Step = Step {
    name: "power",
    measures: "NVML while loads run 2.5 s each (idle, SMs held, FMA on 1/4..all SMs, DRAM copies, GEMMs of 2048 and 4096), then --power-trace-s of 8192 GEMMs, then ten 8192 GEMMs after 2 s idle",
    fits: "least squares on energy-counter averages; v_min_ratio only when one load ran at clocks 100 MHz apart; the controller that best replays the GEMMs' clock trace; the fast limit as the fitted power of the burst at the clock its FLOP rate implies",
    writes: &[
        Writes::F64(IDLE),
        Writes::F64(SM_ACTIVE),
        Writes::F64(FP32_BUSY),
        Writes::F64(TENSOR_BUSY),
        Writes::F64(DRAM),
        Writes::F64(V_MIN),
        Writes::F64(LIMIT),
        Writes::F64(FAST_LIMIT),
        Writes::F64(STEP_MHZ),
        Writes::F64(PERIOD),
        Writes::F64(GAIN),
    ],
    needs_mps: false,
    always: false,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let fmax = s.info().max_sm_clock_mhz;
    let limit = s.gpu.nvml_device()?.enforced_power_limit()? as f64 / 1000.0;
    let run = run_power(s.gpu, s.kernels, s.probes, s.bf16_tensor_flops_per_clk(), s.opts.power_trace_s)?;
    let pts: Vec<_> = run.points.iter().map(|p| p.point).collect();
    let fmin = s.profile().clock.min_sm_mhz.value;
    let fit = fit_power(&pts, fmin, fmax).ok_or_else(|| HarnessError::Measurement("too few power readings".into()))?;
    let t = &run.trace;
    s.record(
        "power",
        serde_json::json!({"limit_w": limit, "points": to_json(&run.points), "fit": to_json(&fit), "clock_trace": to_json(t)}),
    );
    let m = fit.model;
    s.set(&IDLE, round(m.idle_w, 1));
    s.set(&SM_ACTIVE, round(m.sm_active_w.max(0.0), 3));
    s.set(&FP32_BUSY, round(m.fp32_busy_w.max(0.0), 3));
    s.set(&TENSOR_BUSY, round(m.tensor_busy_w.max(0.0), 3));
    s.set(&DRAM, round(m.dram_w_per_tbs.max(0.0), 1));
    if fit.v_fitted {
        s.set(&V_MIN, m.v_min_ratio);
    }
    // The GEMM load's power against the clock, from the fitted model.
    let gemm = run.points.iter().rev().find(|p| p.load == "bf16 GEMM").map(|p| p.point.activity);
    let (base_step, base_period) = (s.profile().clock.step_mhz.value, s.profile().clock.period_ms.value);
    let controller =
        gemm.and_then(|a| fit_controller(&t.samples, fmax, fmin, base_step, base_period, &|mhz| m.watts(&a, mhz)));
    s.record("controller", &controller);
    let limit_note = match &controller {
        Some(c) => {
            // The power the controller holds, in NVML's units, is what the model must use.
            s.set(&LIMIT, round(c.limit_w, 0));
            if c.step_measured {
                s.set(&STEP_MHZ, round(c.step_mhz, 1));
            }
            if c.period_measured {
                s.set(&PERIOD, round(c.period_ms, 1));
            }
            s.set(&GAIN, round(c.gain, 2));
            format!(
                "held at {:.0} W (NVML enforced limit {limit:.0} W), {:.0} MHz steps every {:.0} ms, gain {:.2} (replay error {:.0} MHz)",
                c.limit_w, c.step_mhz, c.period_ms, c.gain, c.rms_mhz
            )
        }
        None => {
            s.set(&LIMIT, round(limit, 0));
            format!("NVML enforced limit {limit:.0} W, not reached")
        }
    };
    // The burst: the clock its FLOP rate implies at the sustained rate per clock, and the fitted
    // model's power there. Only where that clock is at least a bin below the reported one.
    let b = run.burst;
    let sms = s.info().sm_count.max(1) as f64;
    let implied_mhz = b.tflops * 1e12 / (sms * s.bf16_tensor_flops_per_clk() * 1e6);
    let step = s.profile().clock.step_mhz.value;
    s.record("fast_limit", serde_json::json!({"burst": to_json(&b), "implied_mhz": implied_mhz}));
    let fast_note = if implied_mhz.is_finite() && implied_mhz < b.reported_mhz - step {
        let a = simgpu_sim::power::Activity {
            active_sms: sms,
            tensor_busy_sms: sms,
            dram_gbs: b.dram_gbs,
            ..Default::default()
        };
        // The model as the profile now holds it (clamped and rounded), so that the simulator puts
        // this burst at the implied clock; never below the slow limit.
        let written = simgpu_sim::power::PowerModel::new(s.profile());
        let w = written.watts(&a, implied_mhz).max(s.profile().power.limit_w.value);
        s.set(&FAST_LIMIT, round(w, 0));
        format!(
            "a GEMM burst from idle ran {:.0} TFLOP/s at a reported {:.0} MHz: the SMs at ~{implied_mhz:.0} MHz, {w:.0} W",
            b.tflops, b.reported_mhz
        )
    } else {
        // Not seen: the fast limit may not sit below the slow one just fitted.
        let (fast, slow) = (s.profile().power.fast_limit_w.value, s.profile().power.limit_w.value);
        if fast < slow {
            s.set(&FAST_LIMIT, slow);
        }
        format!(
            "a GEMM burst from idle ran {:.0} TFLOP/s at a reported {:.0} MHz: no fast limit seen",
            b.tflops, b.reported_mhz
        )
    };
    Ok(format!(
        "idle {:.0} W; GEMM {:.0} TFLOP/s at {:.0} W, clock mean {:.0} MHz (min {:.0}), power-capped {:.0}% of the time; {limit_note}; fit residual {:.1} W",
        m.idle_w,
        t.gemm_tflops,
        t.avg_power_w,
        t.mean_mhz,
        t.min_mhz,
        t.power_capped * 100.0,
        fit.rms_residual_w
    ) + "; " + &fast_note)
}
