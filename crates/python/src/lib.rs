//! # quantlab-python
//!
//! The Python module `quantlab._quantlab`: quantlab's formats, clamping
//! strategies, metrics and sweeps on NumPy arrays. The package
//! `quantlab` (python/quantlab) wraps it: it converts any float array to
//! contiguous float32 (a contiguous float32 array is read in place), and
//! adds the PyTorch layer. Every function here takes exactly what the CLI
//! takes and fails with the CLI's one-line message as a `ValueError`; the
//! kernels run with the GIL released, on rayon's threads (results do not
//! depend on their number).

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use quantlab_clamp::{Chosen, Strategy};
use quantlab_formats::{Format, Granularity, ParamValue, Scale, Spec};

/// The CLI's message, as a `ValueError`.
fn err(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// A format from its description, with `round` (when given) overriding its rounding mode.
fn format(fmt: &str, round: Option<&str>) -> PyResult<Box<dyn Format>> {
    let Some(round) = round else { return quantlab_formats::parse(fmt).map_err(err) };
    let mut spec: Spec = fmt.parse().map_err(err)?;
    spec.params.insert("round".into(), ParamValue::Str(round.into()));
    quantlab_formats::build(&spec).map_err(err)
}

fn strategy(clamp: &str) -> PyResult<Box<dyn Strategy>> {
    quantlab_clamp::parse(clamp).map_err(err)
}

fn granularity(text: &str) -> PyResult<Granularity> {
    text.parse().map_err(err)
}

/// Run `work` without the GIL, on `threads` workers (rayon's global pool when `None`).
fn detached<T: Send>(py: Python<'_>, threads: Option<usize>, work: impl FnOnce() -> T + Send) -> PyResult<T> {
    match threads {
        None => Ok(py.detach(work)),
        Some(0) => Err(err("threads must be at least 1")),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(err)?;
            Ok(py.detach(|| pool.install(work)))
        }
    }
}

fn array<'py>(py: Python<'py>, values: Vec<f32>, shape: &[usize]) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    PyArray1::from_vec(py, values).reshape(shape.to_vec())
}

fn input<'a>(x: &'a PyReadonlyArrayDyn<'_, f32>) -> PyResult<(&'a [f32], Vec<usize>)> {
    // rust-numpy's slices accept Fortran order too (memory order): only C order is row-major.
    let data = x.as_slice().ok().filter(|_| x.is_c_contiguous()).ok_or_else(|| err("the array must be C-contiguous float32 (quantlab.quantize converts it)"))?;
    Ok((data, x.shape().to_vec()))
}

/// 1 where an element lies inside its group's clip (or its group has none),
/// 0 where the clip moved it: the straight-through gradient's mask.
fn inside_clip(x: &[f32], shape: &[usize], gran: Granularity, chosen: &[Chosen], mask: &mut [f32]) -> PyResult<()> {
    let layout = quantlab_formats::Layout::new(x.len(), shape, gran).map_err(err)?;
    layout.map_groups(x, mask, 0, |g| {
        let clip = chosen[g.index].clip;
        for (m, &v) in g.out.iter_mut().zip(g.values) {
            *m = match clip {
                Some(c) if v < c.lo || v > c.hi => 0.0,
                _ => 1.0,
            };
        }
    });
    Ok(())
}

/// A C-contiguous float32 array's slice.
fn output<'a>(out: &'a mut PyReadwriteArrayDyn<'_, f32>, shape: &[usize], what: &str) -> PyResult<&'a mut [f32]> {
    if out.shape() != shape {
        return Err(err(format!("{what} has shape {:?} but x has shape {shape:?}", out.shape())));
    }
    if !out.is_c_contiguous() {
        return Err(err(format!("{what} must be a C-contiguous float32 array")));
    }
    out.as_slice_mut().map_err(|_| err(format!("{what} must be a C-contiguous float32 array")))
}

