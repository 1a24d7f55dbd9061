#!/usr/bin/env python3
"""Write gfloat's P3109 roundings into crates/quantize/tests/fixtures/gfloat/.

The peer is gfloat 0.5 from PyPI (Graphcore's reference for P3109):

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install gfloat numpy
    /tmp/peers/bin/python scripts/make-gfloat-fixtures.py

For each format `p3109_k{K}p{P}{s|u}{e|f}` and saturation, one float32 .npy
of shape [2, N]: row 0 the probes, row 1 `round_ndarray(fi, x, TiesToEven,
sat)` in float32. The probes are every value of the format, every midpoint
between neighbours, their float32 neighbours, values beyond the largest,
tiny values, zeros and ±Inf (negative probes only for signed formats:
gfloat leaves negative inputs to unsigned formats undefined).
crates/quantize/tests/peers.rs compares quantlab's `p3109` family with them
bit for bit; the tests never need gfloat.
"""

import os

import numpy as np
from gfloat import RoundMode, decode_ndarray, round_ndarray
from gfloat.formats import format_info_p3109
from gfloat.types import Domain, Signedness

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "quantize", "tests", "fixtures", "gfloat")

FORMATS = [(8, 3), (8, 4), (8, 1), (6, 3), (4, 2), (3, 2), (8, 7), (10, 4)]


def probes(fi, signed):
    codes = np.arange(2**fi.k, dtype=np.int64)
    values = decode_ndarray(fi, codes).astype(np.float64)
    finite = np.unique(values[np.isfinite(values)])
    mids = (finite[:-1] + finite[1:]) / 2
    top = finite[-1]
    with np.errstate(over="ignore"):  # 3e38 * ... beyond f32 is meant
        base = np.concatenate([finite, mids, [top * 1.01, top * 1.5, top * 4, 1e-30, 3e38]]).astype(np.float32)
    base = np.concatenate([base, np.nextafter(base, np.float32(np.inf)), np.nextafter(base, np.float32(-np.inf)), [0.0, np.inf]]).astype(np.float32)
    base = base[base >= 0] if not signed else np.concatenate([base, -base])
    return base.astype(np.float32)


def main():
    os.makedirs(OUT, exist_ok=True)
    for k, p in FORMATS:
        for signed in [True, False]:
            if (signed and p >= k) or (k > 8 and not signed):
                continue  # keep the fixtures small: one wide format, signed
            for domain in [Domain.Extended, Domain.Finite]:
                fi = format_info_p3109(k, p, Signedness.Signed if signed else Signedness.Unsigned, domain)
                x = probes(fi, signed)
                for sat in [True, False]:
                    y = round_ndarray(fi, x.astype(np.float64), RoundMode.TiesToEven, sat).astype(np.float32)
                    name = f"{fi.name}-{'sat' if sat else 'nosat'}.npy"
                    np.save(os.path.join(OUT, name), np.stack([x, y]))
    print("written to", OUT)


if __name__ == "__main__":
    main()
