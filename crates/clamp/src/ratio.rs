//! `ratio(r)`: `alpha = r * max|x|`, `r` in (0, 1].

use quantlab_formats::{Clip, GroupView, ParamDoc, Params, SpecError};

use crate::{symmetric, Stats, Strategy, StrategyFamily};

#[derive(Debug)]
pub struct Ratio {
    pub r: f64,
}

impl Strategy for Ratio {
    fn reads_values(&self) -> bool {
        false
    }
    fn needs_spread(&self) -> bool {
        false
    }
    fn describe(&self) -> String {
        format!("ratio(r={})", self.r)
    }
    fn choose(&self, _group: GroupView<'_>, stats: &Stats) -> Option<Clip> {
        symmetric(self.r * stats.amax as f64)
    }
}

pub struct Family;
pub static FAMILY: Family = Family;

impl StrategyFamily for Family {
    fn name(&self) -> &'static str {
        "ratio"
    }
    fn summary(&self) -> &'static str {
        "a fixed fraction of the range: alpha = r * max|x|"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[ParamDoc { name: "r", default: "(required)", range: "(0, 1]", help: "fraction of max|x|" }]
    }
    fn build(&self, p: &mut Params) -> Result<Box<dyn Strategy>, SpecError> {
        let r = p.float_where("r", None, |r| r > 0.0 && r <= 1.0, "(0, 1]")?;
        Ok(Box::new(Ratio { r }))
    }
}
