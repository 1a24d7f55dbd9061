//! `aciq-gelu` (PipeEdge): `alpha = W(3 * 4^(M+1)) * sqrt(mean(x^2))`,
//! clipping the upper side only, as PipeEdge does for post-GELU activations
//! (their small negative tail is left alone): the clip is `[min(x), alpha]`,
//! which symmetric formats read as `max(|min|, alpha)`.

use quantlab_formats::{Clip, GroupView, ParamDoc, Params, SpecError};

use crate::math::gelu_factor;
use crate::{aciq_bits, Stats, Strategy, StrategyFamily};

#[derive(Debug)]
pub struct AciqGelu;

impl AciqGelu {
    pub fn clip(bits: u32, stats: &Stats) -> Option<Clip> {
        let alpha = gelu_factor(bits) * stats.mean_sq.sqrt();
        (alpha.is_finite() && alpha > 0.0).then(|| Clip { lo: stats.min.min(crate::to_f32(alpha)), hi: crate::to_f32(alpha) })
    }
}

impl Strategy for AciqGelu {
    fn reads_values(&self) -> bool {
        false
    }
    fn describe(&self) -> String {
        "aciq-gelu".into()
    }
    fn choose(&self, group: GroupView<'_>, stats: &Stats) -> Option<Clip> {
        Self::clip(aciq_bits(group.format), stats)
    }
}

pub struct Family;
pub static FAMILY: Family = Family;

impl StrategyFamily for Family {
    fn name(&self) -> &'static str {
        "aciq-gelu"
    }
    fn summary(&self) -> &'static str {
        "PipeEdge's GELU rule: alpha = W(3*4^(M+1)) * sqrt(mean(x^2)), upper side only"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[]
    }
    fn build(&self, _p: &mut Params) -> Result<Box<dyn Strategy>, SpecError> {
        Ok(Box::new(AciqGelu))
    }
}
