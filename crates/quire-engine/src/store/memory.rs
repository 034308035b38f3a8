//! The library's vectors in memory, 8 bits per dimension, for the dense
//! search: scanning them all costs a few milliseconds at 100k chunks, where
//! LanceDB reads its files on every query.
//!
//! The cache holds the rows of a set of the table's fragments, in segments.
//! Writes keep it where they can: rows added by an import land in new
//! fragments, which the next search reads alone and appends as a segment
//! ([`VectorCache::with_segment`]; small segments are merged so their number
//! stays low); deleted documents are masked in the segments that held them
//! ([`VectorCache::without_documents`]), since a deletion leaves the other
//! rows' ids as they were. Any other write (a merge, an update) drops the
//! cache and the next search loads it whole. A search during an import thus
//! reads only what the import wrote since the last one.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use quire_kernels::vectors::I8Vectors;

/// Candidates the sign-bit pass keeps per result wanted, and at least: with
/// MiniLM vectors, 2,000 of 100k rows hold 99 % of the 8-bit scan's top 50.
const SIGN_POOL_PER_RESULT: usize = 40;
const SIGN_POOL_MIN: usize = 2_000;
/// A new segment is merged into the last one while that one is smaller than
/// this: an import's write groups become a few segments, not hundreds.
const SEGMENT_MERGE_ROWS: usize = 32_768;

/// Rows read together (one load, or what one top-up found), with their ids
/// and documents.
pub(crate) struct Segment {
    vectors: I8Vectors,
    row_ids: Vec<u64>,
    /// Each row's document, numbered in `doc_numbers`.
    docs: Vec<u32>,
    doc_numbers: HashMap<String, u32>,
}

impl Segment {
    pub fn new(dim: usize) -> Self {
        Segment {
            vectors: I8Vectors::new(dim),
            row_ids: Vec::new(),
            docs: Vec::new(),
            doc_numbers: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.row_ids.len()
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

    fn memory_bytes(&self) -> usize {
        self.vectors.memory_bytes() + 12 * self.row_ids.capacity()
    }

    /// Document numbers of `ids` (those this segment has).
    fn numbers(&self, ids: &[String]) -> Vec<u32> {
        ids.iter()
            .filter_map(|id| self.doc_numbers.get(id).copied())
            .collect()
    }

    /// The best `k` rows of those `keep` allows, as `(score, row)`, best first.
    fn nearest(&self, unit: &[f32], k: usize, keep: impl Fn(usize) -> bool) -> Vec<(f32, u32)> {
        let pool = (k * SIGN_POOL_PER_RESULT).max(SIGN_POOL_MIN);
        let mut best: Vec<(f32, u32)> = if self.row_ids.len() > 4 * pool {
            // Candidates by sign bits, scored on their bytes.
            let rows = self.vectors.sign_candidates(unit, pool, keep);
            let mut scores = Vec::new();
            self.vectors.score_rows(unit, &rows, &mut scores);
            scores.into_iter().zip(rows).collect()
        } else {
            let mut scores = Vec::new();
            self.vectors.scores(unit, &mut scores);
            scores
                .iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(i, &s)| (s, i as u32))
                .collect()
        };
        if best.len() > k {
            best.select_nth_unstable_by(k - 1, by_score);
            best.truncate(k);
        }
        best
    }
}

fn by_score(a: &(f32, u32), b: &(f32, u32)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// A segment as the cache sees it: the rows, and which of its documents
/// were deleted since it was read.
#[derive(Clone)]
struct Part {
    rows: Arc<Segment>,
    /// Indexed by the segment's document numbers.
    removed: Arc<Vec<bool>>,
}

impl Part {
    fn new(rows: Segment) -> Self {
        let removed = Arc::new(vec![false; rows.doc_numbers.len()]);
        Part {
            rows: Arc::new(rows),
            removed,
        }
    }

    fn live(&self, row: usize) -> bool {
        !self.removed[self.rows.docs[row] as usize]
    }
}

/// The vectors of the table's fragments in [`VectorCache::fragments`].
#[derive(Clone)]
pub(crate) struct VectorCache {
    dim: usize,
    parts: Vec<Part>,
    fragments: BTreeSet<u64>,
}

impl VectorCache {
    pub fn new(dim: usize) -> Self {
        VectorCache {
            dim,
            parts: Vec::new(),
            fragments: BTreeSet::new(),
        }
    }

    /// Rows held (those of deleted documents included).
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.rows.len()).sum()
    }

