//! Reading part of a file through a map of that part alone: no copy of the
//! bytes (a `pread` from the page cache cost more than what is computed on
//! them), and only that part's pages are resident. The pages of a mapped
//! file count as the process's memory while the map lives, so mapping a
//! whole tensor would hold its bytes beside its f32 copy.

use std::fs::File;
use std::path::Path;

use crate::TensorError;

/// Map offsets must be multiples of the page size; this is a multiple of
/// every page size in use (4 KiB, 16 KiB, 64 KiB).
const PAGE: u64 = 1 << 16;

/// Hand the `len` bytes that start `start` bytes into `f` (the file at
/// `path`) to `use_bytes`, mapped for the call and unmapped after it.
pub(crate) fn with_bytes<T>(f: &File, path: &Path, start: u64, len: usize, use_bytes: impl FnOnce(&[u8]) -> T) -> Result<T, TensorError> {
    let invalid = |why: String| TensorError::Invalid { path: path.display().to_string(), why };
    // Reading a map past the end of its file is a SIGBUS, not an error: a
    // file cut short since its header was read is caught here.
    let file_len = f.metadata().map_err(|e| invalid(format!("cannot read: {e}")))?.len();
    if start.checked_add(len as u64).is_none_or(|end| end > file_len) {
        return Err(invalid(format!("cannot read: the file is {file_len} bytes, shorter than its header says (changed since it was listed?)")));
    }
    if len == 0 {
        return Ok(use_bytes(&[]));
    }
    // Maps start at a page boundary.
    let skip = (start % PAGE) as usize;
    // SAFETY: read-only and dropped on return; a file changed underneath by
    // another process is outside our control, as with any mapped read.
    let map = unsafe { memmap2::MmapOptions::new().offset(start - skip as u64).len(skip + len).map(f) }.map_err(|e| invalid(format!("cannot read: {e}")))?;
    Ok(use_bytes(&map[skip..]))
}

/// Bytes hashed at a time by [`xxh3_prefix`].
const HASH_PIECE: u64 = 1 << 24;

/// XXH3-64 of the first `len` bytes of `f` (the file at `path`), hashed in
/// mapped pieces: the same value as hashing them at once, with one piece
/// resident at a time.
pub fn xxh3_prefix(f: &File, path: &Path, len: u64) -> Result<u64, TensorError> {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut at = 0;
    while at < len {
        let n = HASH_PIECE.min(len - at);
        with_bytes(f, path, at, n as usize, |b| hasher.update(b))?;
        at += n;
    }
    Ok(hasher.digest())
}
