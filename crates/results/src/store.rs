//! Results on disk. Each finished cell is one small file in `cells/`
//! (written to a temporary name, then renamed: atomic), so an interrupted
//! run keeps every finished cell and a rerun skips them. The tables are
//! rebuilt from the cell files: `results.{parquet,csv}` one row per cell,
//! `summary.{parquet,csv}` mean and 95% CI over seeds.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::metric::METRICS;

/// The column with the element-quantizations a cell made: its elements,
/// plus every candidate a clip search quantized. The run's throughput is
/// their sum over the wall time.
pub const ELEMENT_QUANTIZATIONS: &str = "element_quantizations";

/// One value of a results row.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An integer column (counts, bits, seeds).
    Int(i64),
    /// A real-valued column (metrics, parameters).
    Float(f64),
    /// A text column (descriptions, names).
    Str(String),
}

/// A results row: column name to value, in the order columns were added.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row(pub Vec<(String, Value)>);

impl Row {
    /// Add a column at the end.
    pub fn push(&mut self, name: &str, v: Value) {
        self.0.push((name.to_string(), v));
    }

    /// A column's value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// One `name\ttype\tvalue` line per column; floats in Rust's shortest
    /// round-trip form (`inf`, `NaN` included).
    fn to_text(&self) -> String {
        let mut s = String::new();
        for (n, v) in &self.0 {
            let (t, text) = match v {
                Value::Int(i) => ("i", i.to_string()),
                Value::Float(f) => ("f", f.to_string()),
                Value::Str(x) => ("s", x.replace(['\t', '\n'], " ")),
            };
            s += &format!("{n}\t{t}\t{text}\n");
        }
        s
    }

    fn from_text(text: &str) -> Option<Row> {
        let mut row = Row::default();
        for line in text.lines() {
            let mut parts = line.splitn(3, '\t');
            let (n, t, v) = (parts.next()?, parts.next()?, parts.next().unwrap_or(""));
            let value = match t {
                "i" => Value::Int(v.parse().ok()?),
                "f" => Value::Float(v.parse().ok()?),
                "s" => Value::Str(v.to_string()),
                _ => return None,
            };
            row.push(n, value);
        }
        Some(row)
    }
}

/// Where a folder's finished cells live.
pub fn cells_dir(out: &Path) -> PathBuf {
    out.join("cells")
}

/// What a results folder holds besides `manifest.json` and `cells/`: the
/// tables (here) and the report (`quantlab plot`). A fresh start removes
/// them before anything else, so a run killed after it began never leaves
/// old tables beside its new manifest.
pub const OUTPUTS: &[&str] = &["results.parquet", "results.csv", "summary.parquet", "summary.csv", "report.md", "tables.md", "tables.csv", "figures"];

