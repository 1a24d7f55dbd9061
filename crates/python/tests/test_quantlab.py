"""quantlab's Python API against its command line: bit for bit."""

import re

import numpy as np
import pytest

import quantlab

RNG = np.random.default_rng(7)
X = (RNG.standard_t(4, size=(8, 256)) * 0.5).astype(np.float32)
GRANULARITIES = ["tensor", "channel", "block:32"]


def presets():
    return [p["name"] for f in quantlab.formats()["families"] for p in f["presets"]]


def cli_quantize(cli, tmp_path, x, fmt, granularity="tensor", clamp="none", seed=0):
    src, dst = tmp_path / "x.npy", tmp_path / "q.npy"
    np.save(src, x)
    p = cli("quantize", fmt, src, "-o", dst, "--granularity", granularity, "--clamp", clamp, "--seed", seed, check=False)
    return (np.load(dst), None) if p.returncode == 0 else (None, p.stderr.strip())


FAMILIES = ["adaptivfloat(n=6,e=3)", "int(bits=4,mode=asymmetric)", "bfp(bits=6,block=16)", "posit(n=8,es=1)", "p3109(k=8,p=3)", "minifloat(e=3,m=2,round=stochastic)"]


@pytest.mark.parametrize("fmt", presets() + FAMILIES)
@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_every_preset_and_granularity_equals_the_cli(cli, tmp_path, fmt, granularity):
    want, cli_error = cli_quantize(cli, tmp_path, X, fmt, granularity, seed=3)
    if cli_error is not None:
        # The CLI names its input file first; the message after it is the same.
        with pytest.raises(ValueError) as e:
            quantlab.quantize(X, fmt, granularity=granularity, seed=3)
        assert cli_error.endswith(str(e.value)), (cli_error, str(e.value))
        return
    got = quantlab.quantize(X, fmt, granularity=granularity, seed=3)
    assert got.dtype == np.float32 and got.shape == X.shape
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("clamp", ["aciq-laplace", "percentile(p=99)", "mse", "kl"])
def test_clamping_strategies_equal_the_cli(cli, tmp_path, clamp):
    for fmt in ["int(bits=4)", "adaptivfloat(n=5,e=2)", "int(bits=3,mode=asymmetric)"]:
        want, _ = cli_quantize(cli, tmp_path, X, fmt, "channel", clamp)
        got = quantlab.quantize(X, fmt, granularity="channel", clamp=clamp)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), (fmt, clamp)
        src = tmp_path / "x.npy"
        lines = cli("clamp", clamp, src, "--format", fmt, "--granularity", "channel").stdout.splitlines()
        assert [c["text"] for c in quantlab.clip(X, clamp, fmt, granularity="channel")] == lines, (fmt, clamp)


def test_any_memory_order_and_float_dtype_gives_the_same_values():
    base = quantlab.quantize(X, "nvfp4", granularity="channel")
    fortran = np.asfortranarray(X)
    assert np.array_equal(quantlab.quantize(fortran, "nvfp4", granularity="channel"), base)
    with pytest.raises(ValueError, match="C-contiguous"):  # the extension itself never reads memory order as row-major
        quantlab._quantlab.quantize_into(fortran, np.empty_like(X), "nvfp4", "channel")
    wide = np.zeros((8, 512), np.float32)
    wide[:, ::2] = X
    strided = wide[:, ::2]
    assert not strided.flags["C_CONTIGUOUS"]
    assert np.array_equal(quantlab.quantize(strided, "nvfp4", granularity="channel"), base)
    assert np.array_equal(quantlab.quantize(X.astype(np.float64), "nvfp4", granularity="channel"), base)
    h = X.astype(np.float16)
    assert np.array_equal(quantlab.quantize(h, "nvfp4", granularity="channel"), quantlab.quantize(h.astype(np.float32), "nvfp4", granularity="channel"))
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes not installed: bfloat16 input not tested")
    b = X.astype(ml_dtypes.bfloat16)
    assert np.array_equal(quantlab.quantize(b, "fp8-e4m3"), quantlab.quantize(b.astype(np.float32), "fp8-e4m3"))


def test_out_receives_the_same_bits():
    for fmt, clamp in [("nvfp4", "none"), ("int(bits=4)", "mse")]:
        out = np.full_like(X, np.nan)
        assert quantlab.quantize(X, fmt, clamp=clamp, granularity="channel", out=out) is out
        assert np.array_equal(out, quantlab.quantize(X, fmt, clamp=clamp, granularity="channel"))
    for bad in [np.zeros((8, 255), np.float32), np.zeros((256, 8), np.float32).T, np.zeros((8, 256))]:
        with pytest.raises(ValueError):
            quantlab.quantize(X, "fp8-e4m3", out=bad)
    with pytest.raises(ValueError):  # the input as its own output
        y = X.copy()
        quantlab.quantize(y, "fp8-e4m3", out=y)


def test_a_contiguous_float32_array_is_read_in_place():
    x = X.copy()
    x.setflags(write=False)  # would fail a copy-on-write path; read in place it is fine
    q = quantlab.quantize(x, "fp8-e4m3")
    assert q.shape == x.shape and not np.shares_memory(q, x)


