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
            // serde_path_to_error names the field a wrong value sits in (`measured[2].value`),
            // which serde_json's own message does not.
            let mut de = serde_json::Deserializer::from_str(line);
            let r: Record = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let path = e.path().to_string();
                let msg = e.inner().to_string();
                // A missing or unknown field is named by serde in the message, not the path.
                let named = msg.split('`').nth(1).filter(|_| msg.contains("field"));
                let field = match (path.as_str(), named) {
                    (".", Some(f)) => f.to_string(),
                    (".", None) => String::new(),
                    (p, Some(f)) if msg.contains("missing field") => format!("{p}.{f}"),
                    (p, _) => p.to_string(),
                };
                at(e.inner().column(), &field, msg)
            })?;
            de.end().map_err(|e| at(e.column(), "", e.to_string()))?;
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
        // A value of the wrong type is named by its path, not only by serde's message.
        let text = LINE.replace("43.8", "\"43.8\"");
        let e = Record::parse_all("r.jsonl", &text).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (1, "measured[0].value"), "{e}");
        let e = Record::parse_all("r.jsonl", &LINE.replace("\"date\": \"2026-11-21\"", "\"date\": 7")).unwrap_err();
        assert_eq!(e.field, "provenance.date", "{e}");
        // Trailing text after the record is refused, as serde_json::from_str does.
        assert!(Record::parse_all("r.jsonl", &format!("{LINE} x")).is_err());
    }
}