/// Remove the cells and every output of an earlier run from `out`.
pub fn clear(out: &Path) -> std::io::Result<()> {
    for name in std::iter::once("cells").chain(OUTPUTS.iter().copied()) {
        let p = out.join(name);
        let gone = if p.is_dir() { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
        match gone {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// An exclusive lock on a results folder, held while a run or a merge
/// writes it (released when dropped, or by the system when the process
/// ends, however it ends).
#[derive(Debug)]
pub struct FolderLock {
    _file: fs::File,
}

/// Take the lock of `out` (creating the folder), or say who holds it.
pub fn lock(out: &Path) -> Result<FolderLock, String> {
    fs::create_dir_all(out).map_err(|e| format!("{}: cannot create: {e}", out.display()))?;
    let path = out.join(".lock");
    let mut file = fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| format!("{}: cannot open: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(&path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
            let who = holder.map_or("another process".to_string(), |pid| format!("another quantlab (pid {pid})"));
            return Err(format!("{}: in use by {who}; wait for it to finish, or write to another folder with --out", out.display()));
        }
        Err(fs::TryLockError::Error(e)) => return Err(format!("{}: cannot lock: {e}", path.display())),
    }
    use std::io::{Seek, Write};
    let _ = file.set_len(0).and_then(|_| file.rewind()).and_then(|_| write!(file, "{}", std::process::id())).and_then(|_| file.flush());
    Ok(FolderLock { _file: file })
}

/// The fingerprint of a folder's written tables, kept in its manifest:
/// `quantlab plot` and `check` draw only from tables that match it.
pub fn tables_fingerprint(out: &Path, rows: usize) -> Result<serde_json::Value, String> {
    let path = out.join("results.parquet");
    let bytes = fs::read(&path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    Ok(serde_json::json!({ "rows": rows, "results_parquet_xxh3": format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes)) }))
}

/// Check that a folder's `results.parquet` is the one its manifest's run
/// finished with.
pub fn check_tables(out: &Path, manifest: &serde_json::Value) -> Result<(), String> {
    let Some(recorded) = manifest.get("tables").filter(|t| !t.is_null()) else {
        let why = if manifest.get("finished").is_some_and(|f| !f.is_null()) {
            "its manifest was written by a quantlab that did not fingerprint its tables; run `quantlab run` on it again (with --fresh) to rebuild them"
        } else {
            "the run recorded in its manifest.json has not finished (run `quantlab run` again to complete it)"
        };
        return Err(format!("{}: {why}", out.display()));
    };
    let rows = recorded.get("rows").and_then(|r| r.as_u64()).unwrap_or(0) as usize;
    let now = tables_fingerprint(out, rows)?;
    if &now != recorded {
        return Err(format!("{}: results.parquet does not match manifest.json (the tables were changed or come from another run); run `quantlab run` again to rebuild them", out.display()));
    }
    Ok(())
}

/// Write a finished cell atomically.
pub fn save_cell(out: &Path, index: usize, row: &Row) -> std::io::Result<()> {
    let text = row.to_text();
    quantlab_tensors::write_atomically(&cells_dir(out).join(format!("{index}.cell")), |f| std::io::Write::write_all(f, text.as_bytes()))
}

/// Every finished cell in a results folder, by cell index.
pub fn load_cells(out: &Path) -> std::io::Result<BTreeMap<usize, Row>> {
    let mut cells = BTreeMap::new();
    let dir = cells_dir(out);
    if !dir.exists() {
        return Ok(cells);
    }
    for entry in fs::read_dir(&dir)? {
        let path = entry?.path();
        let Some(index) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".cell")).and_then(|n| n.parse::<usize>().ok()) else { continue };
        if let Some(row) = Row::from_text(&fs::read_to_string(&path)?) {
            cells.insert(index, row);
        }
    }
    Ok(cells)
}

/// Columns that vary per run, not per configuration: left out of comparisons.
pub const TIMING_COLUMNS: &[&str] = &["time_ms"];

