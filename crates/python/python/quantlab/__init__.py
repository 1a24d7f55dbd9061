"""quantlab: exact low-precision number formats on NumPy arrays.

The same formats, clamping strategies and metrics as the ``quantlab``
command line, bit for bit: AdaptivFloat, integer (symmetric and PipeEdge's
asymmetric), block float, OCP MX, NVFP4, scaled FP8, NF4, IEEE P3109,
minifloats and posits. A format is a description such as
``"adaptivfloat(n=8,e=3)"`` or a preset name such as ``"nvfp4"``
(``quantlab.formats()`` lists them all); docs/formats.md in the repository
fixes what each computes.

>>> import numpy as np, quantlab
>>> x = np.random.default_rng(0).standard_normal((64, 256)).astype(np.float32)
>>> q = quantlab.quantize(x, "adaptivfloat(n=8,e=3)", granularity="channel")
>>> q.shape, q.dtype
((64, 256), dtype('float32'))

Every error raises ``ValueError`` with the command line's one-line message.
The kernels release the GIL and run on all cores; results never depend on
the thread count. ``quantlab.torch`` adds PyTorch fake quantization
(straight-through), in-place weight quantization and PipeEdge-style
activation hooks.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import numpy as np

from . import _quantlab
from ._quantlab import Encoded

__all__ = ["quantize", "encode", "decode", "clip", "values", "error", "bits_per_element", "formats", "strategies", "run", "results", "Encoded", "__version__"]
__version__: str = _quantlab.__version__


def _as_f32(x: Any) -> np.ndarray:
    """Any real float array (float16, float32, float64, ml_dtypes' bfloat16)
    as C-contiguous float32: a contiguous float32 array is used as it is, no
    copy; anything else is converted once (Fortran order and strides become C order)."""
    a = np.asarray(x)
    if a.dtype != np.float32:
        if a.dtype.kind not in "fV" and a.dtype.name != "bfloat16":
            raise ValueError(f"quantlab works on float arrays; got dtype {a.dtype}")
        a = a.astype(np.float32)
    return np.ascontiguousarray(a)


def quantize(x: Any, fmt: str, *, granularity: str = "tensor", clamp: str = "none", round: Optional[str] = None, seed: int = 0, threads: Optional[int] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Fake-quantize ``x``: every value rounded to ``fmt``'s grid and back.

    ``x`` is any float array (float16, float32, float64, bfloat16), any shape
    and memory order; the result is float32 of the same shape, equal bit for
    bit to ``quantlab quantize FMT x.npy -o q.npy`` with the same options.

    - ``granularity``: the groups that share a scale: ``"tensor"``,
      ``"channel"`` (``"channel:AXIS"``, default axis 0) or ``"block:K"``
      (K consecutive elements of the last axis).
    - ``clamp``: the clamping strategy choosing each group's clip before
      quantizing (``"none"``, ``"aciq-laplace"``, ``"percentile(p=99.9)"``,
      ``"mse"``; ``quantlab.strategies()``).
    - ``round``: overrides the format's rounding mode (``"nearest-even"``,
      ``"stochastic"``, ``"toward-zero"``, ...).
    - ``seed``: keys stochastic rounding.
    - ``threads``: worker threads (default: all cores).
    - ``out``: a C-contiguous float32 array of ``x``'s shape to write into
      (and return) instead of a new one.

    >>> import numpy as np, quantlab
    >>> [round(float(v), 4) for v in quantlab.quantize(np.array([0.1, 1.0, 3.3]), "int(bits=4)")]
    [0.0, 0.9429, 3.3]
    """
    x = _as_f32(x)
    if out is None:
        out = np.empty(x.shape, np.float32)
    elif not isinstance(out, np.ndarray) or out.dtype != np.float32:
        raise ValueError("out must be a float32 NumPy array")
    elif np.shares_memory(x, out):
        raise ValueError("out must not overlap the input")
    _quantlab.quantize_into(x, out, fmt, granularity, clamp, round, int(seed), threads)
    return out


def encode(x: Any, fmt: str, *, granularity: str = "tensor", clamp: str = "none", round: Optional[str] = None, seed: int = 0, threads: Optional[int] = None) -> Encoded:
    """Encode ``x``: its codes and every level's metadata, as
    ``quantlab quantize --encode`` writes them.

    The result has ``codes`` (uint32, ``x``'s shape), ``meta`` (uint32
    words), ``bits_per_element`` and ``wire_bytes`` (every scale counted),
    ``decode()`` (the fake-quantized values, bit for bit) and ``to_bytes()``
    (the ``.qlab`` container ``quantlab decode`` reads).

    >>> import numpy as np, quantlab
    >>> e = quantlab.encode(np.linspace(-1, 1, 64), "mxfp4")
    >>> e.bits_per_element, e.codes.shape
    (4.25, (64,))
    """
    _, e = _quantlab.encode(_as_f32(x), fmt, granularity, clamp, round, int(seed), threads)
    return e


def decode(e: "Encoded | bytes") -> np.ndarray:
    """The values an ``Encoded`` (or the bytes of a ``.qlab`` file) stands for."""
    if isinstance(e, (bytes, bytearray, memoryview)):
        e = Encoded.from_bytes(bytes(e))
    return e.decode()


def clip(x: Any, strategy: str, fmt: str, *, granularity: str = "tensor", threads: Optional[int] = None) -> list:
    """The clip ``strategy`` chooses for each group of ``x`` quantized with
    ``fmt``: one dict per group, in order, with ``lo``, ``hi`` (and
    ``alpha`` for symmetric formats), ``clipped`` (whether the strategy cut
    the range), ``moved`` (values outside it) and ``text`` (as
    ``quantlab clamp`` prints it).

    >>> import numpy as np, quantlab
    >>> x = np.random.default_rng(0).laplace(size=4096)
    >>> c = quantlab.clip(x, "aciq-laplace", "int(bits=4)")[0]
    >>> bool(c["alpha"] < np.abs(x).max())
    True
    """
    return _quantlab.clip(_as_f32(x), strategy, fmt, granularity, threads)


def values(fmt: str, max: Optional[float] = None, min: Optional[float] = None) -> np.ndarray:
    """Every value ``fmt`` can represent (float32, ascending), at a scale
    whose max|x| is ``max`` for scaled formats (``min``..``max`` for an
    asymmetric integer); fixed-scale formats need no scale.

    >>> import quantlab
    >>> quantlab.values("minifloat(e=2,m=1,specials=none)")[-4:].tolist()
    [2.0, 3.0, 4.0, 6.0]
    """
    return _quantlab.values(fmt, max, min)


def error(x: Any, q: Any) -> dict:
    """The project's error metrics of ``q`` against ``x`` (over finite
    inputs): ``mse``, ``rmse``, ``sqnr_db``, ``max_abs_err``,
    ``mean_rel_err``, ``cosine``, ``underflow_fraction`` and the counts
    ``finite``, ``nan_in``, ``inf_in``."""
    return _quantlab.error(_as_f32(x), _as_f32(q))


def bits_per_element(fmt: str, shape, granularity: str = "tensor") -> float:
    """Bits per element of ``fmt`` on a tensor of ``shape``: code bits plus
    every level's metadata (a block scale, a tensor scale) spread over the
    elements."""
    return _quantlab.bits_per_element(fmt, [int(d) for d in shape], granularity)


def formats() -> dict:
    """Every format family (``families``: name, summary, parameters with
    defaults and ranges, presets) and element type (``elements``)."""
    return _quantlab.formats()


def strategies() -> list:
    """Every clamping strategy: name, summary, parameters."""
    return _quantlab.strategies()


def run(config: "str | os.PathLike", out: "Optional[str | os.PathLike]" = None, threads: Optional[int] = None, fresh: bool = False) -> str:
    """Run a sweep as ``quantlab run CONFIG`` does, tables, figures and
    report included; returns the results folder (``results(folder)`` reads it)."""
    return _quantlab.run(os.fspath(config), None if out is None else os.fspath(out), threads, fresh)


def results(folder: "str | os.PathLike", summary: bool = False):
    """A results folder's table (``results.csv``, one row per cell; with
    ``summary=True``, ``summary.csv``) as a polars DataFrame when polars is
    installed, else a pandas DataFrame."""
    path = os.path.join(os.fspath(folder), "summary.csv" if summary else "results.csv")
    if not os.path.exists(path):
        raise ValueError(f"{path}: missing; is {os.fspath(folder)} a folder written by `quantlab run`?")
    try:
        import polars

        return polars.read_csv(path)
    except ImportError:
        import pandas

        return pandas.read_csv(path)
