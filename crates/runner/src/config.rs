//! The sweep configuration: parsing and validation of the TOML (every error
//! names the file, line, column and, for a misspelt key, the nearest valid
//! one), and its expansion into a plan of cells.
//!
//! ```toml
//! name = "quickstart"              # results go to results/<name> unless `output` says otherwise
//! seeds = [0, 1]                   # synthetic data is drawn per seed; seeds also key stochastic rounding
//! granularity = ["tensor", "channel"]
//! clamp = ["none", "mse"]
//!
//! [[data]]
//! synthetic = "laplace(scale=1)"   # or npy = "x.npy", or safetensors = "data/minilm" with include/exclude
//! shape = [256, 1024]
//!
//! [[format]]
//! family = "adaptivfloat"
//! n = [4, 5, 6, 7, 8]              # lists are crossed ...
//! e = [2, 3]
//! skip_invalid = true              # ... and impossible combinations (e >= n) dropped
//!
//! [[format]]
//! family = "minifloat"
//! e = [3, 4, 4, 4, 4]
//! m = [0, 0, 1, 2, 3]
//! zip = ["e", "m"]                 # ... or paired element by element
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use quantlab_formats::{Format, Granularity, ParamValue, Spec};
use quantlab_spec::nearest;
use quantlab_tensors::synthetic::Distribution;
use quantlab_tensors::{NameFilter, Source};
use serde::Deserialize;
use toml::Spanned;

/// A configuration error, located in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: String,
    output: Option<String>,
    #[serde(default)]
    seeds: Option<Spanned<Vec<u64>>>,
    #[serde(default)]
    granularity: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    clamp: Option<Spanned<OneOrMany>>,
    data: Vec<Spanned<RawData>>,
    format: Vec<Spanned<toml::Table>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    synthetic: Option<String>,
    shape: Option<Vec<usize>>,
    npy: Option<String>,
    safetensors: Option<String>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

/// A validated, expanded sweep.
#[derive(Debug)]
pub struct Plan {
    pub name: String,
    pub output: PathBuf,
    pub seeds: Vec<u64>,
    pub sources: Vec<PlannedSource>,
    pub formats: Vec<PlannedFormat>,
    /// The clipping strategies, parsed once.
    pub clamps: Vec<Box<dyn quantlab_clamp::Strategy>>,
    pub granularities: Vec<Granularity>,
    /// Format combinations dropped by `skip_invalid`.
    pub dropped: Vec<String>,
}

/// A data source and whether its data depends on the seed.
#[derive(Debug, Clone)]
pub struct PlannedSource {
    pub label: String,
    pub source: SourceTemplate,
}

#[derive(Debug, Clone)]
pub enum SourceTemplate {
    /// Drawn again for every seed.
    Synthetic { dist: Distribution, shape: Vec<usize> },
    /// Loaded once; seeds only key stochastic rounding.
    Fixed(Source),
}

impl SourceTemplate {
    pub fn source(&self, seed: u64) -> Source {
        match self {
            SourceTemplate::Synthetic { dist, shape } => Source::Synthetic { dist: *dist, shape: shape.clone(), seed },
            SourceTemplate::Fixed(s) => s.clone(),
        }
    }
}

/// One expanded format, with its parameters for the results table.
#[derive(Debug)]
pub struct PlannedFormat {
    pub format: Box<dyn Format>,
    pub spec: Spec,
}

fn locate(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Add "did you mean" to serde's "unknown field `x`, expected one of `a`, `b`".
fn with_hint(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    let Some(rest) = first.split("unknown field `").nth(1) else { return first.to_string() };
    let unknown = rest.split('`').next().unwrap_or("");
    let expected: Vec<&str> = first.split("expected").nth(1).map(|e| e.split('`').skip(1).step_by(2).collect()).unwrap_or_default();
    match nearest(unknown, expected.iter().copied()) {
        Some(n) => format!("unknown key `{unknown}`, did you mean `{n}`? (valid: {})", expected.join(", ")),
        None => format!("unknown key `{unknown}` (valid: {})", expected.join(", ")),
    }
}

struct Ctx<'a> {
    file: String,
    text: &'a str,
}

impl Ctx<'_> {
    fn at(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = locate(self.text, span.start);
        ConfigError { file: self.file.clone(), line, column, message: message.into() }
    }
}

