"""quantlab.torch: run when torch is installed, skipped with a message otherwise."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: quantlab.torch not tested (pip install torch to run these)")

import quantlab  # noqa: E402
import quantlab.torch as qt  # noqa: E402


def test_fake_quantize_equals_quantize_and_passes_gradients_straight_through():
    torch.manual_seed(0)
    x = (torch.randn(8, 128) * 2).requires_grad_()
    y = qt.fake_quantize(x, "int(bits=4)", granularity="channel", clamp="percentile(p=90)")
    assert np.array_equal(y.detach().numpy(), quantlab.quantize(x.detach().numpy(), "int(bits=4)", granularity="channel", clamp="percentile(p=90)"))
    y.backward(torch.ones_like(y))
    clips = quantlab.clip(x.detach().numpy(), "percentile(p=90)", "int(bits=4)", granularity="channel")
    for row, c in zip(range(8), clips):
        inside = (x[row] >= c["lo"]) & (x[row] <= c["hi"])
        assert torch.equal(x.grad[row], inside.float()), row
    assert 0 < x.grad.mean() < 1
    z = torch.randn(4, 32, requires_grad=True)
    qt.fake_quantize(z, "fp8-e4m3").sum().backward()
    assert torch.equal(z.grad, torch.ones_like(z))


def test_fake_quantize_keeps_dtype_and_reads_float64():
    x = torch.randn(16, dtype=torch.float64)
    y = qt.fake_quantize(x, "fp8-e4m3")
    assert y.dtype == torch.float64
    assert np.array_equal(y.float().numpy(), quantlab.quantize(x.numpy(), "fp8-e4m3"))


def test_quantize_weights_in_place_equals_quantizing_each_weight():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(32, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    report = qt.quantize_weights_(net, "adaptivfloat(n=6,e=3)", clamp="mse")
    assert sorted(report) == ["0.weight", "2.weight"]
    for n, p in net.named_parameters():
        if n.endswith("weight"):
            want = quantlab.quantize(before[n].numpy(), "adaptivfloat(n=6,e=3)", granularity="channel", clamp="mse")
            assert np.array_equal(p.detach().numpy(), want), n
            assert report[n]["sqnr_db"] > 20
        else:
            assert torch.equal(p, before[n]), n


def test_activation_hooks_quantize_the_named_outputs_per_sample_and_are_removed():
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 4))
    x = torch.randn(5, 16)
    with torch.no_grad():
        exact = net(x)
        hidden = net[1](net[0](x))
        with qt.quantize_activations(net, at=["1"], fmt="int(bits=8,mode=asymmetric)") as hooks:
            quantized = net(x)
        after = net(x)
    want = net[2](torch.from_numpy(quantlab.quantize(hidden.numpy(), "int(bits=8,mode=asymmetric)", granularity="channel:0")))
    assert torch.equal(quantized, want)
    assert torch.equal(after, exact), "hooks were not removed"
    (r,) = hooks.records
    assert r["module"] == "1" and r["shape"] == (5, 32)
    # 32 one-byte codes per sample plus that sample's own min and max.
    assert 32 <= r["wire_bytes_per_sample"] <= 32 + 8 and r["fp32_bytes_per_sample"] == 128
    with pytest.raises(ValueError, match="no submodule named 9"):
        qt.quantize_activations(net, at=["9"], fmt="int(bits=8)")
    with pytest.raises(ValueError):
        qt.quantize_activations(net, at=["1"], fmt="int(bits=99)")


def test_the_docstring_examples_run():
    import doctest

    assert doctest.testmod(qt).failed == 0
