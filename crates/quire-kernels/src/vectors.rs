//! A library's embedding vectors held in memory in 8 bits, and the scans that
//! score a query against them: one signed byte per dimension and one scale
//! per vector (¼ of f32's memory), scored against the f32 query so only the
//! vectors' rounding enters the score. Each vector's sign bits (1/32 of f32's
//! memory) are kept too: a Hamming-distance pass over them picks candidates
//! at a fraction of the memory traffic of scanning the bytes, which are then
//! read for the candidates only.

use rayon::prelude::*;

/// Rows scored per task of the parallel scan.
const SCAN_BLOCK: usize = 4096;

/// Unit vectors of one dimension, each stored as `round(v / s)` in `i8` with
/// `s = max|v| / 127`.
#[derive(Debug, Clone, Default)]
pub struct I8Vectors {
    dim: usize,
    data: Vec<i8>,
    scales: Vec<f32>,
    /// Sign bits, `words(dim)` u64 a vector (bit set: positive).
    signs: Vec<u64>,
}

fn words(dim: usize) -> usize {
    dim.div_ceil(64)
}

/// Bit `i` set where `v[i] > 0`, in `words(v.len())` words.
fn sign_bits(v: &[f32], out: &mut Vec<u64>) {
    for chunk in v.chunks(64) {
        let mut w = 0u64;
        for (i, x) in chunk.iter().enumerate() {
            w |= ((*x > 0.0) as u64) << i;
        }
        out.push(w);
    }
}

impl I8Vectors {
    pub fn new(dim: usize) -> Self {
        I8Vectors {
            dim,
            data: Vec::new(),
            scales: Vec::new(),
            signs: Vec::new(),
        }
    }

    pub fn with_capacity(dim: usize, rows: usize) -> Self {
        I8Vectors {
            dim,
            data: Vec::with_capacity(dim * rows),
            scales: Vec::with_capacity(rows),
            signs: Vec::with_capacity(words(dim) * rows),
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.scales.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scales.is_empty()
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.data.capacity() + 4 * self.scales.capacity() + 8 * self.signs.capacity()
    }

    pub fn shrink_to_fit(&mut self) {
        self.data.shrink_to_fit();
        self.scales.shrink_to_fit();
        self.signs.shrink_to_fit();
    }

    /// Appends `v` scaled to unit length (a zero vector stays zero).
    /// Panics if `v` is not `dim` long.
    pub fn push(&mut self, v: &[f32]) {
        assert_eq!(v.len(), self.dim, "vector of the wrong dimension");
        sign_bits(v, &mut self.signs);
        let norm = crate::decode::dot(v, v).sqrt();
        let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        if norm == 0.0 || max == 0.0 || !norm.is_finite() {
            self.data.extend(std::iter::repeat_n(0, self.dim));
            self.scales.push(0.0);
            return;
        }
        let step = max / 127.0;
        self.data.extend(
            v.iter()
                .map(|x| (x / step).round().clamp(-127.0, 127.0) as i8),
        );
        self.scales.push(step / norm);
    }

    /// The stored (rounded) form of row `i`, as f32.
    pub fn row(&self, i: usize) -> Vec<f32> {
        let s = self.scales[i];
        self.data[i * self.dim..(i + 1) * self.dim]
            .iter()
            .map(|&q| q as f32 * s)
            .collect()
    }

    /// `out[i]` = the dot product of `query` with row `i` (with a unit-length
    /// query, the cosine similarity up to rounding). Parallel over blocks of rows.
    pub fn scores(&self, query: &[f32], out: &mut Vec<f32>) {
        assert_eq!(query.len(), self.dim, "query of the wrong dimension");
        out.clear();
        out.resize(self.len(), 0.0);
        if self.dim == 0 {
            return;
        }
        out.par_chunks_mut(SCAN_BLOCK)
            .zip(self.data.par_chunks(SCAN_BLOCK * self.dim))
            .zip(self.scales.par_chunks(SCAN_BLOCK))
            .for_each(|((out, data), scales)| {
                for ((o, row), s) in out.iter_mut().zip(data.chunks_exact(self.dim)).zip(scales) {
                    *o = dot_i8(query, row) * s;
                }
            });
    }
}

impl I8Vectors {
    /// About `n` rows (at least `n` when there are as many `allowed`; more on
    /// ties) whose sign bits differ least from the query's: candidates for
    /// [`I8Vectors::score_rows`]. Only rows where `allowed(row)` holds.
    pub fn sign_candidates(
        &self,
        query: &[f32],
        n: usize,
        allowed: impl Fn(usize) -> bool,
    ) -> Vec<u32> {
        assert_eq!(query.len(), self.dim, "query of the wrong dimension");
        let w = words(self.dim);
        let mut q = Vec::with_capacity(w);
        sign_bits(query, &mut q);
        const EXCLUDED: u16 = u16::MAX;
        let distances: Vec<u16> = if w == 0 {
            vec![0; self.len()]
        } else {
            self.signs
                .chunks_exact(w)
                .enumerate()
                .map(|(row, bits)| {
                    if !allowed(row) {
                        return EXCLUDED;
                    }
                    bits.iter()
                        .zip(&q)
                        .map(|(a, b)| (a ^ b).count_ones() as u16)
                        .sum()
                })
                .collect()
        };
        // The smallest distance bound that admits `n` rows: a histogram, as
        // distances are at most `dim`.
        let mut counts = vec![0usize; self.dim + 1];
        for &d in &distances {
            if d != EXCLUDED {
                counts[d as usize] += 1;
            }
        }
        let (mut bound, mut total) = (0, 0);
        for (d, c) in counts.iter().enumerate() {
            bound = d;
            total += c;
            if total >= n {
                break;
            }
        }
        distances
            .iter()
            .enumerate()
            .filter(|(_, &d)| d != EXCLUDED && d as usize <= bound)
            .map(|(row, _)| row as u32)
            .collect()
    }

