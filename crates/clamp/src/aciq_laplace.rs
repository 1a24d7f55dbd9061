//! `aciq-laplace`: Banner's Laplace rule, `alpha = W(3 * 4^M) * b`, with `b`
//! estimated as `mean|x - mean(x)|` (`mean-abs`, ACIQ) or `sqrt(var / 2)`
//! (`std`, PipeEdge, with the sample variance as `torch.std`).

use quantlab_formats::{Clip, GroupView, ParamDoc, Params, SpecError};

use crate::math::laplace_factor;
use crate::{aciq_bits, symmetric, Stats, Strategy, StrategyFamily};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Estimator {
    MeanAbs,
    Std,
}

#[derive(Debug)]
pub struct AciqLaplace {
    pub estimator: Estimator,
}

impl AciqLaplace {
    pub fn b(&self, stats: &Stats) -> f64 {
        match self.estimator {
            Estimator::MeanAbs => stats.mean_abs_dev,
            Estimator::Std => (stats.var / 2.0).sqrt(),
        }
    }
}

impl Strategy for AciqLaplace {
    fn reads_values(&self) -> bool {
        false
    }
    fn describe(&self) -> String {
        match self.estimator {
            Estimator::MeanAbs => "aciq-laplace".into(),
            Estimator::Std => "aciq-laplace(estimator=std)".into(),
        }
    }
    fn choose(&self, group: GroupView<'_>, stats: &Stats) -> Option<Clip> {
        symmetric(laplace_factor(aciq_bits(group.format)) * self.b(stats))
    }
}

pub struct Family;
pub static FAMILY: Family = Family;

impl StrategyFamily for Family {
    fn name(&self) -> &'static str {
        "aciq-laplace"
    }
    fn summary(&self) -> &'static str {
        "Banner 2019 Laplace rule: alpha = W(3*4^M) * b"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[ParamDoc { name: "estimator", default: "mean-abs", range: "mean-abs | std", help: "b = mean|x-mean| (ACIQ) or sqrt(var/2) (PipeEdge)" }]
    }
    fn build(&self, p: &mut Params) -> Result<Box<dyn Strategy>, SpecError> {
        let estimator = match p.choice("estimator", "mean-abs", &["mean-abs", "std"])? {
            "mean-abs" => Estimator::MeanAbs,
            _ => Estimator::Std,
        };
        Ok(Box::new(AciqLaplace { estimator }))
    }
}
