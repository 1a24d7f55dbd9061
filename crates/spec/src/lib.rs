//! # quantlab-spec
//!
//! The description language shared by quantlab's number formats, clipping
//! strategies and data sources: `name(key=value,...)` as a string, or the
//! same fields as a TOML/serde table `{ family = "name", key = value }`.
//! [`Params`] gives typed, range-checked access and rejects unknown keys, so
//! every error names the parameter and its valid range.

#![warn(missing_docs)]

pub mod config;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// User text as it may appear in a message: control characters (a
/// newline, an escape sequence) written as Rust escapes, so a message stays
/// one line and a terminal shows what was typed rather than obeying it.
pub fn escape(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
    } else {
        s.to_string()
    }
}

/// Why a description cannot be read or built.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SpecError {
    /// The text is not `name(key=value,...)`.
    #[error("cannot read `{}`: {why}", escape(text))]
    Syntax {
        /// The text as given.
        text: String,
        /// What the reader expected.
        why: String,
    },
    /// `kind` is what was looked up: "format family", "clamping strategy".
    #[error("unknown {kind} `{}`; known: {known}", escape(name))]
    UnknownFamily {
        /// What was looked up.
        kind: &'static str,
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// `hint` names a given key that looks like a misspelling of `param`.
    #[error("{family}: missing parameter `{param}`{}", escape(hint))]
    Missing {
        /// The family.
        family: String,
        /// The required parameter.
        param: String,
        /// ", did you mean ...?" or "".
        hint: String,
    },
    /// A parameter's value is not in its range.
    #[error("{family}: parameter `{}` = {} is out of range; valid: {range}", escape(param), escape(value))]
    OutOfRange {
        /// The family.
        family: String,
        /// The parameter.
        param: String,
        /// The value given, as written.
        value: String,
        /// The valid values, in words.
        range: String,
    },
    /// A key the family does not take.
    #[error("{family} has no parameter `{}`; its parameters: {known}", escape(param))]
    UnknownParam {
        /// The family.
        family: String,
        /// The key given.
        param: String,
        /// The family's parameters.
        known: String,
    },
}

/// One parameter value as written by a user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real number.
    Float(f64),
    /// A word or a nested description.
    Str(String),
    /// A list of numbers: `[a, b, c]` in a string, an array in TOML.
    List(Vec<f64>),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Str(s) => f.write_str(s),
            ParamValue::List(v) => write!(f, "[{}]", v.iter().map(f64::to_string).collect::<Vec<_>>().join(",")),
        }
    }
}

impl ParamValue {
    /// Parse the text after `key=` in a description string.
    pub fn parse(text: &str) -> ParamValue {
        let t = text.trim();
        if let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            let items: Option<Vec<f64>> = inner.split(',').map(str::trim).filter(|p| !p.is_empty()).map(|p| p.parse().ok()).collect();
            if let Some(v) = items {
                return ParamValue::List(v);
            }
        }
        if let Ok(i) = t.parse::<i64>() {
            ParamValue::Int(i)
        } else if let Some(x) = t.parse::<f64>().ok().filter(|_| t.bytes().any(|b| b.is_ascii_digit())) {
            // Words such as `nan` and `inf` stay words.
            ParamValue::Float(x)
        } else if t == "true" || t == "false" {
            ParamValue::Bool(t == "true")
        } else {
            ParamValue::Str(t.to_string())
        }
    }
}

/// A description as the user wrote it: a family (or preset) name and its
/// parameters, as `name(key=value,...)` or a serde/TOML table
/// `{ family = "name", key = value }`. Each crate's `build` turns one into
/// its own object (a format, a strategy, a data source).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The family's name, e.g. `adaptivfloat`.
    pub family: String,
    /// Its parameters by key.
    #[serde(flatten)]
    pub params: BTreeMap<String, ParamValue>,
}

impl Spec {
    /// A family with no parameters (every one at its default).
    pub fn new(family: &str) -> Self {
        Spec { family: family.to_string(), params: BTreeMap::new() }
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.family)?;
        if !self.params.is_empty() {
            let inner: Vec<String> = self.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            write!(f, "({})", inner.join(","))?;
        }
        Ok(())
    }
}

impl FromStr for Spec {
    type Err = SpecError;

