//! `none`: no clipping; the format uses the group's min/max.

use quantlab_formats::{Clip, GroupView, ParamDoc, Params, SpecError};

use crate::{Stats, Strategy, StrategyFamily};

#[derive(Debug)]
pub struct NoClip;

impl Strategy for NoClip {
    fn reads_values(&self) -> bool {
        false
    }
    fn needs_spread(&self) -> bool {
        false
    }
    fn describe(&self) -> String {
        "none".into()
    }
    fn choose(&self, _group: GroupView<'_>, _stats: &Stats) -> Option<Clip> {
        None
    }
}

pub struct Family;
pub static FAMILY: Family = Family;

impl StrategyFamily for Family {
    fn name(&self) -> &'static str {
        "none"
    }
    fn summary(&self) -> &'static str {
        "no clipping: the group's min/max (max|x| for symmetric formats)"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[]
    }
    fn build(&self, _p: &mut Params) -> Result<Box<dyn Strategy>, SpecError> {
        Ok(Box::new(NoClip))
    }
}
