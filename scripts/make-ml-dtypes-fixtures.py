#!/usr/bin/env python3
"""Write ml_dtypes' casts of the fnuz FP8s and E3M4 into
crates/quantize/tests/fixtures/ml_dtypes/.

The peer is ml_dtypes from PyPI (0.5 or later):

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install ml_dtypes numpy
    /tmp/peers/bin/python scripts/make-ml-dtypes-fixtures.py

For each type, one float32 .npy of shape [2, N]: row 0 the probes, row 1
`x.astype(type).astype(float32)`, ml_dtypes' round to nearest even (no
saturation: what lies beyond the largest value is NaN for fnuz, Inf for
E3M4). The probes are every code's value, every midpoint between
neighbouring values, the f32 neighbours of both, values beyond the largest,
tiny values, signed zeros, ±Inf and NaN. crates/quantize/tests/peers.rs
compares quantlab's elements with them bit for bit; the tests never need
ml_dtypes.
"""

import os

import ml_dtypes
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "quantize", "tests", "fixtures", "ml_dtypes")

TYPES = {
    "fp8-e4m3fnuz": ml_dtypes.float8_e4m3fnuz,
    "fp8-e5m2fnuz": ml_dtypes.float8_e5m2fnuz,
    "fp8-e4m3b11fnuz": ml_dtypes.float8_e4m3b11fnuz,
    "fp8-e3m4": ml_dtypes.float8_e3m4,
}


def probes(dtype):
    values = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float32)
    finite = np.unique(values[np.isfinite(values)])
    mids = ((finite[:-1].astype(np.float64) + finite[1:]) / 2).astype(np.float32)
    top = finite[-1]
    base = np.concatenate([finite, mids, [top * 1.01, top * 1.5, top * 4, 1e-30, -1e-30, 1e-45, 3e38, -3e38]]).astype(np.float32)
    up = np.nextafter(base, np.float32(np.inf))
    down = np.nextafter(base, np.float32(-np.inf))
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=np.float32)
    return np.concatenate([base, up, down, special]).astype(np.float32)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, dtype in TYPES.items():
        x = probes(dtype)
        y = x.astype(dtype).astype(np.float32)
        np.save(os.path.join(OUT, f"{name}.npy"), np.stack([x, y]))
        print(name, x.size, "probes")


if __name__ == "__main__":
    main()
