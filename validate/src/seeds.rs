//! Published figures: the numbers a seed document reports (one table cell: a value, or the range
//! it gives), each beside the scenario that restates its case, and how far simgpu's prediction
//! lands from it. A file of them (`validate/seeds/<seed>.toml`) also names the choices the
//! seed draws (which sharing mode won) and the character of a kernel stream it traced (Nsight
//! Systems' kernel statistics). Nothing here is fitted: the figures only judge.

use crate::metric::{Metric, MetricRef};
use serde::{Deserialize, Serialize};
use simgpu_sim::{InputError, Report};
use std::collections::BTreeMap;

/// A prediction this far from the figure (or from the nearest end of its range) or nearer meets
/// the goal the seed issue sets (20%).
pub const GOAL: f64 = 0.20;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    /// The seed document, as docs/design.md names it ("Seed 003").
    pub seed: String,
    pub title: String,
    /// What the scenarios take where the seed is silent, and why (printed with the tables).
    #[serde(default)]
    pub assumptions: Vec<String>,
    #[serde(default)]
    pub figures: Vec<Figure>,
    #[serde(default)]
    pub winners: Vec<Winner>,
    #[serde(default)]
    pub character: Vec<Character>,
    #[serde(default)]
    pub notes: Vec<Note>,
    #[serde(default)]
    pub gains: Vec<Gain>,
    #[serde(default)]
    pub trends: Vec<Trend>,
}

/// One cell of a seed's table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    /// The seed's table ("Run 1"), row ("Gen throughput (tok/s)") and column ("Step 2 (MPS)").
    pub table: String,
    pub row: String,
    pub column: String,
    /// The scenario, relative to this file.
    pub scenario: String,
    pub client: String,
    pub metric: Metric,
    #[serde(default)]
    pub kernel: Option<String>,
    pub measured: Value,
    /// The error within which the prediction meets the goal [default: [`GOAL`]].
    #[serde(default)]
    pub goal: Option<f64>,
}

/// A published value: one number, or the range `[low, high]` the seed gives.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Value {
    One(f64),
    Range([f64; 2]),
}

impl Value {
    fn bounds(self) -> (f64, f64) {
        match self {
            Value::One(v) => (v, v),
            Value::Range([a, b]) => (a.min(b), a.max(b)),
        }
    }

    /// Relative error of `predicted`: 0 inside the range, else against its nearest end.
    pub fn error(self, predicted: f64) -> f64 {
        let (lo, hi) = self.bounds();
        if predicted < lo {
            (predicted - lo) / lo
        } else if predicted > hi {
            (predicted - hi) / hi
        } else {
            0.0
        }
    }

    /// The middle of the range (the value itself).
    pub fn mid(self) -> f64 {
        let (lo, hi) = self.bounds();
        (lo + hi) / 2.0
    }

    pub fn label(self) -> String {
        match self {
            Value::One(v) => fmt_num(v),
            Value::Range([a, b]) => format!("{}-{}", fmt_num(a), fmt_num(b)),
        }
    }
}

/// A gain the seed claims: the clients of `shared` together against those of `alone`
/// (throughput summed), as a fraction (`0.5`: 50% more), with the bounds the claim sets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gain {
    pub table: String,
    /// Unique: trends name gains by it.
    pub label: String,
    pub shared: String,
    pub alone: String,
    #[serde(default)]
    pub at_least: Option<f64>,
    #[serde(default)]
    pub at_most: Option<f64>,
    /// The seed's words for the bound.
    pub claim: String,
}

/// Gains the seed says fall (in this order, each no larger than the one before).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trend {
    pub claim: String,
    pub falling: Vec<String>,
}

/// Why a table's figures land where they do (printed under it).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub table: String,
    pub text: String,
}

/// Which of two or more cases the seed found best for one client's metric.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Winner {
    pub table: String,
    pub question: String,
    pub client: String,
    pub metric: Metric,
    /// Case label to scenario (relative to this file).
    pub cases: BTreeMap<String, String>,
    /// The label of the case the seed found best.
    pub measured: String,
}

