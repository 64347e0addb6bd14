//! Measured against predicted. Each measured value is set beside what the simulator predicts for
//! the same case and metric: relative error `(predicted - measured) / measured`, its mean absolute
//! value (MAPE) per experiment and overall, and for each sharing choice whether the case the
//! simulator ranks best is the one the card ranked best.

use crate::experiment::{Best, Experiment};
use crate::metric::MetricRef;
use crate::record::{Provenance, Record};
use serde::Serialize;
use simgpu_sim::Report;
use std::collections::BTreeMap;

/// One measured value and its prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub case: String,
    pub metric: String,
    pub measured: f64,
    pub samples: u64,
    pub predicted: f64,
    /// (predicted - measured) / measured.
    pub error: f64,
}

/// One sharing choice, answered from the measurements and from the predictions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub question: String,
    pub metric: String,
    pub best: Best,
    pub tolerance: f64,
    /// None when some case of the choice has no measurement.
    pub measured_best: Option<String>,
    /// The cases predicted within `tolerance` of the predicted best (the best first): the
    /// simulator cannot tell them apart.
    pub predicted_best: Vec<String>,
    /// How much worse than the measured best the worst of the predicted best measured (0 when
    /// the predicted best is the measured best alone).
    pub predicted_best_measured_off: Option<f64>,
    /// Every predicted best case measured within `tolerance` of the measured best.
    pub agree: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentScore {
    pub experiment: String,
    pub description: String,
    /// The profile the predictions used, as the reports name it.
    pub profile: simgpu_sim::report::ProfileUsed,
    /// The distinct places and dates the records come from.
    pub measured_on: Vec<Provenance>,
    pub rows: Vec<Row>,
    /// Cases of the experiment no record measured.
    pub unmeasured: Vec<String>,
    /// Mean of |error| over the rows.
    pub mape: f64,
    pub median_ape: f64,
    /// How far repeated measurements of the same case and metric lie apart: the card's own
    /// noise, the floor under any error above (None when nothing was measured twice).
    pub repeat_spread: Option<Spread>,
    pub choices: Vec<Verdict>,
}

/// (max − min) / mean over the repeats of each case and metric measured more than once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    /// Case-metric pairs measured more than once.
    pub metrics: usize,
    pub median: f64,
    pub max: f64,
    /// The pair with the largest spread, `case client.metric`.
    pub widest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    pub experiments: Vec<ExperimentScore>,
    /// Over every row of every experiment.
    pub rows: usize,
    pub mape: f64,
    pub median_ape: f64,
    /// The rows of throughputs (`CLIENT.throughput_per_s`), which the accuracy goal (10%) is set on,
    /// and their MAPE (0 when there are none).
    pub throughput_rows: usize,
    pub throughput_mape: f64,
    pub choices_judged: usize,
    pub choices_agreed: usize,
}

/// Scores one experiment's records against the simulated reports of its cases (`reports` by
/// case name; every case a record names must be there).
pub fn score_experiment(
    e: &Experiment,
    records: &[&Record],
    reports: &BTreeMap<String, Report>,
) -> Result<ExperimentScore, String> {
    let mut rows = Vec::new();
    let mut measured_on: Vec<Provenance> = Vec::new();
    for r in records {
        let case = e.case(&r.case).ok_or_else(|| format!("case `{}`: not in experiment `{}`", r.case, e.name))?;
        let report = reports.get(&r.case).ok_or_else(|| format!("case `{}`: not simulated", r.case))?;
        for m in &r.measured {
            if !case.measure.contains(&m.what) {
                return Err(format!(
                    "case `{}`: measures `{}`, which the experiment does not list",
                    r.case,
                    m.what.label()
                ));
            }
            let predicted = m.what.read(report).map_err(|err| format!("case `{}`: {err}", r.case))?;
            rows.push(Row {
                case: r.case.clone(),
                metric: m.what.label(),
                measured: m.value,
                samples: m.samples,
                predicted,
                error: (predicted - m.value) / m.value,
            });
        }
        if !measured_on.contains(&r.provenance) {
            measured_on.push(r.provenance.clone());
        }
    }
    let unmeasured =
        e.cases.iter().filter(|c| !records.iter().any(|r| r.case == c.name)).map(|c| c.name.clone()).collect();
    let mut choices = Vec::new();
    for ch in &e.choices {
        let m = ch.metric_ref();
        let predicted: Vec<(String, f64)> = ch
            .cases
            .iter()
            .map(|c| {
                let r = reports.get(c).ok_or_else(|| format!("case `{c}`: not simulated"))?;
                m.read(r).map(|v| (c.clone(), v)).map_err(|err| format!("case `{c}`: {err}"))
            })
            .collect::<Result<_, String>>()?;
        let measured: Option<Vec<(String, f64)>> =
            ch.cases.iter().map(|c| mean_measured(records, c, &m).map(|v| (c.clone(), v))).collect();
        let (predicted_best, judged) = judge(&predicted, measured.as_deref(), ch.best, ch.tolerance);
        let (measured_best, off, agree) = match judged {
            Some((name, off, agree)) => (Some(name), Some(off), Some(agree)),
            None => (None, None, None),
        };
        choices.push(Verdict {
            question: ch.question.clone(),
            metric: m.label(),
            best: ch.best,
            tolerance: ch.tolerance,
            measured_best,
            predicted_best,
            predicted_best_measured_off: off,
            agree,
        });
    }
    let profile = reports.values().next().map(|r| r.profile.clone()).unwrap_or_default();
    let repeat_spread = spread(&rows);
    let (mape, median_ape) = ape(rows.iter().map(|r| r.error));
    Ok(ExperimentScore {
        experiment: e.name.clone(),
        description: e.description.clone(),
        profile,
        measured_on,
        rows,
        unmeasured,
        mape,
        median_ape,
        repeat_spread,
        choices,
    })
}