@pytest.mark.parametrize("fmt", ["adaptivfloat(n=8,e=3)", "nvfp4", "mxfp4", "int(bits=4,round=stochastic)", "nf4"])
def test_one_thread_and_two_give_the_same_bits(fmt):
    big = RNG.standard_normal((64, 4096)).astype(np.float32)
    one = quantlab.quantize(big, fmt, granularity="channel", clamp="mse", threads=1, seed=5)
    two = quantlab.quantize(big, fmt, granularity="channel", clamp="mse", threads=2, seed=5)
    assert np.array_equal(one.view(np.uint32), two.view(np.uint32))


def test_encode_decodes_to_the_quantized_values_and_the_cli_reads_its_bytes(cli, tmp_path):
    for fmt in ["nvfp4", "adaptivfloat(n=8,e=3)", "int(bits=4,mode=asymmetric)", "mx6"]:
        e = quantlab.encode(X, fmt, granularity="channel")
        q = quantlab.quantize(X, fmt, granularity="channel")
        assert np.array_equal(e.decode(), q) and np.array_equal(quantlab.decode(e.to_bytes()), q)
        assert e.codes.shape == X.shape and e.codes.dtype == np.uint32
        assert e.bits_per_element == quantlab.bits_per_element(fmt, X.shape, "channel")
        assert e.wire_bits_per_element == e.wire_bytes * 8 / X.size >= e.bits_per_element
        path = tmp_path / "x.qlab"
        path.write_bytes(e.to_bytes())
        cli("decode", path, "-o", tmp_path / "back.npy")
        assert np.array_equal(np.load(tmp_path / "back.npy"), q)
    assert quantlab.encode(np.linspace(-1, 1, 64), "mxfp4").bits_per_element == 4.25


def test_values_equal_the_cli(cli):
    for fmt, scale in [("fp8-e4m3", []), ("adaptivfloat(n=5,e=2)", ["--max", "2.5"]), ("int(bits=3,mode=asymmetric)", ["--min", "-1", "--max", "3"])]:
        want = np.array([float(v) for v in cli("values", fmt, *scale).stdout.split()], np.float32)
        kw = {} if not scale else {"max": float(scale[-1]), **({"min": float(scale[1])} if "--min" in scale else {})}
        assert np.array_equal(quantlab.values(fmt, **kw), want), fmt
    assert quantlab.values("minifloat(e=2,m=1,specials=none)")[-4:].tolist() == [2.0, 3.0, 4.0, 6.0]


def test_errors_are_one_line_value_errors():
    for call in [
        lambda: quantlab.quantize(X, "adaptivfloat(n=8,e=9)"),
        lambda: quantlab.quantize(X, "adaptivflot(n=8)"),
        lambda: quantlab.quantize(X, "int(bits=4)", granularity="rows"),
        lambda: quantlab.quantize(X, "int(bits=4)", clamp="median"),
        lambda: quantlab.quantize(X, "int(bits=4)", granularity="channel:5"),
        lambda: quantlab.quantize(X, "int(bits=4)", round="sideways"),
        lambda: quantlab.quantize(np.arange(4), "int(bits=4)"),
        lambda: quantlab.quantize(X, "int(bits=4)", threads=0),
        lambda: quantlab.values("fp8-e4m3", max=float("nan")),
        lambda: quantlab.decode(b"not a container"),
        lambda: quantlab.error(X, X[:4]),
        lambda: quantlab.results("/nonexistent"),
    ]:
        with pytest.raises(ValueError) as e:
            call()
        assert str(e.value) and "\n" not in str(e.value), str(e.value)
    with pytest.raises(ValueError, match="unknown format family `adaptivflot`; known: adaptivfloat"):
        quantlab.quantize(X, "adaptivflot(n=8)")


def test_the_docstring_examples_run():
    import doctest

    assert doctest.testmod(quantlab).failed == 0


def test_error_metrics_match_numpy():
    q = quantlab.quantize(X, "int(bits=4)")
    m = quantlab.error(X, q)
    d = X.astype(np.float64) - q
    assert m["mse"] == pytest.approx(np.mean(d * d), rel=1e-12)
    assert m["sqnr_db"] == pytest.approx(10 * np.log10(np.sum(X.astype(np.float64) ** 2) / np.sum(d * d)), rel=1e-12)
    assert m["finite"] == X.size


def test_formats_and_strategies_describe_themselves():
    f = quantlab.formats()
    names = [x["name"] for x in f["families"]]
    assert {"adaptivfloat", "int", "mx", "scaled", "posit"} <= set(names)
    assert any(p["name"] == "nvfp4" for x in f["families"] for p in x["presets"])
    assert any(e["name"] == "nf4" for e in f["elements"])
    s = quantlab.strategies()
    assert {"none", "aciq-laplace", "mse"} <= {x["name"] for x in s}
    assert all({"name", "default", "range", "help"} <= set(p) for x in s for p in x["params"])


def test_run_writes_the_cli_tables(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text('name = "tiny"\nseeds = [0, 1]\n[[data]]\nsynthetic = "laplace"\nshape = [16, 64]\n[[format]]\nfamily = "int"\nbits = [4, 8]\n')
    out = quantlab.run(config, out=tmp_path / "out", threads=2)
    rows = quantlab.results(out)
    assert len(rows) == 4 and "sqnr_db" in list(rows.columns)
    assert (tmp_path / "out" / "report.md").exists()
    config.write_text('name = "tiny"\n[[data]]\nsynthetic = "laplace"\nshape = [16, 64]\n[[format]]\nfamily = "int"\nbits = 4\n[report]\nfigures = ["boxes"]\n')
    with pytest.raises(ValueError, match=re.escape("did you mean `box`?")):
        quantlab.run(config, out=tmp_path / "out2")
