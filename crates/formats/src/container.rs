//! The `.qlab` byte container for an [`Encoded`] tensor, written by
//! `quantlab quantize --encode` and read by `quantlab decode`:
//!
//! ```text
//! b"QLABENC2"                      8-byte magic and version
//! u32 LE  header length H
//! H bytes UTF-8 header, one `key=value` per line:
//!         format, shape (comma-separated), granularity, code_bits,
//!         count (codes), meta_words, meta_bits, units, groups,
//!         group_words, group_bits (all groups' own levels together;
//!         files written before double quantization say group_meta_words
//!         and group_meta_bits per group instead, and still read)
//! codes   packed PipeEdge-style (`packing`), ceil(count / floor(32/bits)) u32 LE words
//! meta    group_words + units * meta_words u32 LE words: per
//!         group, its own words and then its units' words
//! u64 LE  XXH3-64 of every byte before it
//! ```
//!
//! Reading checks, before allocating anything, that the file is exactly as
//! long as its header says (sizes computed without overflow) and that the
//! checksum matches, so a truncated, extended or bit-flipped file is an
//! error, never garbage. Version 1 (no checksum) is refused with a note.

use xxhash_rust::xxh3::xxh3_64;

use crate::memory;
use crate::packing;
use crate::tensor::{Encoded, Granularity};

const MAGIC: &[u8; 8] = b"QLABENC2";
const MAGIC_V1: &[u8; 8] = b"QLABENC1";
/// Magic and header length.
const PREFIX: usize = 12;
const CHECKSUM: usize = 8;

impl Encoded {
    /// Serialize to the `.qlab` container.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Counts {
            format: &self.format,
            shape: &self.shape,
            granularity: self.granularity,
            code_bits: self.code_bits,
            count: self.codes.len(),
            meta_words: self.meta_words,
            meta_bits: self.meta_bits,
            units: self.units(),
            groups: self.groups,
            group_words: self.group_words,
            group_bits: self.group_bits,
        }
        .prefix();
        out.extend(packing::to_le_bytes(&packing::pack(&self.codes, self.code_bits)));
        out.extend(packing::to_le_bytes(&self.meta));
        let sum = xxh3_64(&out);
        out.extend(sum.to_le_bytes());
        out
    }

    /// Parse a `.qlab` container; the error says what is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<Encoded, String> {
        let info = ContainerInfo::parse(bytes, bytes.len() as u64)?;
        let (hlen, code_bytes, count, code_bits) = (info.header_len, info.code_bytes, info.count, info.code_bits);
        let (content, trailer) = bytes.split_at(bytes.len() - CHECKSUM);
        let stored = u64::from_le_bytes(trailer.try_into().expect("8 bytes"));
        let actual = xxh3_64(content);
        ContainerInfo::check_sum(stored, actual)?;
        memory::check(count, 4, || format!("decoding {count} codes")).map_err(|e| e.to_string())?;
        let body = &content[PREFIX + hlen..];
        let words = packing::from_le_bytes(&body[..code_bytes]).ok_or("codes are not whole words")?;
        Ok(Encoded {
            format: info.format,
            shape: info.shape,
            granularity: info.granularity,
            code_bits,
            codes: packing::unpack(&words, code_bits, count),
            meta: packing::from_le_bytes(&body[code_bytes..]).ok_or("metadata is not whole words")?,
            meta_words: info.meta_words,
            meta_bits: info.meta_bits,
            groups: info.groups,
            group_words: info.group_words,
            group_bits: info.group_bits,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{encode, parse, Encoded, Granularity};

    #[test]
    fn container_round_trips_and_rejects_damage() {
        let f = parse("adaptivfloat(n=6,e=3)").unwrap();
        let x: Vec<f32> = (0..60).map(|i| (i as f32 - 30.0) / 7.0).collect();
        let enc = encode(&*f, &x, &[3, 20], Granularity::Channel { axis: 0 }, &[], 0).unwrap();
        let bytes = enc.to_bytes();
        assert_eq!(Encoded::from_bytes(&bytes).unwrap(), enc);
        assert!(Encoded::from_bytes(&bytes[..bytes.len() - 1]).unwrap_err().contains("truncated"));
        assert!(Encoded::from_bytes(b"garbage!garbage").unwrap_err().contains("magic"));
        let mut big = bytes.clone();
        big[8] = 0xff; // header length past the end
        assert!(Encoded::from_bytes(&big).unwrap_err().contains("past the end"));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Encoded::from_bytes(&longer).unwrap_err().contains("extra bytes"));
        // A flipped bit in the codes or the metadata keeps every length.
        let body = 12 + u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        for at in [bytes.len() - 9, body, body + 7, bytes.len() - 1] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            assert!(Encoded::from_bytes(&flipped).unwrap_err().contains("checksum mismatch"), "byte {at}");
        }
        let mut v1 = bytes.clone();
        v1[7] = b'1';
        assert!(Encoded::from_bytes(&v1).unwrap_err().contains("version 1"));
    }

    /// A header that claims 2^62 codes of 32 bits: the size check must not
    /// wrap to a small number and let the decoder allocate.
    #[test]
    fn huge_claims_are_refused_before_allocating() {
        let header = "format=int(bits=8)\nshape=4611686018427387904\ngranularity=tensor\ncode_bits=32\ncount=4611686018427387904\nmeta_words=1\nmeta_bits=32\nunits=1\n";
        let mut bytes = b"QLABENC2".to_vec();
        bytes.extend((header.len() as u32).to_le_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend([0u8; 12]);
        let e = Encoded::from_bytes(&bytes).unwrap_err();
        assert!(e.contains("overflow") || e.contains("truncated"), "{e}");
    }
}

