//! The group walk a piece at a time against the whole walk: for every
//! family's presets (and stochastic rounding, clipping strategies, every
//! granularity), the pieces concatenated are `quantize_into`'s values and
//! clips, bit for bit, whatever the piece size; a tensor that cannot be
//! split says so and is left alone.

use quantlab_formats::{parse, Format, Granularity, FAMILIES};
use quantlab_quantize::pieces::{quantize_pieces, quantize_streamed, splits};
use quantlab_quantize::{quantize, Chosen};

fn data(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| match i % 211 {
            17 => f32::NAN,
            45 => f32::INFINITY,
            90 => 0.0,
            _ => (((i * 7919) % 1009) as f32 - 504.0) / 97.0 * if i % 13 == 0 { 9.0 } else { 1.0 },
        })
        .collect()
}

fn formats() -> Vec<String> {
    let mut v: Vec<String> = FAMILIES.iter().flat_map(|f| f.presets().iter().map(|p| p.name.to_string())).collect();
    v.extend(
        [
            "adaptivfloat(n=8,e=3)",
            "adaptivfloat(n=6,e=3,round=stochastic)",
            "int(bits=8)",
            "int(bits=4,mode=asymmetric,round=stochastic)",
            "fp8-e4m3-scaled",
            "scaled(elem=fp8-e4m3,scale=f32,round=stochastic)",
            "bfp(bits=8,block=16)",
            "posit(n=8,es=1)",
        ]
        .map(String::from),
    );
    v
}

/// Run the piece walk and gather what it hands out.
fn in_pieces(f: &dyn Format, s: &dyn quantlab_clamp::Strategy, x: &[f32], shape: &[usize], gran: Granularity, piece: usize) -> Option<(Vec<f32>, Vec<Chosen>, usize)> {
    let (mut q, mut chosen, mut calls, mut seen) = (Vec::new(), Vec::new(), 0, 0);
    let mut scratch = Vec::new();
    let stats = quantlab_formats::stats::Stats::of(x);
    let split = quantize_pieces(f, s, x, shape, gran, 7, piece, piece.is_multiple_of(2).then_some(&stats), &mut scratch, |xi, qi, c| {
        assert_eq!(xi.as_ptr(), x[seen..].as_ptr(), "pieces are consecutive");
        assert_eq!(xi.len(), qi.len());
        seen += xi.len();
        q.extend_from_slice(qi);
        chosen.extend_from_slice(c);
        calls += 1;
    })
    .unwrap();
    split.then_some((q, chosen, calls))
}

/// Run the streamed walk, reading from `x` on demand, and gather what it
/// hands out; the longest read too.
fn streamed(f: &dyn Format, s: &dyn quantlab_clamp::Strategy, x: &[f32], shape: &[usize], gran: Granularity, piece: usize) -> Option<(Vec<f32>, Vec<Chosen>, usize)> {
    let (mut q, mut chosen, mut longest, mut seen) = (Vec::new(), Vec::new(), 0, 0);
    let split = quantize_streamed::<quantlab_formats::TensorError>(
        f,
        s,
        shape,
        gran,
        7,
        piece,
        &mut |start, out| {
            longest = longest.max(out.len());
            out.copy_from_slice(&x[start..start + out.len()]);
            Ok(())
        },
        &mut |xi, qi, c| {
            assert!(xi.iter().zip(&x[seen..]).all(|(a, b)| a.to_bits() == b.to_bits()), "pieces are consecutive");
            seen += xi.len();
            q.extend_from_slice(qi);
            chosen.extend_from_slice(c);
            Ok(())
        },
    )
    .unwrap();
    split.then_some((q, chosen, longest))
}

