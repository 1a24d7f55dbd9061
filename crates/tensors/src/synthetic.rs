//! Seeded synthetic tensors drawn from statrs distributions.
//!
//! A distribution is written in quantlab's description language:
//! `normal(mean=0,std=1)`, `laplace(loc=0,scale=1)`, `student-t(nu=8,scale=1)`,
//! `uniform(lo=-1,hi=1)`, `lognormal(mu=0,sigma=1)`, `gelu(mean=0,std=1)` and
//! `relu(mean=0,std=1)` (a normal variable through GELU or ReLU: the shapes of
//! post-activation tensors), and `mixture(base=normal,scale=1,outlier_scale=10,
//! fraction=0.01)` (each value is drawn from the base family at
//! `outlier_scale` with probability `fraction`, else at `scale`).
//!
//! Values are generated in chunks of [`CHUNK`] elements, chunk `i` from a
//! generator seeded with `(seed, i)`, so the output is identical for the same
//! seed whatever the thread count.

use quantlab_spec::{ParamDoc, Params, Spec, SpecError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use statrs::distribution as sd;
use statrs::function::erf::erf;

/// A boxed sampler of one mixture component.
type Sampler = Box<dyn Fn(&mut StdRng) -> f64>;

/// Elements drawn from one generator.
pub const CHUNK: usize = 1 << 16;

/// A base family for mixtures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Family {
    /// Standard normal.
    Normal,
    /// Standard Laplace.
    Laplace,
    /// Student's t.
    StudentT {
        /// Degrees of freedom.
        nu: f64,
    },
}

/// A distribution to draw tensors from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Gaussian.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// Laplace (double exponential).
    Laplace {
        /// Location.
        loc: f64,
        /// Scale `b` (the standard deviation is `b sqrt 2`).
        scale: f64,
    },
    /// Student's t, scaled.
    StudentT {
        /// Degrees of freedom.
        nu: f64,
        /// Scale.
        scale: f64,
    },
    /// Uniform on `[lo, hi)`.
    Uniform {
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
    /// exp of a Gaussian.
    LogNormal {
        /// The Gaussian's mean.
        mu: f64,
        /// The Gaussian's standard deviation.
        sigma: f64,
    },
    /// GELU of a Gaussian (post-activation values).
    Gelu {
        /// The Gaussian's mean.
        mean: f64,
        /// The Gaussian's standard deviation.
        std: f64,
    },
    /// ReLU of a Gaussian.
    Relu {
        /// The Gaussian's mean.
        mean: f64,
        /// The Gaussian's standard deviation.
        std: f64,
    },
    /// A base family with a fraction of values drawn wider (outliers).
    Mixture {
        /// The base family.
        base: Family,
        /// The base's scale.
        scale: f64,
        /// The outliers' scale.
        outlier_scale: f64,
        /// The share of outliers.
        fraction: f64,
    },
}

/// The distributions' names, parameters and ranges, for `--help`-style lists.
pub const DISTRIBUTIONS: &[(&str, &[ParamDoc])] = &[
    ("normal", &[p("mean", "0", "any"), p("std", "1", "> 0")]),
    ("laplace", &[p("loc", "0", "any"), p("scale", "1", "> 0")]),
    ("student-t", &[p("nu", "8", "> 0"), p("scale", "1", "> 0")]),
    ("uniform", &[p("lo", "-1", "any"), p("hi", "1", "> lo")]),
    ("lognormal", &[p("mu", "0", "any"), p("sigma", "1", "> 0")]),
    ("gelu", &[p("mean", "0", "any"), p("std", "1", "> 0")]),
    ("relu", &[p("mean", "0", "any"), p("std", "1", "> 0")]),
    ("mixture", &[p("base", "normal", "normal | laplace | student-t"), p("scale", "1", "> 0"), p("outlier_scale", "10", "> 0"), p("fraction", "0.01", "[0, 1]"), p("nu", "8", "> 0 (student-t base)")]),
];

const fn p(name: &'static str, default: &'static str, range: &'static str) -> ParamDoc {
    ParamDoc { name, default, range, help: "" }
}

fn positive(x: f64) -> bool {
    x > 0.0 && x.is_finite()
}

fn finite(x: f64) -> bool {
    x.is_finite()
}