    /// `out[i]` = the dot product of `query` with row `rows[i]`.
    pub fn score_rows(&self, query: &[f32], rows: &[u32], out: &mut Vec<f32>) {
        assert_eq!(query.len(), self.dim, "query of the wrong dimension");
        out.clear();
        out.extend(rows.iter().map(|&r| {
            let r = r as usize;
            dot_i8(query, &self.data[r * self.dim..(r + 1) * self.dim]) * self.scales[r]
        }));
    }
}

/// `Σ q[i] · r[i]` with sixteen partial sums so the loop vectorises
/// (bytes widened to f32 in registers).
#[inline]
pub fn dot_i8(q: &[f32], r: &[i8]) -> f32 {
    let mut acc = [0f32; 16];
    let (cq, cr) = (q.chunks_exact(16), r.chunks_exact(16));
    let (rq, rr) = (cq.remainder(), cr.remainder());
    for (x, y) in cq.zip(cr) {
        for i in 0..16 {
            acc[i] += x[i] * y[i] as f32;
        }
    }
    acc.iter().sum::<f32>() + rq.iter().zip(rr).map(|(x, &y)| x * y as f32).sum::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = crate::decode::dot(v, v).sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn scores_are_cosines_within_rounding() {
        let dim = 384;
        let rows = 9000; // more than two scan blocks, the last one ragged
        let mut vs = I8Vectors::new(dim);
        let data: Vec<Vec<f32>> = (0..rows)
            .map(|i| crate::test_values(dim, i as u32 + 7))
            .collect();
        for v in &data {
            // Stored unnormalised: push scales to unit length.
            let scaled: Vec<f32> = v.iter().map(|x| x * 3.0).collect();
            vs.push(&scaled);
        }
        let query = unit(&crate::test_values(dim, 99_999));
        let mut got = Vec::new();
        vs.scores(&query, &mut got);
        assert_eq!(got.len(), rows);
        for (i, v) in data.iter().enumerate() {
            let want = crate::decode::dot(&query, &unit(v));
            assert!(
                (got[i] - want).abs() < 4e-3,
                "row {i}: {} vs {want}",
                got[i]
            );
            let stored = vs.row(i);
            let exact_stored = crate::decode::dot(&query, &stored);
            assert!(
                (got[i] - exact_stored).abs() < 1e-4,
                "row {i}: the scan and the stored row disagree"
            );
        }
    }

    #[test]
    fn sign_candidates_are_the_rows_closest_in_sign_and_score_like_the_scan() {
        let dim = 100; // not a whole number of words
        let mut vs = I8Vectors::new(dim);
        let query = crate::test_values(dim, 5);
        // Row r agrees in sign with the query on all but its first r dimensions.
        for r in 0..40 {
            let v: Vec<f32> = query
                .iter()
                .enumerate()
                .map(|(i, x)| if i < r { -x } else { *x })
                .collect();
            vs.push(&v);
        }
        assert_eq!(vs.sign_candidates(&query, 5, |_| true), [0, 1, 2, 3, 4]);
        assert_eq!(vs.sign_candidates(&query, 3, |r| r % 2 == 1), [1, 3, 5]);
        assert_eq!(vs.sign_candidates(&query, 100, |_| true).len(), 40);
        assert!(vs.sign_candidates(&query, 5, |_| false).is_empty());
        let (mut all, mut some) = (Vec::new(), Vec::new());
        vs.scores(&query, &mut all);
        vs.score_rows(&query, &[7, 0, 39], &mut some);
        assert_eq!(some, [all[7], all[0], all[39]]);
    }

    #[test]
    fn a_zero_vector_scores_zero() {
        let mut vs = I8Vectors::new(20);
        vs.push(&[0.0; 20]);
        vs.push(&[1.0; 20]);
        let mut out = Vec::new();
        vs.scores(&unit(&[1.0; 20]), &mut out);
        assert_eq!(out[0], 0.0);
        assert!((out[1] - 1.0).abs() < 1e-5);
        assert!(vs.memory_bytes() >= 40 + 8);
    }
}