#[test]
fn pieces_are_the_whole_walk_bit_for_bit() {
    let shapes: [&[usize]; 3] = [&[12, 64], &[3, 4, 40], &[1000]];
    let grans = [Granularity::Tensor, Granularity::Channel { axis: 0 }, Granularity::Channel { axis: 1 }, Granularity::Block { size: 16 }];
    let (mut split_cells, mut streamed_cells) = (0, 0);
    for desc in formats() {
        let f = parse(&desc).unwrap();
        for strategy in ["none", "mse", "percentile(p=99)", "aciq-laplace", "ratio(r=0.5)"] {
            let s = quantlab_clamp::parse(strategy).unwrap();
            for shape in shapes {
                let x = data(shape.iter().product());
                for gran in grans {
                    let Ok((whole, chosen)) = quantize(&*f, &*s, &x, shape, gran, 7) else { continue };
                    for piece in [1, 40, 100, 1 << 20] {
                        let can = splits(&*f, shape, gran, piece);
                        let Some((q, c, calls)) = in_pieces(&*f, &*s, &x, shape, gran, piece) else {
                            assert!(!can, "{desc} {strategy} {shape:?} {gran} {piece}: splits() promised pieces");
                            continue;
                        };
                        assert!(can);
                        split_cells += 1;
                        let what = format!("{desc} {strategy} {shape:?} {gran} piece {piece}");
                        assert_eq!(q.len(), whole.len(), "{what}");
                        if let Some(i) = (0..q.len()).find(|&i| q[i].to_bits() != whole[i].to_bits()) {
                            panic!("{what}: element {i} is {} in pieces, {} whole", q[i], whole[i]);
                        }
                        assert_eq!(format!("{c:?}"), format!("{chosen:?}"), "{what}");
                        if piece >= x.len() {
                            assert_eq!(calls, 1, "{what}: one piece when it fits");
                        }
                        // Read on demand: the same, or refused when a group
                        // larger than a piece needs its values seen whole.
                        let largest = quantlab_formats::group_lengths(shape, gran).unwrap().0.iter().map(|g| g.0).max().unwrap();
                        match streamed(&*f, &*s, &x, shape, gran, piece) {
                            None => assert!(largest > piece && s.reads_values(), "{what}: streaming refused"),
                            Some((q, c, longest)) => {
                                assert!(q.iter().zip(&whole).all(|(a, b)| a.to_bits() == b.to_bits()) && q.len() == whole.len(), "{what}: streamed values");
                                assert_eq!(format!("{c:?}"), format!("{chosen:?}"), "{what}: streamed clips");
                                assert!(longest <= piece.max(shape.last().copied().unwrap_or(1)), "{what}: read {longest} at once");
                                streamed_cells += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(split_cells > 1000 && streamed_cells > 500, "{split_cells} {streamed_cells}");
}

/// The formats of the scale benchmark split at any piece size; what must be
/// seen whole (channels along an inner axis, NVFP4's tensor scale, tiles)
/// does not, except when a group fits in a piece.
#[test]
fn what_splits() {
    let shape = [64, 128];
    for desc in ["adaptivfloat(n=8,e=3)", "int(bits=8)", "int4-g128", "mxfp4", "fp8-e4m3-scaled", "bfp(bits=8,block=16)", "fp8-e4m3", "posit(n=8,es=1)"] {
        let f = parse(desc).unwrap();
        assert!(splits(&*f, &shape, Granularity::Tensor, 128), "{desc}");
        assert!(!splits(&*f, &shape, Granularity::Channel { axis: 1 }, 1 << 30), "{desc}");
    }
    for desc in ["nvfp4", "scaled(elem=fp8-e4m3,scale=f32,tile=4x4)"] {
        let f = parse(desc).unwrap();
        assert!(!splits(&*f, &shape, Granularity::Tensor, 128), "{desc}");
        assert!(splits(&*f, &shape, Granularity::Tensor, 64 * 128), "{desc}: fits in one piece");
        assert!(splits(&*f, &shape, Granularity::Channel { axis: 0 }, 128), "{desc}: rows of 128");
    }
}

/// Encoding while streaming: the container written piece by piece is the
/// one `encode` makes of the whole, byte for byte, and the values are its
/// values, for every preset, three strategies, four granularities and
/// piece sizes; an input without a code fails both ways.
#[test]
fn streamed_encoding_writes_the_whole_container() {
    use quantlab_formats::ContainerWriter;
    use quantlab_quantize::pieces::{encode_streamed, encode_streams};
    let shapes: [&[usize]; 3] = [&[12, 64], &[3, 4, 40], &[1000]];
    let grans = [Granularity::Tensor, Granularity::Channel { axis: 0 }, Granularity::Channel { axis: 1 }, Granularity::Block { size: 16 }];
    let (mut compared, mut refused) = (0, 0);
    for desc in formats() {
        let f = parse(&desc).unwrap();
        for strategy in ["none", "aciq-laplace", "mse"] {
            let s = quantlab_clamp::parse(strategy).unwrap();
            for shape in shapes {
                for with_nan in [false, true] {
                    let mut x = data(shape.iter().product());
                    if !with_nan {
                        x.iter_mut().filter(|v| !v.is_finite()).for_each(|v| *v = 1.5);
                    }
                    for gran in grans {
                        for piece in [1, 40, 1 << 20] {
                            if !encode_streams(&*f, &*s, shape, gran, piece) {
                                refused += 1;
                                continue;
                            }
                            let what = format!("{desc} {strategy} {shape:?} {gran} piece {piece} nan {with_nan}");
                            let whole = quantlab_quantize::encode(&*f, &*s, &x, shape, gran, 7);
                            let mut writer = ContainerWriter::new(Vec::new(), &*f, shape, gran).unwrap();
                            let (mut q, mut meta) = (Vec::new(), Vec::new());
                            let streamed = encode_streamed::<quantlab_formats::TensorError>(
                                &*f,
                                &*s,
                                shape,
                                gran,
                                7,
                                piece,
                                &mut |start, out| {
                                    out.copy_from_slice(&x[start..start + out.len()]);
                                    Ok(())
                                },
                                &mut |_, qi, ci, mi| {
                                    q.extend_from_slice(qi);
                                    meta.extend_from_slice(mi);
                                    writer.codes(ci).unwrap();
                                    Ok(())
                                },
                            );
                            match (whole, streamed) {
                                (Err(_), Err(_)) => {}
                                (Ok(e), Ok(true)) => {
                                    let bytes = writer.finish(&meta).unwrap();
                                    assert!(bytes == e.encoded.to_bytes(), "{what}: containers differ");
                                    assert!(q.iter().zip(&e.values).all(|(a, b)| a.to_bits() == b.to_bits()) && q.len() == e.values.len(), "{what}: values differ");
                                    compared += 1;
                                }
                                (w, st) => panic!("{what}: whole {:?}, streamed {:?}", w.map(|_| ()), st),
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(compared > 1000 && refused > 0, "{compared} {refused}");
}
