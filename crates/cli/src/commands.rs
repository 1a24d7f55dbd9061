//! One function per subcommand. Errors are returned as one-line messages.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use quantlab_clamp::{Strategy, STRATEGIES};
use quantlab_formats::{self as formats, Encoded, Format, Granularity, Scale, FAMILIES};
use quantlab_tensors::stats::TensorStats;
use quantlab_tensors::{read_npy, synthetic, write_npy, NameFilter, Source, Stop};

type Result<T> = std::result::Result<T, String>;

fn parse_format(text: &str) -> Result<Box<dyn Format>> {
    formats::parse(text).map_err(|e| e.to_string())
}

pub use quantlab_spec::escape;

fn parse_strategy(text: &str) -> Result<Box<dyn Strategy>> {
    quantlab_clamp::parse(text).map_err(|e| e.to_string())
}

pub fn strategies() -> Result<()> {
    let mut s = String::new();
    for f in STRATEGIES {
        let _ = writeln!(s, "{}: {}", f.name(), f.summary());
        for p in f.params() {
            let _ = writeln!(s, "    {:<11} default {:<13} range {}   ({})", p.name, p.default, p.range, p.help);
        }
    }
    s.push_str("\nACIQ rules take M = the format's code width; for non-uniform formats prefer mse or percentile.\n");
    print!("{s}");
    Ok(())
}

pub fn formats() -> Result<()> {
    let mut s = String::new();
    for f in FAMILIES {
        let _ = writeln!(s, "{}: {}", f.name(), f.summary());
        for p in f.params() {
            let _ = writeln!(s, "    {:<11} default {:<13} range {}   ({})", p.name, p.default, p.range, p.help);
        }
        for p in f.presets() {
            let _ = writeln!(s, "    preset {:<11} = {}({})   {}", p.name, f.name(), p.params, p.help);
        }
        s.push('\n');
    }
    s.push_str("Element types (scaled(elem=NAME); `quantlab values --element NAME` lists one's values):\n");
    for d in quantlab_formats::element::ELEMENT_TYPES {
        let e = quantlab_formats::element::Element::from_def(d);
        let max = if e.max() >= 1e6 { format!("{:.3e}", e.max()) } else { e.max().to_string() };
        let _ = writeln!(s, "    {:<16} {:>2} bits  max {:<9} {}", d.name, e.bits(), max, d.help);
    }
    s.push('\n');
    s.push_str("Granularity (quantize --granularity): tensor | channel[:AXIS] (default axis 0) | block:K (K elements of the last axis)\n");
    print!("{s}");
    Ok(())
}

#[derive(Args)]
pub struct ValuesArgs {
    /// The format, e.g. 'adaptivfloat(n=4,e=2)' or fp8-e4m3; with --element, an element type.
    format: String,
    /// FORMAT names an element type (`quantlab formats` lists them): print all
    /// its values at scale 1, negative ones included.
    #[arg(long, conflicts_with_all = ["max", "min", "exp_bias"])]
    element: bool,
    /// The scaling unit's max|x| (after clipping), for scaled formats; with --min, the range of an asymmetric integer.
    #[arg(long, allow_negative_numbers = true)]
    max: Option<f32>,
    /// Lower end of an asymmetric integer's range (needs --max).
    #[arg(long, allow_negative_numbers = true, requires = "max")]
    min: Option<f32>,
    /// An explicit AdaptivFloat exponent bias.
    #[arg(long, allow_negative_numbers = true, conflicts_with_all = ["max", "min"])]
    exp_bias: Option<i32>,
}

