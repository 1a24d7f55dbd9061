#!/usr/bin/env python3
"""Write bitsandbytes' NF4 and FP4 results into
crates/quantize/tests/fixtures/bitsandbytes/.

The peer is bitsandbytes 0.50 with torch (CPU is enough), from PyPI:

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install torch bitsandbytes numpy
    /tmp/peers/bin/python scripts/make-bitsandbytes-fixtures.py

`input.npy` is [8, 256] float32 (rows of very different scales, outliers,
exact zeros, values on the tables' midpoints at scale 1). For each of nf4
and fp4, `quantize_4bit(x, blocksize=64)` then `dequantize_4bit`:
`{type}.npy` is the dequantized tensor, `{type}-codes.npy` the unpacked
4-bit codes (as float32). `tail-input.npy` (100 values: one block and a
partial one) and `tail-nf4.npy` show bitsandbytes' default kernel on a
partial last block, which it divides by absmax instead of multiplying by
1/absmax. `dq-input.npy` (600 blocks of 64: three runs of 256 absmax
statistics) with `dq-nf4.npy` (dequantized with `compress_statistics=True`),
`dq-codes.npy` and `dq-absmax.npy` (the double-quantized absmax per block,
as dequantize_4bit uses it) check double quantization. crates/quantize/tests/peers.rs compares quantlab with them; the
tests never need torch.
"""

import os

import numpy as np
import torch
import bitsandbytes.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "quantize", "tests", "fixtures", "bitsandbytes")


def data():
    rng = np.random.default_rng(20261130)
    x = rng.standard_normal((8, 256)).astype(np.float32)
    x *= np.array([1, 1e-3, 50, 1e-20, 3, 0.25, 1e10, 7], dtype=np.float32)[:, None]
    x[0, :64] = 0.0
    x[2, 5] = 4000.0
    # One block at scale 1 (absmax 1) holding NF4's midpoints and neighbours.
    code = F.get_4bit_type("nf4", device="cpu").numpy()
    mids = ((code[:-1] + code[1:]) / 2).astype(np.float32)
    probe = np.concatenate([[1.0], mids, np.nextafter(mids, 2), np.nextafter(mids, -2)]).astype(np.float32)
    x[5, 64:64 + probe.size] = probe
    return x


def unpack(q, n):
    q = q.reshape(-1).numpy().astype(np.uint8)
    codes = np.empty(q.size * 2, dtype=np.uint8)
    codes[0::2] = q >> 4
    codes[1::2] = q & 0xF
    return codes[:n].astype(np.float32)


def main():
    os.makedirs(OUT, exist_ok=True)
    x = data()
    np.save(os.path.join(OUT, "input.npy"), x)
    t = torch.from_numpy(x)
    for kind in ["nf4", "fp4"]:
        q, state = F.quantize_4bit(t, blocksize=64, quant_type=kind)
        y = F.dequantize_4bit(q, state).numpy()
        np.save(os.path.join(OUT, f"{kind}.npy"), y)
        np.save(os.path.join(OUT, f"{kind}-codes.npy"), unpack(q, x.size).reshape(x.shape))
    tail = data().reshape(-1)[1000:1100].copy()
    q, state = F.quantize_4bit(torch.from_numpy(tail), blocksize=64, quant_type="nf4")
    np.save(os.path.join(OUT, "tail-input.npy"), tail)
    np.save(os.path.join(OUT, "tail-nf4.npy"), F.dequantize_4bit(q, state).numpy())
    rng = np.random.default_rng(20261201)
    dq = (rng.standard_normal(600 * 64) * np.repeat(rng.uniform(0.05, 4.0, 600), 64)).astype(np.float32)
    q, state = F.quantize_4bit(torch.from_numpy(dq), blocksize=64, quant_type="nf4", compress_statistics=True)
    np.save(os.path.join(OUT, "dq-input.npy"), dq)
    np.save(os.path.join(OUT, "dq-nf4.npy"), F.dequantize_4bit(q, state).numpy())
    np.save(os.path.join(OUT, "dq-codes.npy"), unpack(q, dq.size))
    absmax = F.dequantize_blockwise(state.absmax, state.state2) + state.offset
    np.save(os.path.join(OUT, "dq-absmax.npy"), absmax.numpy().astype(np.float32))
    print("written to", OUT)


if __name__ == "__main__":
    main()
