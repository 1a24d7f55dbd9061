//! Fuzzing clipping-strategy descriptions with proptest, a bounded number
//! of cases per CI run: every string builds a strategy or gives an error,
//! never a panic, and a strategy's description builds it again.

use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "none",
    "aciq-laplace",
    "aciq-gauss",
    "aciq-gelu",
    "pipeedge-auto",
    "percentile",
    "mse",
    "kl",
    "ratio",
    "spread",
    "(",
    ")",
    "=",
    ",",
    "p",
    "r",
    "k",
    "sample",
    "estimator",
    "std",
    "mean-abs",
    "scale",
    "0",
    "100",
    "99.99",
    "-1",
    "1e999",
    "nan",
    "inf",
    "18446744073709551616",
    " ",
    "\n",
    "\u{1b}",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn strategy_descriptions_never_panic(tokens in prop::collection::vec(prop::sample::select(TOKENS), 1..10)) {
        let text = tokens.concat();
        if let Ok(s) = quantlab_clamp::parse(&text) {
            let again = quantlab_clamp::parse(&s.describe()).map_err(|e| TestCaseError::fail(format!("{text:?} -> {}: {e}", s.describe())))?;
            prop_assert_eq!(again.describe(), s.describe());
        }
    }
}