impl Distribution {
    /// Build from a description such as `student-t(nu=4)`.
    pub fn from_spec(spec: &Spec) -> Result<Distribution, SpecError> {
        let family = DISTRIBUTIONS.iter().find(|d| d.0 == spec.family).ok_or_else(|| SpecError::UnknownFamily {
            kind: "distribution",
            name: spec.family.clone(),
            known: DISTRIBUTIONS.iter().map(|d| d.0).collect::<Vec<_>>().join(", "),
        })?;
        let mut p = Params::new(family.0, spec.params.clone());
        let d = match family.0 {
            "normal" => Distribution::Normal { mean: p.float_where("mean", Some(0.0), finite, "a finite number")?, std: p.float_where("std", Some(1.0), positive, "> 0")? },
            "laplace" => Distribution::Laplace { loc: p.float_where("loc", Some(0.0), finite, "a finite number")?, scale: p.float_where("scale", Some(1.0), positive, "> 0")? },
            "student-t" => Distribution::StudentT { nu: p.float_where("nu", Some(8.0), positive, "> 0")?, scale: p.float_where("scale", Some(1.0), positive, "> 0")? },
            "uniform" => {
                let lo = p.float_where("lo", Some(-1.0), finite, "a finite number")?;
                let hi = p.float_where("hi", Some(1.0), finite, "a finite number")?;
                if hi <= lo {
                    return Err(SpecError::OutOfRange { family: "uniform".into(), param: "hi".into(), value: hi.to_string(), range: format!("> lo = {lo}") });
                }
                Distribution::Uniform { lo, hi }
            }
            "lognormal" => Distribution::LogNormal { mu: p.float_where("mu", Some(0.0), finite, "a finite number")?, sigma: p.float_where("sigma", Some(1.0), positive, "> 0")? },
            "gelu" => Distribution::Gelu { mean: p.float_where("mean", Some(0.0), finite, "a finite number")?, std: p.float_where("std", Some(1.0), positive, "> 0")? },
            "relu" => Distribution::Relu { mean: p.float_where("mean", Some(0.0), finite, "a finite number")?, std: p.float_where("std", Some(1.0), positive, "> 0")? },
            _ => {
                let base = match p.choice("base", "normal", &["normal", "laplace", "student-t"])? {
                    "normal" => Family::Normal,
                    "laplace" => Family::Laplace,
                    _ => Family::StudentT { nu: p.float_where("nu", Some(8.0), positive, "> 0")? },
                };
                Distribution::Mixture {
                    base,
                    scale: p.float_where("scale", Some(1.0), positive, "> 0")?,
                    outlier_scale: p.float_where("outlier_scale", Some(10.0), positive, "> 0")?,
                    fraction: p.float_where("fraction", Some(0.01), |f| (0.0..=1.0).contains(&f), "[0, 1]")?,
                }
            }
        };
        p.finish()?;
        Ok(d)
    }

    /// Parse a description string.
    pub fn parse(text: &str) -> Result<Distribution, SpecError> {
        Distribution::from_spec(&text.parse()?)
    }

    /// Canonical description (parses back to the same distribution).
    pub fn label(&self) -> String {
        match *self {
            Distribution::Normal { mean, std } => format!("normal(mean={mean},std={std})"),
            Distribution::Laplace { loc, scale } => format!("laplace(loc={loc},scale={scale})"),
            Distribution::StudentT { nu, scale } => format!("student-t(nu={nu},scale={scale})"),
            Distribution::Uniform { lo, hi } => format!("uniform(lo={lo},hi={hi})"),
            Distribution::LogNormal { mu, sigma } => format!("lognormal(mu={mu},sigma={sigma})"),
            Distribution::Gelu { mean, std } => format!("gelu(mean={mean},std={std})"),
            Distribution::Relu { mean, std } => format!("relu(mean={mean},std={std})"),
            Distribution::Mixture { base, scale, outlier_scale, fraction } => {
                let base = match base {
                    Family::Normal => "normal".to_string(),
                    Family::Laplace => "laplace".to_string(),
                    Family::StudentT { nu } => format!("student-t,nu={nu}"),
                };
                format!("mixture(base={base},scale={scale},outlier_scale={outlier_scale},fraction={fraction})")
            }
        }
    }

    fn fill(&self, rng: &mut StdRng, out: &mut [f32]) -> Result<(), String> {
        use rand::distr::Distribution as _;
        macro_rules! draw {
            ($d:expr, $map:expr) => {{
                let d = $d.map_err(|e| format!("{}: {e}", self.label()))?;
                let map = $map;
                out.iter_mut().for_each(|o| *o = map(d.sample(rng)) as f32);
            }};
        }
        let id = |v: f64| v;
        match *self {
            Distribution::Normal { mean, std } => draw!(sd::Normal::new(mean, std), id),
            Distribution::Laplace { loc, scale } => draw!(sd::Laplace::new(loc, scale), id),
            Distribution::StudentT { nu, scale } => draw!(sd::StudentsT::new(0.0, scale, nu), id),
            Distribution::Uniform { lo, hi } => draw!(sd::Uniform::new(lo, hi), id),
            Distribution::LogNormal { mu, sigma } => draw!(sd::LogNormal::new(mu, sigma), id),
            Distribution::Gelu { mean, std } => draw!(sd::Normal::new(mean, std), |v: f64| 0.5 * v * (1.0 + erf(v / std::f64::consts::SQRT_2))),
            Distribution::Relu { mean, std } => draw!(sd::Normal::new(mean, std), |v: f64| v.max(0.0)),
            Distribution::Mixture { base, scale, outlier_scale, fraction } => {
                let make = |s: f64| -> Result<Sampler, String> {
                    Ok(match base {
                        Family::Normal => {
                            let d = sd::Normal::new(0.0, s).map_err(|e| format!("{}: {e}", self.label()))?;
                            Box::new(move |r: &mut StdRng| d.sample(r))
                        }
                        Family::Laplace => {
                            let d = sd::Laplace::new(0.0, s).map_err(|e| format!("{}: {e}", self.label()))?;
                            Box::new(move |r: &mut StdRng| d.sample(r))
                        }
                        Family::StudentT { nu } => {
                            let d = sd::StudentsT::new(0.0, s, nu).map_err(|e| format!("{}: {e}", self.label()))?;
                            Box::new(move |r: &mut StdRng| d.sample(r))
                        }
                    })
                };
                let (inlier, outlier) = (make(scale)?, make(outlier_scale)?);
                for o in out.iter_mut() {
                    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    *o = if u < fraction { outlier(rng) } else { inlier(rng) } as f32;
                }
            }
        }
        Ok(())
    }
}

