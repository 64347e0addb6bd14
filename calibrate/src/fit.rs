//! Fitting simulator parameters to measured samples. Pure functions: no CUDA, tested on CI.
//!
//! Degenerate input (no samples, non-finite values, no spread in x) gives `None` rather than a
//! NaN that would end up in a profile.

use serde::Serialize;

/// y = slope * x + intercept, by ordinary least squares.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LinearFit {
    pub slope: f64,
    pub intercept: f64,
    /// Root-mean-square of y - fit(x), in y's unit.
    pub rms_residual: f64,
}

/// bw(n) = min(n * per_sm_gbs, total_gbs), where n is the number of SMs (or blocks) in use.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BandwidthFit {
    pub per_sm_gbs: f64,
    pub total_gbs: f64,
    /// n at which the two limits meet (total / per_sm).
    pub knee: f64,
    /// Root-mean-square of measured - fitted, GB/s.
    pub rms_residual: f64,
    /// False when no sample lies past the knee: `total_gbs` is then only a lower bound (the
    /// largest n's fitted value), or, with no sample before the knee, `per_sm_gbs` an upper bound.
    pub both_limits_observed: bool,
}

/// FP32 FLOP per clock per SM.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FmaRateFit {
    pub flops_per_clk_per_sm: f64,
    /// Root-mean-square of (sample's rate / fitted rate - 1).
    pub rms_relative_residual: f64,
}

/// Summary statistics of repeated measurements.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    pub mean: f64,
    pub max: f64,
}

fn finite_pairs(x: &[f64], y: &[f64]) -> Vec<(f64, f64)> {
    x.iter().zip(y).filter(|(a, b)| a.is_finite() && b.is_finite()).map(|(&a, &b)| (a, b)).collect()
}

