//! Where chunks and their vectors live: the [`Store`] seam and its LanceDB
//! implementation (vector search + BM25 full-text index in one table).

mod lance;
mod memory;

pub use lance::LanceStore;

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;

/// A chunk's text and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct ChunkRecord {
    pub chunk_id: String,
    pub doc_id: String,
    pub path: String,
    pub page: Option<u32>,
    pub start: u32,
    pub end: u32,
    pub text: String,
}

/// One chunk as stored: the record and its vector.
#[derive(Debug, Clone)]
pub struct ChunkRow {
    pub record: ChunkRecord,
    pub vector: Vec<f32>,
}

/// One chunk found by a search, with the score of that search.
#[derive(Debug, Clone, Serialize)]
pub struct StoredHit {
    pub record: ChunkRecord,
    pub score: f32,
}

/// A row found by a search, before its record is read: the store's row key
/// (valid until the next write) and the search's score, higher is better.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub row: u64,
    pub score: f32,
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn add(&self, rows: Vec<ChunkRow>) -> Result<()>;
    /// Removes every chunk of these documents, in one write.
    async fn delete_documents(&self, doc_ids: &[String]) -> Result<()>;
    /// Gives a document's chunks another document id and path (a renamed
    /// file), vectors and text untouched, in one write.
    async fn move_document(&self, from: &str, to: &str, path: &str) -> Result<()>;
    /// Nearest chunks by cosine similarity; `doc_ids` limits the search when given.
    async fn dense(
        &self,
        vector: &[f32],
        limit: usize,
        doc_ids: Option<&[String]>,
    ) -> Result<Vec<StoredHit>>;
    /// Nearest chunks by an exhaustive scan, bypassing any vector index (benchmarks: recall).
    #[cfg(feature = "bench")]
    async fn dense_exact(&self, vector: &[f32], limit: usize) -> Result<Vec<StoredHit>> {
        self.dense(vector, limit, None).await
    }
    /// Bytes the store holds in memory for searching: `(caches, vectors)`,
    /// the database's own caches (index and file metadata) and the vectors
    /// kept for the dense search (benchmark reports).
    #[cfg(feature = "bench")]
    fn memory_bytes(&self) -> (u64, u64) {
        (0, 0)
    }
    /// How [`Store::dense`] searches, in a few words (benchmark reports).
    #[cfg(feature = "bench")]
    async fn dense_method(&self) -> Result<&'static str> {
        Ok("exact scan")
    }
    /// Like [`Store::dense`] without reading the records: candidates for fusion.
    /// Scores may be approximate (read [`Store::records`] for exact ones).
    async fn dense_rows(
        &self,
        vector: &[f32],
        limit: usize,
        doc_ids: Option<&[String]>,
    ) -> Result<Vec<Candidate>>;
    /// Like [`Store::full_text`] without reading the records.
    async fn full_text_rows(
        &self,
        query: &str,
        limit: usize,
        doc_ids: Option<&[String]>,
    ) -> Result<Vec<Candidate>>;
    /// The records of rows found by the `_rows` searches, in the order asked
    /// (rows deleted since are left out); each score is the cosine similarity
    /// to `vector` when given, else 0.
    async fn records(&self, rows: &[u64], vector: Option<&[f32]>) -> Result<Vec<(u64, StoredHit)>>;
    /// Like [`Store::records`] scored against `vector`, reading only where
    /// each passage is (chunk id, document, page): text and path are empty,
    /// offsets 0. Ranking weighs a few hundred candidates this way and reads
    /// whole records only for the pages it keeps.
    async fn placed(&self, rows: &[u64], vector: &[f32]) -> Result<Vec<(u64, StoredHit)>> {
        self.records(rows, Some(vector)).await
    }
    /// The chunks of `rows` without scores (a page's or a document's passages).
    async fn chunks(&self, rows: &[u64]) -> Result<Vec<ChunkRecord>> {
        Ok(self
            .records(rows, None)
            .await?
            .into_iter()
            .map(|(_, h)| h.record)
            .collect())
    }
    /// The rows of a document's chunks on the given pages (for
    /// [`Store::records`]), in no particular order.
    async fn page_rows(&self, doc_id: &str, pages: &[u32]) -> Result<Vec<u64>>;
    /// The rows of all of a document's chunks, in no particular order.
    async fn document_rows(&self, doc_id: &str) -> Result<Vec<u64>>;
    /// Best chunks by BM25.
    async fn full_text(
        &self,
        query: &str,
        limit: usize,
        doc_ids: Option<&[String]>,
    ) -> Result<Vec<StoredHit>>;
    /// Brings indexes up to date after adds.
    async fn refresh_indexes(&self) -> Result<()>;
    /// Rewrites storage so deleted text is physically gone (old versions pruned).
    async fn purge_deleted(&self) -> Result<()>;
    async fn count(&self) -> Result<usize>;
}
