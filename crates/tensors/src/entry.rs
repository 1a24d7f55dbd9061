//! A `[[data]]` entry of a configuration: which tensors a sweep reads.
//! The runner expands it into cells and the report reads it again to draw
//! a tensor's histogram; both go through [`DataEntry::plan`].

use std::path::PathBuf;

use serde::Deserialize;

use crate::synthetic::Distribution;
use crate::{NameFilter, Source};

/// One `[[data]]` entry as written: exactly one of `synthetic` (with
/// `shape`), `npy`, `safetensors` (with `include`/`exclude`). Relative
/// paths are relative to the working directory, as on the command line.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataEntry {
    /// A distribution, e.g. `laplace(scale=1)`.
    pub synthetic: Option<String>,
    /// The synthetic tensor's shape.
    pub shape: Option<Vec<usize>>,
    /// A `.npy` file.
    pub npy: Option<String>,
    /// A safetensors file or model folder.
    pub safetensors: Option<String>,
    /// Tensor name patterns to read (safetensors only); default all.
    #[serde(default)]
    pub include: Vec<String>,
    /// Tensor name patterns to skip (safetensors only).
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// A validated data source and the label its rows carry in `source`.
#[derive(Clone, Debug)]
pub struct PlannedSource {
    /// The results' `source` column: the distribution or the path.
    pub label: String,
    /// What to load, per seed.
    pub source: SourceTemplate,
}

/// A source before the seed is known.
#[derive(Clone, Debug)]
pub enum SourceTemplate {
    /// Drawn again for every seed.
    Synthetic {
        /// The distribution.
        dist: Distribution,
        /// The tensor's shape.
        shape: Vec<usize>,
    },
    /// Loaded once; seeds only key stochastic rounding.
    Fixed(Source),
}

impl SourceTemplate {
    /// The source a seed reads.
    pub fn source(&self, seed: u64) -> Source {
        match self {
            SourceTemplate::Synthetic { dist, shape } => Source::Synthetic { dist: *dist, shape: shape.clone(), seed },
            SourceTemplate::Fixed(s) => s.clone(),
        }
    }
}

impl DataEntry {
    /// Validate the entry (a one-line reason when it is not usable).
    pub fn plan(&self) -> Result<PlannedSource, String> {
        let kinds = [self.synthetic.is_some(), self.npy.is_some(), self.safetensors.is_some()].iter().filter(|&&b| b).count();
        if kinds != 1 {
            return Err("a [[data]] entry needs exactly one of `synthetic`, `npy`, `safetensors`".into());
        }
        if let Some(dist) = &self.synthetic {
            let dist = Distribution::parse(dist).map_err(|e| e.to_string())?;
            let shape = self.shape.clone().ok_or("synthetic data needs a `shape`, e.g. shape = [256, 1024]")?;
            if shape.is_empty() || shape.contains(&0) {
                return Err(format!("`shape` {shape:?} must be non-empty with no zero dimension"));
            }
            if quantlab_formats::memory::checked_numel(&shape).and_then(|n| n.checked_mul(4)).is_none() {
                return Err(format!("`shape` {shape:?} is too large: its size in bytes overflows"));
            }
            if !self.include.is_empty() || !self.exclude.is_empty() {
                return Err("`include`/`exclude` select tensors of safetensors data only".into());
            }
            return Ok(PlannedSource { label: dist.label(), source: SourceTemplate::Synthetic { dist, shape } });
        }
        if self.shape.is_some() {
            return Err("`shape` is for synthetic data; files carry their own shapes".into());
        }
        if let Some(p) = &self.npy {
            return Ok(PlannedSource { label: p.clone(), source: SourceTemplate::Fixed(Source::Npy { path: PathBuf::from(p) }) });
        }
        let p = self.safetensors.clone().expect("one kind");
        let filter = NameFilter { include: self.include.clone(), exclude: self.exclude.clone() };
        Ok(PlannedSource { label: p.clone(), source: SourceTemplate::Fixed(Source::Safetensors { path: PathBuf::from(p), filter }) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_has_one_kind_and_its_own_keys() {
        let e = |t: &str| toml::from_str::<DataEntry>(t).unwrap().plan();
        assert_eq!(e("synthetic = \"normal\"\nshape = [2, 3]").unwrap().label, "normal(mean=0,std=1)");
        assert!(e("npy = \"a.npy\"\nsafetensors = \"b\"").unwrap_err().contains("exactly one"));
        assert!(e("synthetic = \"normal\"").unwrap_err().contains("needs a `shape`"));
        assert!(e("npy = \"a.npy\"\nshape = [2]").unwrap_err().contains("files carry their own shapes"));
        assert!(e("synthetic = \"normal\"\nshape = [2]\ninclude = [\"x\"]").unwrap_err().contains("safetensors data only"));
        assert!(e("synthetic = \"normal\"\nshape = [4611686018427387904, 4]").unwrap_err().contains("overflows"));
        assert_eq!(e("safetensors = \"m\"\ninclude = [\"*.weight\"]").unwrap().label, "m");
    }
}
