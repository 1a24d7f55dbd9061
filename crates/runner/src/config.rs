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
//!
//! Instead of `[[data]]`, a `[model]` section makes each cell one
//! evaluation of a sentence embedding model (`quantize = "weights"` or
//! `"activations"` with `split_after = [3]`); see `configs/README.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use quantlab_formats::{Format, Granularity, ParamValue, Spec};
use quantlab_spec::nearest;
pub use quantlab_tensors::{DataEntry, PlannedSource, SourceTemplate};
use serde::Deserialize;
use toml::Spanned;

pub use quantlab_spec::config::ConfigError;
use quantlab_spec::config::ConfigText;

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
    #[serde(default)]
    data: Vec<Spanned<DataEntry>>,
    format: Vec<Spanned<SpannedTable>>,
    #[serde(default)]
    model: Option<Spanned<RawModel>>,
    /// `[report]` and `[[claim]]` belong to the report (`quantlab_report::Settings`),
    /// which validates them before a run.
    #[serde(default, rename = "report")]
    _report: Option<toml::Value>,
    #[serde(default, rename = "claim")]
    _claim: Option<toml::Value>,
}

/// A table whose keys keep their place in the file, so an error about one
/// parameter names that parameter's line.
type SpannedTable = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

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

/// The `[model]` section: each cell is one evaluation of a sentence
/// embedding model with quantized weights or activations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    path: Option<String>,
    sentences: Option<String>,
    quantize: ModelTarget,
    weights: Option<Vec<String>>,
    split_after: Option<Vec<usize>>,
    batch_size: Option<usize>,
}

/// What a model sweep quantizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelTarget {
    /// Weight tensors, once per cell, before inference.
    Weights,
    /// Hidden states at pipeline split points, per sample.
    Activations,
}

/// A validated `[model]` section.
#[derive(Debug, Clone)]
pub struct ModelPlan {
    /// The model folder (default `data/minilm`).
    pub path: PathBuf,
    /// Sentences, one per line (default the committed corpus).
    pub sentences: PathBuf,
    /// Weights or activations.
    pub target: ModelTarget,
    /// `weights`: the kinds of weight tensor quantized (default Linear).
    pub weights: quantlab_model::WeightSelection,
    /// `activations`: encoder layers after which hidden states are quantized.
    pub split_after: Vec<usize>,
    /// Sentences per forward pass.
    pub batch_size: usize,
}

/// Where the model and the corpus live unless `[model]` says otherwise.
pub const DEFAULT_MODEL: &str = "data/minilm";
/// The corpus unless `[model]` says otherwise.
pub const DEFAULT_SENTENCES: &str = "experiments/corpus/sentences.txt";

/// A validated, expanded sweep.
#[derive(Debug)]
pub struct Plan {
    /// The experiment's name.
    pub name: String,
    /// The results folder.
    pub output: PathBuf,
    /// Seeds: synthetic draws and stochastic rounding.
    pub seeds: Vec<u64>,
    /// The data sources (empty for a model sweep).
    pub sources: Vec<PlannedSource>,
    /// The expanded formats.
    pub formats: Vec<PlannedFormat>,
    /// The clamping strategies, parsed once.
    pub clamps: Vec<Box<dyn quantlab_clamp::Strategy>>,
    /// Every granularity some format runs at.
    pub granularities: Vec<Granularity>,
    /// Format combinations dropped by `skip_invalid`.
    pub dropped: Vec<String>,
    /// A model sweep (then `sources` is empty).
    pub model: Option<ModelPlan>,
}

/// One expanded format, with its parameters for the results table.
#[derive(Debug)]
pub struct PlannedFormat {
    /// The format.
    pub format: Box<dyn Format>,
    /// Its description as parameters (the results' `p_*` columns).
    pub spec: Spec,
    /// The line this format belongs to in tables and figures: the entry's
    /// `label`, or its description without the width parameter.
    pub series: String,
    /// The granularities this entry runs at: its own `granularity` key, or
    /// the sweep's (`None`).
    pub granularities: Option<Vec<Granularity>>,
}

