//! PipeEdge's bit packing (`_intmap_encode` / `_intmap_decode`): codes go
//! LSB-first into u32 words, `floor(32 / bits)` codes per word, the last word
//! zero-padded; words are written little-endian.

/// Number of u32 words that hold `count` codes of `bits` bits.
pub fn packed_len(count: usize, bits: u32) -> usize {
    let per_word = (32 / bits.clamp(1, 32)) as usize;
    count.div_ceil(per_word)
}

/// Pack codes (each below `2^bits`; higher bits are masked off).
pub fn pack(codes: &[u32], bits: u32) -> Vec<u32> {
    assert!((1..=32).contains(&bits), "code width {bits} outside 1..=32");
    let per_word = (32 / bits) as usize;
    let mask = if bits == 32 { u32::MAX } else { (1u32 << bits) - 1 };
    codes.chunks(per_word).map(|chunk| chunk.iter().enumerate().fold(0u32, |w, (i, &c)| w | (c & mask) << (i as u32 * bits))).collect()
}

/// Unpack `count` codes.
pub fn unpack(words: &[u32], bits: u32, count: usize) -> Vec<u32> {
    assert!((1..=32).contains(&bits), "code width {bits} outside 1..=32");
    let per_word = (32 / bits) as usize;
    let mask = if bits == 32 { u32::MAX } else { (1u32 << bits) - 1 };
    (0..count).map(|i| (words[i / per_word] >> ((i % per_word) as u32 * bits)) & mask).collect()
}

/// Unpack `out.len()` codes starting with code `first` of `words` (a
/// window of a longer packing: its first word holds code 0 of the window).
pub fn unpack_into(words: &[u32], bits: u32, first: usize, out: &mut [u32]) {
    assert!((1..=32).contains(&bits), "code width {bits} outside 1..=32");
    let per_word = (32 / bits) as usize;
    let mask = if bits == 32 { u32::MAX } else { (1u32 << bits) - 1 };
    for (i, o) in out.iter_mut().enumerate() {
        let k = first + i;
        *o = (words[k / per_word] >> ((k % per_word) as u32 * bits)) & mask;
    }
}

/// Words as little-endian bytes.
pub fn to_le_bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Little-endian bytes back to words; `None` when the length is not a
/// multiple of 4.
pub fn from_le_bytes(bytes: &[u8]) -> Option<Vec<u32>> {
    bytes.len().is_multiple_of(4).then(|| bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeedge_layout_for_3_bits() {
        // 10 codes per word, LSB first; the 11th code starts the next word.
        let codes: Vec<u32> = (0..11).map(|i| i % 8).collect();
        let words = pack(&codes, 3);
        assert_eq!(words.len(), 2);
        assert_eq!(words[0] & 0b111, 0);
        assert_eq!((words[0] >> 3) & 0b111, 1);
        assert_eq!((words[0] >> 27) & 0b111, 1); // code 9
        assert_eq!(words[0] >> 30, 0); // 2 padding bits
        assert_eq!(words[1], 2); // code 10 = 10 % 8
    }

    #[test]
    fn round_trip_every_width() {
        for bits in 1..=16u32 {
            let codes: Vec<u32> = (0..1000u32).map(|i| i.wrapping_mul(2_654_435_761) >> (32 - bits)).collect();
            let words = pack(&codes, bits);
            assert_eq!(words.len(), packed_len(codes.len(), bits));
            let bytes = to_le_bytes(&words);
            assert_eq!(unpack(&from_le_bytes(&bytes).unwrap(), bits, codes.len()), codes, "bits={bits}");
        }
    }
}