/// What a container's header says, checked against the file's length
/// (sizes computed without overflow): enough to read its codes and
/// metadata piece by piece.
#[derive(Clone, Debug)]
pub struct ContainerInfo {
    /// The format's description.
    pub format: String,
    /// The tensor's shape.
    pub shape: Vec<usize>,
    /// How it was grouped.
    pub granularity: Granularity,
    /// Bits of each code.
    pub code_bits: u32,
    /// Codes (elements).
    pub count: usize,
    /// Metadata words per unit.
    pub meta_words: usize,
    /// Metadata bits per unit as counted.
    pub meta_bits: u32,
    /// Scaling units.
    pub units: usize,
    /// Groups.
    pub groups: usize,
    /// Words of all groups' own levels.
    pub group_words: usize,
    /// Bits of all groups' own levels as counted.
    pub group_bits: u64,
    header_len: usize,
    code_bytes: usize,
    meta_bytes: usize,
}

impl ContainerInfo {
    /// Read the header at the start of `bytes` (at least the magic, the
    /// header length and the header) of a file of `file_len` bytes.
    pub fn parse(bytes: &[u8], file_len: u64) -> Result<ContainerInfo, String> {
        if bytes.len() >= 8 && &bytes[..8] == MAGIC_V1 {
            return Err("a container of version 1 (QLABENC1, written before containers had checksums); this quantlab reads version 2: encode the tensor again with `quantlab quantize --encode`".into());
        }
        if file_len < (PREFIX + CHECKSUM) as u64 || bytes.len() < PREFIX || &bytes[..8] != MAGIC {
            return Err("not a quantlab encoded file (bad magic or too short; expected QLABENC2)".into());
        }
        let hlen = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        let header = bytes.get(PREFIX..PREFIX + hlen).ok_or("header runs past the end of the file (truncated or damaged)")?;
        let header = std::str::from_utf8(header).map_err(|_| "header is not UTF-8 (damaged)")?;
        let get = |key: &str| header.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('='))).ok_or_else(|| format!("header lacks `{key}`"));
        let num = |key: &str| get(key)?.parse::<usize>().map_err(|_| format!("header `{key}` is not a number"));
        let shape: Vec<usize> = match get("shape")? {
            "" => vec![],
            s => s.split(',').map(|d| d.parse::<usize>().map_err(|_| format!("bad shape `{s}`"))).collect::<Result<_, _>>()?,
        };
        let granularity: Granularity = get("granularity")?.parse()?;
        let code_bits = num("code_bits")?;
        if !(1..=32).contains(&code_bits) {
            return Err(format!("code_bits {code_bits} outside 1..=32"));
        }
        let code_bits = code_bits as u32;
        let count = num("count")?;
        let meta_words = num("meta_words")?;
        let units = num("units")?;
        let meta_bits = num("meta_bits")?;
        // The group level's keys came with it; a container without them has
        // no group level.
        let optional = |key: &str| if header.lines().any(|l| l.starts_with(&format!("{key}="))) { num(key) } else { Ok(0) };
        let groups = optional("groups")?;
        let (group_words, group_bits) = if header.lines().any(|l| l.starts_with("group_words=")) {
            (num("group_words")?, optional("group_bits")? as u64)
        } else {
            let (w, b) = (optional("group_meta_words")?, optional("group_meta_bits")?);
            (groups.checked_mul(w).ok_or("header sizes overflow (damaged)")?, groups.checked_mul(b).ok_or("header sizes overflow (damaged)")? as u64)
        };
        let numel = memory::checked_numel(&shape).ok_or("shape overflows")?;
        if numel != count {
            return Err(format!("shape {shape:?} holds {numel} elements but the header says {count} codes"));
        }
        let overflow = || "header sizes overflow (damaged)".to_string();
        let code_bytes = packing::packed_len(count, code_bits).checked_mul(4).ok_or_else(overflow)?;
        let meta_bytes = units.checked_mul(meta_words).and_then(|w| w.checked_add(group_words)).and_then(|w| w.checked_mul(4)).ok_or_else(overflow)?;
        let expected = [PREFIX, hlen, code_bytes, meta_bytes, CHECKSUM].iter().try_fold(0usize, |a, &b| a.checked_add(b)).ok_or_else(overflow)?;
        if file_len != expected as u64 {
            let how = if file_len < expected as u64 { "truncated" } else { "has extra bytes" };
            return Err(format!("file is {file_len} bytes but its header describes {expected} ({how})"));
        }
        Ok(ContainerInfo {
            format: get("format")?.to_string(),
            shape,
            granularity,
            code_bits,
            count,
            meta_words,
            meta_bits: u32::try_from(meta_bits).map_err(|_| "header `meta_bits` is too large")?,
            units,
            groups,
            group_words,
            group_bits,
            header_len: hlen,
            code_bytes,
            meta_bytes,
        })
    }

    /// Bytes before the header (magic and header length), then the header.
    pub fn header_end(&self) -> usize {
        PREFIX + self.header_len
    }

    /// Where the packed codes start, and their bytes.
    pub fn codes_at(&self) -> (usize, usize) {
        (self.header_end(), self.code_bytes)
    }

    /// Where the metadata words start, and their bytes.
    pub fn meta_at(&self) -> (usize, usize) {
        (self.header_end() + self.code_bytes, self.meta_bytes)
    }

    /// Bytes the checksum covers (everything before it).
    pub fn content_len(&self) -> usize {
        self.header_end() + self.code_bytes + self.meta_bytes
    }

    /// The stored checksum against the one of the content (XXH3-64 of
    /// every byte before it).
    pub fn check_sum(stored: u64, actual: u64) -> Result<(), String> {
        match stored == actual {
            true => Ok(()),
            false => Err(format!("checksum mismatch (stored {stored:016x}, content {actual:016x}): the file is damaged")),
        }
    }
}

