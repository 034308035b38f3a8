//! Where chunks and their vectors live: the [`Store`] seam and its LanceDB
//! implementation (vector search + BM25 full-text index in one table).

mod lance;

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

#[async_trait]
pub trait Store: Send + Sync {
    async fn add(&self, rows: Vec<ChunkRow>) -> Result<()>;
    /// Removes every chunk of a document.
    async fn delete_document(&self, doc_id: &str) -> Result<()>;
    /// Nearest chunks by cosine similarity; `doc_ids` limits the search when given.
    async fn dense(
        &self,
        vector: &[f32],
        limit: usize,
        doc_ids: Option<&[String]>,
    ) -> Result<Vec<StoredHit>>;
    /// Nearest chunks by an exhaustive scan, bypassing any vector index (benchmarks: recall).
    async fn dense_exact(&self, vector: &[f32], limit: usize) -> Result<Vec<StoredHit>> {
        self.dense(vector, limit, None).await
    }
    /// Whether an approximate vector index is in use.
    async fn has_vector_index(&self) -> Result<bool> {
        Ok(false)
    }
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