pub fn values(a: ValuesArgs) -> Result<()> {
    if a.element {
        let e = quantlab_formats::element::Element::named(&a.format).ok_or_else(|| {
            let names = quantlab_formats::element::Element::names();
            let hint = quantlab_spec::nearest(&a.format, names.iter().copied()).map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
            format!("unknown element type `{}`{hint}; known: {}", quantlab_spec::escape(&a.format), names.join(", "))
        })?;
        let mut out = String::new();
        for v in e.values() {
            let _ = writeln!(out, "{v}");
        }
        print!("{out}");
        return Ok(());
    }
    let f = parse_format(&a.format)?;
    if let Some(m) = a.max.filter(|m| !m.is_finite()) {
        return Err(format!("--max {m} must be a finite number"));
    }
    let scale = match (a.min, a.max, a.exp_bias) {
        (Some(lo), Some(hi), _) if lo >= hi => return Err(format!("--min {lo} must be below --max {hi}")),
        (Some(lo), Some(hi), _) => Scale::Range(lo, hi),
        (None, Some(m), _) => Scale::Max(m),
        (_, _, Some(b)) => Scale::ExpBias(b),
        _ => Scale::Fixed,
    };
    let vals = f.values(scale).map_err(|e| e.to_string())?;
    let mut out = String::with_capacity(vals.len() * 12);
    for v in vals {
        let _ = writeln!(out, "{v}");
    }
    print!("{out}");
    Ok(())
}

#[derive(Args)]
pub struct QuantizeArgs {
    /// The format, e.g. 'adaptivfloat(n=8,e=3)'.
    format: String,
    /// Input .npy (f16, f32 or f64; C or Fortran order; any rank). A C-order file is read and written in pieces of 1 M values (with --encode, the container too), so a file larger than memory works; it is held whole only in Fortran order, or when a group larger than a piece must be seen whole by its strategy (percentile, mse, kl) or format (a group scale, tiles; with --encode also a tensor-scaled FP8).
    input: PathBuf,
    /// Output .npy (f32, same shape).
    #[arg(short, long)]
    output: PathBuf,
    /// tensor | channel[:AXIS] | block:K — the groups that share a scale.
    #[arg(long, default_value = "tensor")]
    granularity: String,
    /// Seed for round=stochastic.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Clamping strategy applied per group, e.g. aciq-laplace, percentile(p=99.9), mse (`quantlab strategies`).
    #[arg(long, default_value = "none")]
    clamp: String,
    /// Also write the packed codes and per-group metadata (.qlab container; `quantlab decode` reads it).
    #[arg(long, value_name = "OUT.qlab")]
    encode: Option<PathBuf>,
}

pub fn quantize(a: QuantizeArgs) -> Result<()> {
    let f = parse_format(&a.format)?;
    let strategy = parse_strategy(&a.clamp)?;
    let gran: Granularity = a.granularity.parse()?;
    if let Some(line) = quantize_streaming(&a, &*f, &*strategy, gran)? {
        println!("{line}");
        return Ok(());
    }
    let t = read_npy(&a.input).map_err(|e| e.to_string())?;
    // Everything that can fail on the data runs before anything is written,
    // so a failed encode leaves no half of the output behind; with --encode
    // the clips are chosen once, for the values and the codes alike.
    let (q, encoded) = match &a.encode {
        None => (quantlab_quantize::quantize(&*f, &*strategy, &t.data, &t.shape, gran, a.seed).map_err(|e| format!("{}: {e}", a.input.display()))?.0, None),
        Some(path) => {
            let e = quantlab_quantize::encode(&*f, &*strategy, &t.data, &t.shape, gran, a.seed).map_err(|e| format!("{}: cannot encode: {e}", a.input.display()))?;
            (e.values, Some((path, e.encoded)))
        }
    };
    write_npy(&a.output, &t.shape, &q).map_err(|e| e.to_string())?;
    let (rmse, sqnr) = errors(&t.data, &q);
    let mut line = format!("{}: {} values ({}), {}, {gran}, clamp {}: rmse {rmse:.6e}, sqnr {sqnr:.2} dB", a.output.display(), t.numel(), t.dtype, f.describe(), strategy.describe());
    if let Some((path, enc)) = encoded {
        let bytes = enc.to_bytes();
        quantlab_tensors::write_atomically(path, |file| std::io::Write::write_all(file, &bytes)).map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        let _ = write!(line, "; {}: {} bytes on the wire, {:.4} bits/element on the wire", path.display(), enc.wire_bytes(), enc.wire_bits_per_element());
    }
    println!("{line}");
    Ok(())
}

#[derive(Args)]
pub struct ClampArgs {
    /// The strategy, e.g. aciq-laplace, 'percentile(p=99.9)', mse.
    strategy: String,
    /// Input .npy.
    input: PathBuf,
    /// The format the clip is for (ACIQ takes M from its width; mse measures it).
    #[arg(long)]
    format: String,
    /// tensor | channel[:AXIS] | block:K
    #[arg(long, default_value = "tensor")]
    granularity: String,
}

