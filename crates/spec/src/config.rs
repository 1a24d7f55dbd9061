//! Errors in configuration files, located: every reader of a TOML
//! configuration (the runner's sweep, the report's `[report]` and
//! `[[claim]]`) reports `file:line:column: message`, one line, with the
//! nearest valid key for a misspelt one.

use serde::de::DeserializeOwned;

use crate::{escape, nearest};

/// A configuration error, located in its file (line 0: the whole file).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line, or 0 when the error is about the whole file.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong, in one line.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let message = escape(&self.message);
        if self.line == 0 {
            write!(f, "{}: {message}", self.file)
        } else {
            write!(f, "{}:{}:{}: {message}", self.file, self.line, self.column)
        }
    }
}

impl std::error::Error for ConfigError {}

/// A configuration's text and the name it goes by in errors.
#[derive(Clone, Copy, Debug)]
pub struct ConfigText<'a> {
    /// The name errors give the file.
    pub file: &'a str,
    /// The whole text.
    pub text: &'a str,
}

impl ConfigText<'_> {
    /// An error at a byte span of the text (a `toml::Spanned` value's).
    pub fn at(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = locate(self.text, span.start);
        ConfigError { file: self.file.to_string(), line, column, message: message.into() }
    }

    /// An error about the whole file.
    pub fn whole(&self, message: impl Into<String>) -> ConfigError {
        ConfigError { file: self.file.to_string(), line: 0, column: 0, message: message.into() }
    }

    /// Deserialize the text; a TOML or schema error is located, with the
    /// nearest valid key or value when one was misspelt.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str(self.text).map_err(|e| {
            let (line, column) = e.span().map_or((0, 0), |s| locate(self.text, s.start));
            ConfigError { file: self.file.to_string(), line, column, message: with_hint(e.message()) }
        })
    }
}

/// 1-based line and column of a byte offset.
fn locate(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Add "did you mean" to serde's "unknown field `x`, expected one of `a`, `b`".
fn with_hint(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    let (what, rest) = match (first.split("unknown field `").nth(1), first.split("unknown variant `").nth(1)) {
        (Some(rest), _) => ("key", rest),
        (None, Some(rest)) => ("value", rest),
        (None, None) => return first.to_string(),
    };
    let unknown = rest.split('`').next().unwrap_or("");
    let expected: Vec<&str> = first.split("expected").nth(1).map(|e| e.split('`').skip(1).step_by(2).collect()).unwrap_or_default();
    match nearest(unknown, expected.iter().copied()) {
        Some(n) => format!("unknown {what} `{unknown}`, did you mean `{n}`? (valid: {})", expected.join(", ")),
        None => format!("unknown {what} `{unknown}` (valid: {})", expected.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        name: String,
        bits: Option<u32>,
    }

    #[test]
    fn errors_name_the_line_and_the_nearest_key() {
        let c = ConfigText { file: "c.toml", text: "name = \"x\"\nbitz = 3\n" };
        let e = c.parse::<T>().unwrap_err();
        assert_eq!((e.line, e.column), (2, 1));
        assert_eq!(e.to_string(), "c.toml:2:1: unknown key `bitz`, did you mean `bits`? (valid: name, bits)");
        assert_eq!(c.at(11..12, "here").to_string(), "c.toml:2:1: here");
        assert_eq!(c.whole("no [[format]]").to_string(), "c.toml: no [[format]]");
    }
}