/// The spread of repeated measurements (rows of the same case and metric).
fn spread(rows: &[Row]) -> Option<Spread> {
    let mut by: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    for r in rows {
        by.entry((r.case.as_str(), r.metric.as_str())).or_default().push(r.measured);
    }
    let mut v: Vec<(f64, String)> = by
        .into_iter()
        .filter(|(_, xs)| xs.len() > 1)
        .map(|((case, metric), xs)| {
            let (lo, hi) = xs.iter().fold((f64::INFINITY, 0.0f64), |(l, h), &x| (l.min(x), h.max(x)));
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            ((hi - lo) / mean, format!("{case} {metric}"))
        })
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let spreads: Vec<f64> = v.iter().map(|x| x.0).collect();
    let (max, widest) = v[v.len() - 1].clone();
    Some(Spread { metrics: v.len(), median: median(&spreads), max, widest })
}

/// The experiments' scores together.
pub fn score(experiments: Vec<ExperimentScore>) -> Scores {
    let all = experiments.iter().flat_map(|e| e.rows.iter().map(|r| r.error));
    let (mape, median_ape) = ape(all);
    let throughputs: Vec<f64> = experiments
        .iter()
        .flat_map(|e| e.rows.iter())
        .filter(|r| r.metric.ends_with(".throughput_per_s"))
        .map(|r| r.error)
        .collect();
    let (throughput_mape, _) = ape(throughputs.iter().copied());
    let verdicts = || experiments.iter().flat_map(|e| e.choices.iter()).filter_map(|v| v.agree);
    Scores {
        rows: experiments.iter().map(|e| e.rows.len()).sum(),
        mape,
        median_ape,
        throughput_rows: throughputs.len(),
        throughput_mape,
        choices_judged: verdicts().count(),
        choices_agreed: verdicts().filter(|&a| a).count(),
        experiments,
    }
}

/// Mean and median of the absolute errors (0 when there are none).
fn ape(errors: impl Iterator<Item = f64>) -> (f64, f64) {
    let mut v: Vec<f64> = errors.map(f64::abs).collect();
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    (v.iter().sum::<f64>() / v.len() as f64, median(&v))
}