    pub fn segments(&self) -> usize {
        self.parts.len()
    }

    pub fn memory_bytes(&self) -> usize {
        self.parts.iter().map(|p| p.rows.memory_bytes()).sum()
    }

    /// Whether the rows of table fragment `id` are held.
    pub fn holds(&self, fragment: u64) -> bool {
        self.fragments.contains(&fragment)
    }

    /// This cache with `rows`, the rows of table fragments `fragments`, added.
    /// A small last segment is merged with them (rows of deleted documents
    /// left out), so an import's many small writes make few segments.
    pub fn with_segment(&self, rows: Segment, fragments: impl IntoIterator<Item = u64>) -> Self {
        let mut next = self.clone();
        next.fragments.extend(fragments);
        if rows.len() == 0 {
            return next;
        }
        match next.parts.last() {
            Some(last) if last.rows.len() < SEGMENT_MERGE_ROWS => {
                let last = next.parts.pop().expect("a last part");
                let mut merged = Segment::new(self.dim);
                let names: HashMap<u32, &str> = last
                    .rows
                    .doc_numbers
                    .iter()
                    .map(|(k, &v)| (v, k.as_str()))
                    .collect();
                for row in (0..last.rows.len()).filter(|&r| last.live(r)) {
                    let doc = names[&last.rows.docs[row]];
                    merged.push(last.rows.row_ids[row], doc, &last.rows.vectors.row(row));
                }
                let names: HashMap<u32, &str> = rows
                    .doc_numbers
                    .iter()
                    .map(|(k, &v)| (v, k.as_str()))
                    .collect();
                for row in 0..rows.len() {
                    let doc = names[&rows.docs[row]];
                    merged.push(rows.row_ids[row], doc, &rows.vectors.row(row));
                }
                merged.shrink_to_fit();
                next.parts.push(Part::new(merged));
            }
            _ => next.parts.push(Part::new(rows)),
        }
        next
    }

    /// This cache with the rows of `doc_ids` left out of every search.
    pub fn without_documents(&self, doc_ids: &[String]) -> Self {
        let mut next = self.clone();
        for part in &mut next.parts {
            let numbers = part.rows.numbers(doc_ids);
            if numbers.is_empty() {
                continue;
            }
            let mut removed = (*part.removed).clone();
            for n in numbers {
                removed[n as usize] = true;
            }
            part.removed = Arc::new(removed);
        }
        next
    }

    /// The `k` rows most similar to `query` (cosine on the 8-bit vectors), best
    /// first, as `(row id, approximate similarity)`; only rows of `doc_ids` when
    /// given. Large segments are searched in two passes: sign bits, then bytes.
    pub fn nearest(&self, query: &[f32], k: usize, doc_ids: Option<&[String]>) -> Vec<(u64, f32)> {
        if k == 0 || self.parts.is_empty() {
            return Vec::new();
        }
        let norm = quire_kernels::decode::dot(query, query).sqrt();
        if !(norm > 0.0 && norm.is_finite()) {
            return Vec::new();
        }
        let unit: Vec<f32> = query.iter().map(|x| x / norm).collect();
        let mut found: Vec<(f32, u64)> = Vec::new();
        for part in &self.parts {
            let segment = &part.rows;
            let allowed: Option<Vec<bool>> = doc_ids.map(|ids| {
                let mut allowed = vec![false; segment.doc_numbers.len()];
                for n in segment.numbers(ids) {
                    allowed[n as usize] = true;
                }
                allowed
            });
            if allowed.as_ref().is_some_and(|a| !a.contains(&true)) {
                continue;
            }
            let keep = |row: usize| {
                part.live(row)
                    && allowed
                        .as_ref()
                        .is_none_or(|a| a[segment.docs[row] as usize])
            };
            found.extend(
                segment
                    .nearest(&unit, k, keep)
                    .into_iter()
                    .map(|(s, i)| (s, segment.row_ids[i as usize])),
            );
        }
        found.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        found.truncate(k);
        found.into_iter().map(|(s, row)| (row, s)).collect()
    }
}

