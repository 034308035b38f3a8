//! The library's vectors in memory, 8 bits per dimension, for the dense
//! search: scanning them all costs a few milliseconds at 100k chunks, where
//! LanceDB reads its files on every query. The cache is one version of the
//! table: any write through the store drops it and the next search loads it
//! again.

use std::collections::HashMap;
use std::sync::Arc;

use quire_kernels::vectors::I8Vectors;

/// Candidates the sign-bit pass keeps per result wanted, and at least: with
/// MiniLM vectors, 2,000 of 100k rows hold 99 % of the 8-bit scan's top 50.
const SIGN_POOL_PER_RESULT: usize = 40;
const SIGN_POOL_MIN: usize = 2_000;

/// The vectors of one table version, their row ids and documents.
pub(crate) struct VectorCache {
    vectors: I8Vectors,
    row_ids: Vec<u64>,
    /// Each row's document, numbered in `doc_numbers`.
    docs: Vec<u32>,
    doc_numbers: HashMap<String, u32>,
}

impl VectorCache {
    pub fn new(dim: usize) -> Self {
        VectorCache {
            vectors: I8Vectors::new(dim),
            row_ids: Vec::new(),
            docs: Vec::new(),
            doc_numbers: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.row_ids.len()
    }

    pub fn memory_bytes(&self) -> usize {
        self.vectors.memory_bytes() + 12 * self.row_ids.capacity()
    }

    /// Adds one row. `vector` must have the cache's dimension.
    pub fn push(&mut self, row_id: u64, doc_id: &str, vector: &[f32]) {
        let next = self.doc_numbers.len() as u32;
        let doc = *self.doc_numbers.entry(doc_id.to_string()).or_insert(next);
        self.vectors.push(vector);
        self.row_ids.push(row_id);
        self.docs.push(doc);
    }

    pub fn shrink_to_fit(&mut self) {
        self.vectors.shrink_to_fit();
        self.row_ids.shrink_to_fit();
        self.docs.shrink_to_fit();
    }

    /// The `k` rows most similar to `query` (cosine on the 8-bit vectors), best
    /// first, as `(row id, approximate similarity)`; only rows of `doc_ids` when
    /// given. Large caches are searched in two passes: sign bits, then bytes.
    pub fn nearest(&self, query: &[f32], k: usize, doc_ids: Option<&[String]>) -> Vec<(u64, f32)> {
        if k == 0 || self.row_ids.is_empty() {
            return Vec::new();
        }
        let norm = quire_kernels::decode::dot(query, query).sqrt();
        if !(norm > 0.0 && norm.is_finite()) {
            return Vec::new();
        }
        let unit: Vec<f32> = query.iter().map(|x| x / norm).collect();
        let allowed: Option<Vec<bool>> = doc_ids.map(|ids| {
            let mut allowed = vec![false; self.doc_numbers.len()];
            for id in ids {
                if let Some(&n) = self.doc_numbers.get(id) {
                    allowed[n as usize] = true;
                }
            }
            allowed
        });
        let keep = |row: usize| allowed.as_ref().is_none_or(|a| a[self.docs[row] as usize]);
        let pool = (k * SIGN_POOL_PER_RESULT).max(SIGN_POOL_MIN);
        let mut best: Vec<(f32, u32)> = if self.row_ids.len() > 4 * pool {
            // Candidates by sign bits, scored on their bytes.
            let rows = self.vectors.sign_candidates(&unit, pool, keep);
            let mut scores = Vec::new();
            self.vectors.score_rows(&unit, &rows, &mut scores);
            scores.into_iter().zip(rows).collect()
        } else {
            let mut scores = Vec::new();
            self.vectors.scores(&unit, &mut scores);
            scores
                .iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(i, &s)| (s, i as u32))
                .collect()
        };
        let by_score = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if best.len() > k {
            best.select_nth_unstable_by(k - 1, by_score);
            best.truncate(k);
        }
        best.sort_unstable_by(by_score);
        best.into_iter()
            .map(|(s, i)| (self.row_ids[i as usize], s))
            .collect()
    }
}

/// A shared, replaceable cache: `None` until loaded, dropped by every write.
pub(crate) type CacheSlot = std::sync::Mutex<Option<Arc<VectorCache>>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_ranks_by_cosine_and_filters_documents() {
        let mut c = VectorCache::new(3);
        c.push(10, "a", &[1.0, 0.0, 0.0]);
        c.push(11, "a", &[0.0, 2.0, 0.0]); // length does not matter
        c.push(12, "b", &[0.9, 0.1, 0.0]);
        c.push(13, "b", &[-1.0, 0.0, 0.0]);
        let ids = |hits: Vec<(u64, f32)>| hits.into_iter().map(|h| h.0).collect::<Vec<_>>();
        assert_eq!(ids(c.nearest(&[2.0, 0.0, 0.0], 3, None)), [10, 12, 11]);
        assert_eq!(
            ids(c.nearest(&[1.0, 0.0, 0.0], 10, Some(&["b".into()]))),
            [12, 13]
        );
        assert!(c
            .nearest(&[1.0, 0.0, 0.0], 10, Some(&["zzz".into()]))
            .is_empty());
        assert!(c.nearest(&[0.0, 0.0, 0.0], 10, None).is_empty());
        let top = c.nearest(&[0.0, 1.0, 0.0], 1, None);
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].0, 11);
        assert!((top[0].1 - 1.0).abs() < 1e-3);
    }

    #[test]
    fn the_sign_pass_of_a_large_cache_finds_what_the_full_scan_finds() {
        let (dim, rows) = (64, 12_000);
        let mut state = 12345u32;
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        let data: Vec<Vec<f32>> = (0..rows)
            .map(|_| (0..dim).map(|_| next()).collect())
            .collect();
        let mut c = VectorCache::new(dim);
        for (i, v) in data.iter().enumerate() {
            c.push(1000 + i as u64, if i % 2 == 0 { "even" } else { "odd" }, v);
        }
        let query: Vec<f32> = data[123].iter().map(|x| x + 0.01 * next()).collect();
        let found = c.nearest(&query, 10, None);
        assert_eq!(found[0].0, 1123);
        // The exact top 10 by cosine.
        let unit = |v: &[f32]| {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / n).collect::<Vec<f32>>()
        };
        let q = unit(&query);
        let mut exact: Vec<(f32, u64)> = data
            .iter()
            .enumerate()
            .map(|(i, v)| {
                (
                    unit(v).iter().zip(&q).map(|(a, b)| a * b).sum(),
                    1000 + i as u64,
                )
            })
            .collect();
        exact.sort_by(|a, b| b.0.total_cmp(&a.0));
        let agree = exact[..10]
            .iter()
            .filter(|e| found.iter().any(|f| f.0 == e.1))
            .count();
        assert!(agree >= 8, "{agree} of the exact top 10");
        // A document filter holds in the sign pass too.
        let odd = c.nearest(&query, 10, Some(&["odd".into()]));
        assert_eq!(odd.len(), 10);
        assert!(odd.iter().all(|h| h.0 % 2 == 1));
    }
}