    /// `name` or `name(key=value, key=value)`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = |why: &str| SpecError::Syntax { text: s.to_string(), why: why.to_string() };
        let (name, args) = match s.find('(') {
            None => (s, ""),
            Some(open) => {
                let inner = s[open + 1..].strip_suffix(')').ok_or_else(|| bad("missing closing `)`"))?;
                (&s[..open], inner)
            }
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(bad("expected a family name such as `adaptivfloat(n=8,e=3)`"));
        }
        let mut spec = Spec::new(&name.to_ascii_lowercase());
        for part in split_top_level(args).into_iter().map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| bad(&format!("`{part}` is not `key=value`")))?;
            let key = k.trim().to_string();
            if spec.params.insert(key.clone(), ParamValue::parse(v)).is_some() {
                return Err(bad(&format!("`{key}` given twice")));
            }
        }
        Ok(spec)
    }
}

/// `args` split at the commas outside brackets and parentheses, so a
/// value may be a list (`values=[-1,0,1]`) or hold parentheses
/// (`round=stochastic(bits=4)`).
fn split_top_level(args: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in args.char_indices() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&args[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&args[start..]);
    parts
}

/// Documentation of one parameter, for `quantlab formats` and error messages.
#[derive(Clone, Copy, Debug)]
pub struct ParamDoc {
    /// The key.
    pub name: &'static str,
    /// Its default, as written ("" when required).
    pub default: &'static str,
    /// Its valid values, in words.
    pub range: &'static str,
    /// What it means.
    pub help: &'static str,
}

/// Typed, range-checked access to a spec's parameters; `finish` rejects the
/// keys nobody asked for.
pub struct Params {
    family: &'static str,
    map: BTreeMap<String, ParamValue>,
    known: Vec<&'static str>,
}

impl Params {
    /// The parameters of one spec of `family`.
    pub fn new(family: &'static str, map: BTreeMap<String, ParamValue>) -> Self {
        Params { family, map, known: Vec::new() }
    }