/// Read, validate and expand a configuration file.
pub fn load(path: &Path) -> Result<(Plan, String), ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigText { file: &file, text: "" }.whole(format!("cannot read: {e}")))?;
    let plan = parse(&text, &file)?;
    Ok((plan, text))
}

/// Validate and expand configuration text (`file` names it in errors).
pub fn parse(text: &str, file: &str) -> Result<Plan, ConfigError> {
    let ctx = ConfigText { file, text };
    let raw: RawConfig = ctx.parse()?;
    if raw.name.is_empty() || !raw.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(ctx.at(0..0, format!("`name` = {:?} must be letters, digits, '-', '_' or '.'", raw.name)));
    }
    let seeds = match &raw.seeds {
        Some(s) if s.get_ref().is_empty() => return Err(ctx.at(s.span(), "`seeds` is empty")),
        Some(s) => s.get_ref().clone(),
        None => vec![0],
    };
    let sweep_granularities: Vec<Granularity> = match &raw.granularity {
        None => vec![Granularity::Tensor],
        Some(g) => g.get_ref().items().iter().map(|s| s.parse::<Granularity>().map_err(|e| ctx.at(g.span(), e))).collect::<Result<_, _>>()?,
    };
    let clamps = match &raw.clamp {
        None => vec![quantlab_clamp::parse("none").expect("`none` parses")],
        Some(c) => c.get_ref().items().iter().map(|s| quantlab_clamp::parse(s).map_err(|e| ctx.at(c.span(), e.to_string()))).collect::<Result<_, _>>()?,
    };
    let model = raw.model.as_ref().map(|m| model_plan(&ctx, m)).transpose()?;
    match (&model, raw.data.first()) {
        (None, None) => return Err(ctx.whole("no [[data]] section (tensors to quantize) and no [model] section (a model to evaluate)")),
        (Some(_), Some(d)) => return Err(ctx.at(d.span(), "a sweep has either [[data]] (tensors) or [model] (a model evaluated per cell), not both; put them in two configuration files")),
        _ => {}
    }
    let sources = raw.data.iter().map(|d| d.get_ref().plan().map_err(|e| ctx.at(d.span(), e))).collect::<Result<Vec<_>, _>>()?;
    if raw.format.is_empty() {
        return Err(ctx.whole("no [[format]] section"));
    }
    let (mut formats, mut dropped) = (Vec::new(), Vec::new());
    for f in &raw.format {
        expand_format(&ctx, f, &mut formats, &mut dropped)?;
    }
    // The sweep's granularities, then those only some entries name.
    let mut granularities = sweep_granularities.clone();
    for g in formats.iter().flat_map(|f| f.granularities.iter().flatten()) {
        if !granularities.contains(g) {
            granularities.push(*g);
        }
    }
    let sweep = sweep_granularities;
    for f in &mut formats {
        f.granularities.get_or_insert_with(|| sweep.clone());
    }
    let output = PathBuf::from(raw.output.clone().unwrap_or_else(|| format!("results/{}", raw.name)));
    Ok(Plan { name: raw.name, output, seeds, sources, formats, clamps, granularities, dropped, model })
}

