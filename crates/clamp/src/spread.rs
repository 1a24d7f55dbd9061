//! `spread(k)`: `alpha = k * b`, a fixed multiple of the group's Laplace
//! scale `b` (estimated as in `aciq-laplace`). Sweeping `k` traces Banner's
//! MSE-against-`alpha/b` curve (docs/formats.md figure 3); `aciq-laplace` is the
//! point `k = W(3 * 4^M)` of that sweep.

use quantlab_formats::{Clip, GroupView, ParamDoc, Params, SpecError};

use crate::aciq_laplace::{AciqLaplace, Estimator};
use crate::{symmetric, Stats, Strategy, StrategyFamily};

#[derive(Debug)]
pub struct Spread {
    pub k: f64,
    pub scale: AciqLaplace,
}

impl Strategy for Spread {
    fn reads_values(&self) -> bool {
        false
    }
    fn describe(&self) -> String {
        match self.scale.estimator {
            Estimator::MeanAbs => format!("spread(k={})", self.k),
            Estimator::Std => format!("spread(k={},estimator=std)", self.k),
        }
    }
    fn choose(&self, _group: GroupView<'_>, stats: &Stats) -> Option<Clip> {
        symmetric(self.k * self.scale.b(stats))
    }
}

pub struct Family;
pub static FAMILY: Family = Family;

impl StrategyFamily for Family {
    fn name(&self) -> &'static str {
        "spread"
    }
    fn summary(&self) -> &'static str {
        "a fixed multiple of the Laplace scale: alpha = k * b (sweeps Banner's alpha/b axis)"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc { name: "k", default: "(required)", range: "> 0", help: "alpha / b" },
            ParamDoc { name: "estimator", default: "mean-abs", range: "mean-abs | std", help: "b = mean|x-mean| (ACIQ) or sqrt(var/2) (PipeEdge)" },
        ]
    }
    fn build(&self, p: &mut Params) -> Result<Box<dyn Strategy>, SpecError> {
        let k = p.float_where("k", None, |k| k > 0.0 && k.is_finite(), "> 0")?;
        let estimator = match p.choice("estimator", "mean-abs", &["mean-abs", "std"])? {
            "mean-abs" => Estimator::MeanAbs,
            _ => Estimator::Std,
        };
        Ok(Box::new(Spread { k, scale: AciqLaplace { estimator } }))
    }
}