/// The median of sorted, non-empty values.
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The mean of a case's measurements of one metric over its records (None if none measured it).
fn mean_measured(records: &[&Record], case: &str, m: &MetricRef) -> Option<f64> {
    let vals: Vec<f64> = records
        .iter()
        .filter(|r| r.case == case)
        .flat_map(|r| r.measured.iter().filter(|x| &x.what == m).map(|x| x.value))
        .collect();
    (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
}

/// A choice answered: the predicted best (every case within `tolerance` of it), and when every
/// case was measured, the measured best, how far off it the worst of the predicted best measured
/// and whether that is within `tolerance` (whichever of them a user takes, it must be close).
fn judge(
    predicted: &[(String, f64)],
    measured: Option<&[(String, f64)]>,
    best: Best,
    tolerance: f64,
) -> (Vec<String>, Option<(String, f64, bool)>) {
    let predicted_best = within(predicted, best, tolerance);
    let judged = measured.map(|meas| {
        let (name, b) = best_of(meas, best);
        let off = meas
            .iter()
            .filter(|(c, _)| predicted_best.contains(c))
            .map(|(_, v)| ((v - b) / b).abs())
            .fold(0.0, f64::max);
        (name, off, off <= tolerance)
    });
    (predicted_best, judged)
}

/// The best case and every other within `tolerance` of it (relative), the best first.
fn within(v: &[(String, f64)], best: Best, tolerance: f64) -> Vec<String> {
    let (name, b) = best_of(v, best);
    let mut out = vec![name.clone()];
    out.extend(v.iter().filter(|(c, x)| *c != name && ((x - b) / b).abs() <= tolerance).map(|(c, _)| c.clone()));
    out
}

/// The best (case, value); ties go to the first listed.
fn best_of(v: &[(String, f64)], best: Best) -> (String, f64) {
    let mut it = v.iter();
    let first = it.next().cloned().unwrap_or_default();
    it.fold(first, |acc, x| {
        let better = match best {
            Best::Lowest => x.1 < acc.1,
            Best::Highest => x.1 > acc.1,
        };
        if better {
            x.clone()
        } else {
            acc
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn median_and_mean_of_absolute_errors() {
        assert_eq!(ape([0.1, -0.3, 0.2].into_iter()), ((0.1 + 0.3 + 0.2) / 3.0, 0.2));
        assert_eq!(ape([-0.1, 0.3].into_iter()).1, 0.2);
        assert_eq!(ape(std::iter::empty()), (0.0, 0.0));
    }

    #[test]
    fn best_respects_direction_and_ties() {
        let v = vec![("a".to_string(), 2.0), ("b".to_string(), 1.0), ("c".to_string(), 1.0)];
        assert_eq!(best_of(&v, Best::Lowest).0, "b");
        assert_eq!(best_of(&v, Best::Highest).0, "a");
        assert_eq!(within(&v, Best::Lowest, 0.0), ["b", "c"]);
        assert_eq!(within(&v, Best::Highest, 0.4), ["a"]);
        assert_eq!(within(&v, Best::Highest, 0.5), ["a", "b", "c"]);
    }

    #[test]
    fn spread_of_repeats() {
        let row = |case: &str, m: f64| Row {
            case: case.into(),
            metric: "c.p50_us".into(),
            measured: m,
            samples: 1,
            predicted: 1.0,
            error: 0.0,
        };
        assert_eq!(spread(&[row("a", 1.0), row("b", 2.0)]), None);
        let s = spread(&[row("a", 9.0), row("a", 11.0), row("b", 2.0), row("b", 2.0)]).unwrap();
        assert_eq!((s.metrics, s.max, s.widest.as_str()), (2, 0.2, "a c.p50_us"));
        assert!((s.median - 0.1).abs() < 1e-12);
    }

    #[test]
    fn throughput_mape_counts_only_throughputs() {
        let row = |metric: &str, error: f64| Row {
            case: "a".into(),
            metric: metric.into(),
            measured: 1.0,
            samples: 1,
            predicted: 1.0 + error,
            error,
        };
        let e = ExperimentScore {
            experiment: "x".into(),
            description: String::new(),
            profile: Default::default(),
            measured_on: Vec::new(),
            rows: vec![row("c.p50_us", 0.5), row("c.throughput_per_s", -0.1), row("d.throughput_per_s", 0.3)],
            unmeasured: Vec::new(),
            mape: 0.3,
            median_ape: 0.3,
            repeat_spread: None,
            choices: Vec::new(),
        };
        let s = score(vec![e]);
        assert_eq!((s.rows, s.throughput_rows), (3, 2));
        assert!((s.throughput_mape - 0.2).abs() < 1e-12);
        assert!((s.mape - 0.3).abs() < 1e-12);
    }

    fn cases(v: &[(&str, f64)]) -> Vec<(String, f64)> {
        v.iter().map(|&(c, x)| (c.to_string(), x)).collect()
    }

    #[test]
    fn a_tie_agrees_only_if_every_tied_case_measured_close() {
        let pred = cases(&[("a", 10.0), ("b", 10.2), ("c", 20.0)]);
        let close = cases(&[("a", 11.0), ("b", 10.6), ("c", 30.0)]);
        let (best, j) = judge(&pred, Some(&close), Best::Lowest, 0.05);
        assert_eq!(best, ["a", "b"]);
        let (name, off, agree) = j.unwrap();
        assert_eq!(name, "b");
        assert!((off - 0.4 / 10.6).abs() < 1e-12 && agree);
        let far = cases(&[("a", 15.0), ("b", 10.0), ("c", 30.0)]);
        assert!(!judge(&pred, Some(&far), Best::Lowest, 0.05).1.unwrap().2);
        // With no tolerance `a` alone is the predicted best, and it measured 50% off the best.
        let one = judge(&pred, Some(&far), Best::Lowest, 0.0);
        assert_eq!((one.0.len(), one.1.as_ref().unwrap().2), (1, false));
        assert_eq!(judge(&pred, None, Best::Highest, 0.0), (vec!["c".to_string()], None));
    }

    proptest! {
        #[test]
        fn mape_is_between_median_bounds(errs in proptest::collection::vec(-5.0f64..5.0, 1..40)) {
            let (mape, med) = ape(errs.iter().copied());
            let max = errs.iter().map(|e| e.abs()).fold(0.0, f64::max);
            let min = errs.iter().map(|e| e.abs()).fold(f64::INFINITY, f64::min);
            prop_assert!(mape <= max + 1e-12 && mape >= min - 1e-12);
            prop_assert!(med <= max && med >= min);
        }
    }
}
