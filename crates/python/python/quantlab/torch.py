"""quantlab for PyTorch: fake quantization with a straight-through
gradient, in-place weight quantization, and PipeEdge-style activation hooks.

Tensors on the CPU in float32 are handed to quantlab without a copy; other
dtypes are converted, and tensors on other devices (CUDA, MPS) make a round
trip through host memory (quantlab's kernels run on the CPU), so they are
exact but not fast.
"""

from __future__ import annotations

import fnmatch
from typing import Iterable, Optional, Sequence

import numpy as np
import torch

from . import _quantlab, error as _error

__all__ = ["fake_quantize", "quantize_weights_", "quantize_activations", "ActivationHooks"]


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype != torch.float32:
        t = t.float()
    return np.ascontiguousarray(t.numpy())


def _quantize(t: torch.Tensor, fmt: str, granularity: str, clamp: str, round: Optional[str], seed: int, mask: bool):
    x = _to_numpy(t)
    q = np.empty_like(x)
    m = np.empty_like(x) if mask else None
    _quantlab.quantize_into(x, q, fmt, granularity, clamp, round, int(seed), None, m)
    out = torch.from_numpy(q).to(device=t.device, dtype=t.dtype if t.is_floating_point() else torch.float32)
    return out, (None if m is None else torch.from_numpy(m).to(device=t.device, dtype=out.dtype))


class _FakeQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, fmt, granularity, clamp, round, seed):
        q, inside = _quantize(x, fmt, granularity, clamp, round, seed, mask=True)
        ctx.save_for_backward(inside)
        return q

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None, None, None, None


def fake_quantize(t: torch.Tensor, fmt: str, *, granularity: str = "tensor", clamp: str = "none", round: Optional[str] = None, seed: int = 0) -> torch.Tensor:
    """Fake-quantize ``t`` with ``fmt`` (as ``quantlab.quantize``), with a
    straight-through gradient: the identity for elements inside their
    group's clip, zero for elements the clip moved (with ``clamp="none"``,
    the identity everywhere).

    The result has ``t``'s dtype and device. CPU float32 tensors are read
    without a copy; other devices make a round trip through host memory.

    >>> import torch, quantlab.torch as qt
    >>> x = torch.randn(4, 64, requires_grad=True)
    >>> y = qt.fake_quantize(x, "fp8-e4m3-scaled", granularity="channel")
    >>> y.sum().backward(); bool((x.grad == 1).all())
    True
    """
    return _FakeQuantize.apply(t, fmt, granularity, clamp, round, seed)


def _matches(name: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    inc = not include or any(fnmatch.fnmatchcase(name, p) for p in include)
    return inc and not any(fnmatch.fnmatchcase(name, p) for p in exclude)


@torch.no_grad()
def quantize_weights_(module: torch.nn.Module, fmt: str, *, include: Iterable[str] = ("*weight",), exclude: Iterable[str] = (), clamp: str = "none", granularity: str = "channel", round: Optional[str] = None, seed: int = 0) -> dict:
    """Quantize ``module``'s parameters whose names match ``include`` (glob
    patterns, default every ``*weight``) and none of ``exclude``, in place.
    Each is quantized as ``quantlab.quantize(p, fmt, granularity=...,
    clamp=...)`` would (default per output channel). Returns, per
    parameter name, the error metrics of ``quantlab.error``.

    >>> import torch, quantlab.torch as qt
    >>> net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))
    >>> report = qt.quantize_weights_(net, "int(bits=8)")
    >>> sorted(report)
    ['0.weight', '2.weight']
    """
    include, exclude = list(include), list(exclude)
    report = {}
    for name, p in module.named_parameters():
        if not _matches(name, include, exclude):
            continue
        before = _to_numpy(p)
        q, _ = _quantize(p, fmt, granularity, clamp, round, seed, mask=False)
        p.copy_(q)
        report[name] = _error(before, _to_numpy(p))
    return report


class ActivationHooks:
    """Forward hooks quantizing the outputs of named submodules, as PipeEdge
    quantizes the activations sent between pipeline stages. A context
    manager: the hooks are removed on exit (or by ``remove()``).

    ``records`` holds one dict per quantized output: the submodule's name,
    the shape, the bytes on the wire per sample (packed codes plus every
    scale, ``Encoded.wire_bytes``), the fp32 bytes per sample, and
    ``quantlab.error``'s metrics.
    """

    def __init__(self, module: torch.nn.Module, at: Sequence[str], fmt: str, clamp: str = "none", per_sample: bool = True, granularity: Optional[str] = None, round: Optional[str] = None, seed: int = 0):
        names = dict(module.named_modules())
        missing = [a for a in at if a not in names]
        if missing:
            raise ValueError(f"no submodule named {', '.join(missing)} (submodules: {', '.join(n for n in names if n)})")
        self.fmt, self.clamp, self.round, self.seed = fmt, clamp, round, seed
        # PipeEdge quantizes each sample on its own: one group per index of the batch axis.
        self.granularity = granularity or ("channel:0" if per_sample else "tensor")
        self.records: list = []
        self._handles = [names[a].register_forward_hook(self._hook(a)) for a in at]
        # The format and strategy are checked here, not at the first forward pass.
        z = np.zeros((1, 1), np.float32)
        _quantlab.quantize_into(z, np.empty_like(z), fmt, "tensor", clamp, round, 0, None)

    def _hook(self, name: str):
        def hook(mod, inputs, output):
            if not isinstance(output, torch.Tensor):
                raise ValueError(f"{name}: its output is a {type(output).__name__}, not a tensor; hook a submodule that returns one")
            x = _to_numpy(output)
            q, e = _quantlab.encode(x, self.fmt, self.granularity, self.clamp, self.round, int(self.seed), None)
            samples = x.shape[0] if x.ndim > 1 else 1
            self.records.append({"module": name, "shape": tuple(x.shape), "wire_bytes_per_sample": e.wire_bytes / samples, "fp32_bytes_per_sample": x.nbytes / samples, **_error(x, q)})
            return torch.from_numpy(q).to(device=output.device, dtype=output.dtype)

        return hook

    def remove(self) -> None:
        """Remove every hook (idempotent)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> "ActivationHooks":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def quantize_activations(module: torch.nn.Module, at: Sequence[str], fmt: str, *, clamp: str = "none", per_sample: bool = True, granularity: Optional[str] = None, round: Optional[str] = None, seed: int = 0) -> ActivationHooks:
    """Quantize the outputs of the submodules named in ``at`` (as
    ``module.named_modules()`` names them) on every forward pass, per
    sample by default (PipeEdge's split points), until the returned hooks
    are removed.

    >>> import torch, quantlab.torch as qt
    >>> net = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
    >>> with qt.quantize_activations(net, at=["1"], fmt="int(bits=8,mode=asymmetric)") as hooks:
    ...     _ = net(torch.randn(3, 16))
    >>> hooks.records[0]["module"], hooks.records[0]["wire_bytes_per_sample"] < 64
    ('1', True)
    """
    return ActivationHooks(module, at, fmt, clamp=clamp, per_sample=per_sample, granularity=granularity, round=round, seed=seed)
