//! Pure data preparation for step-function series: cleaning, merging
//! breakpoints for stacking, downsampling and building step paths.

/// Points of a step function, sorted by x once cleaned.
pub(crate) type Steps = Vec<(f64, f64)>;

/// Series with more points than this are bucketed before drawing.
pub const DOWNSAMPLE_THRESHOLD: usize = 4000;

/// Ranges narrower than this are treated as zero-width: plotters' tick
/// computation can loop forever on subnormal or ulp-sized ranges.
const MIN_SPAN: f64 = 1e-200;
const MIN_REL_SPAN: f64 = 1e-9;

/// Drops non-finite points, sorts by x (stable) and keeps the last point
/// among equal x, since that is the value holding from that instant on.
pub(crate) fn clean(points: &[(f64, f64)]) -> Steps {
    let mut v: Vec<(f64, f64)> = points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    if !v.windows(2).all(|w| w[0].0 <= w[1].0) {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(v.len());
    for p in v {
        match out.last_mut() {
            Some(last) if last.0 == p.0 => *last = p,
            _ => out.push(p),
        }
    }
    out
}

/// Normalises an axis range so plotters can always compute ticks on it.
/// Zero-width (or numerically negligible) ranges become `lo..lo+1` (scaled
/// up for huge magnitudes so the width stays representable).
pub(crate) fn normalize_range(lo: f64, hi: f64) -> Result<(f64, f64), String> {
    if !lo.is_finite() || !hi.is_finite() || !(hi - lo).is_finite() {
        return Err(format!("axis range {lo}..{hi} is not finite"));
    }
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    let mag = lo.abs().max(hi.abs());
    if hi - lo < MIN_SPAN || hi - lo <= mag * MIN_REL_SPAN {
        let span = 1f64.max(mag * 1e-6);
        return Ok((lo, lo + span));
    }
    Ok((lo, hi))
}

/// Top of a `0..top` value axis from the data peak: 5% headroom, 1 when
/// there is nothing positive to show.
pub(crate) fn auto_top(peak: f64) -> Result<f64, String> {
    let top = peak * 1.05;
    if !top.is_finite() {
        return Err(format!("value {peak} is too large to plot"));
    }
    Ok(if top < MIN_SPAN { 1.0 } else { top })
}

/// Validates a caller-given `y_max`.
pub(crate) fn check_top(y_max: f64) -> Result<f64, String> {
    if y_max.is_finite() && y_max >= MIN_SPAN {
        Ok(y_max)
    } else {
        Err(format!("y_max {y_max} must be finite and positive"))
    }
}

/// Walks the union of the breakpoints of cleaned series and calls
/// `f(x, values)` at each, with every series' value at `x` (0 before its
/// first point).
fn merge_walk(series: &[Steps], mut f: impl FnMut(f64, &[f64])) {
    let mut idx = vec![0usize; series.len()];
    let mut vals = vec![0.0; series.len()];
    loop {
        let next = series.iter().zip(&idx).filter_map(|(s, &i)| s.get(i).map(|p| p.0)).reduce(f64::min);
        let Some(x) = next else { break };
        for ((s, i), v) in series.iter().zip(idx.iter_mut()).zip(vals.iter_mut()) {
            while let Some(&(px, py)) = s.get(*i) {
                if px > x {
                    break;
                }
                *v = py;
                *i += 1;
            }
        }
        f(x, &vals);
    }
}

/// Cumulative step functions for stacking: `out[k]` is the sum of series
/// `0..=k`, all sampled on the merged breakpoints of every series.
pub(crate) fn stack_steps(series: &[Steps]) -> Vec<Steps> {
    let mut out = vec![Vec::new(); series.len()];
    merge_walk(series, |x, vals| {
        let mut sum = 0.0;
        for (o, v) in out.iter_mut().zip(vals) {
            sum += v;
            o.push((x, sum));
        }
    });
    out
}

/// Highest cumulative value reached by any layer of the stack, computed on
/// the exact (not downsampled) data so the axis does not depend on width.
pub(crate) fn stacked_peak(series: &[Steps]) -> f64 {
    let mut peak = 0f64;
    merge_walk(series, |_, vals| {
        let mut sum = 0.0;
        for v in vals {
            sum += v;
            peak = peak.max(sum);
        }
    });
    peak
}

/// Largest value of a cleaned series (0 when empty or all negative).
pub(crate) fn peak(points: &[(f64, f64)]) -> f64 {
    points.iter().fold(0f64, |m, p| m.max(p.1))
}

/// Downsamples a cleaned step function onto `n` equal buckets over
/// `lo..hi`, each holding the time-weighted average of the function over
/// the bucket. An average (not max) is used because it is linear: stacking
/// bucketed series gives exactly the bucketed stack.
///
/// With `zero_fill` the function counts as 0 before its first point and
/// every bucket is returned (stacking needs a common grid); otherwise only
/// buckets overlapping the defined part are returned, averaged over that
/// part. The last value holds until `hi`.
pub(crate) fn bucket_average(points: &[(f64, f64)], lo: f64, hi: f64, n: usize, zero_fill: bool) -> Steps {
    let n = n.max(1);
    let w = (hi - lo) / n as f64;
    if !(w.is_finite() && w > 0.0) {
        return Vec::new();
    }
    // Weights are bucket fractions (<= 1), so sums cannot overflow.
    let mut sum = vec![0.0f64; n];
    let mut cover = vec![0.0f64; n];
    let bucket_of = |x: f64| (((x - lo) / w).floor().max(0.0) as usize).min(n - 1);
    for (i, &(x, y)) in points.iter().enumerate() {
        let end = points.get(i + 1).map_or(hi, |p| p.0).min(hi);
        let start = x.max(lo);
        if end <= start {
            continue;
        }
        for b in bucket_of(start)..=bucket_of(end) {
            let b_lo = lo + b as f64 * w;
            let overlap = (end.min(b_lo + w) - start.max(b_lo)) / w;
            if overlap > 0.0 {
                sum[b] += y * overlap;
                cover[b] += overlap;
            }
        }
    }
    (0..n)
        .filter_map(|b| {
            let x = lo + b as f64 * w;
            if zero_fill {
                Some((x, sum[b]))
            } else if cover[b] > 0.0 {
                Some((x, sum[b] / cover[b]))
            } else {
                None
            }
        })
        .collect()
}

/// Vertices of a step polyline: each value holds horizontally until the
/// next breakpoint, then jumps vertically; the last value holds to `x_end`.
/// Values are clamped to `0..=y_top` so off-scale data cannot produce huge
/// pixel coordinates (which make polygon filling crawl).
pub(crate) fn step_path(points: &[(f64, f64)], x_end: f64, y_top: f64) -> Steps {
    let clamp = |y: f64| {
        if y.is_finite() {
            y.clamp(0.0, y_top)
        } else {
            0.0
        }
    };
    let mut out = Vec::with_capacity(points.len() * 2 + 1);
    let mut prev: Option<f64> = None;
    for &(x, y) in points {
        let y = clamp(y);
        if let Some(py) = prev {
            out.push((x, py));
        }
        out.push((x, y));
        prev = Some(y);
    }
    if let (Some(py), Some(&(last_x, _))) = (prev, points.last()) {
        if x_end > last_x {
            out.push((x_end, py));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_filters_sorts_and_dedups() {
        let pts = [(2.0, 1.0), (f64::NAN, 1.0), (0.0, 5.0), (1.0, f64::INFINITY), (2.0, 3.0), (1.0, 2.0)];
        assert_eq!(clean(&pts), vec![(0.0, 5.0), (1.0, 2.0), (2.0, 3.0)]);
    }

    #[test]
    fn stack_merges_breakpoints() {
        // a: 1 on [0,2), 3 from 2.  b: 0 before 1, 10 on [1,3), 20 from 3.
        let a = vec![(0.0, 1.0), (2.0, 3.0)];
        let b = vec![(1.0, 10.0), (3.0, 20.0)];
        let s = stack_steps(&[a.clone(), b.clone()]);
        assert_eq!(s[0], vec![(0.0, 1.0), (1.0, 1.0), (2.0, 3.0), (3.0, 3.0)]);
        assert_eq!(s[1], vec![(0.0, 1.0), (1.0, 11.0), (2.0, 13.0), (3.0, 23.0)]);
        assert_eq!(stacked_peak(&[a, b]), 23.0);
    }

    #[test]
    fn stack_handles_empty_and_negative() {
        let s = stack_steps(&[vec![], vec![(0.0, 2.0)], vec![(0.0, -1.0)]]);
        assert_eq!(s, vec![vec![(0.0, 0.0)], vec![(0.0, 2.0)], vec![(0.0, 1.0)]]);
        assert_eq!(stacked_peak(&[vec![(0.0, 2.0)], vec![(0.0, -1.0)]]), 2.0);
        assert!(stack_steps(&[vec![], vec![]]).iter().all(Vec::is_empty));
        assert!(stack_steps(&[]).is_empty());
    }

    #[test]
    fn bucket_average_is_time_weighted() {
        // 0 on [0,1), 4 on [1,4): buckets of width 2 -> avg 2, then 4.
        let pts = [(0.0, 0.0), (1.0, 4.0)];
        assert_eq!(bucket_average(&pts, 0.0, 4.0, 2, false), vec![(0.0, 2.0), (2.0, 4.0)]);
        // Defined only from 1: without zero fill the first bucket averages
        // over its defined half; with zero fill the gap counts as 0.
        let late = [(1.0, 4.0)];
        assert_eq!(bucket_average(&late, 0.0, 4.0, 2, false), vec![(0.0, 4.0), (2.0, 4.0)]);
        assert_eq!(bucket_average(&late, 0.0, 4.0, 2, true), vec![(0.0, 2.0), (2.0, 4.0)]);
        // Starting after the first bucket: that bucket is skipped.
        let later = [(3.0, 1.0)];
        assert_eq!(bucket_average(&later, 0.0, 4.0, 2, false), vec![(2.0, 1.0)]);
    }

    #[test]
    fn bucket_average_bounds_size_and_commutes_with_stacking() {
        let n = 200_000;
        let a: Vec<_> = (0..n).map(|i| (i as f64, (i % 7) as f64)).collect();
        let b: Vec<_> = (0..n).map(|i| (i as f64 + 0.5, (i % 3) as f64)).collect();
        let (lo, hi) = (0.0, n as f64);
        let ba = bucket_average(&a, lo, hi, 1000, true);
        let bb = bucket_average(&b, lo, hi, 1000, true);
        assert_eq!(ba.len(), 1000);
        let stacked_then_bucketed = bucket_average(&stack_steps(&[a, b])[1], lo, hi, 1000, true);
        let bucketed_then_stacked = &stack_steps(&[ba, bb])[1];
        assert_eq!(stacked_then_bucketed.len(), bucketed_then_stacked.len());
        for (p, q) in stacked_then_bucketed.iter().zip(bucketed_then_stacked) {
            assert_eq!(p.0, q.0);
            assert!((p.1 - q.1).abs() < 1e-6, "{p:?} vs {q:?}");
        }
    }

    #[test]
    fn step_path_is_horizontal_then_vertical() {
        let p = step_path(&[(0.0, 1.0), (2.0, 3.0)], 5.0, 10.0);
        assert_eq!(p, vec![(0.0, 1.0), (2.0, 1.0), (2.0, 3.0), (5.0, 3.0)]);
        assert_eq!(step_path(&[(0.0, 50.0)], 0.0, 10.0), vec![(0.0, 10.0)]);
        assert!(step_path(&[], 1.0, 1.0).is_empty());
    }

    #[test]
    fn ranges_are_normalised() {
        assert_eq!(normalize_range(0.0, 0.0), Ok((0.0, 1.0)));
        assert_eq!(normalize_range(5.0, 5.0), Ok((5.0, 6.0)));
        assert_eq!(normalize_range(3.0, 1.0), Ok((1.0, 3.0)));
        assert_eq!(normalize_range(0.0, 5e-324), Ok((0.0, 1.0)));
        assert!(normalize_range(-f64::MAX, f64::MAX).is_err());
        assert!(normalize_range(f64::NAN, 1.0).is_err());
        assert_eq!(auto_top(0.0), Ok(1.0));
        assert_eq!(auto_top(-3.0), Ok(1.0));
        assert!(auto_top(f64::MAX).is_err());
        assert!(check_top(0.0).is_err());
        assert!(check_top(f64::NAN).is_err());
    }
}