/// Read, validate and expand a configuration file.
pub fn load(path: &Path) -> Result<(Plan, String), ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError { file: file.clone(), line: 0, column: 0, message: format!("cannot read: {e}") })?;
    let plan = parse(&text, &file)?;
    Ok((plan, text))
}

/// Validate and expand configuration text (`file` names it in errors).
pub fn parse(text: &str, file: &str) -> Result<Plan, ConfigError> {
    let ctx = Ctx { file: file.to_string(), text };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((0, 0), |s| locate(text, s.start));
        ConfigError { file: file.to_string(), line, column, message: with_hint(e.message()) }
    })?;
    if raw.name.is_empty() || !raw.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(ConfigError { file: file.into(), line: 1, column: 1, message: format!("`name` = {:?} must be letters, digits, '-', '_' or '.'", raw.name) });
    }
    let seeds = match &raw.seeds {
        Some(s) if s.get_ref().is_empty() => return Err(ctx.at(s.span(), "`seeds` is empty")),
        Some(s) => s.get_ref().clone(),
        None => vec![0],
    };
    let granularities = match &raw.granularity {
        None => vec![Granularity::Tensor],
        Some(g) => g.get_ref().items().iter().map(|s| s.parse::<Granularity>().map_err(|e| ctx.at(g.span(), e))).collect::<Result<_, _>>()?,
    };
    let clamps = match &raw.clamp {
        None => vec![quantlab_clamp::parse("none").expect("`none` parses")],
        Some(c) => c.get_ref().items().iter().map(|s| quantlab_clamp::parse(s).map_err(|e| ctx.at(c.span(), e.to_string()))).collect::<Result<_, _>>()?,
    };
    if raw.data.is_empty() {
        return Err(ConfigError { file: file.into(), line: 0, column: 0, message: "no [[data]] section".into() });
    }
    let sources = raw.data.iter().map(|d| data_source(&ctx, d)).collect::<Result<Vec<_>, _>>()?;
    if raw.format.is_empty() {
        return Err(ConfigError { file: file.into(), line: 0, column: 0, message: "no [[format]] section".into() });
    }
    let (mut formats, mut dropped) = (Vec::new(), Vec::new());
    for f in &raw.format {
        expand_format(&ctx, f, &mut formats, &mut dropped)?;
    }
    let output = PathBuf::from(raw.output.clone().unwrap_or_else(|| format!("results/{}", raw.name)));
    Ok(Plan { name: raw.name, output, seeds, sources, formats, clamps, granularities, dropped })
}

/// Relative paths in [[data]] are relative to the working directory, as on
/// the command line.
fn data_source(ctx: &Ctx, d: &Spanned<RawData>) -> Result<PlannedSource, ConfigError> {
    let r = d.get_ref();
    let kinds = [r.synthetic.is_some(), r.npy.is_some(), r.safetensors.is_some()].iter().filter(|&&b| b).count();
    if kinds != 1 {
        return Err(ctx.at(d.span(), "a [[data]] entry needs exactly one of `synthetic`, `npy`, `safetensors`"));
    }
    if let Some(dist) = &r.synthetic {
        let dist = Distribution::parse(dist).map_err(|e| ctx.at(d.span(), e.to_string()))?;
        let shape = r.shape.clone().ok_or_else(|| ctx.at(d.span(), "synthetic data needs a `shape`, e.g. shape = [256, 1024]"))?;
        if shape.is_empty() || shape.contains(&0) {
            return Err(ctx.at(d.span(), format!("`shape` {shape:?} must be non-empty with no zero dimension")));
        }
        if !r.include.is_empty() || !r.exclude.is_empty() {
            return Err(ctx.at(d.span(), "`include`/`exclude` select tensors of safetensors data only"));
        }
        return Ok(PlannedSource { label: dist.label(), source: SourceTemplate::Synthetic { dist, shape } });
    }
    if r.shape.is_some() {
        return Err(ctx.at(d.span(), "`shape` is for synthetic data; files carry their own shapes"));
    }
    if let Some(p) = &r.npy {
        return Ok(PlannedSource { label: p.clone(), source: SourceTemplate::Fixed(Source::Npy { path: PathBuf::from(p) }) });
    }
    let p = r.safetensors.clone().expect("one kind");
    let filter = NameFilter { include: r.include.clone(), exclude: r.exclude.clone() };
    Ok(PlannedSource { label: p.clone(), source: SourceTemplate::Fixed(Source::Safetensors { path: PathBuf::from(p), filter }) })
}

