//! Formats described in TOML build the same formats as their strings.

use quantlab_formats::{build, parse, FormatSpec};
use serde::Deserialize;

#[derive(Deserialize)]
struct Doc {
    format: Vec<FormatSpec>,
}

#[test]
fn toml_tables_build_the_same_formats_as_strings() {
    let doc: Doc = toml::from_str(
        r#"
        format = [
            { family = "adaptivfloat", n = 8, e = 3 },
            { family = "adaptivfloat", n = 6, e = 3, variant = "ieee-like", round = "stochastic" },
            { family = "int", bits = 4, mode = "asymmetric" },
            { family = "mx", elem = "fp6-e3m2", scale = "ceil" },
            { family = "minifloat", e = 4, m = 3, bias = 7, subnormals = true, specials = "none" },
            { family = "fp8-e4m3" },
            { family = "posit", n = 8, es = 1 },
            { family = "scaled", elem = "lut", values = [-1.0, -0.5, 0.0, 0.25, 1.0], block = 64 },
            { family = "p3109", k = 8, p = 3, round = "stochastic(bits=4)" },
        ]
        "#,
    )
    .unwrap();
    let strings = [
        "adaptivfloat(n=8,e=3)",
        "adaptivfloat(n=6,e=3,variant=ieee-like,round=stochastic)",
        "int(bits=4,mode=asymmetric)",
        "mx(elem=fp6-e3m2,scale=ceil)",
        "minifloat(e=4,m=3,bias=7,subnormals=true,specials=none)",
        "fp8-e4m3",
        "posit(n=8,es=1)",
        "scaled(elem=lut,values=[-1,-0.5,0,0.25,1],block=64)",
        "p3109(k=8,p=3,round=stochastic(bits=4))",
    ];
    for (spec, text) in doc.format.iter().zip(strings) {
        assert_eq!(spec, &text.parse::<FormatSpec>().unwrap(), "{text}");
        assert_eq!(build(spec).unwrap().describe(), parse(text).unwrap().describe());
    }
}

#[test]
fn toml_errors_name_the_parameter() {
    let doc: Doc = toml::from_str(r#"format = [{ family = "int", bits = 20 }]"#).unwrap();
    let e = build(&doc.format[0]).unwrap_err().to_string();
    assert!(e.contains("`bits` = 20") && e.contains("1..=16"), "{e}");
    let doc: Doc = toml::from_str(r#"format = [{ family = "int", bits = "eight" }]"#).unwrap();
    let e = build(&doc.format[0]).unwrap_err().to_string();
    assert!(e.contains("`bits` = eight"), "{e}");
}