/// Build a DataFrame: every column typed Int, Float or Str by its values
/// (a column of ints and floats is Float; missing values are null).
pub fn frame(rows: &[Row]) -> PolarsResult<DataFrame> {
    let mut names: Vec<String> = Vec::new();
    for r in rows {
        for (n, _) in &r.0 {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    let mut columns = Vec::with_capacity(names.len());
    for n in &names {
        let vals: Vec<Option<&Value>> = rows.iter().map(|r| r.get(n)).collect();
        let all_int = vals.iter().flatten().all(|v| matches!(v, Value::Int(_)));
        let all_num = vals.iter().flatten().all(|v| !matches!(v, Value::Str(_)));
        let col = if all_int {
            Column::new(n.as_str().into(), vals.iter().map(|v| v.map(|v| if let Value::Int(i) = v { *i } else { 0 })).collect::<Vec<Option<i64>>>())
        } else if all_num {
            Column::new(
                n.as_str().into(),
                vals.iter()
                    .map(|v| {
                        v.map(|v| match v {
                            Value::Int(i) => *i as f64,
                            Value::Float(f) => *f,
                            Value::Str(_) => f64::NAN,
                        })
                    })
                    .collect::<Vec<Option<f64>>>(),
            )
        } else {
            Column::new(
                n.as_str().into(),
                vals.iter()
                    .map(|v| {
                        v.map(|v| match v {
                            Value::Int(i) => i.to_string(),
                            Value::Float(f) => f.to_string(),
                            Value::Str(s) => s.clone(),
                        })
                    })
                    .collect::<Vec<Option<String>>>(),
            )
        };
        columns.push(col);
    }
    DataFrame::new(rows.len(), columns)
}

fn write_frame(df: &mut DataFrame, base: &Path) -> PolarsResult<()> {
    let io = |e: PolarsError| std::io::Error::other(e.to_string());
    quantlab_tensors::write_atomically(&base.with_extension("parquet"), |f| ParquetWriter::new(f).finish(df).map(drop).map_err(io))?;
    quantlab_tensors::write_atomically(&base.with_extension("csv"), |f| CsvWriter::new(f).finish(df).map_err(io))?;
    Ok(())
}

/// Read a table written by [`write_tables`] back into rows (nulls left out),
/// so reports are drawn from the saved results alone.
pub fn read_rows(path: &Path) -> Result<Vec<Row>, String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}: cannot read results table: {e}", path.display());
    let file = fs::File::open(path).map_err(|e| fail(&e))?;
    let df = ParquetReader::new(file).finish().map_err(|e| fail(&e))?;
    let mut rows = vec![Row::default(); df.height()];
    for col in df.columns() {
        let name = col.name().as_str();
        let values: Vec<Option<Value>> = match col.dtype() {
            DataType::Int64 => col.i64().map_err(|e| fail(&e))?.iter().map(|v| v.map(Value::Int)).collect(),
            DataType::Float64 => col.f64().map_err(|e| fail(&e))?.iter().map(|v| v.map(Value::Float)).collect(),
            DataType::String => col.str().map_err(|e| fail(&e))?.iter().map(|v| v.map(|s| Value::Str(s.to_string()))).collect(),
            other => return Err(fail(&format!("column `{name}` has type {other}; quantlab writes i64, f64 and strings only"))),
        };
        for (row, v) in rows.iter_mut().zip(values) {
            if let Some(v) = v {
                row.push(name, v);
            }
        }
    }
    Ok(rows)
}

/// Columns that identify a configuration apart from its seed.
fn group_key(row: &Row) -> Vec<(String, String)> {
    let skip: BTreeSet<&str> = [
        "cell",
        "seed",
        "time_ms",
        "clip_alpha",
        "clip_lo",
        "clip_hi",
        "finite",
        "nan_in",
        "inf_in",
        "x_min",
        "x_max",
        "x_std",
        "x_b",
        "quantized_tensors",
        "fp32_bytes_per_sample",
        "sentences",
        ELEMENT_QUANTIZATIONS,
    ]
    .into_iter()
    .chain(METRICS.iter().map(|m| m.name))
    .collect();
    row.0
        .iter()
        .filter(|(n, _)| !skip.contains(n.as_str()))
        .map(|(n, v)| {
            let text = match v {
                Value::Int(i) => i.to_string(),
                Value::Float(f) => f.to_string(),
                Value::Str(s) => s.clone(),
            };
            (n.clone(), text)
        })
        .collect()
}

/// One summary row per configuration: its identifying columns, the number
/// of seeds, and `<metric>_mean`, `<metric>_ci95` for each metric its rows have.
pub fn summarise(rows: &[Row]) -> Vec<Row> {
    let mut groups: BTreeMap<Vec<(String, String)>, Vec<&Row>> = BTreeMap::new();
    let mut order: Vec<Vec<(String, String)>> = Vec::new();
    for r in rows {
        let k = group_key(r);
        if !groups.contains_key(&k) {
            order.push(k.clone());
        }
        groups.entry(k).or_default().push(r);
    }
    order
        .into_iter()
        .map(|k| {
            let members = &groups[&k];
            let mut out = Row::default();
            for (n, _) in &k {
                if let Some(v) = members[0].get(n) {
                    out.push(n, v.clone());
                }
            }
            out.push("seeds", Value::Int(members.len() as i64));
            for m in METRICS.iter().map(|m| m.name).filter(|m| members.iter().any(|r| r.get(m).is_some())) {
                let vals: Vec<f64> = members
                    .iter()
                    .filter_map(|r| match r.get(m) {
                        Some(Value::Float(f)) => Some(*f),
                        Some(Value::Int(i)) => Some(*i as f64),
                        _ => None,
                    })
                    .collect();
                let (mean, ci) = mean_ci95(&vals);
                out.push(&format!("{m}_mean"), Value::Float(mean));
                out.push(&format!("{m}_ci95"), Value::Float(ci));
            }
            out
        })
        .collect()
}

