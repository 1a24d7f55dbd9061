#!/usr/bin/env bash
# Scale benchmark (issue 16; not in CI): write a synthetic Llama-3-8B
# checkpoint (sharded bf16 safetensors, about 16 GB; scripts/make-llama-checkpoint.py)
# under a temporary folder, sweep it with six formats, report wall time,
# element-quantizations per second and peak resident memory
# (/usr/bin/time -v, which counts touched pages of memory-mapped files),
# then `quantlab inspect` it the same way, then remove the checkpoint.
#
#   scripts/bench-scale.sh [--layers N] [--memory SIZE]   (default 32 layers: 8.0 G parameters)
# The checkpoint writer needs NumPy: $PYTHON (default python3) must have it.
set -euo pipefail
cd "$(dirname "$0")/.."
layers=32 memory=()
while [ $# -gt 0 ]; do
    case "$1" in
        --layers) layers="$2"; shift 2 ;;
        --memory) memory=(--memory "$2"); shift 2 ;;
        *) echo "usage: $0 [--layers N] [--memory SIZE]" >&2; exit 2 ;;
    esac
done
tmp="$(mktemp -d "${TMPDIR:-/tmp}/quantlab-scale.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cargo build --release -q --bin quantlab
bin="${CARGO_TARGET_DIR:-target}/release/quantlab"
"${PYTHON:-python3}" scripts/make-llama-checkpoint.py "$tmp/llama" --layers "$layers"
cat > "$tmp/scale.toml" <<TOML
name = "scale"
[[data]]
safetensors = "$tmp/llama"
[[format]]
label = "AdaptivFloat<8,3>"
family = "adaptivfloat"
n = 8
e = 3
[[format]]
label = "INT8 per channel"
family = "int"
bits = 8
granularity = "channel"
[[format]]
family = "int4-g128"
[[format]]
family = "mxfp4"
[[format]]
family = "fp8-e4m3-scaled"
[[format]]
label = "BFP8 per 16"
family = "bfp"
bits = 8
block = 16
TOML
"$bin" run "$tmp/scale.toml" --dry-run "${memory[@]}"
/usr/bin/time -v "$bin" run "$tmp/scale.toml" --out "$tmp/out" --quiet "${memory[@]}" 2> "$tmp/time.txt"
grep -E "Elapsed|Maximum resident" "$tmp/time.txt"
echo "inspect (the checkpoint now in the page cache):"
/usr/bin/time -v "$bin" inspect "$tmp/llama" > "$tmp/inspect.txt" 2> "$tmp/time.txt"
tail -1 "$tmp/inspect.txt"
grep -E "Elapsed|Maximum resident" "$tmp/time.txt"
