//! Claims a machine can check (`[[claim]]` in an experiment's config),
//! evaluated on the saved results by `quantlab check`.
//!
//! - A *best* claim: within the rows passing `where`, for each value of the
//!   `by` column (default `bits`; only those listed in `at`), average the
//!   metric per configuration (format, clamp, granularity) over tensors and
//!   seeds; among the candidates (`among`, default all) the best mean must
//!   belong to a configuration matching `best`, or come within `tolerance`
//!   (relative) of the best.
//! - A *spread* claim: over the distinct tensors (and draws) passing
//!   `where`, the largest |value| of the column over the smallest is at
//!   least `at_least`.

use std::collections::BTreeMap;

use crate::settings::ClaimConfig;
use quantlab_results::Row;

use crate::data::{self, describe_filter, lower_is_better, matches, seed_mean, Results};

/// The outcome of one claim.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The claim in the configuration's words.
    pub says: String,
    /// Whether it held in every checked group.
    pub pass: bool,
    /// One line per checked group: what was compared.
    pub details: Vec<String>,
}

pub fn check(results: &Results) -> Vec<Verdict> {
    results.settings.claims.iter().map(|c| check_one(results, c)).collect()
}

pub fn check_one(results: &Results, claim: &ClaimConfig) -> Verdict {
    let rows: Vec<&Row> = results.rows.iter().filter(|r| claim.filter.as_ref().is_none_or(|f| matches(r, f))).collect();
    let (pass, details) = if rows.is_empty() {
        (false, vec![format!("no result row matches where = {{ {} }}", claim.filter.as_ref().map(describe_filter).unwrap_or_default())])
    } else if let Some(column) = &claim.spread {
        spread(&rows, column, claim.at_least.unwrap_or(1.0))
    } else {
        best(&rows, claim, claim.metric.as_deref().unwrap_or(results.metric()))
    };
    Verdict { says: claim.says.clone(), pass, details }
}

fn spread(rows: &[&Row], column: &str, at_least: f64) -> (bool, Vec<String>) {
    let mut per_tensor: BTreeMap<(String, String), f64> = BTreeMap::new();
    for r in rows {
        if let Some(v) = data::num(r, column) {
            per_tensor.insert((data::text(r, "tensor").unwrap_or_default(), data::text(r, "seed").unwrap_or_default()), v.abs());
        }
    }
    if per_tensor.is_empty() {
        return (false, vec![format!("no row has a column `{column}`")]);
    }
    let (lo, hi) = per_tensor.values().fold((f64::INFINITY, 0f64), |(a, b), &v| (a.min(v), b.max(v)));
    let ratio = hi / lo;
    (
        ratio >= at_least,
        vec![format!(
            "|{column}| ranges from {} to {} over {} tensors: ratio {} (needs >= {at_least})",
            crate::tables::number(lo),
            crate::tables::number(hi),
            per_tensor.len(),
            crate::tables::number(ratio)
        )],
    )
}

fn best(rows: &[&Row], claim: &ClaimConfig, metric: &str) -> (bool, Vec<String>) {
    let by = claim.by.as_deref().unwrap_or("bits");
    let mut groups = data::distinct(rows.iter().copied(), by);
    if let Some(at) = &claim.at {
        let wanted: Vec<String> = at
            .iter()
            .map(|v| match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        for w in &wanted {
            if !groups.contains(w) {
                return (false, vec![format!("{by} = {w}: no result row (present: {})", groups.join(", "))]);
            }
        }
        groups = wanted;
    }
    let wanted = claim.best.clone().unwrap_or_default();
    let lower = lower_is_better(metric);
    let tol = claim.tolerance.unwrap_or(0.0);
    let (mut pass, mut details) = (true, Vec::new());
    for g in groups {
        let in_group: Vec<&Row> = rows.iter().copied().filter(|r| data::text(r, by).as_deref() == Some(g.as_str())).filter(|r| claim.among.as_ref().is_none_or(|a| matches(r, a))).collect();
        // Mean metric per configuration (format, clamp, granularity), in first-seen order.
        let mut members: Vec<([String; 3], Vec<&Row>)> = Vec::new();
        for r in &in_group {
            let key = ["format", "clamp", "granularity"].map(|c| data::text(r, c).unwrap_or_default());
            match members.iter_mut().find(|(k, _)| *k == key) {
                Some((_, rows)) => rows.push(r),
                None => members.push((key, vec![r])),
            }
        }
        let configs: Vec<(String, bool, f64)> = members.iter().filter_map(|(key, rows)| seed_mean(rows, metric).map(|(mean, _, _)| (key.join(", "), matches(rows[0], &wanted), mean))).collect();
        let overall = data::best_by(configs.iter(), |c| c.2, lower);
        let candidate = data::best_by(configs.iter().filter(|c| c.1), |c| c.2, lower);
        let line = match (&overall, &candidate) {
            (Some(o), Some(c)) => {
                let ok = if lower { c.2 <= o.2 + tol * o.2.abs() } else { c.2 >= o.2 - tol * o.2.abs() };
                pass &= ok;
                if o.0 == c.0 {
                    format!("{by} = {g}: best {metric} {} is `{}` of {} configurations", crate::tables::number(c.2), c.0, configs.len())
                } else {
                    format!(
                        "{by} = {g}: `{}` has {metric} {}; the best is `{}` with {}{}",
                        c.0,
                        crate::tables::number(c.2),
                        o.0,
                        crate::tables::number(o.2),
                        if tol > 0.0 { format!(" (tolerance {:.0}%)", tol * 100.0) } else { String::new() }
                    )
                }
            }
            _ => {
                pass = false;
                format!("{by} = {g}: no configuration with a {metric} value matches best = {{ {} }}", describe_filter(&wanted))
            }
        };
        details.push(line);
    }
    (pass, details)
}