fn model_plan(ctx: &ConfigText, m: &Spanned<RawModel>) -> Result<ModelPlan, ConfigError> {
    let r = m.get_ref();
    let err = |message: String| ctx.at(m.span(), format!("[model] {message}"));
    let weights = match (&r.weights, r.quantize) {
        (Some(_), ModelTarget::Activations) => return Err(err("`weights` selects weight tensors, for quantize = \"weights\" only".into())),
        (None, _) => quantlab_model::WeightSelection::default(),
        (Some(kinds), ModelTarget::Weights) => {
            let names: Vec<&str> = quantlab_model::WeightKind::ALL.iter().map(|k| k.name()).collect();
            let parsed = kinds
                .iter()
                .map(|k| {
                    k.parse::<quantlab_model::WeightKind>().map_err(|_| {
                        let hint = nearest(k, names.iter().copied()).map(|n| format!(", did you mean `{n}`?")).unwrap_or_default();
                        err(format!("unknown weight kind `{k}`{hint} (valid: {})", names.join(", ")))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if parsed.is_empty() {
                return Err(err(format!("`weights` is empty; name kinds to quantize: {}", names.join(", "))));
            }
            quantlab_model::WeightSelection(parsed)
        }
    };
    let split_after = match (&r.split_after, r.quantize) {
        (Some(_), ModelTarget::Weights) => return Err(err("`split_after` places activation quantization, for quantize = \"activations\" only".into())),
        (None, ModelTarget::Activations) => {
            return Err(err("quantize = \"activations\" needs `split_after`, the encoder layers after which hidden states are quantized, e.g. split_after = [3]".into()))
        }
        (Some(s), _) if s.is_empty() || s.contains(&0) => return Err(err(format!("`split_after` = {s:?}: name encoder layers counted from 1, e.g. split_after = [3]"))),
        (s, _) => s.clone().unwrap_or_default(),
    };
    let batch_size = r.batch_size.unwrap_or(32);
    if batch_size == 0 {
        return Err(err("`batch_size` must be at least 1".into()));
    }
    Ok(ModelPlan {
        path: PathBuf::from(r.path.as_deref().unwrap_or(DEFAULT_MODEL)),
        sentences: PathBuf::from(r.sentences.as_deref().unwrap_or(DEFAULT_SENTENCES)),
        target: r.quantize,
        weights,
        split_after,
        batch_size,
    })
}

fn to_param(v: &toml::Value) -> Option<ParamValue> {
    Some(match v {
        toml::Value::String(s) => ParamValue::Str(s.clone()),
        toml::Value::Integer(i) => ParamValue::Int(*i),
        toml::Value::Float(f) => ParamValue::Float(*f),
        toml::Value::Boolean(b) => ParamValue::Bool(*b),
        // A list inside a sweep's list: one list-valued setting (a lookup
        // table's `values = [[-0.75, -0.25, 0.25, 0.75]]`).
        toml::Value::Array(a) => ParamValue::List(a.iter().map(|x| x.as_float().or_else(|| x.as_integer().map(|i| i as f64))).collect::<Option<_>>()?),
        _ => return None,
    })
}

/// Expand one [[format]] table: lists crossed, `zip` keys paired. Errors
/// about one key name that key's line; others the table's.
fn expand_format(ctx: &ConfigText, f: &Spanned<SpannedTable>, out: &mut Vec<PlannedFormat>, dropped: &mut Vec<String>) -> Result<(), ConfigError> {
    let table: toml::Table = f.get_ref().iter().map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone())).collect();
    let key_span = |key: &str| f.get_ref().keys().find(|k| k.get_ref() == key).map_or(f.span(), |k| k.span());
    let err = |m: String| ctx.at(f.span(), m);
    let err_at = |key: &str, m: String| ctx.at(key_span(key), m);
    let family = match table.get("family") {
        Some(toml::Value::String(s)) => s.clone(),
        _ => return Err(err("a [[format]] entry needs `family` (a string), e.g. family = \"adaptivfloat\"; `quantlab formats` lists them".into())),
    };
    let label = match table.get("label") {
        None => None,
        Some(toml::Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(err_at("label", "`label` must be a string, e.g. label = \"Float\"".into())),
    };
    let skip_invalid = match table.get("skip_invalid") {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(_) => return Err(err_at("skip_invalid", "`skip_invalid` must be true or false".into())),
    };
    let granularity: Option<Vec<Granularity>> = match table.get("granularity") {
        None => None,
        Some(v) => {
            let items: Option<Vec<&str>> = match v {
                toml::Value::String(s) => Some(vec![s.as_str()]),
                toml::Value::Array(a) if !a.is_empty() => a.iter().map(|x| x.as_str()).collect(),
                _ => None,
            };
            let items = items.ok_or_else(|| err_at("granularity", "`granularity` is a granularity or a list of them, e.g. granularity = \"channel\" (this entry only)".into()))?;
            Some(items.iter().map(|s| s.parse::<Granularity>().map_err(|e| err_at("granularity", e))).collect::<Result<_, _>>()?)
        }
    };
    let zip: Vec<String> = match table.get("zip") {
        None => vec![],
        Some(toml::Value::Array(a)) => a.iter().map(|v| v.as_str().map(str::to_string).ok_or_else(|| err_at("zip", "`zip` lists parameter names".into()))).collect::<Result<_, _>>()?,
        Some(_) => return Err(err_at("zip", "`zip` lists parameter names, e.g. zip = [\"e\", \"m\"]".into())),
    };
    // Each parameter's list of values.
    let mut lists: BTreeMap<String, Vec<ParamValue>> = BTreeMap::new();
    for (k, v) in &table {
        if ["family", "skip_invalid", "zip", "label", "granularity"].contains(&k.as_str()) {
            continue;
        }
        let values = match v {
            toml::Value::Array(a) => a.iter().map(to_param).collect::<Option<Vec<_>>>(),
            other => to_param(other).map(|p| vec![p]),
        }
        .ok_or_else(|| err_at(k.as_str(), format!("{family}: parameter `{k}` must be a number, string, boolean or a list of them")))?;
        if values.is_empty() {
            return Err(err_at(k.as_str(), format!("{family}: parameter `{k}` is an empty list")));
        }
        lists.insert(k.clone(), values);
    }
    for z in &zip {
        if !lists.contains_key(z) {
            return Err(err_at("zip", format!("{family}: `zip` names `{z}`, which is not a parameter of this entry")));
        }
    }
    let zip_len = zip.iter().map(|z| lists[z].len()).max().unwrap_or(1);
    if let Some(z) = zip.iter().find(|z| lists[*z].len() != zip_len) {
        return Err(err_at(z.as_str(), format!("{family}: zipped parameters need lists of equal length; `{z}` has {} values, another has {zip_len}", lists[z].len())));
    }
    // Crossed keys, then the zipped group as one more axis.
    let crossed: Vec<(&String, &Vec<ParamValue>)> = lists.iter().filter(|(k, _)| !zip.contains(k)).collect();
    let mut combos: Vec<BTreeMap<String, ParamValue>> = vec![BTreeMap::new()];
    for (k, values) in crossed {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.insert(k.clone(), v.clone());
                    c
                })
            })
            .collect();
    }
    if !zip.is_empty() {
        let (zip, lists) = (&zip, &lists);
        combos = combos
            .into_iter()
            .flat_map(|c| {
                (0..zip_len).map(move |i| {
                    let mut c = c.clone();
                    for z in zip {
                        c.insert(z.clone(), lists[z][i].clone());
                    }
                    c
                })
            })
            .collect();
    }
    for params in combos {
        let spec = Spec { family: family.clone(), params };
        match quantlab_formats::build(&spec) {
            Ok(format) => {
                let series = label.clone().unwrap_or_else(|| series_of(&spec, format.code_bits()));
                out.push(PlannedFormat { format, spec, series, granularities: granularity.clone() })
            }
            Err(e) if skip_invalid && matches!(e, quantlab_formats::FormatError::Spec(quantlab_formats::SpecError::OutOfRange { .. })) => dropped.push(format!("{spec}: {e}")),
            Err(e) => {
                let message = format!("{e} (in combination {spec}{})", if skip_invalid { "" } else { "; `skip_invalid = true` drops impossible combinations" });
                return Err(match &e {
                    quantlab_formats::FormatError::Spec(quantlab_formats::SpecError::OutOfRange { param, .. } | quantlab_formats::SpecError::UnknownParam { param, .. }) => {
                        err_at(param.as_str(), message)
                    }
                    quantlab_formats::FormatError::Spec(quantlab_formats::SpecError::UnknownFamily { .. }) => err_at("family", message),
                    _ => err(message),
                });
            }
        }
    }
    Ok(())
}