/// What a container's header records.
struct Counts<'a> {
    format: &'a str,
    shape: &'a [usize],
    granularity: Granularity,
    code_bits: u32,
    count: usize,
    meta_words: usize,
    meta_bits: u32,
    units: usize,
    groups: usize,
    group_words: usize,
    group_bits: u64,
}

impl Counts<'_> {
    /// The magic, the header's length and the header.
    fn prefix(&self) -> Vec<u8> {
        let shape: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        let mut header = format!(
            "format={}\nshape={}\ngranularity={}\ncode_bits={}\ncount={}\nmeta_words={}\nmeta_bits={}\nunits={}\n",
            self.format,
            shape.join(","),
            self.granularity,
            self.code_bits,
            self.count,
            self.meta_words,
            self.meta_bits,
            self.units
        );
        header += &format!("groups={}\ngroup_words={}\ngroup_bits={}\n", self.groups, self.group_words, self.group_bits);
        let mut out = MAGIC.to_vec();
        out.extend((header.len() as u32).to_le_bytes());
        out.extend(header.as_bytes());
        out
    }
}

/// A container written as its codes come (a tensor larger than memory):
/// the header, known from the shape alone; the codes, packed as they come;
/// then the metadata and the checksum. The bytes are those of
/// [`Encoded::to_bytes`] for the same tensor.
pub struct ContainerWriter<W: std::io::Write> {
    w: W,
    hasher: xxhash_rust::xxh3::Xxh3,
    code_bits: u32,
    /// Codes short of a whole word.
    pending: Vec<u32>,
}