/// Fake-quantize a C-contiguous float32 array into `out` (float32,
/// C-contiguous, the same shape; the caller allocates it, so NumPy's
/// allocator, with its huge pages, serves large arrays). With `mask`, also
/// write the straight-through gradient's mask: 1 where an element lies
/// inside its group's clip, 0 where the clip moved it. Without a clip (and
/// without a mask) the formats' own walk runs, gathering no statistics: the
/// same bits (tested against the CLI).
#[pyfunction]
#[pyo3(signature = (x, out, fmt, granularity="tensor", clamp="none", round=None, seed=0, threads=None, mask=None))]
#[allow(clippy::too_many_arguments)]
fn quantize_into<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    mut out: PyReadwriteArrayDyn<'py, f32>,
    fmt: &str,
    granularity: &str,
    clamp: &str,
    round: Option<&str>,
    seed: u64,
    threads: Option<usize>,
    mask: Option<PyReadwriteArrayDyn<'py, f32>>,
) -> PyResult<()> {
    let (f, s, gran) = (format(fmt, round)?, strategy(clamp)?, self::granularity(granularity)?);
    let (data, shape) = input(&x)?;
    let dst = output(&mut out, &shape, "out")?;
    let mut mask = mask;
    let mask_dst = match mask.as_mut() {
        Some(m) => Some(output(m, &shape, "mask")?),
        None => None,
    };
    let plain = mask_dst.is_none() && s.describe() == "none";
    detached(py, threads, || -> PyResult<()> {
        if plain {
            f.check_shape(&shape).map_err(err)?;
            return quantlab_formats::quantize_into(&*f, data, &shape, gran, seed, dst).map_err(err);
        }
        let chosen = quantlab_quantize::quantize_into(&*f, &*s, data, &shape, gran, seed, dst).map_err(err)?;
        if let Some(m) = mask_dst {
            inside_clip(data, &shape, gran, &chosen, m)?;
        }
        Ok(())
    })?
}

/// A tensor's codes and every level's metadata, as `quantlab quantize --encode` writes them.
#[pyclass(module = "quantlab", name = "Encoded", frozen)]
struct PyEncoded {
    inner: quantlab_formats::Encoded,
}

#[pymethods]
impl PyEncoded {
    /// The format's description.
    #[getter]
    fn format(&self) -> String {
        self.inner.format.clone()
    }
    /// The tensor's shape.
    #[getter]
    fn shape(&self) -> Vec<usize> {
        self.inner.shape.clone()
    }
    /// How the tensor was grouped (`tensor`, `channel:0`, `block:32`).
    #[getter]
    fn granularity(&self) -> String {
        self.inner.granularity.to_string()
    }
    /// Bits of each code.
    #[getter]
    fn code_bits(&self) -> u32 {
        self.inner.code_bits
    }
    /// One code per element (uint32, the tensor's shape).
    #[getter]
    fn codes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<u32>>> {
        PyArray1::from_slice(py, &self.inner.codes).reshape(self.inner.shape.clone())
    }
    /// The metadata words (uint32), per group: the group's own levels, then `meta_words` words per unit.
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        PyArray1::from_slice(py, &self.inner.meta)
    }
    /// Metadata words per unit (block, channel, tensor).
    #[getter]
    fn meta_words(&self) -> usize {
        self.inner.meta_words
    }
    /// Metadata bits per unit as stored on the wire.
    #[getter]
    fn meta_bits(&self) -> u32 {
        self.inner.meta_bits
    }
    /// Groups.
    #[getter]
    fn groups(&self) -> usize {
        self.inner.groups
    }
    /// Words and wire bits of all groups' own levels (a tensor scale above block scales).
    #[getter]
    fn group_words(&self) -> usize {
        self.inner.group_words
    }
    /// See `group_words`.
    #[getter]
    fn group_bits(&self) -> u64 {
        self.inner.group_bits
    }
    /// Bytes on the wire: packed codes plus every level's metadata.
    #[getter]
    fn wire_bytes(&self) -> usize {
        self.inner.wire_bytes()
    }
    /// Bits per element: codes at their width plus every level's metadata
    /// (`quantlab.bits_per_element`, the results' `bits_per_element`).
    #[getter]
    fn bits_per_element(&self) -> PyResult<f64> {
        let f = quantlab_formats::parse(&self.inner.format).map_err(err)?;
        quantlab_formats::bits_per_element(&*f, &self.inner.shape, self.inner.granularity).map_err(err)
    }
    /// Bits per element on the wire: `wire_bytes` over the elements (codes
    /// packed into 32-bit words, so 6-bit codes take 6.4 bits).
    #[getter]
    fn wire_bits_per_element(&self) -> f64 {
        self.inner.wire_bits_per_element()
    }
    /// The values the codes stand for (float32, the tensor's shape): the fake-quantized tensor, bit for bit.
    fn decode<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let f = quantlab_formats::parse(&self.inner.format).map_err(err)?;
        let v = py.detach(|| quantlab_formats::decode(&*f, &self.inner)).map_err(err)?;
        array(py, v, &self.inner.shape)
    }
    /// The `.qlab` container (`quantlab decode` reads it).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }
    /// Read a `.qlab` container.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<PyEncoded> {
        Ok(PyEncoded { inner: quantlab_formats::Encoded::from_bytes(data).map_err(err)? })
    }
    fn __repr__(&self) -> String {
        let e = &self.inner;
        format!("Encoded({}, shape={:?}, {}, {} bytes on the wire)", e.format, e.shape, e.granularity, e.wire_bytes())
    }
}