/// The cache a store keeps: `None` until loaded; `stale` when rows were
/// added since, which the next search reads and appends.
#[derive(Default)]
pub(crate) struct Slot {
    pub cache: Option<Arc<VectorCache>>,
    pub stale: bool,
}

pub(crate) type CacheSlot = std::sync::Mutex<Slot>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_ranks_by_cosine_and_filters_documents() {
        let mut s = Segment::new(3);
        s.push(10, "a", &[1.0, 0.0, 0.0]);
        s.push(11, "a", &[0.0, 2.0, 0.0]); // length does not matter
        s.push(12, "b", &[0.9, 0.1, 0.0]);
        s.push(13, "b", &[-1.0, 0.0, 0.0]);
        let c = VectorCache::new(3).with_segment(s, [0]);
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
        let mut s = Segment::new(dim);
        for (i, v) in data.iter().enumerate() {
            s.push(1000 + i as u64, if i % 2 == 0 { "even" } else { "odd" }, v);
        }
        let c = VectorCache::new(dim).with_segment(s, [0]);
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

    fn segment(rows: &[(u64, &str, [f32; 2])]) -> Segment {
        let mut s = Segment::new(2);
        for (id, doc, v) in rows {
            s.push(*id, doc, v);
        }
        s
    }

    #[test]
    fn rows_added_later_are_found_beside_the_first_ones() {
        let c = VectorCache::new(2)
            .with_segment(segment(&[(1, "a", [1.0, 0.0]), (2, "a", [0.0, 1.0])]), [0]);
        assert!(c.holds(0) && !c.holds(1));
        let c = c.with_segment(segment(&[(1 << 32, "b", [0.8, 0.2])]), [1]);
        assert!(c.holds(1));
        assert_eq!(c.len(), 3);
        // Small segments are merged.
        assert_eq!(c.segments(), 1);
        let ids: Vec<u64> = c
            .nearest(&[1.0, 0.0], 3, None)
            .into_iter()
            .map(|h| h.0)
            .collect();
        assert_eq!(ids, [1, 1 << 32, 2]);
        let b: Vec<u64> = c
            .nearest(&[1.0, 0.0], 3, Some(&["b".into()]))
            .into_iter()
            .map(|h| h.0)
            .collect();
        assert_eq!(b, [1 << 32]);
    }

    #[test]
    fn a_deleted_document_is_left_out_and_its_new_rows_are_found() {
        let c = VectorCache::new(2).with_segment(
            segment(&[
                (1, "a", [1.0, 0.0]),
                (2, "b", [0.9, 0.1]),
                (3, "b", [0.0, 1.0]),
            ]),
            [0],
        );
        let c = c.without_documents(&["b".into()]);
        let ids = |c: &VectorCache| -> Vec<u64> {
            c.nearest(&[0.0, 1.0], 5, None)
                .into_iter()
                .map(|h| h.0)
                .collect()
        };
        assert_eq!(ids(&c), [1]);
        // Re-imported: the same document id, new rows in a new fragment.
        let c = c.with_segment(segment(&[(7 << 32, "b", [0.1, 0.9])]), [7]);
        assert_eq!(ids(&c), [7 << 32, 1]);
        // The merge dropped the deleted rows for good.
        assert_eq!(c.len(), 2);
        assert_eq!(c.nearest(&[0.0, 1.0], 5, Some(&["b".into()])).len(), 1);
    }

    #[test]
    fn large_segments_stay_apart_and_are_searched_together() {
        let mut big = Segment::new(2);
        for i in 0..SEGMENT_MERGE_ROWS as u64 {
            big.push(i, "a", &[1.0, (i % 7) as f32]);
        }
        let c = VectorCache::new(2).with_segment(big, [0]);
        let c = c.with_segment(segment(&[(1 << 32, "b", [-1.0, 0.0])]), [1]);
        let c = c.with_segment(segment(&[(2 << 32, "c", [-1.0, 0.1])]), [2]);
        assert_eq!(c.segments(), 2);
        let top: Vec<u64> = c
            .nearest(&[-1.0, 0.0], 2, None)
            .into_iter()
            .map(|h| h.0)
            .collect();
        assert_eq!(top, [1 << 32, 2 << 32]);
    }
}
