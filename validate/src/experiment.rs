//! Experiment files: a set of cases that share workloads and differ in how they share the GPU,
//! each case a scenario (what runs, as `simgpu run` reads it) and the metrics measured on it; and
//! the sharing choices the experiment asks about ("which of these cases is best for metric M?").

use crate::metric::{Metric, MetricRef};
use serde::Deserialize;
use simgpu_sim::InputError;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The GPU profile every case's scenario names (checked when the cases are simulated).
    pub gpu: String,
    pub cases: Vec<Case>,
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// How each client runs on a card (`simgpu validate run`), by client name: the user's own
    /// command, run in the experiment file's directory (docs/validate.md, the line protocol).
    #[serde(default)]
    pub clients: std::collections::BTreeMap<String, ClientRun>,
}

/// A client's own command.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRun {
    /// Program and arguments (no shell).
    pub command: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// The scenario file, relative to the experiment file.
    pub scenario: String,
    pub measure: Vec<MetricRef>,
    /// Commands of this case only, by client name (over the experiment's `[clients]`): a
    /// client whose command depends on the case, e.g. its grid.
    #[serde(default)]
    pub commands: std::collections::BTreeMap<String, Vec<String>>,
}

/// Which case of `cases` is best for one metric: the measured answer and the predicted one
/// should agree.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub question: String,
    pub cases: Vec<String>,
    pub client: String,
    pub metric: Metric,
    #[serde(default)]
    pub kernel: Option<String>,
    /// "lowest" or "highest".
    pub best: Best,
    /// Cases whose measured value is within this fraction of the measured best count as equally
    /// good (measurement noise); 0 unless given.
    #[serde(default)]
    pub tolerance: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Best {
    Lowest,
    Highest,
}

impl Best {
    pub fn as_str(self) -> &'static str {
        match self {
            Best::Lowest => "lowest",
            Best::Highest => "highest",
        }
    }
}

impl Choice {
    pub fn metric_ref(&self) -> MetricRef {
        MetricRef { client: self.client.clone(), metric: self.metric, kernel: self.kernel.clone() }
    }
}

impl Experiment {
    /// Reads an experiment file; errors name the file, the line and the field.
    pub fn parse(file: &str, text: &str) -> Result<Experiment, InputError> {
        let e: Experiment = toml::from_str(text).map_err(|err| InputError::from_toml(file, text, &err))?;
        e.check().map_err(|(field, msg)| {
            let span = field_span(text, &field);
            InputError::new(file, text, span, &field, msg)
        })?;
        Ok(e)
    }

    /// Rules the types do not say: unique case names, metrics well formed, choices over known
    /// cases that measure the choice's metric.
    fn check(&self) -> Result<(), (String, String)> {
        if self.cases.is_empty() {
            return Err(("cases".into(), "an experiment needs at least one case".into()));
        }
        for (i, c) in self.cases.iter().enumerate() {
            if self.cases[..i].iter().any(|o| o.name == c.name) {
                return Err((format!("cases[{i}].name"), format!("case `{}` is named twice", c.name)));
            }
            if c.measure.is_empty() {
                return Err((format!("cases[{i}].measure"), "a case needs at least one metric".into()));
            }
            for (j, m) in c.measure.iter().enumerate() {
                m.check().map_err(|e| (format!("cases[{i}].measure[{j}]"), e))?;
            }
        }
        for (name, c) in &self.clients {
            if c.command.first().is_none_or(|p| p.is_empty()) {
                return Err((format!("clients.{name}.command"), "needs a program (and its arguments)".into()));
            }
        }
        for (i, c) in self.cases.iter().enumerate() {
            for (name, argv) in &c.commands {
                if argv.first().is_none_or(|p| p.is_empty()) {
                    return Err((format!("cases[{i}].commands"), format!("`{name}`: needs a program")));
                }
            }
        }
        for (i, ch) in self.choices.iter().enumerate() {
            let field = |f: &str| format!("choices[{i}].{f}");
            if ch.cases.len() < 2 {
                return Err((field("cases"), "a choice is between at least two cases".into()));
            }
            if !(0.0..1.0).contains(&ch.tolerance) {
                return Err((field("tolerance"), format!("{}: must be at least 0 and below 1", ch.tolerance)));
            }
            let m = ch.metric_ref();
            m.check().map_err(|e| (field("metric"), e))?;
            if (ch.best == Best::Highest) != m.metric.higher_is_better() {
                return Err((field("best"), format!("`{}`: better is {}", m.metric.as_str(), better_word(m.metric))));
            }
            for name in &ch.cases {
                let Some(c) = self.case(name) else {
                    return Err((field("cases"), format!("no case `{name}` in this experiment")));
                };
                if !c.measure.contains(&m) {
                    return Err((field("cases"), format!("case `{name}` does not measure `{}`", m.label())));
                }
            }
        }
        Ok(())
    }

