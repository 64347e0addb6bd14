//! Errors in user-supplied text (scenarios, GPU profiles), located by file, line and field.

use std::fmt;

/// An error that points at a place in an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub file: String,
    /// 1-based; 0 when the place is unknown (e.g. a missing field).
    pub line: usize,
    pub column: usize,
    /// Dotted path of the offending field, e.g. `clients[1].kernels[0].block`; empty if none.
    pub field: String,
    pub message: String,
}

impl InputError {
    pub fn new(
        file: &str,
        text: &str,
        span: Option<std::ops::Range<usize>>,
        field: &str,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = span.map(|s| line_col(text, s.start)).unwrap_or((0, 0));
        InputError { file: file.to_string(), line, column, field: field.to_string(), message: message.into() }
    }

    /// Wraps a deserialisation error from the `toml` crate. The field is the name the message
    /// quotes when it is about a field (unknown, missing, duplicate), else the key assigned on
    /// the line the error points at; never a value.
    pub fn from_toml(file: &str, text: &str, err: &toml::de::Error) -> Self {
        let msg = err.message().trim().to_string();
        let field =
            field_from_message(&msg).or_else(|| err.span().and_then(|s| key_at(text, s.start))).unwrap_or_default();
        InputError::new(file, text, err.span(), &field, msg)
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for InputError {}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

/// toml's messages about fields name them in backquotes ("unknown field `foo`", "missing field
/// `bar`", "duplicate key `baz`"); other messages quote values ("invalid value: integer `-1`").
fn field_from_message(msg: &str) -> Option<String> {
    let about_field = ["unknown field", "missing field", "duplicate field", "duplicate key"];
    if !about_field.iter().any(|p| msg.starts_with(p)) {
        return None;
    }
    let name = msg.split('`').nth(1)?;
    is_key(name).then(|| name.to_string())
}

fn is_key(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The dotted path of the key assigned on the line holding byte `offset` (`key = value`), in
/// the tables above it: `clients[1].kernels[0].grid`, `sm.count`. None if the line assigns none.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(start..)?.lines().next()?;
    // A table header: the field is the table (`[clients]` where `[[clients]]` was meant).
    let t = line.trim();
    if t.starts_with('[') {
        let name = t.trim_start_matches('[').split(']').next()?.trim();
        return name.split('.').all(is_key).then(|| name.to_string());
    }
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    if !is_key(key) {
        return None;
    }
    let table = table_at(text.get(..start)?);
    Some(if table.is_empty() { key.to_string() } else { format!("{table}.{key}") })
}

/// The table the text before a line leaves open, with array-of-tables indices
/// (`[[clients]]` twice, then `[[clients.kernels]]`: `clients[1].kernels[0]`).
fn table_at(before: &str) -> String {
    // Headers of arrays of tables and how many entries each has so far.
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut current = String::new();
    for line in before.lines() {
        let t = line.trim();
        let (name, array) = if let Some(n) = t.strip_prefix("[[").and_then(|r| r.split_once("]]")) {
            (n.0.trim().to_string(), true)
        } else if let Some(n) = t.strip_prefix('[').and_then(|r| r.split_once(']')) {
            (n.0.trim().to_string(), false)
        } else {
            continue;
        };
        if array {
            // A new entry of `name` starts its sub-arrays afresh.
            let prefix = format!("{name}.");
            counts.retain(|(k, _)| !k.starts_with(&prefix));
            match counts.iter_mut().find(|(k, _)| *k == name) {
                Some((_, n)) => *n += 1,
                None => counts.push((name.clone(), 1)),
            }
        }
        // Index every prefix that is an array of tables.
        let mut path = String::new();
        let mut so_far = String::new();
        for part in name.split('.') {
            so_far = if so_far.is_empty() { part.to_string() } else { format!("{so_far}.{part}") };
            path = if path.is_empty() { part.to_string() } else { format!("{path}.{part}") };
            if let Some((_, n)) = counts.iter().find(|(k, _)| *k == so_far) {
                path = format!("{path}[{}]", n - 1);
            }
        }
        current = path;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let t = "a = 1\nbb = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 9), (2, 4));
        assert_eq!(line_col(t, 999), (3, 1));
    }

    #[test]
    fn unknown_field_is_named() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            a: u32,
        }
        let text = "a = 1\nb = 2\n";
        let err = toml::from_str::<S>(text).unwrap_err();
        let e = InputError::from_toml("x.toml", text, &err);
        assert_eq!(e.line, 2);
        assert_eq!(e.field, "b");
        assert!(e.to_string().starts_with("x.toml:2:"), "{e}");
        // A bad value names its key, not the value.
        let text = "a = -1\n";
        let e = InputError::from_toml("x.toml", text, &toml::from_str::<S>(text).unwrap_err());
        assert_eq!(e.field, "a", "{e}");
    }

    #[test]
    fn keys_get_their_table_path() {
        let text = "a = 1\n[[clients]]\nx = 1\n[[clients.kernels]]\ny = 1\n[[clients]]\n[[clients.kernels]]\n\
                    [[clients.kernels]]\ngrid = -5\n[sm]\ncount = { value = -1 }\n";
        let at = |needle: &str| key_at(text, text.find(needle).unwrap() + needle.len() - 1);
        assert_eq!(at("a = 1").as_deref(), Some("a"));
        assert_eq!(at("x = 1").as_deref(), Some("clients[0].x"));
        assert_eq!(at("y = 1").as_deref(), Some("clients[0].kernels[0].y"));
        assert_eq!(at("grid = -5").as_deref(), Some("clients[1].kernels[1].grid"));
        assert_eq!(at("count = {").as_deref(), Some("sm.count"));
    }
}
