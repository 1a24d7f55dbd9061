#!/usr/bin/env python3
"""quantlab.quantize from Python against the Rust kernel and the peers, one
thread, 16M normal float32 values (issue 18's speed table).

    scripts/bench-python.py [--n 16777216] [--repeat 5]

Needs quantlab installed in release mode (`maturin develop --release
--manifest-path crates/python/Cargo.toml`, or `pip install ./crates/python`)
and, for their rows, ml_dtypes and torch. Prints ns/element (best of
--repeat) as a Markdown table; the Rust kernel's figures come from
`cargo bench -p quantlab-formats --bench formats` and are not rerun here.
"""

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

import quantlab  # noqa: E402


def best(fn, repeat):
    fn()  # warm: pages touched, caches filled
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def adaptivfloat_numpy(x, n_bits=8, n_exp=3):
    """The official AdaptivFloat algorithm (Tambe et al.'s quantize_adaptivfloat),
    transcribed from PyTorch to NumPy: per-tensor exponent bias from max|x|,
    underflow and overflow handling, mantissa rounding through frexp."""
    n_mant = n_bits - 1 - n_exp
    sign = np.sign(x)
    a = np.abs(x)
    exp_max = np.frexp(a.max())[1] - 1
    bias = exp_max - (2**n_exp - 1)
    min_value = 2.0**bias * (1 + 2.0**-n_mant)
    max_value = 2.0**exp_max * (2 - 2.0**-n_mant)
    a = np.where(a < min_value / 2, 0, np.where(a < min_value, min_value, a))
    a = np.minimum(a, max_value)
    mant, e = np.frexp(a)
    mant = np.round(mant * 2**(n_mant + 1)) / 2**(n_mant + 1)
    return (sign * np.ldexp(mant, e)).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1 << 24)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    x = np.random.default_rng(0).standard_normal(a.n).astype(np.float32)
    out = np.empty_like(x)
    rows = []

    def row(what, fn):
        rows.append((what, best(fn, a.repeat) * 1e9 / a.n))

    row("plain copy (np.copyto)", lambda: np.copyto(out, x))
    for fmt in ["fp8-e4m3", "adaptivfloat(n=8,e=3)", "int(bits=8)", "nvfp4", "mxfp4"]:
        row(f"quantlab.quantize {fmt}, out=", lambda fmt=fmt: quantlab.quantize(x, fmt, threads=1, out=out))
        row(f"quantlab.quantize {fmt}, new array", lambda fmt=fmt: quantlab.quantize(x, fmt, threads=1))
    try:
        import ml_dtypes

        row("ml_dtypes astype(float8_e4m3fn).astype(float32)", lambda: x.astype(ml_dtypes.float8_e4m3fn).astype(np.float32))
    except ImportError:
        rows.append(("ml_dtypes (not installed)", float("nan")))
    row("official AdaptivFloat<8,3> algorithm in NumPy", lambda: adaptivfloat_numpy(x))
    try:
        import torch

        torch.set_num_threads(1)
        t = torch.from_numpy(x)
        row("torch float8_e4m3fn round trip", lambda: t.to(torch.float8_e4m3fn).to(torch.float32))
        scale = float(t.abs().max()) / 127
        row("torch fake_quantize_per_tensor_affine int8", lambda: torch.fake_quantize_per_tensor_affine(t, scale, 0, -127, 127))
    except ImportError:
        rows.append(("torch (not installed)", float("nan")))
    print(f"| one thread, {a.n} normal float32 | ns/element |\n|---|---|")
    for what, ns in rows:
        print(f"| {what} | {ns:.3f} |")


if __name__ == "__main__":
    main()