/// Encode a C-contiguous float32 array: the fake-quantized values, the
/// codes and metadata, and the clips chosen.
#[pyfunction]
#[pyo3(signature = (x, fmt, granularity="tensor", clamp="none", round=None, seed=0, threads=None))]
#[allow(clippy::too_many_arguments)]
fn encode<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    fmt: &str,
    granularity: &str,
    clamp: &str,
    round: Option<&str>,
    seed: u64,
    threads: Option<usize>,
) -> PyResult<(Bound<'py, PyArrayDyn<f32>>, PyEncoded)> {
    let (f, s, gran) = (format(fmt, round)?, strategy(clamp)?, self::granularity(granularity)?);
    let (data, shape) = input(&x)?;
    let e = detached(py, threads, || quantlab_quantize::encode(&*f, &*s, data, &shape, gran, seed))?.map_err(err)?;
    Ok((array(py, e.values, &shape)?, PyEncoded { inner: e.encoded }))
}

/// The clip each group gets: one dict per group in stream order.
#[pyfunction]
#[pyo3(signature = (x, strategy, fmt, granularity="tensor", threads=None))]
fn clip<'py>(py: Python<'py>, x: PyReadonlyArrayDyn<'py, f32>, strategy: &str, fmt: &str, granularity: &str, threads: Option<usize>) -> PyResult<Bound<'py, PyList>> {
    let (f, s, gran) = (format(fmt, None)?, self::strategy(strategy)?, self::granularity(granularity)?);
    let (data, shape) = input(&x)?;
    let (_, chosen) = detached(py, threads, || quantlab_quantize::quantize(&*f, &*s, data, &shape, gran, 0))?.map_err(err)?;
    let out = PyList::empty(py);
    for c in chosen {
        let d = PyDict::new(py);
        d.set_item("group", c.group)?;
        d.set_item("lo", c.range.lo)?;
        d.set_item("hi", c.range.hi)?;
        if c.symmetric {
            d.set_item("alpha", c.range.alpha())?;
        }
        d.set_item("clipped", c.clip.is_some())?;
        d.set_item("moved", c.clipped)?;
        d.set_item("finite", c.finite)?;
        d.set_item("text", c.to_string())?;
        out.append(d)?;
    }
    Ok(out)
}

/// The representable values of a format at a scale (`max`, or the range
/// `min`..`max` of an asymmetric integer; fixed-scale formats need neither).
#[pyfunction]
#[pyo3(signature = (fmt, max=None, min=None))]
fn values<'py>(py: Python<'py>, fmt: &str, max: Option<f32>, min: Option<f32>) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let f = format(fmt, None)?;
    let scale = match (min, max) {
        (_, Some(m)) if !m.is_finite() => return Err(err(format!("max {m} must be a finite number"))),
        (Some(lo), Some(hi)) if lo >= hi => return Err(err(format!("min {lo} must be below max {hi}"))),
        (Some(lo), Some(hi)) => Scale::Range(lo, hi),
        (None, Some(m)) => Scale::Max(m),
        (Some(_), None) => return Err(err("min needs max")),
        (None, None) => Scale::Fixed,
    };
    Ok(PyArray1::from_vec(py, f.values(scale).map_err(err)?))
}

