import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _binary() -> str:
    """The quantlab command line the tests compare against: $QUANTLAB_BIN,
    else the dev build in the target directory."""
    if os.environ.get("QUANTLAB_BIN"):
        return os.environ["QUANTLAB_BIN"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("debug", "release"):
        if (target / profile / "quantlab").exists():
            return str(target / profile / "quantlab")
    found = shutil.which("quantlab")
    if not found:
        pytest.exit("no quantlab binary: build it (cargo build -p quantlab) or set QUANTLAB_BIN", 2)
    return found


@pytest.fixture(scope="session")
def cli():
    binary = _binary()

    def run(*args, check=True):
        p = subprocess.run([binary, *map(str, args)], capture_output=True, text=True, cwd=ROOT)
        if check and p.returncode != 0:
            raise AssertionError(f"quantlab {' '.join(map(str, args))} failed: {p.stderr}")
        return p

    return run