/// Ordinary least squares. `None` with fewer than two points or with all x equal.
pub fn fit_linear(x: &[f64], y: &[f64]) -> Option<LinearFit> {
    let p = finite_pairs(x, y);
    if p.len() < 2 {
        return None;
    }
    let n = p.len() as f64;
    let mx = p.iter().map(|q| q.0).sum::<f64>() / n;
    let my = p.iter().map(|q| q.1).sum::<f64>() / n;
    // Centred sums: better conditioned than the textbook n*Sxy - Sx*Sy form.
    let sxx: f64 = p.iter().map(|q| (q.0 - mx).powi(2)).sum();
    let sxy: f64 = p.iter().map(|q| (q.0 - mx) * (q.1 - my)).sum();
    if sxx <= f64::EPSILON * n * mx.abs().max(1.0) {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let rms_residual = rms(p.iter().map(|&(a, b)| b - (slope * a + intercept)));
    Some(LinearFit { slope, intercept, rms_residual })
}

/// Least-squares fit of bw(n) = min(n * per_sm, total).
///
/// For a given split of the samples (sorted by n) into "before the knee" and "after", the least
/// squares parameters are closed-form: per_sm = sum(n*bw)/sum(n^2) over the first part (a line
/// through the origin), total = mean(bw) over the second. Every split is tried and the one whose
/// parameters give the smallest error under the real min() model wins.
pub fn fit_bandwidth(samples: &[(f64, f64)]) -> Option<BandwidthFit> {
    let mut p: Vec<(f64, f64)> =
        samples.iter().copied().filter(|(n, bw)| n.is_finite() && bw.is_finite() && *n > 0.0).collect();
    if p.is_empty() {
        return None;
    }
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    let x_min = p[0].0;
    let x_max = p[p.len() - 1].0;
    let model_sse =
        |per_sm: f64, total: f64| p.iter().map(|&(n, bw)| ((n * per_sm).min(total) - bw).powi(2)).sum::<f64>();

    let mut best: Option<(f64, f64, f64)> = None; // (sse, per_sm, total)
    for split in 0..=p.len() {
        let (left, right) = p.split_at(split);
        let sxx: f64 = left.iter().map(|q| q.0 * q.0).sum();
        let sxy: f64 = left.iter().map(|q| q.0 * q.1).sum();
        let plateau = (!right.is_empty()).then(|| right.iter().map(|q| q.1).sum::<f64>() / right.len() as f64);
        let (per_sm, total) = match (left.is_empty(), plateau) {
            (false, Some(t)) => (sxy / sxx, t),
            // Nothing after the knee: the plateau starts at or beyond the largest n.
            (false, None) => (sxy / sxx, sxy / sxx * x_max),
            // Nothing before the knee: the slope reaches the plateau by the smallest n.
            (true, Some(t)) => (t / x_min, t),
            (true, None) => continue,
        };
        if !(per_sm > 0.0 && total > 0.0) {
            continue;
        }
        let sse = model_sse(per_sm, total);
        if best.is_none_or(|b| sse < b.0) {
            best = Some((sse, per_sm, total));
        }
    }
    let (sse, per_sm_gbs, total_gbs) = best?;
    let knee = total_gbs / per_sm_gbs;
    // A sample exactly at the knee fits either limit, so it shows neither.
    let margin = 1e-9 * knee;
    let both_limits_observed = p.iter().any(|q| q.0 < knee - margin) && p.iter().any(|q| q.0 > knee + margin);
    Some(BandwidthFit {
        per_sm_gbs,
        total_gbs,
        knee,
        rms_residual: (sse / p.len() as f64).sqrt(),
        both_limits_observed,
    })
}

/// FLOP per clock per SM from (SMs in use, FLOP per clock of the whole kernel) samples: the
/// least-squares constant through the per-sample rates y/x (each sample weighs the same,
/// whether it used one SM or all of them).
pub fn fit_fma_rate(samples: &[(f64, f64)]) -> Option<FmaRateFit> {
    let rates: Vec<f64> = samples
        .iter()
        .filter(|(sms, f)| sms.is_finite() && f.is_finite() && *sms > 0.0)
        .map(|(sms, f)| f / sms)
        .collect();
    if rates.is_empty() {
        return None;
    }
    let r = rates.iter().sum::<f64>() / rates.len() as f64;
    if r <= 0.0 {
        return None;
    }
    Some(FmaRateFit { flops_per_clk_per_sm: r, rms_relative_residual: rms(rates.iter().map(|x| x / r - 1.0)) })
}

/// Min, median, mean and max of the finite values; `None` if there are none.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) };
    Some(Summary { n, min: v[0], median, mean: v.iter().sum::<f64>() / n as f64, max: v[n - 1] })
}