/// The error metrics of `q` against `x` (docs/formats.md, "Metrics").
#[pyfunction]
fn error<'py>(py: Python<'py>, x: PyReadonlyArrayDyn<'py, f32>, q: PyReadonlyArrayDyn<'py, f32>) -> PyResult<Bound<'py, PyDict>> {
    let ((a, sa), (b, sb)) = (input(&x)?, input(&q)?);
    if sa != sb {
        return Err(err(format!("x has shape {sa:?} but q has shape {sb:?}")));
    }
    let m = py.detach(|| quantlab_quantize::error::measure(a, b));
    let d = PyDict::new(py);
    for (k, v) in
        [("mse", m.mse), ("rmse", m.rmse), ("sqnr_db", m.sqnr_db), ("max_abs_err", m.max_abs_err), ("mean_rel_err", m.mean_rel_err), ("cosine", m.cosine), ("underflow_fraction", m.underflow_fraction)]
    {
        d.set_item(k, v)?;
    }
    d.set_item("finite", m.finite)?;
    d.set_item("nan_in", m.nan_in)?;
    d.set_item("inf_in", m.inf_in)?;
    Ok(d)
}

/// A format's bits per element on a tensor of this shape (codes plus every level's metadata).
#[pyfunction]
#[pyo3(signature = (fmt, shape, granularity="tensor"))]
fn bits_per_element(fmt: &str, shape: Vec<usize>, granularity: &str) -> PyResult<f64> {
    let f = format(fmt, None)?;
    quantlab_formats::bits_per_element(&*f, &shape, self::granularity(granularity)?).map_err(err)
}

fn param_docs<'py>(py: Python<'py>, params: &[quantlab_spec::ParamDoc]) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for p in params {
        let d = PyDict::new(py);
        d.set_item("name", p.name)?;
        d.set_item("default", p.default)?;
        d.set_item("range", p.range)?;
        d.set_item("help", p.help)?;
        out.append(d)?;
    }
    Ok(out)
}

/// Every format family (name, summary, parameters, presets) and element type.
#[pyfunction]
fn formats<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
    let families = PyList::empty(py);
    for f in quantlab_formats::FAMILIES {
        let d = PyDict::new(py);
        d.set_item("name", f.name())?;
        d.set_item("summary", f.summary())?;
        d.set_item("params", param_docs(py, f.params())?)?;
        let presets = PyList::empty(py);
        for p in f.presets() {
            let pd = PyDict::new(py);
            pd.set_item("name", p.name)?;
            pd.set_item("format", format!("{}({})", f.name(), p.params))?;
            pd.set_item("help", p.help)?;
            presets.append(pd)?;
        }
        d.set_item("presets", presets)?;
        families.append(d)?;
    }
    let elements = PyList::empty(py);
    for d in quantlab_formats::element::ELEMENT_TYPES {
        let e = quantlab_formats::element::Element::from_def(d);
        let ed = PyDict::new(py);
        ed.set_item("name", d.name)?;
        ed.set_item("bits", e.bits())?;
        ed.set_item("max", e.max())?;
        ed.set_item("help", d.help)?;
        elements.append(ed)?;
    }
    let out = PyDict::new(py);
    out.set_item("families", families)?;
    out.set_item("elements", elements)?;
    Ok(out)
}

/// Every clamping strategy: name, summary, parameters.
#[pyfunction]
fn strategies<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for f in quantlab_clamp::STRATEGIES {
        let d = PyDict::new(py);
        d.set_item("name", f.name())?;
        d.set_item("summary", f.summary())?;
        d.set_item("params", param_docs(py, f.params())?)?;
        out.append(d)?;
    }
    Ok(out)
}

/// Run a sweep as `quantlab run` does (tables and report included); the results folder.
#[pyfunction]
#[pyo3(signature = (config, out=None, threads=None, fresh=false))]
fn run(py: Python<'_>, config: std::path::PathBuf, out: Option<std::path::PathBuf>, threads: Option<usize>, fresh: bool) -> PyResult<String> {
    let opts = quantlab_runner::RunOptions { config, out, threads, quiet: true, fresh, check_sections: Some(quantlab_report::Settings::check), ..Default::default() };
    let report = py.detach(|| quantlab_runner::run(&opts, |_| {})).map_err(err)?;
    py.detach(|| quantlab_report::write(&report.out)).map_err(err)?;
    Ok(report.out.display().to_string())
}

/// The extension module.
#[pymodule]
fn _quantlab(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(quantize_into, m)?)?;
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(clip, m)?)?;
    m.add_function(wrap_pyfunction!(values, m)?)?;
    m.add_function(wrap_pyfunction!(error, m)?)?;
    m.add_function(wrap_pyfunction!(bits_per_element, m)?)?;
    m.add_function(wrap_pyfunction!(formats, m)?)?;
    m.add_function(wrap_pyfunction!(strategies, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_class::<PyEncoded>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
