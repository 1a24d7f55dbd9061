//! Fuzzing the file parsers with proptest, a bounded number of cases per CI
//! run: `.npy` headers and safetensors files, valid ones mutated (bytes
//! flipped, cut, spliced) and random bytes. Every input must give a value
//! or an error of one line, never a panic or an allocation the file's size
//! does not justify. (The `.qlab` container is fuzzed in the formats crate.)

use proptest::prelude::*;
use quantlab_tensors::npy::{header_from_dict, parse_header};
use quantlab_tensors::{safetensors_file, NameFilter};

/// Headers numpy writes, as seeds for mutation.
fn seeds() -> Vec<Vec<u8>> {
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", "{'descr': '>f8', 'fortran_order': True, 'shape': (7,), }", "{'descr': '<f2', 'fortran_order': False, 'shape': (), }"]
        .iter()
        .map(|d| header_from_dict(d))
        .collect()
}

fn mutate(mut b: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(at, kind, v) in edits {
        if b.is_empty() {
            b.push(v);
            continue;
        }
        let at = at % b.len();
        match kind % 4 {
            0 => b[at] ^= v.max(1),
            1 => b.truncate(at),
            2 => b.insert(at, v),
            _ => {
                let digit = b'0' + v % 10;
                b.splice(at..at, std::iter::repeat_n(digit, 1 + (v as usize % 24)));
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn npy_headers_never_panic(which in 0usize..3, edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..6)) {
        let bytes = mutate(seeds()[which].clone(), &edits);
        if let Err(e) = parse_header(&bytes) {
            prop_assert!(!e.contains('\n'), "{e:?}");
        }
    }

    #[test]
    fn random_bytes_are_not_npy_headers(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend(bytes);
        if let Err(e) = parse_header(&b) {
            prop_assert!(!e.contains('\n'), "{e:?}");
        }
    }
}

fn safetensors_bytes() -> Vec<u8> {
    let header = r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},"__metadata__":{"x":"y"}}"#;
    let mut h = header.to_string();
    while !h.len().is_multiple_of(8) {
        h.push(' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h.as_bytes());
    out.extend([0u8; 22]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn safetensors_files_never_panic(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..5)) {
        let bytes = mutate(safetensors_bytes(), &edits);
        let dir = std::env::temp_dir().join(format!("quantlab-fuzz-st-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.safetensors");
        std::fs::write(&p, &bytes).unwrap();
        match safetensors_file::load(&p, &NameFilter::default()) {
            Ok(l) => prop_assert!(l.tensors.iter().all(|t| t.data.len() == t.shape.iter().product::<usize>())),
            Err(e) => prop_assert!(!e.to_string().contains('\n'), "{e}"),
        }
    }
}
