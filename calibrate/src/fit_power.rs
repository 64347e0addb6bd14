//! Fitting the power model (sim/src/power.rs) to NVML readings taken at controlled loads:
//! idle, SMs held active without issue, FP32 issue on k SMs, DRAM traffic, tensor-core GEMMs.
//! Linear least squares in (idle, sm_active_w, fp32_busy_w, tensor_busy_w, dram_w_per_tbs) for a
//! given voltage curve, with v_min_ratio scanned when readings span several clocks.

use simgpu_sim::power::{Activity, PowerModel};

/// One steady load: what ran, at which clock, and the average power measured.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PowerPoint {
    pub activity: Activity,
    pub sm_mhz: f64,
    pub watts: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PowerFit {
    /// The fitted model (for the clock range it was fitted over).
    pub model: PowerModel,
    /// Whether `v_min_ratio` was fitted (else the default 0.7 was assumed).
    pub v_fitted: bool,
    pub rms_residual_w: f64,
}

/// Solves the normal equations A^T A x = A^T b by Gaussian elimination with partial pivoting.
/// Columns with no signal (all zero) get 0.
pub fn least_squares(rows: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    let n = rows.first().map(Vec::len).unwrap_or(0);
    let mut m = vec![vec![0.0; n + 1]; n];
    for (r, &y) in rows.iter().zip(b) {
        for i in 0..n {
            for j in 0..n {
                m[i][j] += r[i] * r[j];
            }
            m[i][n] += r[i] * y;
        }
    }
    for (i, row) in m.iter_mut().enumerate() {
        if row[i].abs() < 1e-12 {
            row[i] = 1.0; // no signal in this column: pin it to zero
            row[n] = 0.0;
            for (j, x) in row.iter_mut().enumerate().take(n) {
                if j != i {
                    *x = 0.0;
                }
            }
        }
    }
    for col in 0..n {
        let piv = (col..n).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs())).unwrap_or(col);
        m.swap(col, piv);
        let p = m[col][col];
        if p.abs() < 1e-15 {
            continue;
        }
        let pivot = m[col].clone();
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / p;
                for (x, y) in row.iter_mut().zip(&pivot).skip(col) {
                    *x -= f * y;
                }
            }
        }
    }
    (0..n).map(|i| if m[i][i].abs() < 1e-15 { 0.0 } else { m[i][n] / m[i][i] }).collect()
}

