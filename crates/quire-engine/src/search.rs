//! Search modes and reciprocal-rank fusion of dense and BM25 results.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::store::{self, StoredHit};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    Dense,
    Bm25,
    /// Dense and BM25 fused by reciprocal rank.
    Hybrid,
    /// The default: dense and BM25 candidates, also from the documents the
    /// question names, scored with document matching and folded into pages
    /// ([`crate::rank`]).
    Ranked,
}

impl SearchMode {
    pub const ALL: [SearchMode; 4] = [
        SearchMode::Dense,
        SearchMode::Bm25,
        SearchMode::Hybrid,
        SearchMode::Ranked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Dense => "dense",
            SearchMode::Bm25 => "bm25",
            SearchMode::Hybrid => "hybrid",
            SearchMode::Ranked => "ranked",
        }
    }
}

impl std::str::FromStr for SearchMode {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, crate::Error> {
        match s {
            "dense" => Ok(SearchMode::Dense),
            "bm25" => Ok(SearchMode::Bm25),
            "hybrid" => Ok(SearchMode::Hybrid),
            "ranked" => Ok(SearchMode::Ranked),
            other => Err(crate::Error::InvalidInput(format!(
                "unknown search mode `{other}` (ranked, dense, bm25 or hybrid)"
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub mode: SearchMode,
    pub limit: usize,
    /// Only search these documents.
    pub doc_ids: Option<Vec<String>>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            mode: crate::rank::DEFAULT_MODE,
            limit: 10,
            doc_ids: None,
        }
    }
}

/// One passage found by a search.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct SearchHit {
    pub doc_id: String,
    pub chunk_id: String,
    pub path: String,
    pub name: String,
    /// 1-based page number for paged formats (PDF).
    pub page: Option<u32>,
    /// Character offsets of the passage within its page.
    pub start: u32,
    pub end: u32,
    pub score: f32,
    /// Cosine similarity to the query, when the passage came up in the dense search.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    pub text: String,
    /// The passage's text was recognised from a scan (OCR).
    #[serde(default)]
    pub ocr: bool,
}

pub(crate) fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}

impl From<StoredHit> for SearchHit {
    fn from(h: StoredHit) -> Self {
        let r = h.record;
        SearchHit {
            ocr: false,
            name: file_name(&r.path),
            doc_id: r.doc_id,
            chunk_id: r.chunk_id,
            path: r.path,
            page: r.page,
            start: r.start,
            end: r.end,
            score: h.score,
            similarity: None,
            text: r.text,
        }
    }
}

/// The usual RRF constant: damps the head of each list.
pub const RRF_K: f32 = 60.0;

/// Reciprocal-rank fusion of ranked lists of keys: each list adds
/// 1/(k + rank) to its keys; best first, ties by key.
pub fn fuse_ranks<K: Clone + Eq + std::hash::Hash + Ord>(
    lists: &[Vec<K>],
    limit: usize,
) -> Vec<(K, f32)> {
    let mut scores: HashMap<K, f32> = HashMap::new();
    for list in lists {
        for (rank, key) in list.iter().enumerate() {
            *scores.entry(key.clone()).or_insert(0.0) += 1.0 / (RRF_K + rank as f32 + 1.0);
        }
    }
    let mut fused: Vec<(K, f32)> = scores.into_iter().collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    fused.truncate(limit);
    fused
}

/// Fills in each hit's cosine similarity from a dense result list.
pub fn with_similarity(mut hits: Vec<SearchHit>, dense: &[StoredHit]) -> Vec<SearchHit> {
    let by_id: HashMap<&str, f32> = dense
        .iter()
        .map(|h| (h.record.chunk_id.as_str(), h.score))
        .collect();
    for h in &mut hits {
        h.similarity = by_id.get(h.chunk_id.as_str()).copied();
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str) -> StoredHit {
        let record = crate::store::ChunkRecord {
            chunk_id: id.into(),
            doc_id: "d".into(),
            path: "/x/d.txt".into(),
            page: None,
            start: 0,
            end: 1,
            text: id.into(),
        };
        StoredHit { record, score: 0.0 }
    }

    #[test]
    fn fusion_rewards_agreement() {
        let dense = vec![hit("a"), hit("b"), hit("c")];
        let bm25 = vec![hit("c"), hit("b"), hit("d")];
        let ids = |l: Vec<StoredHit>| l.into_iter().map(|h| h.record.chunk_id).collect::<Vec<_>>();
        let fused: Vec<String> = fuse_ranks(&[ids(dense), ids(bm25)], 10)
            .into_iter()
            .map(|h| h.0)
            .collect();
        // c: 1/63 + 1/61 edges out b: 2/62.
        assert_eq!(fused, ["c", "b", "a", "d"]);
    }

    #[test]
    fn fusing_row_keys_agrees_with_fusing_hits() {
        let fused = fuse_ranks(&[vec![1u64, 2, 3], vec![3, 2, 4]], 3);
        let keys: Vec<u64> = fused.iter().map(|f| f.0).collect();
        assert_eq!(keys, [3, 2, 1]);
        assert!((fused[0].1 - (1.0 / 63.0 + 1.0 / 61.0)).abs() < 1e-7);
    }
}

impl crate::Engine {
    /// The best passages for a query.
    pub async fn search(&self, query: &str, opts: &SearchOptions) -> Result<Vec<SearchHit>> {
        let limit = opts.limit.max(1);
        if opts.doc_ids.as_ref().is_some_and(|ids| ids.is_empty()) {
            return Ok(Vec::new());
        }
        let scope = opts.doc_ids.as_deref();
        let mut hits = self.search_modes(query, limit, scope, opts.mode).await?;
        self.mark_ocr(&mut hits).await?;
        Ok(hits)
    }

