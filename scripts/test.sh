#!/usr/bin/env bash
# The whole test suite, as CI runs it (README, "Set-up"):
#   1. cargo test --workspace (every Rust test, doc tests included);
#   2. the Python package (crates/python) built by maturin into a virtual
#      environment this script creates, and its pytest suite, which compares
#      it bit for bit with the command line built in step 1.
# Both build in cargo's dev profile, sharing one dependency build.
# Needs the Rust toolchain and Python 3.9+ with venv; the Python packages
# (maturin, numpy, pytest, pandas, ml_dtypes) come from PyPI. The torch tests run only
# when torch is installed in the environment ($QUANTLAB_VENV).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace "$@"

target="${CARGO_TARGET_DIR:-$PWD/target}"
venv="${QUANTLAB_VENV:-$target/python-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.9,<2" numpy pytest pandas ml_dtypes
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" "$venv/bin/maturin" develop --quiet --manifest-path crates/python/Cargo.toml
QUANTLAB_BIN="$target/debug/quantlab" "$venv/bin/python" -m pytest -q crates/python/tests
