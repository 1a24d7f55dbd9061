#!/usr/bin/env bash
# Streaming CLI benchmark (issue 16; not in CI): a 1 GiB f32 .npy
# (65536 x 4096, heavy-tailed rows) under a temporary folder, then
# `quantlab quantize` (a per-tensor format, a per-channel one with a clip
# search, one whose clip needs the spread), `quantize --encode` and
# `decode`, each under /usr/bin/time -v: wall time and peak resident memory.
#
#   scripts/bench-stream.sh      (needs NumPy: $PYTHON, default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d "${TMPDIR:-/tmp}/quantlab-stream.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cargo build --release -q --bin quantlab
bin="${CARGO_TARGET_DIR:-target}/release/quantlab"
"${PYTHON:-python3}" - "$tmp/x.npy" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(1)
a = np.lib.format.open_memmap(sys.argv[1], mode="w+", dtype=np.float32, shape=(65536, 4096))
for i in range(0, a.shape[0], 4096):
    a[i:i + 4096] = rng.standard_normal((4096, 4096), dtype=np.float32) * np.exp(0.5 * rng.standard_normal((4096, 1), dtype=np.float32))
a.flush()
PY
run() {
    local what="$1"
    shift
    /usr/bin/time -f "%e s, peak %M KB" "$bin" "$@" > "$tmp/out.txt" 2> "$tmp/time.txt"
    printf '%-48s %s\n' "$what" "$(tail -1 "$tmp/time.txt")"
}
run "quantize adaptivfloat(n=8,e=3), tensor" quantize "adaptivfloat(n=8,e=3)" "$tmp/x.npy" -o "$tmp/q.npy"
run "quantize int(bits=8), channel, mse" quantize "int(bits=8)" "$tmp/x.npy" -o "$tmp/q.npy" --granularity channel --clamp mse
run "quantize mxfp4, tensor, aciq-laplace" quantize mxfp4 "$tmp/x.npy" -o "$tmp/q.npy" --clamp aciq-laplace
run "quantize --encode adaptivfloat(n=8,e=3)" quantize "adaptivfloat(n=8,e=3)" "$tmp/x.npy" -o "$tmp/q.npy" --encode "$tmp/x.qlab"
run "decode (the container above)" decode "$tmp/x.qlab" -o "$tmp/d.npy"
cmp -s "$tmp/q.npy" "$tmp/d.npy" && echo "decode equals quantize, byte for byte"