impl<W: std::io::Write> ContainerWriter<W> {
    /// Write the header of a tensor of this shape in this format and
    /// granularity.
    pub fn new(mut w: W, format: &dyn crate::Format, shape: &[usize], granularity: Granularity) -> Result<ContainerWriter<W>, String> {
        let c = crate::tensor::group_counts(format, shape, granularity).map_err(|e| e.to_string())?;
        // As `Encoded::units` counts them: words below the group levels.
        let units = if format.meta_words() == 0 { 0 } else { c.units };
        let format_text = format.describe();
        let prefix = Counts {
            format: &format_text,
            shape,
            granularity,
            code_bits: format.code_bits(),
            count: c.numel,
            meta_words: format.meta_words(),
            meta_bits: format.meta_bits(),
            units,
            groups: c.groups,
            group_words: c.group_words,
            group_bits: c.group_bits,
        }
        .prefix();
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(&prefix);
        w.write_all(&prefix).map_err(|e| e.to_string())?;
        Ok(ContainerWriter { w, hasher, code_bits: format.code_bits(), pending: Vec::new() })
    }

    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hasher.update(bytes);
        self.w.write_all(bytes)
    }

    /// The next codes, in stream order.
    pub fn codes(&mut self, codes: &[u32]) -> std::io::Result<()> {
        let per_word = (32 / self.code_bits) as usize;
        let mut codes = codes;
        if !self.pending.is_empty() {
            let take = (per_word - self.pending.len()).min(codes.len());
            self.pending.extend_from_slice(&codes[..take]);
            codes = &codes[take..];
            if self.pending.len() < per_word {
                return Ok(());
            }
            let word = packing::to_le_bytes(&packing::pack(&std::mem::take(&mut self.pending), self.code_bits));
            self.put(&word)?;
        }
        let whole = codes.len() / per_word * per_word;
        let bytes = packing::to_le_bytes(&packing::pack(&codes[..whole], self.code_bits));
        self.put(&bytes)?;
        self.pending.extend_from_slice(&codes[whole..]);
        Ok(())
    }

    /// The last partial word of codes, the metadata, the checksum.
    pub fn finish(mut self, meta: &[u32]) -> std::io::Result<W> {
        let last = packing::to_le_bytes(&packing::pack(&std::mem::take(&mut self.pending), self.code_bits));
        self.put(&last)?;
        self.put(&packing::to_le_bytes(meta))?;
        let sum = self.hasher.digest();
        self.w.write_all(&sum.to_le_bytes())?;
        Ok(self.w)
    }
}