    /// The family these parameters are for (error messages name it).
    pub fn family(&self) -> &'static str {
        self.family
    }

    fn take(&mut self, key: &'static str) -> Option<ParamValue> {
        self.known.push(key);
        self.map.remove(key)
    }

    /// The error for a required parameter that was not given (with a hint
    /// when a given key looks like a misspelling of it).
    pub fn missing(&self, key: &str) -> SpecError {
        let hint = nearest(key, self.map.keys().map(String::as_str)).map(|k| format!(" (`{k}` is given: did you mean `{key}`?)")).unwrap_or_default();
        SpecError::Missing { family: self.family.into(), param: key.into(), hint }
    }

    fn out_of_range(&self, key: &str, value: impl fmt::Display, range: impl fmt::Display) -> SpecError {
        SpecError::OutOfRange { family: self.family.to_string(), param: key.to_string(), value: value.to_string(), range: range.to_string() }
    }

    /// An integer parameter within `lo..=hi`.
    pub fn int(&mut self, key: &'static str, default: Option<i64>, lo: i64, hi: i64) -> Result<i64, SpecError> {
        let v = match self.take(key) {
            None => default.ok_or_else(|| self.missing(key))?,
            Some(ParamValue::Int(i)) => i,
            Some(ParamValue::Float(x)) if x.fract() == 0.0 && x.abs() < 1e15 => x as i64,
            Some(other) => return Err(self.out_of_range(key, other, format!("an integer in {lo}..={hi}"))),
        };
        self.check_int(key, v, lo, hi)
    }

    /// An optional integer parameter (no default).
    pub fn opt_int(&mut self, key: &'static str, lo: i64, hi: i64) -> Result<Option<i64>, SpecError> {
        match self.map.contains_key(key) {
            true => self.int(key, None, lo, hi).map(Some),
            false => {
                self.known.push(key);
                Ok(None)
            }
        }
    }

    /// Check a derived bound (e.g. `e <= n - 2`) with the parameter's name.
    pub fn check_int(&self, key: &str, v: i64, lo: i64, hi: i64) -> Result<i64, SpecError> {
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(self.out_of_range(key, v, format!("{lo}..={hi}")))
        }
    }

    /// A number in `[lo, hi]` (an integer is read as one), `default` when absent.
    pub fn float(&mut self, key: &'static str, default: f64, lo: f64, hi: f64) -> Result<f64, SpecError> {
        let v = match self.take(key) {
            None => default,
            Some(ParamValue::Int(i)) => i as f64,
            Some(ParamValue::Float(x)) => x,
            Some(other) => return Err(self.out_of_range(key, other, format!("a number in [{lo}, {hi}]"))),
        };
        if v >= lo && v <= hi {
            Ok(v)
        } else {
            Err(self.out_of_range(key, v, format!("[{lo}, {hi}]")))
        }
    }

    /// A number satisfying `valid`, described as `range` in errors (for
    /// open intervals such as `(0, 100]`); `default: None` makes it required.
    pub fn float_where(&mut self, key: &'static str, default: Option<f64>, valid: fn(f64) -> bool, range: &'static str) -> Result<f64, SpecError> {
        let v = match self.take(key) {
            None => default.ok_or_else(|| self.missing(key))?,
            Some(ParamValue::Int(i)) => i as f64,
            Some(ParamValue::Float(x)) => x,
            Some(other) => return Err(self.out_of_range(key, other, range)),
        };
        if valid(v) {
            Ok(v)
        } else {
            Err(self.out_of_range(key, v, range))
        }
    }

    /// `true` or `false`, `default` when absent.
    pub fn flag(&mut self, key: &'static str, default: bool) -> Result<bool, SpecError> {
        match self.take(key) {
            None => Ok(default),
            Some(ParamValue::Bool(b)) => Ok(b),
            Some(ParamValue::Int(i @ (0 | 1))) => Ok(i == 1),
            Some(other) => Err(self.out_of_range(key, other, "true | false")),
        }
    }

    /// One of a fixed set of words.
    pub fn choice(&mut self, key: &'static str, default: &'static str, options: &[&'static str]) -> Result<&'static str, SpecError> {
        match self.take(key) {
            None => Ok(default),
            Some(v) => {
                let text = v.to_string();
                options.iter().copied().find(|o| *o == text).ok_or_else(|| self.out_of_range(key, text, options.join(" | ")))
            }
        }
    }

    /// A free-form parameter as text (its caller parses and checks it).
    pub fn text(&mut self, key: &'static str, default: &str) -> String {
        self.take(key).map_or_else(|| default.to_string(), |v| v.to_string())
    }

    /// An optional list of numbers (`[a, b]` in a string, an array in TOML).
    pub fn floats(&mut self, key: &'static str) -> Result<Option<Vec<f64>>, SpecError> {
        match self.take(key) {
            None => Ok(None),
            Some(ParamValue::List(v)) => Ok(Some(v)),
            Some(other) => Err(self.out_of_range(
                key,
                other,
                "a list of numbers, e.g. [-1, -0.5, 0, 0.5, 1] (in a sweep's [[format]], where a list is swept, a list of lists: [[-1, -0.5, 0, 0.5, 1]])".to_string(),
            )),
        }
    }

    /// Reject any parameter no `take` asked for.
    pub fn finish(self) -> Result<(), SpecError> {
        match self.map.into_keys().next() {
            None => Ok(()),
            Some(key) => {
                let mut known = self.known;
                known.sort_unstable();
                known.dedup();
                let hint = nearest(&key, known.iter().copied()).map(|n| format!("did you mean `{n}`? ")).unwrap_or_default();
                Err(SpecError::UnknownParam { family: self.family.into(), param: key, known: format!("{hint}{}", known.join(", ")) })
            }
        }
    }
}

/// Edit distance between two words, for "did you mean" hints.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + (a[i - 1] != b[j - 1]) as usize);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate nearest to `word`, when it is plausibly a misspelling of it.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates.into_iter().map(|c| (edit_distance(word, c), c)).filter(|(d, c)| *d <= 2.max(c.len() / 3)).min_by_key(|(d, _)| *d).map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let s: Spec = "adaptivfloat(n=8, e=3, exp_bias=-7)".parse().unwrap();
        assert_eq!(s.family, "adaptivfloat");
        assert_eq!(s.params["exp_bias"], ParamValue::Int(-7));
        assert_eq!(s.to_string(), "adaptivfloat(e=3,exp_bias=-7,n=8)");
        let b: Spec = "bf16".parse().unwrap();
        assert!(b.params.is_empty());
        let r: Spec = "mx(elem=fp6-e3m2,scale=ceil)".parse().unwrap();
        assert_eq!(r.params["elem"], ParamValue::Str("fp6-e3m2".into()));
    }

    #[test]
    fn nearest_suggests_misspellings_only() {
        assert_eq!(nearest("bit", ["bits", "mode", "round"]), Some("bits"));
        assert_eq!(nearest("exp_bais", ["exp_bias", "e", "n"]), Some("exp_bias"));
        assert_eq!(nearest("zzzzzz", ["bits", "mode"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn syntax_errors_name_the_problem() {
        for bad in ["int(bits=8", "int(bits)", "(n=3)", "int(bits=8,bits=4)"] {
            let e = bad.parse::<Spec>().unwrap_err().to_string();
            assert!(e.contains(bad.trim()), "{e}");
        }
    }
}