    async fn search_modes(
        &self,
        query: &str,
        limit: usize,
        scope: Option<&[String]>,
        mode: SearchMode,
    ) -> Result<Vec<SearchHit>> {
        match mode {
            SearchMode::Dense => {
                let v = self.embed_query(query).await?;
                let dense = self.store.dense(&v, limit, scope).await?;
                let hits = dense.iter().cloned().map(SearchHit::from).collect();
                Ok(with_similarity(hits, &dense))
            }
            SearchMode::Bm25 => Ok(self
                .store
                .full_text(query, limit, scope)
                .await?
                .into_iter()
                .map(SearchHit::from)
                .collect()),
            SearchMode::Hybrid => Ok(self
                .hybrid(query, limit, (limit * 5).max(50), scope)
                .await?
                .0),
            SearchMode::Ranked => Ok(self.ranked(query, limit, scope).await?.0),
        }
    }

    /// Hybrid search: the dense and BM25 candidate rows (`candidates` each)
    /// fused by rank, then the records of the best `limit` read; also the best
    /// cosine similarity any chunk has to the query.
    pub(crate) async fn hybrid(
        &self,
        query: &str,
        limit: usize,
        candidates: usize,
        scope: Option<&[String]>,
    ) -> Result<(Vec<SearchHit>, Option<f32>)> {
        // BM25 needs no vector: it runs while the question is embedded and
        // searched by vector.
        let t0 = std::time::Instant::now();
        let ms = |t: std::time::Instant| t.elapsed().as_secs_f64() * 1e3;
        let dense = async {
            let v = self.embed_query(query).await?;
            let embedded = ms(t0);
            let rows = self.store.dense_rows(&v, candidates, scope).await?;
            Ok::<_, Error>((v, rows, embedded, ms(t0)))
        };
        let bm25 = async {
            let rows = self.store.full_text_rows(query, candidates, scope).await?;
            Ok::<_, Error>((rows, ms(t0)))
        };
        let ((v, dense, embedded, dense_done), (bm25, bm25_done)) = tokio::try_join!(dense, bm25)?;
        let t1 = std::time::Instant::now();
        let rows = |list: &[store::Candidate]| list.iter().map(|c| c.row).collect::<Vec<u64>>();
        let fused = fuse_ranks(&[rows(&dense), rows(&bm25)], limit);
        // The records of the fused rows, and of the best dense row for its
        // exact similarity.
        let mut wanted: Vec<u64> = fused.iter().map(|f| f.0).collect();
        let top = dense.first().map(|c| c.row);
        if let Some(t) = top.filter(|t| !wanted.contains(t)) {
            wanted.push(t);
        }
        let records: std::collections::HashMap<u64, store::StoredHit> = self
            .store
            .records(&wanted, Some(&v))
            .await?
            .into_iter()
            .collect();
        tracing::debug!(
            embedded,
            dense = dense_done,
            bm25 = bm25_done,
            records = ms(t1),
            "hybrid search stages, ms from its start"
        );
        let in_dense: std::collections::HashSet<u64> = dense.iter().map(|c| c.row).collect();
        let best = top.and_then(|t| records.get(&t)).map(|h| h.score);
        let hits = fused
            .into_iter()
            .filter_map(|(row, score)| {
                let hit = records.get(&row)?.clone();
                let similarity = in_dense.contains(&row).then_some(hit.score);
                Some(SearchHit {
                    ocr: false,
                    score,
                    similarity,
                    ..SearchHit::from(hit)
                })
            })
            .collect();
        Ok((hits, best))
    }

    pub(crate) async fn embed_query(&self, query: &str) -> Result<Vec<f32>> {
        self.embed_texts(vec![query.to_string()])
            .await?
            .pop()
            .ok_or_else(|| Error::Bug("the embedder returned no vector".into()))
    }
}
