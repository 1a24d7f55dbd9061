//! `percentile(p)`: `alpha` = the p-th percentile of |x| over finite values,
//! p in (0, 100], interpolated linearly between order statistics as NumPy's
//! default (`index = p/100 * (n-1)`). Found by selection, O(n).

use quantlab_formats::{Clip, GroupView, ParamDoc, Params, SpecError};

use crate::{symmetric, Stats, Strategy, StrategyFamily};

#[derive(Debug)]
pub struct Percentile {
    pub p: f64,
}

/// The p-th percentile (0 < p <= 100) of the finite |x|; None if there are none.
pub fn abs_percentile(x: &[f32], p: f64) -> Option<f64> {
    let mut a: Vec<f32> = x.iter().filter(|v| v.is_finite()).map(|v| v.abs()).collect();
    if a.is_empty() {
        return None;
    }
    let pos = p / 100.0 * (a.len() - 1) as f64;
    let k = pos.floor() as usize;
    let frac = pos - k as f64;
    let (_, &mut lo, upper) = a.select_nth_unstable_by(k, f32::total_cmp);
    let hi = if frac > 0.0 { upper.iter().copied().fold(f32::INFINITY, f32::min) } else { lo };
    Some(lo as f64 + frac * (hi as f64 - lo as f64))
}

impl Strategy for Percentile {
    fn needs_spread(&self) -> bool {
        false
    }
    fn describe(&self) -> String {
        format!("percentile(p={})", self.p)
    }
    fn choose(&self, group: GroupView<'_>, _stats: &Stats) -> Option<Clip> {
        abs_percentile(group.values, self.p).and_then(symmetric)
    }
}

pub struct Family;
pub static FAMILY: Family = Family;

impl StrategyFamily for Family {
    fn name(&self) -> &'static str {
        "percentile"
    }
    fn summary(&self) -> &'static str {
        "alpha = the p-th percentile of |x|"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[ParamDoc { name: "p", default: "99.99", range: "(0, 100]", help: "percentile of |x|" }]
    }
    fn build(&self, p: &mut Params) -> Result<Box<dyn Strategy>, SpecError> {
        let pct = p.float_where("p", Some(99.99), |v| v > 0.0 && v <= 100.0, "(0, 100]")?;
        Ok(Box::new(Percentile { p: pct }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_linear_interpolation() {
        let x: Vec<f32> = (1..=10).map(|v| v as f32 * if v % 2 == 0 { -1.0 } else { 1.0 }).collect();
        assert_eq!(abs_percentile(&x, 100.0), Some(10.0));
        assert_eq!(abs_percentile(&x, 50.0), Some(5.5)); // np.percentile(1..10, 50)
        assert!((abs_percentile(&x, 99.0).unwrap() - 9.91).abs() < 1e-9);
        assert_eq!(abs_percentile(&[f32::NAN, 3.0, f32::INFINITY], 50.0), Some(3.0));
        assert_eq!(abs_percentile(&[f32::NAN], 50.0), None);
    }
}