/// Nsight Systems' statistics of one client's kernel stream, those the seed reports.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Character {
    pub what: String,
    pub scenario: String,
    pub client: String,
    pub kernels_per_s: Option<f64>,
    pub mean_kernel_us: Option<f64>,
    pub mean_blocks: Option<f64>,
    pub single_block_share: Option<f64>,
    pub full_gpu_share: Option<f64>,
    pub idle_fraction: Option<f64>,
}

impl Published {
    /// Reads a published-figures file; errors name the file, the line and the field.
    pub fn parse(file: &str, text: &str) -> Result<Published, InputError> {
        let p: Published = toml::from_str(text).map_err(|err| InputError::from_toml(file, text, &err))?;
        let bad = |field: String, msg: String| {
            let span = crate::experiment::field_span(text, &field);
            InputError::new(file, text, span, &field, msg)
        };
        for (i, f) in p.figures.iter().enumerate() {
            let m = MetricRef { client: f.client.clone(), metric: f.metric, kernel: f.kernel.clone() };
            m.check().map_err(|e| bad(format!("figures[{i}].metric"), e))?;
            let (lo, hi) = f.measured.bounds();
            if !(lo.is_finite() && hi.is_finite() && lo > 0.0) {
                return Err(bad(format!("figures[{i}].measured"), "a published value is a positive number".into()));
            }
            if f.goal.is_some_and(|g| !(g > 0.0 && g < 1.0)) {
                return Err(bad(format!("figures[{i}].goal"), "a fraction above 0 and below 1".into()));
            }
        }
        for (i, w) in p.winners.iter().enumerate() {
            if w.cases.len() < 2 {
                return Err(bad(format!("winners[{i}].cases"), "a choice is between at least two cases".into()));
            }
            if !w.cases.contains_key(&w.measured) {
                return Err(bad(format!("winners[{i}].measured"), format!("`{}` is none of the cases", w.measured)));
            }
            if w.metric.of_gpu() || w.metric == Metric::KernelMeanUs {
                return Err(bad(format!("winners[{i}].metric"), "a winner is judged on a client metric".into()));
            }
        }
        for (i, g) in p.gains.iter().enumerate() {
            if p.gains[..i].iter().any(|o| o.label == g.label) {
                return Err(bad(format!("gains[{i}].label"), format!("`{}` is named twice", g.label)));
            }
            if g.at_least.is_none() && g.at_most.is_none() {
                return Err(bad(format!("gains[{i}].claim"), "a claim needs `at_least` or `at_most`".into()));
            }
        }
        for (i, t) in p.trends.iter().enumerate() {
            if t.falling.len() < 2 {
                return Err(bad(format!("trends[{i}].falling"), "a trend is over at least two gains".into()));
            }
            if let Some(l) = t.falling.iter().find(|l| !p.gains.iter().any(|g| &g.label == *l)) {
                return Err(bad(format!("trends[{i}].falling"), format!("no gain labelled `{l}`")));
            }
        }
        Ok(p)
    }

