//! Shell-style name patterns for selecting tensors: `*` matches any run of
//! characters (dots included), `?` one character; everything else is
//! literal. `encoder.*.weight` matches `encoder.layer.0.attention.self.query.weight`.

/// Whether `name` matches `pattern`.
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative matcher with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// Include/exclude patterns: a name is selected when it matches some include
/// (or there are none) and no exclude.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NameFilter {
    /// Patterns of names to read (`*` any run of characters); empty: every name.
    pub include: Vec<String>,
    /// Patterns of names to skip, applied after `include`.
    pub exclude: Vec<String>,
}

impl NameFilter {
    /// Whether a tensor name passes the filter.
    pub fn selects(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| matches(p, name))) && !self.exclude.iter().any(|p| matches(p, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(matches("encoder.*.weight", "encoder.layer.0.attention.self.query.weight"));
        assert!(!matches("encoder.*.weight", "encoder.layer.0.attention.self.query.bias"));
        assert!(matches("*", ""));
        assert!(matches("a?c", "abc") && !matches("a?c", "ac"));
        assert!(matches("*.bias", "x.bias") && !matches("*.bias", "x.bias2"));
        assert!(matches("*layer.1*", "encoder.layer.1.output.dense.weight"));
        let f = NameFilter { include: vec!["*.weight".into()], exclude: vec!["*LayerNorm*".into()] };
        assert!(f.selects("a.dense.weight") && !f.selects("a.LayerNorm.weight") && !f.selects("a.bias"));
        assert!(NameFilter::default().selects("anything"));
    }
}
