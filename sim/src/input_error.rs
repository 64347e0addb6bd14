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

    /// Wraps a deserialisation error from the `toml` crate; the field is recovered from its message.
    pub fn from_toml(file: &str, text: &str, err: &toml::de::Error) -> Self {
        let msg = err.message().trim().to_string();
        InputError::new(file, text, err.span(), &field_from_message(&msg), msg)
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

/// toml's messages name fields in backquotes ("unknown field `foo`", "missing field `bar`").
fn field_from_message(msg: &str) -> String {
    let mut parts = msg.split('`');
    match (parts.next(), parts.next()) {
        (Some(_), Some(name)) if !name.is_empty() && !name.contains(' ') => name.to_string(),
        _ => String::new(),
    }
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
    }
}