/// A format's description without the parameter that sets its width, so
/// that one entry's widths form one line: `adaptivfloat(n=6,e=3)` ->
/// `adaptivfloat(e=3)`, `int(bits=4)` -> `int`.
fn series_of(spec: &Spec, code_bits: u32) -> String {
    let params: BTreeMap<String, ParamValue> = spec.params.iter().filter(|(_, v)| **v != ParamValue::Int(code_bits as i64)).map(|(k, v)| (k.clone(), v.clone())).collect();
    Spec { family: spec.family.clone(), params }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "name = \"t\"\n[[data]]\nsynthetic = \"normal\"\nshape = [4, 4]\n[[format]]\nfamily = \"adaptivfloat\"\nn = [4, 8]\ne = 3\n[[format]]\nlabel = \"Float\"\nfamily = \"minifloat\"\ne = [3, 4]\nm = [0, 3]\nzip = [\"e\", \"m\"]\n";

    /// A [[format]] entry's own `granularity` replaces the sweep's for it
    /// alone; the others keep the sweep's.
    #[test]
    fn an_entry_may_name_its_own_granularities() {
        let text = BASE.replace("label = \"Float\"\n", "label = \"Float\"\ngranularity = [\"channel\", \"block:2\"]\n");
        let plan = parse(&text, "t.toml").unwrap();
        assert_eq!(plan.granularities, [Granularity::Tensor, Granularity::Channel { axis: 0 }, Granularity::Block { size: 2 }]);
        let settings = crate::Setting::all(&plan, &[0], |_| true);
        let at = |series: &str| -> Vec<Granularity> { settings.iter().filter(|s| plan.formats[s.format].series == series).map(|s| s.granularity(&plan)).collect() };
        assert_eq!(at("adaptivfloat(e=3)"), [Granularity::Tensor, Granularity::Tensor]);
        assert_eq!(at("Float"), [Granularity::Channel { axis: 0 }, Granularity::Block { size: 2 }, Granularity::Channel { axis: 0 }, Granularity::Block { size: 2 }]);
        let bad = BASE.replace("label = \"Float\"\n", "label = \"Float\"\ngranularity = \"rows\"\n");
        let e = parse(&bad, "t.toml").unwrap_err().to_string();
        assert!(e.contains("t.toml:") && e.contains("rows"), "{e}");
    }

    #[test]
    fn series_drop_the_width_or_take_the_label() {
        let plan = parse(BASE, "t.toml").unwrap();
        let series: Vec<&str> = plan.formats.iter().map(|f| f.series.as_str()).collect();
        assert_eq!(series, ["adaptivfloat(e=3)", "adaptivfloat(e=3)", "Float", "Float"]);
    }

    /// Issue 15, item 16: an error about one key of a [[format]] table
    /// names the key's own line and column, not the table's.
    #[test]
    fn format_key_errors_name_the_key() {
        let e = parse(&format!("{BASE}bogus_key = 1\n"), "t.toml").unwrap_err();
        assert_eq!((e.line, e.column), (15, 1), "{e}");
        assert!(e.message.contains("bogus_key"), "{e}");
        let e = parse(&BASE.replace("n = [4, 8]", "n = [4, 99]"), "t.toml").unwrap_err();
        assert_eq!((e.line, e.column), (7, 1), "{e}");
        let e = parse(&BASE.replace("label = \"Float\"", "label = 3"), "t.toml").unwrap_err();
        assert_eq!(e.line, 10, "{e}");
        let e = parse(&BASE.replace("family = \"minifloat\"", "family = \"minifloot\""), "t.toml").unwrap_err();
        assert_eq!(e.line, 11, "{e}");
    }
}