/// One line per group, in group order: `alpha=<value>` (symmetric formats)
/// or `lo=<value> hi=<value>` (asymmetric).
pub fn clamp(a: ClampArgs) -> Result<()> {
    let strategy = parse_strategy(&a.strategy)?;
    let f = parse_format(&a.format)?;
    let gran: Granularity = a.granularity.parse()?;
    let t = read_npy(&a.input).map_err(|e| e.to_string())?;
    let (_, chosen) = quantlab_quantize::quantize(&*f, &*strategy, &t.data, &t.shape, gran, 0).map_err(|e| format!("{}: {e}", a.input.display()))?;
    let mut out = String::new();
    for c in chosen {
        let _ = writeln!(out, "{c}");
    }
    print!("{out}");
    Ok(())
}

#[derive(Args)]
pub struct DecodeArgs {
    /// A .qlab file written by `quantize --encode`. Its checksum is checked first; then it is decoded and written in pieces of 1 M values, so a container larger than memory works (held whole only when its groups are channels along an inner axis, or one group larger than a piece has a group scale or tiles).
    input: PathBuf,
    /// Output .npy (f32).
    #[arg(short, long)]
    output: PathBuf,
}

pub fn decode(a: DecodeArgs) -> Result<()> {
    // In pieces when the groups allow (memory holds a piece of codes and of
    // values, and the metadata); otherwise the container is read whole.
    let info = quantlab_tensors::qlab::info(&a.input)?;
    let f = parse_format(&info.format).map_err(|e| format!("{}: {e}", a.input.display()))?;
    if f.code_bits() != info.code_bits || f.meta_words() != info.meta_words {
        return Err(format!("{}: header does not match format {}", a.input.display(), info.format));
    }
    if quantlab_tensors::qlab::decode_to_npy(&a.input, &info, &*f, &a.output)? {
        println!("{}: {} values decoded from {}", a.output.display(), info.count, info.format);
        return Ok(());
    }
    // Held whole: the header was checked against `f` above (a file
    // replaced since is caught by its format or counts changing).
    let bytes = std::fs::read(&a.input).map_err(|e| format!("{}: cannot open: {e}", a.input.display()))?;
    let enc = Encoded::from_bytes(&bytes).map_err(|e| format!("{}: {e}", a.input.display()))?;
    let units = enc.meta.len().checked_div(enc.meta_words).unwrap_or(0);
    let same = enc.format == info.format && enc.code_bits == info.code_bits && enc.meta_words == info.meta_words;
    if !same || (f.meta_words() > 0 && units * f.meta_words() != enc.meta.len()) {
        return Err(format!("{}: header does not match format {}", a.input.display(), enc.format));
    }
    let x = formats::decode(&*f, &enc).map_err(|e| format!("{}: {e}", a.input.display()))?;
    write_npy(&a.output, &enc.shape, &x).map_err(|e| e.to_string())?;
    println!("{}: {} values decoded from {}", a.output.display(), x.len(), enc.format);
    Ok(())
}

/// RMSE and SQNR (dB; +inf when exact) over finite inputs: the runner's metrics.
/// Values `quantize` reads and writes at a time when it streams.
const QUANTIZE_PIECE: usize = 1 << 20;

