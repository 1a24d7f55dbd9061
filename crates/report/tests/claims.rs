//! A report drawn from a results folder written by hand: the report needs
//! the folder alone (no runner, no model).

use std::path::PathBuf;

use quantlab_results::{store, Row, Value};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quantlab-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn check_fails_on_a_table_built_to_violate_its_claim() {
    let out = dir("violate");
    let config = r#"
name = "violate"
[[data]]
synthetic = "normal"
shape = [4, 4]
[[format]]
family = "adaptivfloat"
n = 4
e = 2
[[format]]
family = "int"
bits = 4
[[claim]]
says = "adaptivfloat has the lowest RMSE"
best = { family = "adaptivfloat" }
[[claim]]
says = "int has the lowest RMSE"
best = { family = "int" }
"#;
    std::fs::create_dir_all(store::cells_dir(&out)).unwrap();
    std::fs::write(out.join("manifest.json"), serde_json::json!({ "config": config, "config_file": "violate.toml" }).to_string()).unwrap();
    for (i, (family, rmse)) in [("adaptivfloat", 0.30), ("int", 0.20)].into_iter().enumerate() {
        let mut r = Row::default();
        r.push("cell", Value::Int(i as i64));
        r.push("source", Value::Str("normal".into()));
        r.push("tensor", Value::Str("t".into()));
        r.push("format", Value::Str(format!("{family}(...)")));
        r.push("family", Value::Str(family.into()));
        r.push("series", Value::Str(family.into()));
        r.push("bits", Value::Int(4));
        r.push("clamp", Value::Str("none".into()));
        r.push("granularity", Value::Str("tensor".into()));
        r.push("seed", Value::Int(0));
        r.push("rmse", Value::Float(rmse));
        store::save_cell(&out, i, &r).unwrap();
    }
    let rows = store::write_tables(&out).unwrap();
    let tables = store::tables_fingerprint(&out, rows).unwrap();
    std::fs::write(out.join("manifest.json"), serde_json::json!({ "config": config, "config_file": "violate.toml", "finished": "now", "tables": tables, "sweep": { "seeds": [0], "sources": ["normal"], "formats": 2, "clamps": 1, "granularities": 1, "model": null } }).to_string()).unwrap();
    let v = quantlab_report::check(&out).unwrap();
    assert_eq!(v.iter().map(|v| v.pass).collect::<Vec<_>>(), [false, true]);
    assert!(v[0].details[0].contains("the best is `int(...), none, tensor` with 0.2000"), "{:?}", v[0].details);
    assert!(quantlab_report::verdict_text(&v[0]).starts_with("FAIL  adaptivfloat has the lowest RMSE"));
}