    /// Every scenario the file names, each once.
    pub fn scenarios(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.figures.iter().map(|f| f.scenario.as_str()).collect();
        v.extend(self.winners.iter().flat_map(|w| w.cases.values().map(String::as_str)));
        v.extend(self.character.iter().map(|c| c.scenario.as_str()));
        v.extend(self.gains.iter().flat_map(|g| [g.shared.as_str(), g.alone.as_str()]));
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// One figure beside its prediction.
#[derive(Debug, Clone, Serialize)]
pub struct FigureRow {
    pub table: String,
    pub row: String,
    pub column: String,
    pub scenario: String,
    pub measured: Value,
    pub predicted: f64,
    pub error: f64,
    pub goal: f64,
    pub met: bool,
    /// Where the simulated client lost against running alone (shared cases of client metrics).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WinnerRow {
    pub table: String,
    pub question: String,
    pub measured: String,
    pub predicted: String,
    /// The predicted value of each case, by label.
    pub values: BTreeMap<String, f64>,
    pub agreed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct GainRow {
    pub table: String,
    pub label: String,
    pub claim: String,
    pub at_least: Option<f64>,
    pub at_most: Option<f64>,
    pub predicted: f64,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrendRow {
    pub claim: String,
    /// The gains in the trend's order.
    pub predicted: Vec<f64>,
    pub met: bool,
}

/// A rise smaller than this still counts as falling (rounding in simulated throughputs).
const TREND_SLACK: f64 = 0.01;

/// A stream statistic: published, simulated.
#[derive(Debug, Clone, Serialize)]
pub struct CharacterRow {
    pub what: String,
    pub statistic: &'static str,
    pub measured: f64,
    pub predicted: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub seed: String,
    pub title: String,
    pub assumptions: Vec<String>,
    pub figures: Vec<FigureRow>,
    pub winners: Vec<WinnerRow>,
    pub character: Vec<CharacterRow>,
    pub notes: Vec<Note>,
    pub gains: Vec<GainRow>,
    pub trends: Vec<TrendRow>,
    /// Figures within the goal, of all.
    pub met: usize,
    pub winners_agreed: usize,
}

/// What a scenario's kernels look like, for the stream statistics: each kernel name's grid (the
/// first kernel of that name in the client) and the GPU's SM count.
#[derive(Debug, Clone, Default)]
pub struct Grids {
    pub by_client: BTreeMap<String, BTreeMap<String, u64>>,
    pub sms: u64,
}

impl Grids {
    /// The grids of `spec`'s clients (by kernel name, the first of each name) on a GPU of `sms`.
    pub fn of(spec: &simgpu_sim::spec::WorkloadSpec, sms: u64) -> Grids {
        let mut by_client = BTreeMap::new();
        for c in &spec.clients {
            let mut names = BTreeMap::new();
            for k in &c.kernels {
                names.entry(k.name.clone()).or_insert(k.grid);
            }
            by_client.insert(c.name.clone(), names);
        }
        Grids { by_client, sms }
    }
}

/// Compares `p` with the simulated reports and grids of its scenarios (by the names `p` uses).
pub fn compare(
    p: &Published,
    reports: &BTreeMap<String, Report>,
    grids: &BTreeMap<String, Grids>,
) -> Result<Comparison, String> {
    let report = |s: &str| reports.get(s).ok_or_else(|| format!("scenario `{s}`: not simulated"));
    let mut figures = Vec::new();
    for f in &p.figures {
        let m = MetricRef { client: f.client.clone(), metric: f.metric, kernel: f.kernel.clone() };
        let predicted = m.read(report(&f.scenario)?).map_err(|e| format!("{}: {e}", f.scenario))?;
        let error = f.measured.error(predicted);
        let goal = f.goal.unwrap_or(GOAL);
        let attribution = report(&f.scenario)?
            .clients
            .iter()
            .find(|c| c.name == f.client && f.metric == Metric::ThroughputPerS)
            .and_then(|c| c.slowdown.as_ref())
            .filter(|sd| sd.loss.abs() >= 0.01)
            .map(|sd| format!("{:.1}% lost: {}", sd.loss * 100.0, sd.causes_line()));
        figures.push(FigureRow {
            table: f.table.clone(),
            row: f.row.clone(),
            column: f.column.clone(),
            scenario: f.scenario.clone(),
            measured: f.measured,
            predicted,
            error,
            goal,
            met: error.abs() <= goal,
            attribution,
        });
    }
    let mut winners = Vec::new();
    for w in &p.winners {
        let m = MetricRef { client: w.client.clone(), metric: w.metric, kernel: None };
        let mut values = BTreeMap::new();
        for (label, s) in &w.cases {
            values.insert(label.clone(), m.read(report(s)?).map_err(|e| format!("{s}: {e}"))?);
        }
        let better = |a: f64, b: f64| if w.metric.higher_is_better() { a > b } else { a < b };
        let predicted = values
            .iter()
            .fold(None::<(&String, f64)>, |best, (l, &v)| match best {
                Some((_, bv)) if !better(v, bv) => best,
                _ => Some((l, v)),
            })
            .map(|(l, _)| l.clone())
            .unwrap_or_default();
        winners.push(WinnerRow {
            table: w.table.clone(),
            question: w.question.clone(),
            agreed: predicted == w.measured,
            measured: w.measured.clone(),
            predicted,
            values,
        });
    }
    let mut character = Vec::new();
    for c in &p.character {
        let r = report(&c.scenario)?;
        let g = grids.get(&c.scenario).ok_or_else(|| format!("scenario `{}`: no grids", c.scenario))?;
        let client = r
            .clients
            .iter()
            .find(|x| x.name == c.client)
            .ok_or_else(|| format!("scenario `{}` has no client `{}`", c.scenario, c.client))?;
        let names = g.by_client.get(&c.client).ok_or_else(|| format!("no grids for client `{}`", c.client))?;
        let (mut n, mut us, mut blocks, mut single, mut full) = (0u64, 0.0, 0.0, 0u64, 0u64);
        for k in &client.kernels {
            let grid = *names.get(&k.name).ok_or_else(|| format!("kernel `{}`: no grid", k.name))?;
            n += k.completed;
            us += k.total_us;
            blocks += (k.completed * grid) as f64;
            single += if grid == 1 { k.completed } else { 0 };
            full += if grid >= g.sms { k.completed } else { 0 };
        }
        if n == 0 {
            return Err(format!("client `{}` of `{}` completed no kernel", c.client, c.scenario));
        }
        let span_us = r.simulated_s * 1e6;
        let nf = n as f64;
        for (statistic, measured, predicted) in [
            ("kernels per second", c.kernels_per_s, nf / r.simulated_s),
            ("mean kernel duration (us)", c.mean_kernel_us, us / nf),
            ("mean blocks per kernel", c.mean_blocks, blocks / nf),
            ("single-block kernels (share)", c.single_block_share, single as f64 / nf),
            ("kernels over every SM (share)", c.full_gpu_share, full as f64 / nf),
            ("GPU idle (share of the span)", c.idle_fraction, (1.0 - us / span_us).max(0.0)),
        ] {
            if let Some(measured) = measured {
                character.push(CharacterRow { what: c.what.clone(), statistic, measured, predicted });
            }
        }
    }
    let total = |s: &str| -> Result<f64, String> { Ok(report(s)?.clients.iter().map(|c| c.throughput_per_s).sum()) };
    let mut gains = Vec::new();
    for g in &p.gains {
        let predicted = total(&g.shared)? / total(&g.alone)? - 1.0;
        let met = g.at_least.is_none_or(|b| predicted >= b) && g.at_most.is_none_or(|b| predicted <= b);
        gains.push(GainRow {
            table: g.table.clone(),
            label: g.label.clone(),
            claim: g.claim.clone(),
            at_least: g.at_least,
            at_most: g.at_most,
            predicted,
            met,
        });
    }
    let trends = p
        .trends
        .iter()
        .map(|t| {
            let predicted: Vec<f64> = t
                .falling
                .iter()
                .map(|l| gains.iter().find(|g| &g.label == l).map_or(f64::NAN, |g| g.predicted))
                .collect();
            let met = predicted.windows(2).all(|w| w[1] <= w[0] + TREND_SLACK);
            TrendRow { claim: t.claim.clone(), predicted, met }
        })
        .collect();
    Ok(Comparison {
        seed: p.seed.clone(),
        title: p.title.clone(),
        assumptions: p.assumptions.clone(),
        met: figures.iter().filter(|f| f.met).count(),
        winners_agreed: winners.iter().filter(|w| w.agreed).count(),
        figures,
        winners,
        character,
        notes: p.notes.clone(),
        gains,
        trends,
    })
}

/// A number as a seed's table prints it: no more digits than it needs.
fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

impl FigureRow {
    /// Table, row, column, the published value, simgpu's, the error, and "met" or "missed" (with
    /// the row's goal where it is not the default).
    fn cells(&self) -> [String; 7] {
        let word = if self.met { "met" } else { "missed" };
        let goal = if self.goal == GOAL { word.to_string() } else { format!("{word} ({:.0}%)", self.goal * 100.0) };
        [
            self.table.clone(),
            self.row.clone(),
            self.column.clone(),
            self.measured.label(),
            fmt_num(self.predicted),
            pct(self.error),
            goal,
        ]
    }
}

/// Table, case, claim, bound ("> 50%", "< 10%"), simgpu's gain, "met" or "missed".
fn gain_cells(g: &GainRow) -> [String; 6] {
    let bound = match (g.at_least, g.at_most) {
        (Some(a), Some(b)) => format!("{:.0}% to {:.0}%", a * 100.0, b * 100.0),
        (Some(a), None) => format!(">= {:.0}%", a * 100.0),
        (None, Some(b)) => format!("<= {:.0}%", b * 100.0),
        (None, None) => String::new(),
    };
    let met = if g.met { "met" } else { "missed" };
    [g.table.clone(), g.label.clone(), g.claim.clone(), bound, pct(g.predicted), met.to_string()]
}

/// Claim, the gains in order, "met" or "missed".
fn trend_cells(t: &TrendRow) -> [String; 3] {
    let gains: Vec<String> = t.predicted.iter().map(|&g| pct(g)).collect();
    [t.claim.clone(), gains.join(", "), if t.met { "met" } else { "missed" }.to_string()]
}

fn pct(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

/// The comparisons as a page: per seed, its assumptions, the figures table, the winners and the
/// stream character.
pub fn markdown(cs: &[Comparison], command: &str) -> String {
    let mut o = String::new();
    o.push_str("# The seed documents' figures against simgpu\n\n");
    o.push_str(&format!(
        "Generated by `{command}`; do not edit. Each published figure (a value, or the range the seed \
         gives) beside what simgpu predicts for the scenario that restates its case, with the \
         built-in profiles. The error is against the nearest end of a range (0 inside it); the goal is \
         {:.0}% (where a row says otherwise, its own) or inside the range. Nothing here was fitted to \
         these figures.\n\n",
        GOAL * 100.0
    ));
    for c in cs {
        o.push_str(&format!("## {}: {}\n\n", c.seed, c.title));
        if !c.figures.is_empty() {
            o.push_str(&format!(
                "{} of {} figures within the goal; {} of {} sharing choices as the seed found.\n\n",
                c.met,
                c.figures.len(),
                c.winners_agreed,
                c.winners.len()
            ));
        }
        if !c.assumptions.is_empty() {
            o.push_str("Where the seed is silent, the scenarios take:\n\n");
            for a in &c.assumptions {
                o.push_str(&format!("- {a}\n"));
            }
            o.push('\n');
        }
        if !c.figures.is_empty() {
            o.push_str(
                "| table | figure | case | published | simgpu | error | goal | simgpu's loss against alone |\n\
                 |---|---|---|---:|---:|---:|---|---|\n",
            );
        }
        for f in &c.figures {
            o.push_str(&format!("| {} | {} |\n", f.cells().join(" | "), f.attribution.as_deref().unwrap_or("")));
        }
        if !c.winners.is_empty() {
            o.push_str("\n| table | question | the seed found | simgpu says | simgpu's values | agreed |\n|---|---|---|---|---|---|\n");
            for w in &c.winners {
                let values: Vec<String> = w.values.iter().map(|(l, v)| format!("{l} {}", fmt_num(*v))).collect();
                o.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} |\n",
                    w.table,
                    w.question,
                    w.measured,
                    w.predicted,
                    values.join(", "),
                    if w.agreed { "yes" } else { "no" }
                ));
            }
        }
        if !c.character.is_empty() {
            o.push_str("\n| stream | statistic | published | simgpu |\n|---|---|---:|---:|\n");
            for r in &c.character {
                o.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    r.what,
                    r.statistic,
                    fmt_num(r.measured),
                    fmt_num(r.predicted)
                ));
            }
        }
        if !c.gains.is_empty() {
            o.push_str(&format!(
                "\n{} of {} claimed gains and {} of {} trends as the seed found.\n\n",
                c.gains.iter().filter(|g| g.met).count(),
                c.gains.len(),
                c.trends.iter().filter(|t| t.met).count(),
                c.trends.len()
            ));
            o.push_str(
                "| table | case | the seed's claim | bound | simgpu's gain | met |\n|---|---|---|---|---:|---|\n",
            );
            for g in &c.gains {
                o.push_str(&format!("| {} |\n", gain_cells(g).join(" | ")));
            }
        }
        if !c.trends.is_empty() {
            o.push_str("\n| the seed's trend | simgpu's gains, in order | met |\n|---|---|---|\n");
            for t in &c.trends {
                let [claim, gains, met] = trend_cells(t);
                o.push_str(&format!("| {claim} | {gains} | {met} |\n"));
            }
        }
        if !c.notes.is_empty() {
            o.push_str("\nWhy the figures land where they do:\n\n");
            for n in &c.notes {
                o.push_str(&format!("- **{}.** {}\n", n.table, n.text));
            }
        }
        o.push('\n');
    }
    o
}

