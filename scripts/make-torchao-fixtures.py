#!/usr/bin/env python3
"""Write torchao's results for NVFP4 and MX into crates/quantize/tests/fixtures/torchao/.

The peer is torchao 0.18 with torch (CPU is enough), from PyPI:

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install torch==2.15.0 torchao==0.18.0 numpy
    /tmp/peers/bin/python scripts/make-torchao-fixtures.py

Each fixture is the dequantized tensor (float32 .npy) of torchao's reference
quantization of `input.npy` ([8, 256], rows of very different scales, with
outliers and exact zeros): `nvfp4_quantize` without and with a per-tensor
scale (`per_tensor_amax_to_scale(amax)`), and `to_mx` with block 32 for FP8
E4M3 and FP4 E2M1 elements in each ScaleCalculationMode (FLOOR, CEIL, RCEIL,
EVEN), dequantized by torchao's own `to_dtype`. crates/quantize/tests/peers.rs
compares quantlab with them bit for bit; the tests never need torch.
"""

import os

import numpy as np
import torch
from torchao.prototype.mx_formats import mx_tensor
from torchao.prototype.mx_formats import nvfp4_tensor as nv
from torchao.prototype.mx_formats.config import ScaleCalculationMode

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "quantize", "tests", "fixtures", "torchao")


def data():
    rng = np.random.default_rng(20261130)
    rows = []
    for r in range(8):
        scale = 2.0 ** rng.uniform(-12, 12)
        x = rng.standard_normal(256) if r % 2 == 0 else rng.laplace(size=256)
        x[rng.integers(0, 256, 3)] *= 25.0  # outliers
        x[rng.integers(0, 256, 4)] = 0.0  # exact zeros
        rows.append(x * scale)
    return np.asarray(rows, dtype=np.float32)


def save(name, t):
    np.save(os.path.join(OUT, name), np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32)))


def nvfp4(x, per_tensor_scale):
    scales, packed = nv.nvfp4_quantize(x, 16, per_tensor_scale)
    q = nv.f4_unpacked_to_f32(nv.unpack_uint4(packed)).view(x.shape[0], -1, 16)
    s = scales.to(torch.float32)
    if per_tensor_scale is not None:
        s = per_tensor_scale * s
    return (q * s.view(x.shape[0], -1, 1)).view(x.shape)


def main():
    os.makedirs(OUT, exist_ok=True)
    x_np = data()
    np.save(os.path.join(OUT, "input.npy"), x_np)
    x = torch.from_numpy(x_np)
    save("nvfp4-blocks.npy", nvfp4(x, None))
    amax = x.abs().max()
    save("nvfp4.npy", nvfp4(x, nv.per_tensor_amax_to_scale(amax)))
    elems = {"fp8-e4m3": torch.float8_e4m3fn, "fp4-e2m1": torch.float4_e2m1fn_x2}
    for name, dtype in elems.items():
        for mode in ["FLOOR", "CEIL", "RCEIL", "EVEN"]:
            scale, lp = mx_tensor.to_mx(x, dtype, 32, getattr(ScaleCalculationMode, mode))
            save(f"mx-{name}-{mode.lower()}.npy", mx_tensor.to_dtype(lp, scale, dtype, 32, torch.float32))
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