/// `n` values drawn from `dist`, reproducible from `seed`.
pub fn generate(dist: Distribution, n: usize, seed: u64) -> Result<Vec<f32>, String> {
    let mut out: Vec<f32> = quantlab_formats::memory::zeroed(n, || format!("{} values of {}", n, dist.label())).map_err(|e| e.to_string())?;
    out.par_chunks_mut(CHUNK).enumerate().try_for_each(|(i, chunk)| {
        let mut rng = StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17));
        dist.fill(&mut rng, chunk)
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(x: &[f32]) -> (f64, f64) {
        let m = x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64;
        let s = (x.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
        (m, s)
    }

    #[test]
    fn same_seed_same_data_any_thread_count() {
        for text in ["normal", "mixture(base=laplace,fraction=0.1)", "gelu"] {
            let d = Distribution::parse(text).unwrap();
            let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| generate(d, 200_000, 9).unwrap());
            let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(|| generate(d, 200_000, 9).unwrap());
            assert_eq!(one, two, "{text}");
            assert_ne!(one, generate(d, 200_000, 10).unwrap(), "{text}");
        }
    }

    #[test]
    fn moments_are_right() {
        let n = 400_000;
        let x = generate(Distribution::parse("laplace(scale=2)").unwrap(), n, 1).unwrap();
        let mean_abs = x.iter().map(|v| v.abs() as f64).sum::<f64>() / n as f64;
        assert!((mean_abs - 2.0).abs() < 0.02, "{mean_abs}");
        let (m, s) = moments(&generate(Distribution::parse("normal(mean=1,std=3)").unwrap(), n, 2).unwrap());
        assert!((m - 1.0).abs() < 0.02 && (s - 3.0).abs() < 0.02, "{m} {s}");
        let (m, _) = moments(&generate(Distribution::parse("lognormal(mu=0,sigma=0.5)").unwrap(), n, 3).unwrap());
        assert!((m - (0.125f64).exp()).abs() < 0.01, "{m}"); // E = exp(mu + sigma^2/2)
        let r = generate(Distribution::parse("relu").unwrap(), n, 4).unwrap();
        assert!(r.iter().all(|&v| v >= 0.0));
        let zeros = r.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
        assert!((zeros - 0.5).abs() < 0.01, "{zeros}");
        let g = generate(Distribution::parse("gelu").unwrap(), n, 5).unwrap();
        let gmin = g.iter().cloned().fold(f32::INFINITY, f32::min);
        assert!(gmin > -0.1701 && gmin < -0.16, "GELU minimum is -0.17: {gmin}");
        let (_, s) = moments(&generate(Distribution::parse("mixture(base=normal,scale=1,outlier_scale=10,fraction=0.1)").unwrap(), n, 6).unwrap());
        assert!((s * s - (0.9 + 0.1 * 100.0)).abs() < 0.3, "{s}"); // variance 0.9*1 + 0.1*100
        let (_, s) = moments(&generate(Distribution::parse("student-t(nu=8)").unwrap(), n, 7).unwrap());
        assert!((s * s - 8.0 / 6.0).abs() < 0.05, "{s}");
    }

    #[test]
    fn descriptions_round_trip_and_errors_name_the_parameter() {
        for t in ["normal", "laplace(scale=2)", "student-t(nu=4)", "uniform(lo=0,hi=2)", "lognormal", "gelu", "relu(mean=1)", "mixture(base=student-t,nu=5,fraction=0.001)"] {
            let d = Distribution::parse(t).unwrap();
            assert_eq!(Distribution::parse(&d.label()).unwrap(), d, "{t}");
        }
        for (t, needle) in
            [("normal(std=0)", "`std` = 0"), ("uniform(lo=1,hi=0)", "> lo = 1"), ("cauchy", "unknown distribution `cauchy`"), ("normal(sd=1)", "no parameter `sd`"), ("mixture(fraction=2)", "[0, 1]")]
        {
            let e = Distribution::parse(t).unwrap_err().to_string();
            assert!(e.contains(needle), "{t}: {e}");
        }
    }
}