/// `quantize` in pieces, when the input can be read in pieces (a C-order
/// .npy) and the walk allows it (`pieces::streams`): memory holds a few
/// pieces, whatever the file's size; the output is written as the pieces
/// come, under a temporary name renamed once complete. `None`: not
/// streamable, nothing done.
fn quantize_streaming(a: &QuantizeArgs, f: &dyn Format, strategy: &dyn Strategy, gran: Granularity) -> Result<Option<String>> {
    use quantlab_quantize::pieces;
    let Some(input) = quantlab_tensors::npy::NpyPieces::open(&a.input).map_err(|e| e.to_string())? else { return Ok(None) };
    let h = input.header().clone();
    let streams = match a.encode {
        None => pieces::streams(f, strategy, &h.shape, gran, QUANTIZE_PIECE),
        Some(_) => pieces::encode_streams(f, strategy, &h.shape, gran, QUANTIZE_PIECE),
    };
    if !streams {
        return Ok(None);
    }
    let (mut inputs, mut measure) = (quantlab_quantize::error::InputPass::default(), quantlab_quantize::error::Measure::default());
    let mut read = |start: usize, out: &mut [f32]| input.read(start, out).map_err(|e| Stop::Read(e.to_string()));
    // The walk's own errors (bad data, an unreadable piece), kept apart
    // from the output files'.
    let mut failure = None;
    let written = quantlab_tensors::write_atomically(&a.output, |file| {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        std::io::Write::write_all(&mut w, &quantlab_tensors::npy::header_bytes(&h.shape))?;
        let mut values = |x: &[f32], q: &[f32]| {
            inputs.add(x);
            measure.add(x, q);
            quantlab_tensors::npy::write_values(&mut w, q).map_err(Stop::Output)
        };
        match &a.encode {
            None => {
                pieces::quantize_streamed::<Stop>(f, strategy, &h.shape, gran, a.seed, QUANTIZE_PIECE, &mut read, &mut |x, q, _| values(x, q)).map_err(|e| e.into_io(&mut failure))?;
            }
            // The container is written beside the values; both are
            // renamed into place only once both are complete.
            Some(path) => quantlab_tensors::write_atomically(path, |file| {
                let mut container = formats::ContainerWriter::new(std::io::BufWriter::with_capacity(1 << 20, file), f, &h.shape, gran).map_err(std::io::Error::other)?;
                let mut meta = Vec::new();
                pieces::encode_streamed::<Stop>(f, strategy, &h.shape, gran, a.seed, QUANTIZE_PIECE, &mut read, &mut |x, q, codes, m| {
                    meta.extend_from_slice(m);
                    container.codes(codes).map_err(Stop::Output)?;
                    values(x, q)
                })
                .map_err(|e| e.into_io(&mut failure))?;
                std::io::Write::flush(&mut container.finish(&meta)?)
            })?,
        }
        std::io::Write::flush(&mut w)
    });
    if let Some(stop) = failure {
        return Err(stop.message(&a.input, if a.encode.is_some() { "cannot encode: " } else { "" }));
    }
    written.map_err(|e| format!("{}: cannot write: {e}", a.output.display()))?;
    let m = measure.finish(&inputs.finish());
    let mut line = format!("{}: {} values ({}), {}, {gran}, clamp {}: rmse {:.6e}, sqnr {:.2} dB", a.output.display(), h.numel, h.dtype.name(), f.describe(), strategy.describe(), m.rmse, m.sqnr_db);
    if let Some(path) = &a.encode {
        let bytes = formats::wire_bytes(f, &h.shape, gran).map_err(|e| e.to_string())?;
        let _ = write!(line, "; {}: {bytes} bytes on the wire, {:.4} bits/element on the wire", path.display(), bytes as f64 * 8.0 / h.numel.max(1) as f64);
    }
    Ok(Some(line))
}

fn errors(x: &[f32], q: &[f32]) -> (f64, f64) {
    let m = quantlab_quantize::error::measure(x, q);
    (m.rmse, m.sqnr_db)
}

/// The AdaptivFloat paper's line-up (DAC'20 Fig. 4): Float e=4 (e=3 at 4
/// bits), BFP (one exponent per group, the metadata AdaptivFloat has), Uniform, Posit es=1 (es=0 at 4 bits), AdaptivFloat e=3.
const PAPER_LINEUP: &str = "minifloat(e={e_float},m={m_float});bfp(bits={bits});int(bits={bits});posit(n={bits},es={es_posit});adaptivfloat(n={bits},e=3)";

#[derive(Args)]
pub struct CompareArgs {
    /// Format templates separated by `;`, with {bits} (and {e_float}, {m_float}, {es_posit}) filled per bit width.
    #[arg(long, default_value = PAPER_LINEUP)]
    formats: String,
    /// Bit widths.
    #[arg(long, value_delimiter = ',', default_value = "4,5,6,7,8")]
    bits: Vec<u32>,
    /// Synthetic distributions separated by `;`: normal, laplace, student-t(nu=8), uniform,
    /// lognormal, gelu, relu, mixture(base=normal,outlier_scale=10,fraction=0.01), with parameters.
    #[arg(long, value_delimiter = ';', default_value = "normal;laplace;student-t")]
    data: Vec<String>,
    /// Elements per tensor.
    #[arg(long, default_value_t = 1 << 20)]
    n: usize,
    /// Seed of the synthetic data (and of stochastic rounding).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// tensor | channel[:AXIS] | block:K; the data is shaped [n/1024, 1024].
    #[arg(long, default_value = "tensor")]
    granularity: String,
    /// Clamping strategy for every format (`quantlab strategies`).
    #[arg(long, default_value = "none")]
    clamp: String,
}

