//! Decoding a piece at a time against decoding whole: for every family's
//! presets and every granularity, the pieces concatenated are `decode`'s
//! values bit for bit, whatever the piece size; what cannot be decoded in
//! parts says so; damaged metadata is an error either way.

use quantlab_formats::{decode, decode_pieces, encode, parse, Granularity, TensorError, FAMILIES};

fn data(n: usize) -> Vec<f32> {
    (0..n).map(|i| if i % 97 == 13 { 0.0 } else { (((i * 7919) % 1009) as f32 - 504.0) / 97.0 * if i % 11 == 0 { 9.0 } else { 1.0 } }).collect()
}

fn in_pieces(f: &dyn quantlab_formats::Format, enc: &quantlab_formats::Encoded, meta: &[u32], piece: usize) -> Result<Option<Vec<f32>>, TensorError> {
    let mut out = Vec::new();
    let ok = decode_pieces::<TensorError>(
        f,
        &enc.shape,
        enc.granularity,
        meta,
        piece,
        &mut |start, c| {
            assert!(c.len() <= piece.max(enc.shape.last().copied().unwrap_or(1)), "read {} codes at once", c.len());
            c.copy_from_slice(&enc.codes[start..start + c.len()]);
            Ok(())
        },
        &mut |v| {
            out.extend_from_slice(v);
            Ok(())
        },
    )?;
    Ok(ok.then_some(out))
}

#[test]
fn pieces_decode_as_the_whole() {
    let mut presets: Vec<String> = FAMILIES.iter().flat_map(|f| f.presets().iter().map(|p| p.name.to_string())).collect();
    presets.extend(["adaptivfloat(n=8,e=3)", "int(bits=4,mode=asymmetric)", "int(bits=8)", "bfp(bits=8,block=16)", "posit(n=8,es=1)"].map(String::from));
    let mut split = 0;
    for desc in &presets {
        let f = parse(desc).unwrap();
        for (shape, gran) in [
            (vec![12, 64], Granularity::Tensor),
            (vec![12, 64], Granularity::Channel { axis: 0 }),
            (vec![12, 64], Granularity::Block { size: 16 }),
            (vec![3, 4, 40], Granularity::Channel { axis: 1 }),
            (vec![700], Granularity::Tensor),
        ] {
            let x = data(shape.iter().product());
            let Ok(enc) = encode(&*f, &x, &shape, gran, &[], 5) else { continue };
            let whole = decode(&*f, &enc).unwrap();
            for piece in [1, 64, 100, 1 << 20] {
                match in_pieces(&*f, &enc, &enc.meta, piece).unwrap() {
                    None => assert!(matches!(gran, Granularity::Channel { axis: 1 }) || piece < x.len(), "{desc} {gran} {piece}: refused"),
                    Some(v) => {
                        assert!(v.len() == whole.len() && v.iter().zip(&whole).all(|(a, b)| a.to_bits() == b.to_bits()), "{desc} {shape:?} {gran} piece {piece}");
                        split += 1;
                    }
                }
            }
            // Metadata cut short or with a word too many: an error, not garbage.
            if !enc.meta.is_empty() && !matches!(gran, Granularity::Channel { axis: 1 }) {
                assert!(in_pieces(&*f, &enc, &enc.meta[..enc.meta.len() - 1], 1 << 20).is_err(), "{desc} {gran}: short metadata");
                let mut more = enc.meta.clone();
                more.push(0);
                assert!(in_pieces(&*f, &enc, &more, 1 << 20).is_err(), "{desc} {gran}: extra metadata");
            }
        }
    }
    assert!(split > 300, "{split}");
}
