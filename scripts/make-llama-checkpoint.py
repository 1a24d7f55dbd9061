#!/usr/bin/env python3
"""Write a synthetic checkpoint with Llama-3-8B's tensor names and shapes:
sharded bf16 safetensors (about 16 GB) with model.safetensors.index.json,
heavy-tailed values (a Gaussian scaled per row by a log-normal factor, one
value in 997 eight times larger) and a few outlier input channels per matrix
(x20), as real LLM weights have. Needs only NumPy; writes one row block at a
time, so it runs in a few hundred MB.

    scripts/make-llama-checkpoint.py OUTDIR [--layers 32] [--shard-gb 5]
"""

import argparse
import json
import os
import struct
import zlib

import numpy as np

HIDDEN, INTER, VOCAB, KV = 4096, 14336, 128256, 1024


def tensors(layers):
    yield "model.embed_tokens.weight", (VOCAB, HIDDEN)
    for i in range(layers):
        p = f"model.layers.{i}."
        yield p + "self_attn.q_proj.weight", (HIDDEN, HIDDEN)
        yield p + "self_attn.k_proj.weight", (KV, HIDDEN)
        yield p + "self_attn.v_proj.weight", (KV, HIDDEN)
        yield p + "self_attn.o_proj.weight", (HIDDEN, HIDDEN)
        yield p + "mlp.gate_proj.weight", (INTER, HIDDEN)
        yield p + "mlp.up_proj.weight", (INTER, HIDDEN)
        yield p + "mlp.down_proj.weight", (HIDDEN, INTER)
        yield p + "input_layernorm.weight", (HIDDEN,)
        yield p + "post_attention_layernorm.weight", (HIDDEN,)
    yield "model.norm.weight", (HIDDEN,)
    yield "lm_head.weight", (VOCAB, HIDDEN)


def bf16_bits(x):
    """float32 -> bfloat16 bit patterns, round to nearest even."""
    b = x.view(np.uint32)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


def rows_of(rng, name, shape, start, stop):
    if len(shape) == 1:
        return (1.0 + 0.05 * rng.standard_normal(shape[0], dtype=np.float32)).astype(np.float32)
    cols = shape[1]
    x = rng.standard_normal((stop - start, cols), dtype=np.float32) * 0.02
    x *= np.exp(0.5 * rng.standard_normal((stop - start, 1), dtype=np.float32))
    x.reshape(-1)[::997] *= 8
    # The same few outlier input channels in every row of a matrix.
    # crc32, not hash(): Python salts str hashes per process.
    outliers = np.random.default_rng(zlib.crc32(name.encode())).choice(cols, 4, replace=False)
    x[:, outliers] *= 20
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--shard-gb", type=float, default=5.0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(8)
    # Group tensors into shards of about --shard-gb.
    shards, cur, size = [], [], 0
    for name, shape in tensors(a.layers):
        n = int(np.prod(shape)) * 2
        if cur and size + n > a.shard_gb * 1e9:
            shards.append(cur)
            cur, size = [], 0
        cur.append((name, shape))
        size += n
    shards.append(cur)
    weight_map = {}
    for s, group in enumerate(shards):
        file = f"model-{s + 1:05d}-of-{len(shards):05d}.safetensors"
        header, offset = {}, 0
        for name, shape in group:
            n = int(np.prod(shape)) * 2
            header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
            offset += n
            weight_map[name] = file
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        with open(os.path.join(a.out, file), "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for name, shape in group:
                rows = shape[0] if len(shape) > 1 else 1
                step = max(1, (1 << 22) // (shape[1] if len(shape) > 1 else shape[0]))
                for r in range(0, rows, step):
                    f.write(bf16_bits(rows_of(rng, name, shape, r, min(rows, r + step))).tobytes())
        print(f"{file}: {len(group)} tensors, {offset / 1e9:.2f} GB", flush=True)
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(int(np.prod(s)) * 2 for _, s in tensors(a.layers))}, "weight_map": weight_map}, f)


if __name__ == "__main__":
    main()