fn fill_template(t: &str, bits: u32) -> String {
    let e_float = if bits <= 4 { 3 } else { 4 };
    t.replace("{bits}", &bits.to_string())
        .replace("{e_float}", &e_float.to_string())
        .replace("{m_float}", &(bits as i64 - 1 - e_float).to_string())
        .replace("{es_posit}", if bits <= 4 { "0" } else { "1" })
}

pub fn compare(a: CompareArgs) -> Result<()> {
    let gran: Granularity = a.granularity.parse()?;
    let strategy = parse_strategy(&a.clamp)?;
    if a.n == 0 {
        return Err("--n must be at least 1".into());
    }
    let cols = 1024.min(a.n);
    let n = a.n / cols * cols;
    // The data and one quantized copy are held at once.
    formats::memory::check(n, 8, || format!("--n {n} (the data and a quantized copy as f32)")).map_err(|e| e.to_string())?;
    let shape = [n / cols, cols];
    let templates: Vec<&str> = a.formats.split(';').map(str::trim).filter(|t| !t.is_empty()).collect();
    // Validate everything before any work.
    let mut grid = Vec::new();
    for t in &templates {
        let mut row = Vec::new();
        for &b in &a.bits {
            let desc = fill_template(t, b);
            row.push(parse_format(&desc).map_err(|e| format!("{e} (from template `{t}` at {b} bits)"))?);
        }
        grid.push(row);
    }
    let dists: Vec<synthetic::Distribution> = a.data.iter().map(|d| synthetic::Distribution::parse(d).map_err(|e| e.to_string())).collect::<Result<_>>()?;
    let header: Vec<String> = a.bits.iter().map(|b| format!("{b} bits")).collect();
    for dist in dists {
        let x = synthetic::generate(dist, n, a.seed)?;
        let mut rmse = vec![vec![0.0; a.bits.len()]; templates.len()];
        let mut sqnr = rmse.clone();
        for (r, row) in grid.iter().enumerate() {
            for (c, f) in row.iter().enumerate() {
                let (q, _) = quantlab_quantize::quantize(&**f, &*strategy, &x, &shape, gran, a.seed).map_err(|e| e.to_string())?;
                (rmse[r][c], sqnr[r][c]) = errors(&x, &q);
            }
        }
        println!("## {} — {n} values, granularity {gran}, clamp {}, seed {}\n", dist.label(), strategy.describe(), a.seed);
        println!("RMSE (lower is better; best per column in bold)\n");
        print_table(&templates, &header, &rmse, |v| format!("{v:.3e}"), false);
        println!("\nSQNR in dB (higher is better)\n");
        print_table(&templates, &header, &sqnr, |v| format!("{v:.2}"), true);
        println!();
    }
    Ok(())
}

