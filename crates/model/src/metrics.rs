//! How close quantized sentence embeddings stay to the fp32 ones.
//!
//! - cosine similarity of each sentence's embedding to its fp32 embedding:
//!   mean and minimum over sentences (0 when either vector is zero);
//! - top-1 nearest-neighbour agreement: the fraction of sentences whose
//!   most similar other sentence (cosine; ties to the lower index) is the
//!   same as under fp32: what a semantic search would return first;
//! - Spearman's rank correlation between the two pairwise-similarity
//!   matrices (every pair i < j once; tied values get their mean rank; NaN
//!   when either side has no spread): whether the model still orders
//!   sentence pairs by similarity the same way.

/// Row-major embeddings: `rows` sentences of `dim` values.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    /// Number of embeddings.
    pub rows: usize,
    /// Their dimension.
    pub dim: usize,
    /// Row-major, `rows x dim`.
    pub data: Vec<f32>,
}

impl Embeddings {
    /// The `i`-th embedding.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Cosine similarity of every pair, row-major `rows x rows`.
    fn similarities(&self) -> Vec<f64> {
        let norms: Vec<f64> = (0..self.rows).map(|i| dot(self.row(i), self.row(i)).sqrt()).collect();
        let mut s = vec![0.0; self.rows * self.rows];
        for i in 0..self.rows {
            for j in i..self.rows {
                let c = if norms[i] == 0.0 || norms[j] == 0.0 { 0.0 } else { dot(self.row(i), self.row(j)) / (norms[i] * norms[j]) };
                s[i * self.rows + j] = c;
                s[j * self.rows + i] = c;
            }
        }
        s
    }
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Cosine similarity of two vectors; 0 when either is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (na, nb) = (dot(a, a).sqrt(), dot(b, b).sqrt());
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot(a, b) / (na * nb)
    }
}

/// The metrics of one run against the fp32 reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Agreement {
    /// Mean cosine similarity between paired embeddings.
    pub cos_mean: f64,
    /// Smallest cosine similarity between paired embeddings.
    pub cos_min: f64,
    /// Share of sentences whose nearest neighbour is unchanged.
    pub nn_agreement: f64,
    /// Spearman correlation of the pairwise similarities.
    pub spearman: f64,
}

/// Compare embeddings of the same sentences with the reference's.
pub fn compare(reference: &Embeddings, other: &Embeddings) -> Agreement {
    assert_eq!((reference.rows, reference.dim), (other.rows, other.dim), "embeddings of different shapes");
    let n = reference.rows;
    let cos: Vec<f64> = (0..n).map(|i| cosine(reference.row(i), other.row(i))).collect();
    let (sr, so) = (reference.similarities(), other.similarities());
    let nearest = |s: &[f64], i: usize| {
        (0..n).filter(|&j| j != i).fold(None, |best: Option<usize>, j| match best {
            Some(b) if s[i * n + b] >= s[i * n + j] => Some(b),
            _ => Some(j),
        })
    };
    let agree = (0..n).filter(|&i| nearest(&sr, i) == nearest(&so, i)).count();
    let upper = |s: &[f64]| -> Vec<f64> { (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).map(|(i, j)| s[i * n + j]).collect() };
    Agreement {
        cos_mean: cos.iter().sum::<f64>() / n.max(1) as f64,
        cos_min: cos.iter().copied().fold(f64::INFINITY, f64::min),
        nn_agreement: agree as f64 / n.max(1) as f64,
        spearman: spearman(&upper(&sr), &upper(&so)),
    }
}

/// Ranks from 1, ties sharing their mean rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation (Pearson's of the ranks).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emb(rows: &[[f32; 2]]) -> Embeddings {
        Embeddings { rows: rows.len(), dim: 2, data: rows.iter().flatten().copied().collect() }
    }

    #[test]
    fn ranks_share_ties() {
        assert_eq!(ranks(&[10.0, 30.0, 20.0, 20.0]), [1.0, 4.0, 2.5, 2.5]);
    }

    #[test]
    fn spearman_by_hand() {
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), 1.0);
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0);
        // Ranks [1,2,3,4] against [2,1,4,3]: 1 - 6*4/(4*15) = 0.6.
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[2.0, 1.0, 4.0, 3.0]) - 0.6).abs() < 1e-12);
        assert!(spearman(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
    }

    #[test]
    fn identical_embeddings_agree_fully() {
        let e = emb(&[[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.1]]);
        let a = compare(&e, &e);
        assert!((a.cos_mean - 1.0).abs() < 1e-12 && (a.cos_min - 1.0).abs() < 1e-12);
        assert_eq!(a.nn_agreement, 1.0);
        assert!((a.spearman - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_moved_sentence_changes_its_neighbour_and_cosine() {
        let e = emb(&[[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.1]]);
        // Sentence 1 turned towards sentence 2: its neighbour changes from 0
        // to 2, and sentence 2's from 1 stays 1.
        let moved = emb(&[[1.0, 0.0], [0.2, 0.98], [0.0, 1.0], [-1.0, 0.1]]);
        let a = compare(&e, &moved);
        assert_eq!(a.nn_agreement, 0.75);
        assert!((a.cos_min - cosine(&[0.8, 0.6], &[0.2, 0.98])).abs() < 1e-12);
        assert!(a.cos_mean < 1.0 && a.spearman < 1.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