/// Fits the model; `f_min`/`f_max` are the clock range of the voltage curve.
pub fn fit_power(points: &[PowerPoint], f_min: f64, f_max: f64) -> Option<PowerFit> {
    if points.len() < 2 {
        return None;
    }
    // The voltage curve is only identifiable when one kind of load was seen at clocks far apart.
    let kind = |a: &Activity| {
        if a.tensor_busy_sms > 0.0 {
            2
        } else if a.fp32_busy_sms > 0.0 {
            1
        } else if a.dram_gbs > 0.0 {
            3
        } else {
            0
        }
    };
    let spans_clocks = (1..=3).any(|k| {
        let clocks: Vec<f64> = points.iter().filter(|p| kind(&p.activity) == k).map(|p| p.sm_mhz).collect();
        let (lo, hi) = clocks.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &c| (l.min(c), h.max(c)));
        hi - lo >= 100.0
    });
    let candidates: Vec<f64> = if spans_clocks { (40..=100).map(|i| i as f64 / 100.0).collect() } else { vec![0.7] };
    let mut best: Option<PowerFit> = None;
    for v in candidates {
        let probe = PowerModel {
            idle_w: 0.0,
            sm_active_w: 0.0,
            fp32_busy_w: 0.0,
            tensor_busy_w: 0.0,
            dram_w_per_tbs: 0.0,
            v_min_ratio: v,
            f_min,
            f_max,
        };
        let rows: Vec<Vec<f64>> = points
            .iter()
            .map(|p| {
                let vr = probe.voltage_ratio(p.sm_mhz);
                let s = p.sm_mhz / f_max * vr * vr;
                let a = p.activity;
                vec![1.0, s * a.active_sms, s * a.fp32_busy_sms, s * a.tensor_busy_sms, a.dram_gbs / 1000.0]
            })
            .collect();
        let b: Vec<f64> = points.iter().map(|p| p.watts).collect();
        let x = least_squares(&rows, &b);
        let model = PowerModel {
            idle_w: x[0],
            sm_active_w: x[1],
            fp32_busy_w: x[2],
            tensor_busy_w: x[3],
            dram_w_per_tbs: x[4],
            v_min_ratio: v,
            f_min,
            f_max,
        };
        let mut fit = PowerFit { model, v_fitted: spans_clocks, rms_residual_w: 0.0 };
        let sq: f64 = points.iter().map(|p| (model.watts(&p.activity, p.sm_mhz) - p.watts).powi(2)).sum();
        fit.rms_residual_w = (sq / points.len() as f64).sqrt();
        if best.is_none_or(|b| fit.rms_residual_w < b.rms_residual_w - 1e-9) {
            best = Some(fit);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth() -> PowerModel {
        PowerModel {
            idle_w: 72.0,
            sm_active_w: 0.5,
            fp32_busy_w: 2.1,
            tensor_busy_w: 4.8,
            dram_w_per_tbs: 28.0,
            v_min_ratio: 0.65,
            f_min: 990.0,
            f_max: 1980.0,
        }
    }

    fn points(noise: f64) -> Vec<PowerPoint> {
        let m = truth();
        let mut out = Vec::new();
        let mut k = 0u64;
        let mut jitter = || {
            k = k.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((k >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 2.0 * noise
        };
        let loads = [
            Activity::default(),
            Activity { active_sms: 132.0, ..Default::default() },
            Activity { active_sms: 66.0, fp32_busy_sms: 66.0, ..Default::default() },
            Activity { active_sms: 132.0, fp32_busy_sms: 132.0, ..Default::default() },
            Activity { active_sms: 132.0, fp32_busy_sms: 10.0, dram_gbs: 2900.0, ..Default::default() },
            Activity { active_sms: 132.0, tensor_busy_sms: 120.0, dram_gbs: 300.0, ..Default::default() },
        ];
        for a in loads {
            for mhz in [1980.0, 1800.0, 1500.0] {
                let w = m.watts(&a, mhz);
                out.push(PowerPoint { activity: a, sm_mhz: mhz, watts: w * (1.0 + jitter()) });
            }
        }
        out
    }

    #[test]
    fn recovers_known_parameters() {
        let f = fit_power(&points(0.0), 990.0, 1980.0).unwrap();
        let t = truth();
        assert!((f.model.idle_w - t.idle_w).abs() < 0.5, "{f:?}");
        assert!((f.model.fp32_busy_w - t.fp32_busy_w).abs() < 0.05, "{f:?}");
        assert!((f.model.tensor_busy_w - t.tensor_busy_w).abs() < 0.05, "{f:?}");
        assert!((f.model.dram_w_per_tbs - t.dram_w_per_tbs).abs() < 0.5, "{f:?}");
        assert!((f.model.v_min_ratio - t.v_min_ratio).abs() < 0.011, "{f:?}");
    }

    #[test]
    fn noisy_readings_within_tolerance() {
        // 1% noise: every parameter within 10%, residual near the noise.
        let f = fit_power(&points(0.01), 990.0, 1980.0).unwrap();
        let t = truth();
        for (got, want) in [
            (f.model.idle_w, t.idle_w),
            (f.model.fp32_busy_w, t.fp32_busy_w),
            (f.model.tensor_busy_w, t.tensor_busy_w),
            (f.model.dram_w_per_tbs, t.dram_w_per_tbs),
        ] {
            assert!((got - want).abs() / want < 0.1, "{got} vs {want}: {f:?}");
        }
        assert!(f.rms_residual_w < 10.0);
    }

    #[test]
    fn least_squares_solves_exact_systems() {
        let rows = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]];
        let x = least_squares(&rows, &[2.0, 3.0, 5.0]);
        assert!((x[0] - 2.0).abs() < 1e-9 && (x[1] - 3.0).abs() < 1e-9);
        // A column without signal is pinned to zero.
        let x = least_squares(&[vec![1.0, 0.0], vec![1.0, 0.0]], &[4.0, 4.0]);
        assert_eq!(x, vec![4.0, 0.0]);
    }
}
