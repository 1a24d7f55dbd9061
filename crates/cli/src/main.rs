//! The `quantlab` command: a thin layer over the library crates.
//! Every failure prints one line on stderr and exits with status 2
//! (`check` exits 1 when a claim fails).

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const ABOUT: &str = "Which low-precision number format keeps your tensors most faithful?";

const LONG_ABOUT: &str = "\
quantlab compares low-precision number formats (AdaptivFloat, integer, block float, \
MX, NVFP4 and other scaled formats, minifloat/FP8, posit) on your tensors, exactly to the bit.

A FORMAT is written `family(key=value,...)` or as a preset name, e.g.
  adaptivfloat(n=8,e=3)   adaptivfloat(n=6,e=3,variant=ieee-like)   int(bits=4,mode=asymmetric)
  bfp(bits=8,block=16)    mx(elem=fp6-e3m2,scale=ceil)   mxfp8-e4m3   mxint8
  minifloat(e=4,m=3,bias=7,specials=none)   fp8-e4m3   bf16   posit(n=8,es=1)
  nvfp4   int4-g128   fp8-e4m3-t128   scaled(elem=fp4-e2m1,scale=e4m3,block=16)
  nf4   mx6   p3109(k=8,p=3)   fp8-e4m3fnuz   scaled(elem=lut,values=[-1,-0.5,0,0.5,1],block=64)
each with an optional round=nearest-even|nearest-away|toward-zero|toward-positive|
toward-negative|odd|stochastic|stochastic(bits=N).
`quantlab formats` lists every family with its parameters, defaults and ranges.

A clipping STRATEGY chooses each group's clip range: none, aciq-laplace[(estimator=std)],
aciq-gauss, aciq-gelu, pipeedge-auto, percentile(p=99.99), mse[(sample=N)], kl, ratio(r=0.8),
spread(k=3).
`quantlab strategies` lists them.

Start here:
  quantlab run configs/quickstart.toml  a sweep: AdaptivFloat vs INT vs BFP, 4..8 bits, two clippings;
                                        writes results/quickstart/{report.md,tables.md,figures/}
  quantlab plot results/quickstart      redraw tables and figures from saved results
  quantlab check results/dac20-fig4     PASS/FAIL for each claim of an experiment (experiments/)
  quantlab compare                      AdaptivFloat vs INT vs BFP vs Float vs Posit at 4..8 bits
  quantlab values 'adaptivfloat(n=4,e=2)' --max 1.0
  quantlab quantize fp8-e4m3 weights.npy -o weights_q.npy --granularity channel
  quantlab quantize 'int(bits=4)' acts.npy -o acts_q.npy --clamp aciq-laplace --granularity channel
  quantlab clamp mse acts.npy --format 'adaptivfloat(n=6,e=3)'
  quantlab inspect data/minilm --include 'encoder.*.weight'   (after scripts/fetch-minilm.sh)
  quantlab embed data/minilm experiments/corpus/sentences.txt -o emb.npy --weights 'adaptivfloat(n=6,e=3)'
  quantlab run experiments/minilm-weights/experiment.toml   the model in the loop: formats x bits on MiniLM";

#[derive(Parser)]
#[command(name = "quantlab", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a sweep described by a TOML file (see configs/README.md): tables in Parquet and CSV.
    Run(commands::RunArgs),
    /// Join the folders of `run --shard I/N` into one results folder.
    Merge(commands::MergeArgs),
    /// Redraw tables, figures and report.md of a results folder from its saved results (no recomputing).
    Plot(commands::PlotArgs),
    /// Check the claims of the experiment that made a results folder: PASS/FAIL each, exit 1 on a FAIL.
    Check(commands::CheckArgs),
    /// List every format family with its parameters, defaults, ranges and presets.
    Formats,
    /// List every clamping strategy with its parameters.
    Strategies,
    /// Print the representable non-negative values of a format (n <= 16), ascending, one per line.
    Values(commands::ValuesArgs),
    /// Fake-quantize an .npy tensor (quantize, then dequantize) and write f32 .npy of the same shape.
    Quantize(commands::QuantizeArgs),
    /// Decode a file written by `quantize --encode` back to f32 .npy.
    Decode(commands::DecodeArgs),
    /// Print the clip a strategy chooses for each group of an .npy tensor (alpha=..., or lo=... hi=...).
    Clamp(commands::ClampArgs),
    /// Compare formats across bit widths on built-in synthetic data (RMSE and SQNR tables).
    Compare(commands::CompareArgs),
    /// Summarise the tensors of an .npy file, a safetensors file or a model folder.
    Inspect(commands::InspectArgs),
    /// Embed sentences with a sentence-transformers BERT (e.g. MiniLM), optionally with quantized weights or activations; write .npy.
    Embed(commands::EmbedArgs),
}

fn main() -> ExitCode {
    // Like other Unix tools, stop quietly when the reader of our output
    // goes away (`quantlab formats | head`): Rust's runtime ignores SIGPIPE,
    // which turns every later print into a panic.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(a) => match commands::check(a) {
            Ok(true) => return ExitCode::SUCCESS,
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::Plot(a) => commands::plot(a),
        Command::Run(a) => commands::run(a),
        Command::Merge(a) => commands::merge(a),
        Command::Formats => commands::formats(),
        Command::Strategies => commands::strategies(),
        Command::Values(a) => commands::values(a),
        Command::Quantize(a) => commands::quantize(a),
        Command::Decode(a) => commands::decode(a),
        Command::Clamp(a) => commands::clamp(a),
        Command::Compare(a) => commands::compare(a),
        Command::Inspect(a) => commands::inspect(a),
        Command::Embed(a) => commands::embed(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // One line whatever the message quotes (a file's bytes, a
            // description with a newline or an escape sequence in it).
            eprintln!("quantlab: error: {}", commands::escape(&message));
            ExitCode::from(2)
        }
    }
}