/// The comparisons as a terminal table.
pub fn table(cs: &[Comparison]) -> String {
    let mut o = String::new();
    for c in cs {
        o.push_str(&format!("{}: {}\n", c.seed, c.title));
        for f in &c.figures {
            let [table, row, column, published, simgpu, error, goal] = f.cells();
            o.push_str(&format!(
                "  {table:<8} {row:<34} {column:<22} published {published:>12}  simgpu {simgpu:>10}  {error:>8}  {goal}\n"
            ));
        }
        for w in &c.winners {
            o.push_str(&format!(
                "  {:<8} {:<60} seed: {:<12} simgpu: {:<12} {}\n",
                w.table,
                w.question,
                w.measured,
                w.predicted,
                if w.agreed { "agreed" } else { "disagreed" }
            ));
        }
        for r in &c.character {
            o.push_str(&format!(
                "  {:<8} {:<34} published {:>10}  simgpu {:>10}\n",
                "stream",
                r.statistic,
                fmt_num(r.measured),
                fmt_num(r.predicted)
            ));
        }
        for g in &c.gains {
            let [table, label, _, bound, gain, met] = gain_cells(g);
            o.push_str(&format!("  {table:<8} {label:<34} gain {bound:<8} simgpu {gain:>8}  {met}\n"));
        }
        for t in &c.trends {
            let [claim, gains, met] = trend_cells(t);
            o.push_str(&format!("  trend    {claim}: {gains}  {met}\n"));
        }
        if !c.figures.is_empty() {
            o.push_str(&format!(
                "  {} of {} figures within {:.0}% or inside the range; {} of {} choices agreed\n",
                c.met,
                c.figures.len(),
                GOAL * 100.0,
                c.winners_agreed,
                c.winners.len()
            ));
        }
        if !c.gains.is_empty() {
            o.push_str(&format!(
                "  {} of {} claimed gains and {} of {} trends as the seed found\n",
                c.gains.iter().filter(|g| g.met).count(),
                c.gains.len(),
                c.trends.iter().filter(|t| t.met).count(),
                c.trends.len()
            ));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_count_as_hits_inside() {
        let r = Value::Range([238.0, 354.0]);
        assert_eq!(r.error(300.0), 0.0);
        assert!((r.error(425.0) - (425.0 - 354.0) / 354.0).abs() < 1e-12);
        assert!((r.error(119.0) + 0.5).abs() < 1e-12);
        assert!((Value::One(61.4).error(30.7) + 0.5).abs() < 1e-12);
    }

    #[test]
    fn bad_files_name_the_field() {
        let text = "seed = \"Seed 003\"\ntitle = \"t\"\n[[figures]]\ntable = \"Run 1\"\nrow = \"r\"\ncolumn = \"c\"\n\
                    scenario = \"a.toml\"\nclient = \"gen\"\nmetric = \"power_w\"\nmeasured = 3.0\n";
        let e = Published::parse("p.toml", text).unwrap_err().to_string();
        assert!(e.contains("p.toml:9") && e.contains("figures[0].metric"), "{e}");
        let text =
            text.replace("client = \"gen\"", "client = \"gpu\"").replace("measured = 3.0", "measured = [1.0, -2.0]");
        let e = Published::parse("p.toml", &text).unwrap_err().to_string();
        assert!(e.contains("figures[0].measured"), "{e}");
        let ok = text.replace("[1.0, -2.0]", "[2.0, 1.0]");
        let p = Published::parse("p.toml", &ok).unwrap();
        assert_eq!(p.figures[0].measured.label(), "2-1");
    }
}