    /// The record of `case` from what its clients' commands reported (metric name to value, and
    /// samples, per client): the case's metrics, each from its client's report.
    pub fn record_of(
        &self,
        case: &str,
        experiment: String,
        provenance: crate::record::Provenance,
        results: &[(String, std::collections::BTreeMap<String, f64>, u64)],
    ) -> Result<crate::record::Record, String> {
        let c = self.case(case).ok_or_else(|| format!("no case `{case}`"))?;
        let mut measured = Vec::new();
        for m in &c.measure {
            if m.metric.of_kernels() {
                return Err(format!("case `{case}`: `{}`: a command reports client metrics only", m.label()));
            }
            let (_, values, samples) = results
                .iter()
                .find(|(n, _, _)| *n == m.client)
                .ok_or_else(|| format!("case `{case}`: no client `{}` ran", m.client))?;
            let value = *values
                .get(m.metric.as_str())
                .ok_or_else(|| format!("case `{case}`: client `{}` reported no `{}`", m.client, m.metric.as_str()))?;
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("case `{case}`: client `{}` reported `{}` = {value}", m.client, m.metric.as_str()));
            }
            measured.push(crate::record::Measured { what: m.clone(), value, samples: *samples });
        }
        Ok(crate::record::Record { experiment, case: case.to_string(), provenance, measured })
    }

    /// The command of `client` in `case`: the case's own, else the experiment's.
    pub fn command_of<'a>(&'a self, case: &'a Case, client: &str) -> Option<&'a [String]> {
        case.commands.get(client).or_else(|| self.clients.get(client).map(|c| &c.command)).map(Vec::as_slice)
    }

    pub fn case(&self, name: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.name == name)
    }
}

fn better_word(m: Metric) -> &'static str {
    if m.higher_is_better() {
        "highest"
    } else {
        "lowest"
    }
}

