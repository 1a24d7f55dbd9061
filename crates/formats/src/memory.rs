//! Allocations whose size comes from a user's numbers (a shape in a
//! configuration, an `.npy` or `.qlab` header, `--n`): their size in bytes
//! is computed without overflow and checked against the machine's memory
//! before anything is allocated, so a typo or a lying header gives an error
//! that says how much it would take, never an abort.

use std::fmt;

/// Why a buffer was not allocated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooLarge {
    /// What the buffer was for, e.g. "shape [100000, 100000]".
    pub what: String,
    /// Bytes it needs; `None` when the count overflows 64 bits.
    pub bytes: Option<u128>,
    /// The limit it was checked against.
    pub limit: Option<u64>,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.bytes, self.limit) {
            (None, _) => write!(f, "{} is too large: its size overflows 64 bits", self.what),
            (Some(b), Some(l)) if b > l as u128 => write!(f, "{} would take {}, more than this machine's {} of memory", self.what, human_bytes(b), human_bytes(l as u128)),
            (Some(b), _) => write!(f, "{} would take {}, which could not be allocated", self.what, human_bytes(b)),
        }
    }
}

impl std::error::Error for TooLarge {}

/// A size as a user writes it: `4G`, `512M`, `1.5GB`, `2GiB`, `800k`, or
/// plain bytes. k/M/G/T are powers of 1000 (as [`human_bytes`] prints
/// them), Ki/Mi/Gi/Ti powers of 1024; a trailing `B` is optional.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let t = t.strip_suffix(['B', 'b']).unwrap_or(t);
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: f64 = match unit.trim() {
        "" => 1.0,
        "k" | "K" => 1e3,
        "M" | "m" => 1e6,
        "G" | "g" => 1e9,
        "T" | "t" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        _ => return None,
    };
    let v = number.parse::<f64>().ok()? * factor;
    (v.is_finite() && v >= 1.0 && v < u64::MAX as f64).then_some(v as u64)
}

/// `1.5 GB`-style sizes (decimal units, as `ls -h --si` and disk vendors).
pub fn human_bytes(b: u128) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} bytes")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Physical memory of this machine in bytes (Linux: `MemTotal` of
/// `/proc/meminfo`); `None` where it cannot be read.
pub fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// The product of `dims` (elements of a shape), or `None` on overflow.
pub fn checked_numel(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// Elements of several shapes together, or `None` on overflow.
pub fn total_numel<'a>(shapes: impl IntoIterator<Item = &'a [usize]>) -> Option<usize> {
    shapes.into_iter().try_fold(0usize, |a, s| checked_numel(s).and_then(|n| a.checked_add(n)))
}

/// Check that `count` values of `elem_bytes` bytes each fit in memory.
pub fn check(count: usize, elem_bytes: usize, what: impl FnOnce() -> String) -> Result<(), TooLarge> {
    let bytes = (count as u128).checked_mul(elem_bytes as u128);
    let limit = physical_memory();
    match bytes {
        Some(b) if b <= usize::MAX as u128 && limit.is_none_or(|l| b <= l as u128) => Ok(()),
        _ => Err(TooLarge { what: what(), bytes: bytes.filter(|b| *b <= u64::MAX as u128), limit }),
    }
}

/// A vector of `count` default values, checked first ([`check`]), then
/// reserved fallibly: never an abort.
pub fn zeroed<T: Clone + Default>(count: usize, what: impl FnOnce() -> String) -> Result<Vec<T>, TooLarge> {
    let what = what();
    check(count, std::mem::size_of::<T>(), || what.clone())?;
    let mut v = Vec::new();
    v.try_reserve_exact(count).map_err(|_| TooLarge { what, bytes: Some(count as u128 * std::mem::size_of::<T>() as u128), limit: physical_memory() })?;
    v.resize(count, T::default());
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_written() {
        assert_eq!(parse_bytes("4G"), Some(4_000_000_000));
        assert_eq!(parse_bytes("1.5GB"), Some(1_500_000_000));
        assert_eq!(parse_bytes("2GiB"), Some(2 << 30));
        assert_eq!(parse_bytes("800k"), Some(800_000));
        assert_eq!(parse_bytes("12345"), Some(12345));
        for bad in ["", "G", "4X", "-1G", "0", "nanG", "1e400"] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
    }

    #[test]
    fn sizes_are_checked_before_allocating() {
        let e = check(100_000 * 100_000, 4, || "shape [100000, 100000]".into());
        if physical_memory().is_some_and(|m| m < 40_000_000_000) {
            let e = e.unwrap_err().to_string();
            assert!(e.starts_with("shape [100000, 100000] would take 40.0 GB, more than this machine's"), "{e}");
        }
        let e = zeroed::<f32>(usize::MAX, || "n".into()).unwrap_err().to_string();
        assert!(e.contains("would take") || e.contains("overflows"), "{e}");
        assert_eq!(zeroed::<f32>(3, || "x".into()).unwrap(), vec![0.0; 3]);
        assert_eq!(checked_numel(&[usize::MAX / 2 + 1, 2]), None);
        assert_eq!(checked_numel(&[]), Some(1));
        assert_eq!(human_bytes(40_000_000_000), "40.0 GB");
        assert_eq!(human_bytes(999), "999 bytes");
    }
}
