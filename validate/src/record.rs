//! Measurement records: JSONL, one line per case run on a card. A line names its experiment file
//! (relative to the record file), the case, where and how it was measured, and the values.

use crate::metric::MetricRef;
use serde::{Deserialize, Serialize};
use simgpu_sim::InputError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The experiment file, relative to the record file.
    pub experiment: String,
    pub case: String,
    pub provenance: Provenance,
    pub measured: Vec<Measured>,
}

/// Where, when and how a case was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The GPU's name as the driver reports it.
    pub gpu: String,
    pub uuid: Option<String>,
    pub driver: String,
    pub cuda: String,
    /// YYYY-MM-DD.
    pub date: String,
    /// The simgpu version that measured it (None: measured by a script outside simgpu).
    pub simgpu_version: Option<String>,
    /// The command that was run.
    pub command: String,
    /// Libraries and how they timed what they timed.
    #[serde(default)]
    pub tools: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    #[serde(flatten)]
    pub what: MetricRef,
    pub value: f64,
    /// How many observations the value summarises.
    pub samples: u64,
}

impl Record {
    /// Reads a JSONL record file (blank lines skipped); errors name the file, the line and, where
    /// serde says it, the field.
    pub fn parse_all(file: &str, text: &str) -> Result<Vec<Record>, InputError> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = |column: usize, field: &str, msg: String| InputError {
                file: file.to_string(),
                line: i + 1,
                column,
                field: field.to_string(),
                message: msg,
            };
            let r: Record = serde_json::from_str(line).map_err(|e| {
                let msg = e.to_string();
                let field = msg.split('`').nth(1).filter(|_| msg.contains("field")).unwrap_or("").to_string();
                at(e.column(), &field, msg)
            })?;
            for (j, m) in r.measured.iter().enumerate() {
                m.what.check().map_err(|e| at(0, &format!("measured[{j}]"), e))?;
                if !(m.value.is_finite() && m.value > 0.0) {
                    return Err(at(0, &format!("measured[{j}].value"), format!("{}: must be above 0", m.value)));
                }
            }
            if r.measured.is_empty() {
                return Err(at(0, "measured", "a record needs at least one value".into()));
            }
            out.push(r);
        }
        if out.is_empty() {
            return Err(InputError {
                file: file.into(),
                line: 0,
                column: 0,
                field: String::new(),
                message: "no records".into(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"experiment": "e.toml", "case": "a", "provenance": {"gpu": "H100", "uuid": null, "driver": "580", "cuda": "13.0", "date": "2026-11-21", "simgpu_version": null, "command": "run.sh"}, "measured": [{"client": "c", "metric": "p50_us", "value": 43.8, "samples": 60}]}"#;

    #[test]
    fn a_record_line_reads() {
        let r = Record::parse_all("r.jsonl", &format!("{LINE}\n\n{LINE}\n")).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].measured[0].what.label(), "c.p50_us");
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let bad = LINE.replace("\"samples\": 60", "\"sample\": 60");
        let e = Record::parse_all("r.jsonl", &format!("{LINE}\n{bad}\n")).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.to_string().contains("sample"), "{e}");
        let zero = LINE.replace("43.8", "0.0");
        let e = Record::parse_all("r.jsonl", &zero).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (1, "measured[0].value"), "{e}");
        assert!(Record::parse_all("r.jsonl", "\n").is_err());
    }
}
