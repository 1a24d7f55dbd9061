//! `pipeedge-auto`: PipeEdge's choice between its two rules: `aciq-laplace`
//! with the `std` estimator when `min(x) < 0.2`, else `aciq-gelu`.

use quantlab_formats::{Clip, GroupView, ParamDoc, Params, SpecError};

use crate::aciq_gelu::AciqGelu;
use crate::aciq_laplace::{AciqLaplace, Estimator};
use crate::{aciq_bits, Stats, Strategy, StrategyFamily};

#[derive(Debug)]
pub struct PipeEdgeAuto;

/// Which rule PipeEdge applies to a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    Laplace,
    Gelu,
}

impl PipeEdgeAuto {
    pub fn rule(stats: &Stats) -> Rule {
        if stats.min < 0.2 {
            Rule::Laplace
        } else {
            Rule::Gelu
        }
    }
}

impl Strategy for PipeEdgeAuto {
    fn reads_values(&self) -> bool {
        false
    }
    fn describe(&self) -> String {
        "pipeedge-auto".into()
    }
    fn choose(&self, group: GroupView<'_>, stats: &Stats) -> Option<Clip> {
        match Self::rule(stats) {
            Rule::Laplace => AciqLaplace { estimator: Estimator::Std }.choose(group, stats),
            Rule::Gelu => AciqGelu::clip(aciq_bits(group.format), stats),
        }
    }
}

pub struct Family;
pub static FAMILY: Family = Family;

impl StrategyFamily for Family {
    fn name(&self) -> &'static str {
        "pipeedge-auto"
    }
    fn summary(&self) -> &'static str {
        "PipeEdge: aciq-laplace(estimator=std) if min(x) < 0.2, else aciq-gelu"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[]
    }
    fn build(&self, _p: &mut Params) -> Result<Box<dyn Strategy>, SpecError> {
        Ok(Box::new(PipeEdgeAuto))
    }
}