/// Where a checked field sits: the line of the n-th `[[cases]]`/`[[choices]]` table that assigns
/// the field's last key, or of the table itself (None when not found).
pub(crate) fn field_span(text: &str, field: &str) -> Option<std::ops::Range<usize>> {
    let (table, rest) = field.split_once('[')?;
    let (index, tail) = rest.split_once(']')?;
    let index: usize = index.parse().ok()?;
    let key = tail.trim_start_matches('.').split(['.', '[']).next().unwrap_or("");
    let header = format!("[[{table}]]");
    let mut offset = 0;
    let mut seen = None;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with("[[") || (t.starts_with('[') && !t.starts_with("[[")) {
            if t == header {
                seen = Some(seen.map_or(0, |s: usize| s + 1));
                if seen == Some(index) {
                    start = Some(offset);
                }
            } else if start.is_some() {
                break;
            }
        } else if start.is_some() && !key.is_empty() && t.split('=').next().map(str::trim) == Some(key) {
            return Some(offset..offset + line.len());
        }
        offset += line.len();
    }
    start.map(|s| s..s + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "x"
gpu = "h100-sxm"
[[cases]]
name = "a"
scenario = "a.toml"
measure = [{ client = "c", metric = "p50_us" }]
[[cases]]
name = "b"
scenario = "b.toml"
measure = [{ client = "c", metric = "p50_us" }, { client = "c", metric = "kernel_mean_us", kernel = "k" }]
[[choices]]
question = "q"
cases = ["a", "b"]
client = "c"
metric = "p50_us"
best = "lowest"
"#;

    #[test]
    fn a_good_file_parses() {
        let e = Experiment::parse("x.toml", GOOD).unwrap();
        assert_eq!(e.cases.len(), 2);
        assert_eq!(e.cases[1].measure[1].kernel.as_deref(), Some("k"));
        assert_eq!(e.choices[0].best, Best::Lowest);
    }

    fn err(text: &str) -> InputError {
        Experiment::parse("x.toml", text).unwrap_err()
    }

    #[test]
    fn an_unknown_metric_names_its_line() {
        let e = err(&GOOD.replace("metric = \"p50_us\" }]\n[[cases]]", "metric = \"p51_us\" }]\n[[cases]]"));
        assert_eq!(e.line, 7, "{e}");
        assert!(e.message.contains("p51_us"), "{e}");
    }

    #[test]
    fn a_choice_over_an_unknown_case_is_refused() {
        let e = err(&GOOD.replace("cases = [\"a\", \"b\"]", "cases = [\"a\", \"z\"]"));
        assert_eq!(e.field, "choices[0].cases", "{e}");
        assert_eq!(e.line, 14, "{e}");
        assert!(e.message.contains("no case `z`"), "{e}");
    }

    #[test]
    fn a_choice_on_a_metric_a_case_does_not_measure_is_refused() {
        let e = err(&GOOD.replace("metric = \"p50_us\"\nbest", "metric = \"p90_us\"\nbest"));
        assert!(e.message.contains("does not measure `c.p90_us`"), "{e}");
    }

    #[test]
    fn best_must_match_the_metric() {
        let e = err(&GOOD.replace("best = \"lowest\"", "best = \"highest\""));
        assert_eq!(e.field, "choices[0].best", "{e}");
        assert_eq!(e.line, 17, "{e}");
    }

    #[test]
    fn a_kernel_metric_needs_its_kernel() {
        let e = err(&GOOD.replace(", kernel = \"k\" }", " }"));
        assert_eq!(e.field, "cases[1].measure[1]", "{e}");
        assert_eq!(e.line, 11, "{e}");
    }

    #[test]
    fn gpu_metrics_belong_to_the_gpu_and_only_to_it() {
        let e = err(&GOOD.replace(
            "{ client = \"c\", metric = \"p50_us\" }]\n[[cases]]",
            "{ client = \"c\", metric = \"power_w\" }]\n[[cases]]",
        ));
        assert_eq!(e.field, "cases[0].measure[0]", "{e}");
        assert!(e.message.contains("its client is `gpu`"), "{e}");
        let e = err(&GOOD.replace(
            "{ client = \"c\", metric = \"p50_us\" }]\n[[cases]]",
            "{ client = \"gpu\", metric = \"p50_us\" }]\n[[cases]]",
        ));
        assert!(e.message.contains("`power_w` and `sm_clock_mhz`"), "{e}");
        let ok = GOOD.replace(
            "{ client = \"c\", metric = \"p50_us\" }]\n[[cases]]",
            "{ client = \"c\", metric = \"p50_us\" }, { client = \"gpu\", metric = \"power_w\" }, { client = \"gpu\", metric = \"sm_clock_mhz\" }]\n[[cases]]",
        );
        let x = Experiment::parse("x.toml", &ok).unwrap();
        assert_eq!(x.cases[0].measure[2].label(), "gpu.sm_clock_mhz");
    }

    #[test]
    fn duplicate_cases_are_refused() {
        let e = err(&GOOD.replace("name = \"b\"", "name = \"a\""));
        assert_eq!(e.field, "cases[1].name", "{e}");
        assert_eq!(e.line, 9, "{e}");
    }

    #[test]
    fn a_record_is_made_from_what_the_commands_reported() {
        let text = GOOD.to_string() + "[clients.c]\ncommand = [\"python3\", \"client.py\"]\n";
        let e = Experiment::parse("x.toml", &text).unwrap();
        assert_eq!(e.clients["c"].command[1], "client.py");
        let prov = crate::record::Provenance {
            gpu: "g".into(),
            uuid: None,
            driver: "d".into(),
            cuda: "13.0".into(),
            date: "2026-12-03".into(),
            simgpu_version: None,
            command: "simgpu validate run".into(),
            tools: String::new(),
            note: String::new(),
        };
        let vals: std::collections::BTreeMap<String, f64> = [("p50_us".to_string(), 5.0)].into();
        let r = e.record_of("a", "x.toml".into(), prov.clone(), &[("c".into(), vals.clone(), 7)]).unwrap();
        assert_eq!((r.measured[0].value, r.measured[0].samples), (5.0, 7));
        // Case b also measures a kernel metric, which a command cannot report.
        let err = e.record_of("b", "x.toml".into(), prov.clone(), &[("c".into(), vals, 7)]).unwrap_err();
        assert!(err.contains("client metrics only"), "{err}");
        let err = e.record_of("a", "x.toml".into(), prov, &[("c".into(), Default::default(), 7)]).unwrap_err();
        assert!(err.contains("reported no `p50_us`"), "{err}");
        let bad = GOOD.to_string() + "[clients.c]\ncommand = []\n";
        assert_eq!(err_of(&bad).field, "clients.c.command");
    }

    fn err_of(text: &str) -> InputError {
        Experiment::parse("x.toml", text).unwrap_err()
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = err(&GOOD.replace("gpu = ", "gpus = "));
        assert!(e.to_string().contains("gpus"), "{e}");
    }
}