fn rms(residuals: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = residuals.fold((0.0, 0usize), |(s, n), r| (s + r * r, n + 1));
    if n == 0 {
        0.0
    } else {
        (sum / n as f64).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic multiplicative noise within +-`amp` (no RNG dependency, same on every run).
    fn noise(i: usize, amp: f64) -> f64 {
        1.0 + amp * ((i as f64) * 1.7 + 0.3).sin()
    }

    fn rel(a: f64, b: f64) -> f64 {
        (a / b - 1.0).abs()
    }

    const TOL: f64 = 0.02;

    #[test]
    fn linear_recovers_known_line() {
        let x: Vec<f64> = (0..50).map(|i| i as f64).collect();
        let y: Vec<f64> = x.iter().enumerate().map(|(i, &x)| (3.5 * x + 12.0) * noise(i, 0.005)).collect();
        let f = fit_linear(&x, &y).expect("fit");
        assert!(rel(f.slope, 3.5) < TOL, "{f:?}");
        assert!(rel(f.intercept, 12.0) < 0.1, "{f:?}"); // the intercept is small next to y: looser
        assert!(f.rms_residual < 0.01 * 3.5 * 49.0);
    }

    #[test]
    fn linear_is_exact_on_exact_data() {
        let f = fit_linear(&[1.0, 2.0, 3.0], &[5.0, 7.0, 9.0]).expect("fit");
        assert!((f.slope - 2.0).abs() < 1e-12 && (f.intercept - 3.0).abs() < 1e-12 && f.rms_residual < 1e-12);
    }

    #[test]
    fn linear_rejects_degenerate_input() {
        assert!(fit_linear(&[], &[]).is_none());
        assert!(fit_linear(&[1.0], &[2.0]).is_none());
        assert!(fit_linear(&[2.0, 2.0, 2.0], &[1.0, 2.0, 3.0]).is_none());
        assert!(fit_linear(&[1.0, f64::NAN], &[1.0, 2.0]).is_none());
    }

    fn bw_samples(per_sm: f64, total: f64, xs: &[f64], amp: f64) -> Vec<(f64, f64)> {
        xs.iter().enumerate().map(|(i, &n)| (n, (n * per_sm).min(total) * noise(i, amp))).collect()
    }

    #[test]
    fn bandwidth_recovers_h100_like_parameters() {
        // Doubling sweep as bench_dram runs it on a 132-SM card, knee at 120 SMs.
        let xs = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 132.0, 264.0, 528.0];
        let f = fit_bandwidth(&bw_samples(25.0, 3000.0, &xs, 0.01)).expect("fit");
        assert!(rel(f.per_sm_gbs, 25.0) < TOL, "{f:?}");
        assert!(rel(f.total_gbs, 3000.0) < TOL, "{f:?}");
        assert!(f.both_limits_observed);
    }

    #[test]
    fn bandwidth_recovers_dense_sweep_with_knee_between_samples() {
        let xs: Vec<f64> = (1..=132).map(|i| i as f64).collect();
        let f = fit_bandwidth(&bw_samples(48.5, 3350.0, &xs, 0.02)).expect("fit");
        assert!(rel(f.per_sm_gbs, 48.5) < TOL, "{f:?}");
        assert!(rel(f.total_gbs, 3350.0) < TOL, "{f:?}");
        assert!(rel(f.knee, 3350.0 / 48.5) < TOL, "{f:?}");
    }

    #[test]
    fn bandwidth_is_exact_on_exact_data() {
        let xs = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
        let f = fit_bandwidth(&bw_samples(100.0, 2000.0, &xs, 0.0)).expect("fit");
        assert!(rel(f.per_sm_gbs, 100.0) < 1e-12 && rel(f.total_gbs, 2000.0) < 1e-12 && f.rms_residual < 1e-9);
    }

    #[test]
    fn bandwidth_without_plateau_says_so() {
        let xs = [1.0, 2.0, 4.0, 8.0];
        let f = fit_bandwidth(&bw_samples(30.0, 1e9, &xs, 0.0)).expect("fit");
        assert!(rel(f.per_sm_gbs, 30.0) < 1e-12);
        assert!(!f.both_limits_observed);
        assert!(fit_bandwidth(&[]).is_none());
        assert!(fit_bandwidth(&[(0.0, 5.0), (f64::NAN, 1.0)]).is_none());
    }

    #[test]
    fn fma_rate_recovers_hopper_rate() {
        // 128 FP32 lanes per SM, 2 FLOP per FMA: 256 FLOP/clk/SM.
        let sms = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 66.0, 132.0];
        let s: Vec<(f64, f64)> = sms.iter().enumerate().map(|(i, &n)| (n, 256.0 * n * noise(i, 0.015))).collect();
        let f = fit_fma_rate(&s).expect("fit");
        assert!(rel(f.flops_per_clk_per_sm, 256.0) < TOL, "{f:?}");
        assert!(f.rms_relative_residual < 0.015);
        assert!(fit_fma_rate(&[]).is_none());
        assert!(fit_fma_rate(&[(0.0, 1.0)]).is_none());
    }

    #[test]
    fn summary_of_values() {
        let s = summarize(&[3.0, 1.0, 2.0, 10.0, f64::NAN]).expect("summary");
        assert_eq!((s.n, s.min, s.median, s.mean, s.max), (4, 1.0, 2.5, 4.0, 10.0));
        assert_eq!(summarize(&[5.0]).map(|s| s.median), Some(5.0));
        assert!(summarize(&[]).is_none());
    }
}
