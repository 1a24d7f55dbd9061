#!/usr/bin/env python3
"""Write the damaged and lying files of issue 15 into crates/cli/tests/corpus/.

Each file is a regression case: `crates/cli/tests/hostile.rs` runs the
command named for it in `corpus/cases.toml` and asserts exit status 2 with
one line on stderr. The files are made with the standard library only
(struct), except the two damaged containers, which start from a valid one
written by the quantlab binary given as the first argument:

    cargo build --release -p quantlab
    python3 scripts/make-hostile-corpus.py target/release/quantlab

Run it again only to add cases; the committed files are the corpus.
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "cli", "tests", "corpus")


def npy(descr, shape, payload, fortran=False, raw_dict=None):
    """An .npy file (version 1.0) with a header dict that says `shape`."""
    dims = "(" + ", ".join(str(d) for d in shape or ()) + ("," if shape and len(shape) == 1 else "") + ")"
    d = raw_dict or "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", dims)
    while (10 + len(d) + 1) % 64:
        d += " "
    d += "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d.encode() + payload


def f32s(values):
    return b"".join(struct.pack("<f", v) for v in values)


def safetensors(entries, raw_header=None):
    """A safetensors file: u64 header length, JSON header, data."""
    parts, data = [], b""
    for name, dtype, shape, payload in entries:
        parts.append('"%s":{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}' % (name, dtype, json.dumps(shape), len(data), len(data) + len(payload)))
        data += payload
    header = raw_header or "{" + ",".join(parts) + "}"
    while len(header) % 8:
        header += " "
    return struct.pack("<Q", len(header)) + header.encode() + data


def qlab_header(fields):
    header = "".join("%s=%s\n" % kv for kv in fields)
    return b"QLABENC2" + struct.pack("<I", len(header)) + header.encode()


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    # Item 1: a container whose header claims 2^62 codes of 32 bits.
    huge = 4611686018427387904
    write("qlab-2pow62-codes.qlab", qlab_header([("format", "int(bits=8)"), ("shape", huge), ("granularity", "tensor"), ("code_bits", 32), ("count", huge), ("meta_words", 1), ("meta_bits", 32), ("units", 1)]) + b"\0" * 16)
    # A container of the old version (no checksum).
    write("qlab-version-1.qlab", b"QLABENC1" + qlab_header([("format", "int(bits=8)")])[8:] + b"\0" * 8)
    # Item 7: a valid container with one bit flipped in its codes, and cut short.
    if len(sys.argv) > 1:
        with tempfile.TemporaryDirectory() as tmp:
            x = os.path.join(tmp, "x.npy")
            with open(x, "wb") as f:
                f.write(npy("<f4", (4, 16), f32s([(i * 37 % 19 - 9) / 4.0 for i in range(64)])))
            q = os.path.join(tmp, "q.qlab")
            subprocess.run([sys.argv[1], "quantize", "adaptivfloat(n=6,e=3)", x, "-o", os.path.join(tmp, "q.npy"), "--granularity", "channel", "--encode", q], check=True, capture_output=True)
            good = open(q, "rb").read()
            body = 12 + struct.unpack("<I", good[8:12])[0]
            flipped = bytearray(good)
            flipped[body + 5] ^= 0x08
            write("qlab-flipped-bit.qlab", bytes(flipped))
            write("qlab-truncated.qlab", good[:-11])
    # Item 5: a shape whose element count overflows 64 bits, over 4 KB.
    write("npy-shape-2pow64.npy", npy("<f4", (4294967296, 4294967296), b"\0" * 4096))
    # Item 6: a header that claims less (or nothing) of what the file holds.
    write("npy-half-the-data.npy", npy("<f4", (8, 64), f32s([0.5] * 1024)))
    write("npy-empty-shape-with-data.npy", npy("<f4", (0, 64), f32s([1.0] * 64)))
    write("npy-scalar-with-data.npy", npy("<f4", (), f32s([1.0] * 16)))
    write("npy-data-ends-early.npy", npy("<f4", (8, 64), f32s([0.5] * 100)))
    # Item 15: a malformed header dict (numpy's parser dump was 6 lines).
    write("npy-malformed-dict.npy", npy(None, None, b"", raw_dict="{'descr': '<f4', 'fortran_order': False, 'shape': (2,\n 3 ]] }"))
    write("npy-int-dtype.npy", npy("<i4", (2,), b"\0" * 8))
    # Item 8: a tensor named twice; an index pointing outside its folder.
    write("st-duplicate-name.safetensors", safetensors([("w", "F32", [1], f32s([1.0])), ("w", "F32", [1], f32s([2.0]))]))
    os.makedirs(os.path.join(OUT, "st-index-escapes"), exist_ok=True)
    with open(os.path.join(OUT, "st-index-escapes", "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": {"w": "../st-duplicate-name.safetensors"}}, f)
    os.makedirs(os.path.join(OUT, "st-index-absolute"), exist_ok=True)
    with open(os.path.join(OUT, "st-index-absolute", "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": {"w": "/etc/passwd"}}, f)
    # Items 2-3: synthetic shapes whose size overflows, or is absurd.
    base = 'name = "hostile"\n[[data]]\nsynthetic = "normal"\nshape = %s\n[[format]]\nfamily = "int"\nbits = 8\n'
    write("config-shape-overflows.toml", (base % "[9223372036854775807, 2]").encode())
    # Item 16: an unknown key in a [[format]] table, on line 8.
    write("config-bogus-format-key.toml", (base % "[4, 4]" + "bogus_key = 1\n").encode())
    write("config-control-characters.toml", (base % "[4, 4]").replace('"normal"', '"nor\\u001b[31mmal\\nx"').encode())


if __name__ == "__main__":
    main()