/// Rebuild `results.*` and `summary.*` from the cell files.
pub fn write_tables(out: &Path) -> Result<usize, String> {
    let cells = load_cells(out).map_err(|e| format!("{}: cannot read cells: {e}", out.display()))?;
    let rows: Vec<Row> = cells.into_values().collect();
    let mut df = frame(&rows).map_err(|e| e.to_string())?;
    write_frame(&mut df, &out.join("results")).map_err(|e| format!("{}: cannot write results: {e}", out.display()))?;
    let mut summary = frame(&summarise(&rows)).map_err(|e| e.to_string())?;
    write_frame(&mut summary, &out.join("summary")).map_err(|e| format!("{}: cannot write summary: {e}", out.display()))?;
    Ok(rows.len())
}

/// Mean and half-width of the 95% confidence interval (Student t); the
/// half-width is NaN for fewer than two values.
pub fn mean_ci95(values: &[f64]) -> (f64, f64) {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 || !mean.is_finite() {
        return (mean, f64::NAN);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64).expect("n >= 2").inverse_cdf(0.975);
    (mean, t * (var / n as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_text() {
        let mut r = Row::default();
        r.push("format", Value::Str("adaptivfloat(n=8,e=3)".into()));
        r.push("n", Value::Int(8));
        r.push("sqnr_db", Value::Float(f64::INFINITY));
        r.push("mse", Value::Float(0.1 + 0.2));
        assert_eq!(Row::from_text(&r.to_text()).unwrap(), r);
    }

    #[test]
    fn summary_groups_over_seeds() {
        let row = |seed: i64, rmse: f64, fmt: &str| {
            let mut r = Row::default();
            r.push("format", Value::Str(fmt.into()));
            r.push("seed", Value::Int(seed));
            r.push("rmse", Value::Float(rmse));
            r
        };
        let rows = vec![row(0, 1.0, "a"), row(1, 3.0, "a"), row(0, 5.0, "b")];
        let s = summarise(&rows);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].get("seeds"), Some(&Value::Int(2)));
        assert_eq!(s[0].get("rmse_mean"), Some(&Value::Float(2.0)));
        let df = frame(&s).unwrap();
        assert_eq!(df.height(), 2);
    }

    #[test]
    fn ci_uses_student_t() {
        let (m, h) = mean_ci95(&[1.0, 2.0, 3.0]);
        assert_eq!(m, 2.0);
        // t(0.975, 2) = 4.302653; sd = 1; n = 3
        assert!((h - 4.302_652_729_911_275 / 3f64.sqrt()).abs() < 1e-9, "{h}");
        assert!(mean_ci95(&[5.0]).1.is_nan());
    }

    #[test]
    fn rows_round_trip_through_parquet() {
        let dir = std::env::temp_dir().join(format!("quantlab-store-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut a = Row::default();
        a.push("format", Value::Str("int(bits=4)".into()));
        a.push("bits", Value::Int(4));
        a.push("rmse", Value::Float(0.25));
        let mut b = Row::default();
        b.push("format", Value::Str("int(bits=8)".into()));
        b.push("bits", Value::Int(8));
        b.push("p_e", Value::Int(3));
        b.push("rmse", Value::Float(f64::INFINITY));
        let mut df = frame(&[a.clone(), b.clone()]).unwrap();
        write_frame(&mut df, &dir.join("t")).unwrap();
        let back = read_rows(&dir.join("t.parquet")).unwrap();
        let sorted = |r: &Row| {
            let mut v = r.0.clone();
            v.sort_by(|x, y| x.0.cmp(&y.0));
            v
        };
        assert_eq!(back.iter().map(sorted).collect::<Vec<_>>(), vec![sorted(&a), sorted(&b)]);
        fs::remove_dir_all(&dir).ok();
    }
}
