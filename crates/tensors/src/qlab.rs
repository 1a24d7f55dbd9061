//! `.qlab` containers (`quantlab quantize --encode`) decoded to `.npy` a
//! piece at a time: the header, a streamed checksum over the mapped file,
//! the metadata in memory (a small fraction of the codes), then the codes
//! read and decoded piece by piece and the values written as they come.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use quantlab_formats::{packing, ContainerInfo, Format};

use crate::Stop;

/// Values decoded at a time.
const PIECE: usize = 1 << 20;

/// The header of a container, checked against the file's length.
pub fn info(path: &Path) -> Result<ContainerInfo, String> {
    let fail = |e: std::io::Error| format!("{}: cannot open: {e}", path.display());
    let mut f = File::open(path).map_err(fail)?;
    let len = f.metadata().map_err(fail)?.len();
    let mut head = vec![0u8; 12.min(len as usize)];
    f.read_exact(&mut head).map_err(fail)?;
    if head.len() == 12 {
        let hlen = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as u64;
        // A header longer than the file is the parser's error to name.
        let more = hlen.min(len - 12) as usize;
        let mut rest = vec![0u8; more];
        f.read_exact(&mut rest).map_err(fail)?;
        head.extend(rest);
    }
    ContainerInfo::parse(&head, len).map_err(|e| format!("{}: {e}", path.display()))
}

/// Decode the container at `input` (whose header is `info`) in `format`
/// into an `.npy` at `output`, a piece at a time. `Ok(false)`, nothing
/// written, when its groups cannot be decoded in pieces
/// (`formats::decode_pieces`): the caller decodes it whole.
pub fn decode_to_npy(input: &Path, info: &ContainerInfo, format: &dyn Format, output: &Path) -> Result<bool, String> {
    if !quantlab_formats::splits(format, &info.shape, info.granularity, PIECE) {
        return Ok(false);
    }
    let name = |e: &dyn std::fmt::Display| format!("{}: {e}", input.display());
    let f = File::open(input).map_err(|e| name(&format!("cannot open: {e}")))?;
    // The checksum first: nothing is written from a damaged file.
    let content = info.content_len() as u64;
    let actual = crate::xxh3_prefix(&f, input, content).map_err(|e| e.to_string())?;
    let stored = crate::mapped::with_bytes(&f, input, content, 8, |b| u64::from_le_bytes(b.try_into().expect("8 bytes"))).map_err(|e| e.to_string())?;
    ContainerInfo::check_sum(stored, actual).map_err(|e| name(&e))?;
    let (meta_at, meta_bytes) = info.meta_at();
    quantlab_formats::memory::check(meta_bytes / 4, 4, || "the metadata".into()).map_err(|e| name(&e))?;
    let meta = crate::mapped::with_bytes(&f, input, meta_at as u64, meta_bytes, packing::from_le_bytes).map_err(|e| e.to_string())?.ok_or_else(|| name(&"metadata is not whole words"))?;
    let (codes_at, _) = info.codes_at();
    let per_word = (32 / info.code_bits) as usize;
    let mut words = Vec::new();
    let mut read_codes = |start: usize, out: &mut [u32]| -> Result<(), Stop> {
        let (w0, w1) = (start / per_word, (start + out.len()).div_ceil(per_word));
        crate::mapped::with_bytes(&f, input, (codes_at + 4 * w0) as u64, 4 * (w1 - w0), |b| {
            words.clear();
            words.extend(b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        })
        .map_err(|e| Stop::Read(e.to_string()))?;
        packing::unpack_into(&words, info.code_bits, start - w0 * per_word, out);
        Ok(())
    };
    let mut stop_kept = None;
    let mut decoded = false;
    let written = crate::write_atomically(output, |file| {
        let mut w = BufWriter::with_capacity(1 << 20, file);
        w.write_all(&crate::npy::header_bytes(&info.shape))?;
        let walked = quantlab_formats::decode_pieces::<Stop>(format, &info.shape, info.granularity, &meta, PIECE, &mut read_codes, &mut |v| crate::npy::write_values(&mut w, v).map_err(Stop::Output));
        match walked {
            Ok(true) => {
                decoded = true;
                w.flush()
            }
            Ok(false) => Err(std::io::Error::other("not in pieces")),
            Err(stop) => Err(stop.into_io(&mut stop_kept)),
        }
    });
    if let Some(stop) = stop_kept {
        return Err(stop.message(input, ""));
    }
    if !decoded {
        return Ok(false);
    }
    written.map_err(|e| format!("{}: cannot write: {e}", output.display()))?;
    Ok(true)
}