fn print_table(rows: &[&str], header: &[String], cells: &[Vec<f64>], show: impl Fn(f64) -> String, higher_better: bool) {
    println!("| format | {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(header.len()));
    for (r, name) in rows.iter().enumerate() {
        let shown: Vec<String> = (0..header.len())
            .map(|c| {
                let col = cells.iter().map(|row| row[c]);
                let best = if higher_better { col.fold(f64::NEG_INFINITY, f64::max) } else { col.fold(f64::INFINITY, f64::min) };
                let s = show(cells[r][c]);
                if cells[r][c] == best {
                    format!("**{s}**")
                } else {
                    s
                }
            })
            .collect();
        println!("| `{}` | {} |", name.replace('|', "\\|"), shown.join(" | "));
    }
}

#[derive(Args)]
pub struct InspectArgs {
    /// An .npy file, a .safetensors file, or a model folder (sharded with model.safetensors.index.json, or not). Safetensors tensors are read in pieces, twice (the deviations need the mean), several at once: a checkpoint larger than memory works.
    path: PathBuf,
    /// Only tensors whose names match (`*` any run, `?` one character); repeatable.
    #[arg(long)]
    include: Vec<String>,
    /// Leave out tensors whose names match; repeatable.
    #[arg(long)]
    exclude: Vec<String>,
    /// A JSON array, one object per tensor, instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn inspect(a: InspectArgs) -> Result<()> {
    let filter = NameFilter { include: a.include, exclude: a.exclude };
    // Tensors are summarised side by side, each read from a safetensors
    // file in pieces (twice: the deviations need the mean), so memory holds
    // a few pieces whatever the checkpoint's size.
    let source = Source::from_path(&a.path, filter);
    let (infos, skipped) = source.list().map_err(|e| e.to_string())?;
    let names: Vec<&str> = infos.iter().map(|i| i.name.as_str()).collect();
    let stats = TensorStats::of_tensors(&source, &names).map_err(|e| e.to_string())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&stats).map_err(|e| e.to_string())?);
        return Ok(());
    }
    let mut out = String::new();
    let names: Vec<String> = stats.iter().map(|s| escape(&s.name)).collect();
    let w = names.iter().map(|s| s.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(
        out,
        "{:<w$} {:<9} {:<14} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>7} {:>6} {:>6}",
        "name", "dtype", "shape", "elements", "min", "max", "mean", "std", "ex.kurt", "amax/std", "zeros", "nan", "inf"
    );
    for (s, name) in stats.iter().zip(&names) {
        let shape = format!("{:?}", s.shape);
        // With no finite value there is no range to show (--json has 0).
        let (min, max) = if s.elements > s.nan + s.inf { (format!("{:.4}", s.min), format!("{:.4}", s.max)) } else { ("-".into(), "-".into()) };
        let _ = writeln!(
            out,
            "{:<w$} {:<9} {:<14} {:>10} {:>10} {:>10} {:>10.3e} {:>9.4} {:>9.2} {:>9.2} {:>6.2}% {:>6} {:>6}",
            name,
            s.dtype,
            shape,
            s.elements,
            min,
            max,
            s.mean,
            s.std,
            s.excess_kurtosis,
            s.amax_over_std,
            100.0 * s.zero_fraction,
            s.nan,
            s.inf
        );
    }
    let total: usize = stats.iter().map(|s| s.elements).sum();
    let finite = stats.iter().filter(|s| s.elements > s.nan + s.inf);
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), s| (l.min(s.min), h.max(s.max)));
    let (nan, inf): (usize, usize) = (stats.iter().map(|s| s.nan).sum(), stats.iter().map(|s| s.inf).sum());
    let range = if lo <= hi { format!("finite values in [{lo:.4}, {hi:.4}]") } else { "no finite values".into() };
    let _ = writeln!(out, "total: {} tensors, {total} elements, {range}, {nan} NaN, {inf} Inf", stats.len());
    for (name, why) in skipped {
        let _ = writeln!(out, "skipped {}: {why}", escape(&name));
    }
    print!("{out}");
    Ok(())
}

#[derive(Args)]
pub struct RunArgs {
    /// The sweep configuration (TOML; see configs/README.md).
    config: PathBuf,
    /// Output folder (overrides `output` in the configuration).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Worker threads (default: all cores; at most 256). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Print the expanded plan (cells, element-quantizations, first cells) and stop.
    #[arg(long)]
    dry_run: bool,
    /// Discard results already in the output folder and start over.
    #[arg(long)]
    fresh: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Run only cells with index % N == I (0 <= I < N), into their own folder; join with `quantlab merge`.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Memory budget for the tensors held at once (as f32) plus each thread's scratch (1 MiB, or a copy of a tensor that cannot be quantized in pieces), e.g. 4G, 512M, 2GiB; tensors stream through in batches that fit (--dry-run shows the plan). Default: batches of 256 MiB of tensors.
    #[arg(long, value_name = "SIZE")]
    memory: Option<String>,
}

fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let bad = || format!("--shard `{s}`: expected I/N with 0 <= I < N, e.g. 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n) = (i.trim().parse::<usize>().map_err(|_| bad())?, n.trim().parse::<usize>().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The most worker threads `--threads` takes: beyond a few per core they
/// only add scheduling (5000 threads ran the quickstart 80x slower), and
/// thousands exhaust the process's memory for stacks.
pub const MAX_THREADS: usize = 256;

pub fn run(a: RunArgs) -> Result<()> {
    match a.threads {
        Some(0) => return Err("--threads must be at least 1".into()),
        Some(n) if n > MAX_THREADS => {
            return Err(format!("--threads {n} is more than quantlab runs ({MAX_THREADS} at most; this machine has {} cores)", std::thread::available_parallelism().map_or(1, |n| n.get())))
        }
        _ => {}
    }
    let memory = match a.memory.as_deref() {
        None => None,
        Some(m) => Some(quantlab_formats::memory::parse_bytes(m).ok_or_else(|| format!("--memory `{}`: expected a size such as 4G, 512M, 2GiB or a number of bytes", quantlab_spec::escape(m)))?),
    };
    let opts = quantlab_runner::RunOptions {
        config: a.config,
        out: a.out,
        threads: a.threads,
        dry_run: a.dry_run,
        fresh: a.fresh,
        quiet: a.quiet,
        shard: a.shard.as_deref().map(parse_shard).transpose()?,
        memory,
        check_sections: Some(quantlab_report::Settings::check),
    };
    let report = quantlab_runner::run(&opts, |line| println!("{line}"))?;
    // A shard holds part of the cells: its report would mislead; merge writes it.
    if !opts.dry_run && opts.shard.is_none() {
        write_report(&report.out)?;
    }
    Ok(())
}

/// Tables, figures and report.md of a results folder, with a summary line.
fn write_report(dir: &std::path::Path) -> Result<()> {
    let w = quantlab_report::write(dir)?;
    let figures = w.files.iter().filter(|f| f.extension().is_some_and(|e| e == "png")).count();
    println!("{}: report.md, tables.md/csv and {figures} figures (PNG and SVG) in figures/", dir.display());
    for n in &w.notes {
        println!("  not drawn: {n}");
    }
    if !w.verdicts.is_empty() {
        let failed = w.verdicts.iter().filter(|v| !v.pass).count();
        println!("  claims: {} pass, {failed} fail (`quantlab check {}` for details)", w.verdicts.len() - failed, dir.display());
    }
    Ok(())
}

#[derive(Args)]
pub struct PlotArgs {
    /// A folder written by `quantlab run` or `quantlab merge` (holds manifest.json and results.parquet).
    results: PathBuf,
}

pub fn plot(a: PlotArgs) -> Result<()> {
    write_report(&a.results)
}

#[derive(Args)]
pub struct CheckArgs {
    /// A folder written by `quantlab run` of an experiment with [[claim]] sections.
    results: PathBuf,
}

/// Print PASS/FAIL per claim; `Ok(false)` when any claim fails.
pub fn check(a: CheckArgs) -> Result<bool> {
    let verdicts = quantlab_report::check(&a.results)?;
    for v in &verdicts {
        println!("{}", quantlab_report::verdict_text(v));
    }
    let failed = verdicts.iter().filter(|v| !v.pass).count();
    println!("{} claims: {} pass, {failed} fail", verdicts.len(), verdicts.len() - failed);
    Ok(failed == 0)
}

#[derive(Args)]
pub struct MergeArgs {
    /// The folder to write the merged results to.
    out: PathBuf,
    /// The shard folders written by `quantlab run --shard I/N`.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// Merge even when shards are missing or incomplete (the tables then
    /// hold part of the plan; the manifest says `partial`).
    #[arg(long)]
    allow_partial: bool,
}

pub fn merge(a: MergeArgs) -> Result<()> {
    let m = quantlab_runner::merge(&a.out, &a.shards, a.allow_partial)?;
    println!("{}: {} rows merged from {} shards", a.out.display(), m.rows, a.shards.len());
    if m.missing > 0 {
        println!("  partial: {} of the plan's {} cells are missing (--allow-partial)", m.missing, m.plan_cells);
    }
    write_report(&a.out)
}

#[derive(Args)]
pub struct EmbedArgs {
    /// A sentence-transformers BERT folder (config.json, tokenizer.json, model.safetensors), e.g. data/minilm.
    model: PathBuf,
    /// Sentences, one per line (empty lines are kept as empty sentences).
    sentences: PathBuf,
    /// Output .npy: f32 [lines, hidden], L2-normalised, one row per line of SENTENCES.
    #[arg(short, long)]
    output: PathBuf,
    /// Quantize the weights with this format first, e.g. 'adaptivfloat(n=6,e=3)'.
    #[arg(long, value_name = "FORMAT")]
    weights: Option<String>,
    /// Weight tensors to quantize: linear, embeddings, biases, layer-norm (comma-separated).
    #[arg(long, default_value = "linear", value_name = "KINDS")]
    weight_kinds: String,
    /// Quantize the hidden states at the --split-after layers with this format, per sentence (PipeEdge's activation compression).
    #[arg(long, value_name = "FORMAT")]
    activations: Option<String>,
    /// Encoder layers after which hidden states are quantized, e.g. 3 or 2,4.
    #[arg(long, default_value = "3", value_name = "LAYERS")]
    split_after: String,
    /// Clamping strategy for the quantized tensors (`quantlab strategies`).
    #[arg(long, default_value = "none")]
    clamp: String,
    /// tensor | channel[:AXIS] | block:K, per weight tensor or per sample of hidden states.
    #[arg(long, default_value = "tensor")]
    granularity: String,
    /// Sentences per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Seed for round=stochastic.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn embed(a: EmbedArgs) -> Result<()> {
    let start = std::time::Instant::now();
    let model = quantlab_model::Model::load(&a.model).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&a.sentences).map_err(|e| format!("{}: cannot read: {e}", a.sentences.display()))?;
    let sentences: Vec<String> = text.lines().map(str::to_string).collect();
    if sentences.is_empty() {
        return Err(format!("{}: no lines to embed", a.sentences.display()));
    }
    let strategy = parse_strategy(&a.clamp)?;
    let gran: Granularity = a.granularity.parse()?;
    let batches = model.tokenize(&sentences, a.batch_size.max(1)).map_err(|e| format!("{}: {e}", a.sentences.display()))?;
    let mut notes = Vec::new();
    let quantized = match &a.weights {
        None => None,
        Some(d) => {
            let f = parse_format(d)?;
            let kinds = a.weight_kinds.split(',').map(|k| k.trim().parse()).collect::<Result<Vec<_>>>()?;
            let q = model.quantize_weights(&*f, &*strategy, gran, &quantlab_model::WeightSelection(kinds), a.seed).map_err(|e| e.to_string())?;
            notes.push(format!("weights {} ({} tensors, SQNR {:.2} dB)", f.describe(), q.quantized, q.tally.sqnr_db()));
            Some(q)
        }
    };
    let act_format = a.activations.as_deref().map(parse_format).transpose()?;
    let split_after =
        a.split_after.split(',').map(|s| s.trim().parse::<usize>().map_err(|_| format!("--split-after {:?}: encoder layer numbers, e.g. 3 or 2,4", a.split_after))).collect::<Result<Vec<_>>>()?;
    let acts = act_format.as_deref().map(|f| quantlab_model::ActivationQuantizer::new(f, &*strategy, gran, split_after, a.seed));
    let net = model.network(quantized.as_ref()).map_err(|e| e.to_string())?;
    let embedded = net.embed(&batches, acts.as_ref()).map_err(|e| e.to_string())?;
    if let (Some(q), Some(f)) = (&acts, &act_format) {
        let per_sample: usize = embedded.wire_bytes.iter().flatten().sum();
        notes.push(format!(
            "activations {} after layer(s) {} ({:.1} bytes per sample per split point, SQNR {:.2} dB)",
            f.describe(),
            a.split_after,
            per_sample as f64 / q.stats().samples.max(1) as f64,
            q.stats().tally.sqnr_db()
        ));
    }
    let e = &embedded.embeddings;
    write_npy(&a.output, &[e.rows, e.dim], &e.data).map_err(|e| e.to_string())?;
    let what = if notes.is_empty() { "fp32".to_string() } else { notes.join("; ") };
    println!("{}: {} x {} embeddings of {} in {:.2} s; {what}", a.output.display(), e.rows, e.dim, a.sentences.display(), start.elapsed().as_secs_f64());
    Ok(())
}
