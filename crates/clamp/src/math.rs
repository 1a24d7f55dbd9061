//! Closed forms behind ACIQ (Banner, Nahshan & Soudry, "Post-training 4-bit
//! quantization of convolution networks for rapid-deployment", NeurIPS 2019).
//! Nothing is looked up: any bit width works.

use statrs::function::erf::erf;

/// Lambert W, principal branch, for `x >= 0` (Halley's iteration).
pub fn lambert_w0(x: f64) -> f64 {
    assert!(x >= 0.0 && x.is_finite(), "lambert_w0 needs a finite x >= 0, got {x}");
    if x == 0.0 {
        return 0.0;
    }
    let mut w = if x < 1.0 {
        x / (1.0 + x)
    } else {
        let l = x.ln();
        l - l.ln().max(0.0)
    };
    for _ in 0..100 {
        let ew = w.exp();
        let f = w * ew - x;
        let step = f / (ew * (w + 1.0) - (w + 2.0) * f / (2.0 * w + 2.0));
        w -= step;
        if step.abs() <= 1e-15 * (1.0 + w.abs()) {
            break;
        }
    }
    w
}

/// Banner's Laplace clip factor: `alpha / b = W(3 * 4^M)`.
pub fn laplace_factor(bits: u32) -> f64 {
    lambert_w0(3.0 * 4f64.powi(bits as i32))
}

/// PipeEdge's GELU clip factor: `alpha / sqrt(mean(x^2)) = W(3 * 4^(M+1))`.
pub fn gelu_factor(bits: u32) -> f64 {
    lambert_w0(3.0 * 4f64.powi(bits as i32 + 1))
}

/// Banner's expected MSE of clipping Laplace(b) data at `alpha` and
/// quantizing `[-alpha, alpha]` uniformly with `2^M` bins:
/// `2 b^2 exp(-alpha/b) + alpha^2 / (3 * 4^M)`.
pub fn laplace_mse(alpha: f64, b: f64, bits: u32) -> f64 {
    2.0 * b * b * (-alpha / b).exp() + alpha * alpha / (3.0 * 4f64.powi(bits as i32))
}

/// Banner's expected MSE for Gaussian(0, sigma) data:
/// `(s^2 + a^2)(1 - erf(a / (s sqrt 2))) - sqrt(2/pi) a s exp(-a^2 / (2 s^2)) + a^2 / (3 * 4^M)`.
pub fn gauss_mse(alpha: f64, sigma: f64, bits: u32) -> f64 {
    let (a, s) = (alpha, sigma);
    (s * s + a * a) * (1.0 - erf(a / (s * std::f64::consts::SQRT_2))) - (2.0 / std::f64::consts::PI).sqrt() * a * s * (-a * a / (2.0 * s * s)).exp() + a * a / (3.0 * 4f64.powi(bits as i32))
}

/// The Gaussian clip factor `alpha / sigma` minimising [`gauss_mse`].
pub fn gauss_factor(bits: u32) -> f64 {
    // The clipping term falls and the noise term rises in alpha: unimodal.
    golden_min(|a| gauss_mse(a, 1.0, bits), 0.0, 40.0, 1e-10).0
}

/// The argmin and minimum of a unimodal `f` on `[lo, hi]`.
pub fn golden_min(mut f: impl FnMut(f64) -> f64, mut lo: f64, mut hi: f64, tol: f64) -> (f64, f64) {
    let r = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (hi - r * (hi - lo), lo + r * (hi - lo));
    let (mut fc, mut fd) = (f(c), f(d));
    while hi - lo > tol {
        if fc < fd {
            hi = d;
            d = c;
            fd = fc;
            c = hi - r * (hi - lo);
            fc = f(c);
        } else {
            lo = c;
            c = d;
            fc = fd;
            d = lo + r * (hi - lo);
            fd = f(d);
        }
    }
    if fc < fd {
        (c, fc)
    } else {
        (d, fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambert_w_inverts_w_exp_w() {
        for &x in &[1e-9, 0.5, 1.0, std::f64::consts::E, 48.0, 1e6, 3.0 * 4f64.powi(30)] {
            let w = lambert_w0(x);
            assert!(((w * w.exp()) - x).abs() <= 1e-12 * x.max(1.0), "{x}: {w}");
        }
        assert_eq!(lambert_w0(0.0), 0.0);
    }

    #[test]
    fn factors_match_spec_tables() {
        let laplace = [2.831, 3.897, 5.029, 6.205, 7.413, 8.646, 9.897];
        let gauss = [1.711, 2.152, 2.559, 2.936, 3.287, 3.615, 3.924];
        for (i, m) in (2..=8u32).enumerate() {
            assert!((laplace_factor(m) - laplace[i]).abs() < 5e-4, "laplace M={m}: {}", laplace_factor(m));
            assert!((gauss_factor(m) - gauss[i]).abs() < 5e-4, "gauss M={m}: {}", gauss_factor(m));
        }
    }

    #[test]
    fn laplace_factor_minimises_the_closed_form() {
        for m in 2..=8 {
            let (argmin, _) = golden_min(|a| laplace_mse(a, 1.0, m), 0.0, 50.0, 1e-10);
            assert!((argmin - laplace_factor(m)).abs() < 1e-5, "M={m}");
        }
    }
}
