//! Seeded synthetic tensors drawn from statrs distributions.
//!
//! Values are generated in chunks of [`CHUNK`] elements, chunk `i` from a
//! generator seeded with `(seed, i)`, so the output is identical for the same
//! seed whatever the thread count.

use rand::rngs::StdRng;
use rand::SeedableRng;
use rayon::prelude::*;
use statrs::distribution as sd;

/// Elements drawn from one generator.
pub const CHUNK: usize = 1 << 16;

/// A distribution to draw tensors from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    Normal { mean: f64, std: f64 },
    Laplace { loc: f64, scale: f64 },
    StudentT { nu: f64 },
    Uniform { lo: f64, hi: f64 },
}

impl Distribution {
    /// Short name with parameters, for table rows.
    pub fn label(&self) -> String {
        match self {
            Distribution::Normal { mean, std } => format!("normal(mean={mean},std={std})"),
            Distribution::Laplace { loc, scale } => format!("laplace(loc={loc},scale={scale})"),
            Distribution::StudentT { nu } => format!("student-t(nu={nu})"),
            Distribution::Uniform { lo, hi } => format!("uniform(lo={lo},hi={hi})"),
        }
    }

    /// `normal`, `laplace`, `student-t`, `uniform` with standard parameters.
    pub fn standard(name: &str) -> Option<Distribution> {
        Some(match name {
            "normal" => Distribution::Normal { mean: 0.0, std: 1.0 },
            "laplace" => Distribution::Laplace { loc: 0.0, scale: 1.0 },
            "student-t" => Distribution::StudentT { nu: 8.0 },
            "uniform" => Distribution::Uniform { lo: -1.0, hi: 1.0 },
            _ => return None,
        })
    }

    fn fill(&self, rng: &mut StdRng, out: &mut [f32]) -> Result<(), String> {
        use rand::distr::Distribution as _;
        macro_rules! draw {
            ($d:expr) => {{
                let d = $d.map_err(|e| format!("{}: {e}", self.label()))?;
                out.iter_mut().for_each(|o| *o = d.sample(rng) as f32);
            }};
        }
        match *self {
            Distribution::Normal { mean, std } => draw!(sd::Normal::new(mean, std)),
            Distribution::Laplace { loc, scale } => draw!(sd::Laplace::new(loc, scale)),
            Distribution::StudentT { nu } => draw!(sd::StudentsT::new(0.0, 1.0, nu)),
            Distribution::Uniform { lo, hi } => draw!(sd::Uniform::new(lo, hi)),
        }
        Ok(())
    }
}

/// `n` values drawn from `dist`, reproducible from `seed`.
pub fn generate(dist: Distribution, n: usize, seed: u64) -> Result<Vec<f32>, String> {
    let mut out = vec![0.0f32; n];
    out.par_chunks_mut(CHUNK).enumerate().try_for_each(|(i, chunk)| {
        let mut rng = StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17));
        dist.fill(&mut rng, chunk)
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_any_thread_count() {
        let d = Distribution::standard("normal").unwrap();
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| generate(d, 200_000, 9).unwrap());
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(|| generate(d, 200_000, 9).unwrap());
        assert_eq!(one, two);
        assert_ne!(one, generate(d, 200_000, 10).unwrap());
    }

    #[test]
    fn moments_are_right() {
        let x = generate(Distribution::Laplace { loc: 0.0, scale: 2.0 }, 400_000, 1).unwrap();
        let mean_abs = x.iter().map(|v| v.abs() as f64).sum::<f64>() / x.len() as f64;
        assert!((mean_abs - 2.0).abs() < 0.02, "{mean_abs}");
        let y = generate(Distribution::Normal { mean: 1.0, std: 3.0 }, 400_000, 2).unwrap();
        let m = y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64;
        let s = (y.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / y.len() as f64).sqrt();
        assert!((m - 1.0).abs() < 0.02 && (s - 3.0).abs() < 0.02, "{m} {s}");
        assert!(generate(Distribution::Normal { mean: 0.0, std: -1.0 }, 10, 0).unwrap_err().contains("normal"));
    }
}
