//! What a sweep read, recorded in its manifest so that a resume can tell
//! whether its data is still the data the saved cells were made from.
//!
//! A synthetic source is its description (distribution, shape; the seeds
//! are in the configuration). A file is its path, size, modification time
//! and an XXH3-64 hash of its content (in mapped pieces: several GB/s with a
//! warm page cache). Two fingerprints match when every source has the same
//! description, or the same files with the same sizes and contents; a
//! modification time alone (a `touch`, a copy) does not make data new.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::config::{ModelPlan, Plan, SourceTemplate};
use quantlab_tensors::Source;

/// The fingerprint of every input of a plan, in the order they are read.
pub fn fingerprint(plan: &Plan) -> Result<Value, String> {
    let mut sources = Vec::new();
    for s in &plan.sources {
        sources.push(match &s.source {
            SourceTemplate::Synthetic { dist, shape } => json!({ "source": s.label, "synthetic": dist.label(), "shape": shape }),
            SourceTemplate::Fixed(src) => json!({ "source": s.label, "files": files(&source_files(src)?)? }),
        });
    }
    if let Some(m) = &plan.model {
        sources.push(json!({ "source": m.path.display().to_string(), "files": files(&model_files(m)?)? }));
        sources.push(json!({ "source": m.sentences.display().to_string(), "files": files(std::slice::from_ref(&m.sentences))? }));
    }
    Ok(Value::Array(sources))
}

/// Where two fingerprints differ, in words (`None`: the same data).
pub fn difference(old: &Value, new: &Value) -> Option<String> {
    let (Some(old), Some(new)) = (old.as_array(), new.as_array()) else {
        return Some("the saved results record no input fingerprint (written by an older quantlab)".into());
    };
    if old.len() != new.len() {
        return Some(format!("the configuration reads {} sources, the saved results {}", new.len(), old.len()));
    }
    for (o, n) in old.iter().zip(new) {
        let name = n["source"].as_str().unwrap_or("?");
        if o.get("files").is_none() || n.get("files").is_none() {
            if o != n {
                return Some(format!("{name}: a different synthetic source"));
            }
            continue;
        }
        let (of, nf) = (o["files"].as_array().cloned().unwrap_or_default(), n["files"].as_array().cloned().unwrap_or_default());
        if of.len() != nf.len() {
            return Some(format!("{name}: {} files now, {} when the results were made", nf.len(), of.len()));
        }
        for (a, b) in of.iter().zip(&nf) {
            let path = b["path"].as_str().unwrap_or("?");
            if a["path"] != b["path"] {
                return Some(format!("{name}: reads {path} now, {} before", a["path"].as_str().unwrap_or("?")));
            }
            if a["bytes"] != b["bytes"] || a["xxh3"] != b["xxh3"] {
                return Some(format!(
                    "{path}: its content changed ({} bytes, xxh3 {} when the results were made; {} bytes, xxh3 {} now)",
                    a["bytes"],
                    a["xxh3"].as_str().unwrap_or("?"),
                    b["bytes"],
                    b["xxh3"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    None
}

fn source_files(src: &Source) -> Result<Vec<PathBuf>, String> {
    match src {
        Source::Synthetic { .. } => Ok(vec![]),
        Source::Npy { path } => Ok(vec![path.clone()]),
        Source::Safetensors { path, .. } => {
            let mut files = quantlab_tensors::safetensors_file::model_files(path).map_err(|e| e.to_string())?;
            let index = path.join("model.safetensors.index.json");
            if path.is_dir() && index.exists() {
                files.insert(0, index);
            }
            Ok(files)
        }
    }
}

/// The files of a model folder the model reads (every regular file in it).
fn model_files(m: &ModelPlan) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&m.path).map_err(|e| format!("{}: cannot read: {e}", m.path.display()))?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    files.sort();
    Ok(files)
}

fn files(paths: &[PathBuf]) -> Result<Vec<Value>, String> {
    paths.iter().map(|p| file(p)).collect()
}

fn file(path: &Path) -> Result<Value, String> {
    let fail = |e: std::io::Error| format!("{}: cannot read: {e}", path.display());
    let f = std::fs::File::open(path).map_err(fail)?;
    let meta = f.metadata().map_err(fail)?;
    let modified = meta.modified().ok().map(|t| humantime::format_rfc3339_nanos(t).to_string());
    // In mapped pieces: a whole-file map would keep every page resident
    // while hashing (5 GB for a shard).
    let hash = quantlab_tensors::xxh3_prefix(&f, path, meta.len()).map_err(|e| e.to_string())?;
    Ok(json!({ "path": path.display().to_string(), "bytes": meta.len(), "modified": modified, "xxh3": format!("{hash:016x}") }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_not_the_clock_decides() {
        let dir = std::env::temp_dir().join(format!("quantlab-inputs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.bin");
        std::fs::write(&p, b"abcd").unwrap();
        let a = json!([{ "source": "x", "files": files(std::slice::from_ref(&p)).unwrap() }]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&p, b"abcd").unwrap();
        let b = json!([{ "source": "x", "files": files(std::slice::from_ref(&p)).unwrap() }]);
        assert_eq!(difference(&a, &b), None);
        std::fs::write(&p, b"abce").unwrap();
        let c = json!([{ "source": "x", "files": files(std::slice::from_ref(&p)).unwrap() }]);
        assert!(difference(&a, &c).unwrap().contains("content changed"), "{:?}", difference(&a, &c));
        assert!(difference(&Value::Null, &c).unwrap().contains("older quantlab"));
        // Hashed in pieces (of 16 MiB), the value of the whole (the one manifests hold):
        // a length that is not a multiple of the piece.
        let big: Vec<u8> = (0..(33u32 << 20) + 13).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        std::fs::write(&p, &big).unwrap();
        assert_eq!(file(&p).unwrap()["xxh3"], format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&big)));
        std::fs::write(&p, b"").unwrap();
        assert_eq!(file(&p).unwrap()["xxh3"], format!("{:016x}", xxhash_rust::xxh3::xxh3_64(b"")));
        std::fs::remove_dir_all(&dir).ok();
    }
}