fn to_param(v: &toml::Value) -> Option<ParamValue> {
    Some(match v {
        toml::Value::String(s) => ParamValue::Str(s.clone()),
        toml::Value::Integer(i) => ParamValue::Int(*i),
        toml::Value::Float(f) => ParamValue::Float(*f),
        toml::Value::Boolean(b) => ParamValue::Bool(*b),
        _ => return None,
    })
}

/// Expand one [[format]] table: lists crossed, `zip` keys paired.
fn expand_format(ctx: &Ctx, f: &Spanned<toml::Table>, out: &mut Vec<PlannedFormat>, dropped: &mut Vec<String>) -> Result<(), ConfigError> {
    let table = f.get_ref();
    let err = |m: String| ctx.at(f.span(), m);
    let family = match table.get("family") {
        Some(toml::Value::String(s)) => s.clone(),
        _ => return Err(err("a [[format]] entry needs `family` (a string), e.g. family = \"adaptivfloat\"; `quantlab formats` lists them".into())),
    };
    let skip_invalid = match table.get("skip_invalid") {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(_) => return Err(err("`skip_invalid` must be true or false".into())),
    };
    let zip: Vec<String> = match table.get("zip") {
        None => vec![],
        Some(toml::Value::Array(a)) => a.iter().map(|v| v.as_str().map(str::to_string).ok_or_else(|| err("`zip` lists parameter names".into()))).collect::<Result<_, _>>()?,
        Some(_) => return Err(err("`zip` lists parameter names, e.g. zip = [\"e\", \"m\"]".into())),
    };
    // Each parameter's list of values.
    let mut lists: BTreeMap<String, Vec<ParamValue>> = BTreeMap::new();
    for (k, v) in table {
        if ["family", "skip_invalid", "zip"].contains(&k.as_str()) {
            continue;
        }
        let values = match v {
            toml::Value::Array(a) => a.iter().map(to_param).collect::<Option<Vec<_>>>(),
            other => to_param(other).map(|p| vec![p]),
        }
        .ok_or_else(|| err(format!("{family}: parameter `{k}` must be a number, string, boolean or a list of them")))?;
        if values.is_empty() {
            return Err(err(format!("{family}: parameter `{k}` is an empty list")));
        }
        lists.insert(k.clone(), values);
    }
    for z in &zip {
        if !lists.contains_key(z) {
            return Err(err(format!("{family}: `zip` names `{z}`, which is not a parameter of this entry")));
        }
    }
    let zip_len = zip.iter().map(|z| lists[z].len()).max().unwrap_or(1);
    if let Some(z) = zip.iter().find(|z| lists[*z].len() != zip_len) {
        return Err(err(format!("{family}: zipped parameters need lists of equal length; `{z}` has {} values, another has {zip_len}", lists[z].len())));
    }
    // Crossed keys, then the zipped group as one more axis.
    let crossed: Vec<(&String, &Vec<ParamValue>)> = lists.iter().filter(|(k, _)| !zip.contains(k)).collect();
    let mut combos: Vec<BTreeMap<String, ParamValue>> = vec![BTreeMap::new()];
    for (k, values) in crossed {
        combos = combos.into_iter().flat_map(|c| values.iter().map(move |v| {
            let mut c = c.clone();
            c.insert(k.clone(), v.clone());
            c
        })).collect();
    }
    if !zip.is_empty() {
        let (zip, lists) = (&zip, &lists);
        combos = combos.into_iter().flat_map(|c| (0..zip_len).map(move |i| {
            let mut c = c.clone();
            for z in zip {
                c.insert(z.clone(), lists[z][i].clone());
            }
            c
        })).collect();
    }
    for params in combos {
        let spec = Spec { family: family.clone(), params };
        match quantlab_formats::build(&spec) {
            Ok(format) => out.push(PlannedFormat { format, spec }),
            Err(e) if skip_invalid && matches!(e, quantlab_formats::FormatError::Spec(quantlab_formats::SpecError::OutOfRange { .. })) => dropped.push(format!("{spec}: {e}")),
            Err(e) => return Err(err(format!("{e} (in combination {spec}{})", if skip_invalid { "" } else { "; `skip_invalid = true` drops impossible combinations" }))),
        }
    }
    Ok(())
}
