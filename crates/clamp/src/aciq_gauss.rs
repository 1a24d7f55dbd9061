//! `aciq-gauss`: Banner's Gaussian rule, `alpha = c(M) * sigma`, `c(M)`
//! minimising the closed-form Gaussian MSE (computed, any M); `sigma` is the
//! sample standard deviation.

use quantlab_formats::{Clip, GroupView, ParamDoc, Params, SpecError};

use crate::math::gauss_factor;
use crate::{aciq_bits, symmetric, Stats, Strategy, StrategyFamily};

#[derive(Debug)]
pub struct AciqGauss;

impl Strategy for AciqGauss {
    fn reads_values(&self) -> bool {
        false
    }
    fn describe(&self) -> String {
        "aciq-gauss".into()
    }
    fn choose(&self, group: GroupView<'_>, stats: &Stats) -> Option<Clip> {
        symmetric(gauss_factor(aciq_bits(group.format)) * stats.std())
    }
}

pub struct Family;
pub static FAMILY: Family = Family;

impl StrategyFamily for Family {
    fn name(&self) -> &'static str {
        "aciq-gauss"
    }
    fn summary(&self) -> &'static str {
        "Banner 2019 Gaussian rule: alpha = c(M) * sigma"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[]
    }
    fn build(&self, _p: &mut Params) -> Result<Box<dyn Strategy>, SpecError> {
        Ok(Box::new(AciqGauss))
    }
}
