//! Fuzzing format descriptions with proptest, a bounded number of cases per
//! CI run: strings made of the description language's own tokens (names,
//! keys, punctuation, hostile numbers) and arbitrary text. Every string
//! must build a format or give one line of error, never a panic; a format
//! that builds describes itself in a string that builds an equal format.

use proptest::prelude::*;
use quantlab_formats::parse;

const TOKENS: &[&str] = &[
    "adaptivfloat",
    "int",
    "bfp",
    "mx",
    "minifloat",
    "posit",
    "mxfp4",
    "fp8-e4m3",
    "bf16",
    "(",
    ")",
    "(",
    ")",
    "=",
    "=",
    ",",
    ",",
    "n",
    "e",
    "m",
    "es",
    "bits",
    "mode",
    "block",
    "elem",
    "scale",
    "bias",
    "round",
    "variant",
    "exp_bias",
    "specials",
    "saturate",
    "subnormals",
    "0",
    "1",
    "3",
    "8",
    "16",
    "17",
    "-1",
    "-2147483649",
    "99999999999999999999",
    "1e999",
    "nan",
    "inf",
    "0.5",
    "true",
    "asymmetric",
    "stochastic",
    "ceil",
    "fp6-e3m2",
    "ieee-like",
    "none",
    "fn",
    " ",
    "\n",
    "\u{1b}[31m",
    "\"",
    "'",
    "é",
];

fn description() -> impl Strategy<Value = String> {
    prop_oneof![prop::collection::vec(prop::sample::select(TOKENS), 1..14).prop_map(|t| t.concat()), ".{0,40}",]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn descriptions_never_panic(text in description()) {
        match parse(&text) {
            Ok(f) => {
                let again = parse(&f.describe()).map_err(|e| TestCaseError::fail(format!("{text:?} -> {} does not parse: {e}", f.describe())))?;
                prop_assert_eq!(again.describe(), f.describe());
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
