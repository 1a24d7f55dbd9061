//! The `.qlab` byte container for an [`Encoded`] tensor, written by
//! `quantlab quantize --encode` and read by `quantlab decode`:
//!
//! ```text
//! b"QLABENC1"                      8-byte magic and version
//! u32 LE  header length H
//! H bytes UTF-8 header, one `key=value` per line:
//!         format, shape (comma-separated), granularity, code_bits,
//!         count (codes), meta_words, meta_bits, units
//! codes   packed PipeEdge-style (`packing`), ceil(count / floor(32/bits)) u32 LE words
//! meta    units * meta_words u32 LE words
//! ```

use crate::packing;
use crate::tensor::{Encoded, Granularity};

const MAGIC: &[u8; 8] = b"QLABENC1";

impl Encoded {
    /// Serialize to the `.qlab` container.
    pub fn to_bytes(&self) -> Vec<u8> {
        let units = self.meta.len().checked_div(self.meta_words).unwrap_or(0);
        let shape: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        let header = format!(
            "format={}\nshape={}\ngranularity={}\ncode_bits={}\ncount={}\nmeta_words={}\nmeta_bits={}\nunits={}\n",
            self.format,
            shape.join(","),
            self.granularity,
            self.code_bits,
            self.codes.len(),
            self.meta_words,
            self.meta_bits,
            units
        );
        let mut out = MAGIC.to_vec();
        out.extend((header.len() as u32).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(packing::to_le_bytes(&packing::pack(&self.codes, self.code_bits)));
        out.extend(packing::to_le_bytes(&self.meta));
        out
    }

    /// Parse a `.qlab` container; the error says what is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<Encoded, String> {
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err("not a quantlab encoded file (bad magic; expected QLABENC1)".into());
        }
        let hlen = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        let header = bytes.get(12..12 + hlen).ok_or("header runs past the end of the file")?;
        let header = std::str::from_utf8(header).map_err(|_| "header is not UTF-8")?;
        let get = |key: &str| {
            header
                .lines()
                .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
                .ok_or_else(|| format!("header lacks `{key}`"))
        };
        let num = |key: &str| get(key)?.parse::<usize>().map_err(|_| format!("header `{key}` is not a number"));
        let shape: Vec<usize> = match get("shape")? {
            "" => vec![],
            s => s.split(',').map(|d| d.parse::<usize>().map_err(|_| format!("bad shape `{s}`"))).collect::<Result<_, _>>()?,
        };
        let granularity: Granularity = get("granularity")?.parse()?;
        let code_bits = num("code_bits")? as u32;
        if !(1..=32).contains(&code_bits) {
            return Err(format!("code_bits {code_bits} outside 1..=32"));
        }
        let count = num("count")?;
        let meta_words = num("meta_words")?;
        let units = num("units")?;
        let numel = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("shape overflows")?;
        if numel != count {
            return Err(format!("shape {shape:?} holds {numel} elements but the header says {count} codes"));
        }
        let code_bytes = packing::packed_len(count, code_bits) * 4;
        let meta_bytes = units.checked_mul(meta_words).and_then(|w| w.checked_mul(4)).ok_or("metadata size overflows")?;
        let body = &bytes[12 + hlen..];
        if body.len() != code_bytes + meta_bytes {
            return Err(format!("expected {} bytes of codes and metadata after the header, found {}", code_bytes + meta_bytes, body.len()));
        }
        let words = packing::from_le_bytes(&body[..code_bytes]).ok_or("codes are not whole words")?;
        Ok(Encoded {
            format: get("format")?.to_string(),
            shape,
            granularity,
            code_bits,
            codes: packing::unpack(&words, code_bits, count),
            meta: packing::from_le_bytes(&body[code_bytes..]).ok_or("metadata is not whole words")?,
            meta_words,
            meta_bits: num("meta_bits")? as u32,
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
        let enc = encode(&*f, &x, &[3, 20], Granularity::Channel { axis: 0 }, None, 0).unwrap();
        let bytes = enc.to_bytes();
        assert_eq!(Encoded::from_bytes(&bytes).unwrap(), enc);
        assert!(Encoded::from_bytes(&bytes[..bytes.len() - 1]).unwrap_err().contains("expected"));
        assert!(Encoded::from_bytes(b"garbage!garbage").unwrap_err().contains("magic"));
        let mut big = bytes.clone();
        big[8] = 0xff; // header length past the end
        assert!(Encoded::from_bytes(&big).unwrap_err().contains("past the end"));
    }
}
