//! The LanceDB store: one `chunks` table with a vector column and a BM25
//! full-text index on the text, embedded in the data directory.

use std::path::Path;
use std::sync::Arc;

use arrow_array::types::Float32Type;
use arrow_array::{Array, FixedSizeListArray, Float32Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use futures::TryStreamExt;
use lancedb::index::scalar::{FtsIndexBuilder, FullTextSearchQuery};
use lancedb::index::vector::IvfHnswSqIndexBuilder;
use lancedb::index::Index;

/// Up to this many chunks the dense search scans the vectors held in memory in
/// 8 bits (384 bytes a chunk with MiniLM: ≈ 115 MB at the limit, ≈ 2 ms a
/// query per 100k chunks) and re-scores the best with the stored f32 vectors.
const MEMORY_SCAN_MAX_ROWS: usize = 300_000;
/// From here on (libraries too large to hold in memory) LanceDB searches an
/// IVF-HNSW index with 8-bit scalar quantization.
const VECTOR_INDEX_MIN_ROWS: usize = MEMORY_SCAN_MAX_ROWS;
/// Small fragments (one or more per add) past which they are merged.
const MAX_FRAGMENTS: usize = 8;
/// Rows of a merged fragment; larger ones are left as they are. Merging
/// rewrites whole fragments: with LanceDB's default (1M rows) every
/// import's end rewrote the whole library, and its memory peak grew with it.
const FRAGMENT_ROWS: usize = 65_536;
/// How long the files of a version superseded by a merge stay for the
/// searches still reading it.
const MERGE_GRACE: Duration = Duration::minutes(2);
/// Rows added without the full-text index taking them in, past which an
/// import folds them in (a delta of the index): the full-text search reads
/// rows outside the index in full on every query. A fold of ~2k rows takes
/// ~80 ms; at 8,192 the BM25 part of a search during an import took 62 ms at
/// the median, at 2,048 21 ms (BENCHMARKS.md, 2026-12-07 morning).
const FOLD_ROWS: usize = 2_048;
/// Index candidates re-ranked with the full vectors, per result wanted.
const REFINE_FACTOR: u32 = 4;
use lancedb::query::{ExecutableQuery, QueryBase, Select};
use lancedb::table::{Duration, OptimizeAction};
use lancedb::{DistanceType, Table};

use super::memory::{CacheSlot, Segment, Slot, VectorCache};
use super::{Candidate, ChunkRecord, ChunkRow, Store, StoredHit};
use crate::error::{Error, Result};

const TABLE: &str = "chunks";

pub struct LanceStore {
    table: Table,
    dimension: usize,
    /// Which columns carry an index, as last listed: listing reads the table's
    /// manifest, too slow to repeat on every query. Cleared by every write.
    indexed: std::sync::Mutex<Option<Indexed>>,
    /// The vectors in memory for the dense search (small libraries): kept
    /// across added and deleted rows, dropped by any other write.
    vectors: CacheSlot,
    /// Bumped by every write: a cache loaded across a write is not kept.
    generation: std::sync::atomic::AtomicU64,
    /// One load of the vector cache at a time.
    loading: tokio::sync::Mutex<()>,
    /// Rows added since the full-text index last took new rows in.
    unindexed: std::sync::atomic::AtomicUsize,
    /// Rows read from the table into the vector cache, ever.
    rows_read: std::sync::atomic::AtomicUsize,
    /// One index build or storage rewrite at a time: searches that find no
    /// full-text index (several run at once for one question) and an import
    /// finishing would otherwise commit competing index versions.
    indexing: tokio::sync::Mutex<()>,
    /// LanceDB's caches (index, file metadata), kept to report their size
    /// (`quire bench`, the `bench` feature).
    #[cfg_attr(not(feature = "bench"), allow(dead_code))]
    session: Arc<lance::session::Session>,
}

/// The columns of a [`ChunkRecord`], as stored.
const RECORD_COLUMNS: [&str; 7] = ["chunk_id", "doc_id", "path", "page", "start", "end", "text"];
/// What ranking reads of each candidate: where the passage is.
const PLACE_COLUMNS: [&str; 3] = ["chunk_id", "doc_id", "page"];

#[derive(Debug, Clone, Copy)]
struct Indexed {
    vector: bool,
    text: bool,
}

fn schema(dimension: usize) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("chunk_id", DataType::Utf8, false),
        Field::new("doc_id", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("page", DataType::UInt32, true),
        Field::new("start", DataType::UInt32, false),
        Field::new("end", DataType::UInt32, false),
        Field::new("text", DataType::Utf8, false),
        Field::new(
            "vector",
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, true)),
                dimension as i32,
            ),
            false,
        ),
    ]))
}

/// Column `name` of `batch` as the array type `A` (a missing or mistyped
/// column is a bug: Quire wrote the table and chose what each query reads).
fn column<'b, A: Array + 'static>(batch: &'b RecordBatch, name: &str) -> Result<&'b A> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::Bug(format!("the store's rows lack column {name}")))?
        .as_any()
        .downcast_ref::<A>()
        .ok_or_else(|| {
            Error::Bug(format!(
                "column {name} is not {}",
                std::any::type_name::<A>()
            ))
        })
}

/// The values of `batch`'s vector column (`dimension` floats a row), row after row.
fn vector_values(batch: &RecordBatch, dimension: usize) -> Result<&[f32]> {
    let list = column::<FixedSizeListArray>(batch, "vector")?;
    if list.value_length() as usize != dimension {
        return Err(Error::Bug(format!(
            "stored vectors have {} dims, the store {dimension}",
            list.value_length()
        )));
    }
    let values = list
        .values()
        .as_any()
        .downcast_ref::<Float32Array>()
        .ok_or_else(|| Error::Bug("the vector column is not f32".into()))?;
    let start = list.offset() * dimension;
    values
        .values()
        .get(start..start + list.len() * dimension)
        .ok_or_else(|| Error::Bug("the vector column is shorter than its rows".into()))
}

/// `(_rowid, score)` of search results, the score mapped so higher is better.
fn candidates(
    batches: &[RecordBatch],
    score_col: &str,
    score: impl Fn(f32) -> f32,
) -> Result<Vec<Candidate>> {
    let mut out = Vec::new();
    for b in batches {
        let rows = column::<arrow_array::UInt64Array>(b, "_rowid")?;
        let scores = column::<Float32Array>(b, score_col)?;
        out.extend(
            rows.values()
                .iter()
                .zip(scores.values())
                .map(|(&row, &s)| Candidate {
                    row,
                    score: score(s),
                }),
        );
    }
    Ok(out)
}

/// Doc ids are hex digests made by the engine, but quote them safely anyway.
fn in_filter(doc_ids: &[String]) -> String {
    let list: Vec<String> = doc_ids
        .iter()
        .map(|d| format!("'{}'", d.replace('\'', "''")))
        .collect();
    format!("doc_id IN ({})", list.join(", "))
}

impl LanceStore {
    pub async fn open(dir: &Path, dimension: usize) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let uri = dir.to_str().ok_or_else(|| {
            Error::InvalidInput(format!("data directory is not UTF-8: {}", dir.display()))
        })?;
        let session = Arc::new(lance::session::Session::default());
        let db = lancedb::connect(uri)
            .session(session.clone())
            .execute()
            .await?;
        let names = db.table_names().execute().await?;
        let table = if names.iter().any(|n| n == TABLE) {
            db.open_table(TABLE).execute().await?
        } else {
            db.create_empty_table(TABLE, schema(dimension))
                .execute()
                .await?
        };
        Ok(LanceStore {
            table,
            dimension,
            indexed: std::sync::Mutex::new(None),
            vectors: std::sync::Mutex::new(Slot::default()),
            generation: std::sync::atomic::AtomicU64::new(0),
            loading: tokio::sync::Mutex::new(()),
            unindexed: std::sync::atomic::AtomicUsize::new(0),
            rows_read: std::sync::atomic::AtomicUsize::new(0),
            indexing: tokio::sync::Mutex::new(()),
            session,
        })
    }

    async fn collect(
        &self,
        batches: Vec<RecordBatch>,
        score_col: Option<&str>,
        higher_is_better: bool,
    ) -> Result<Vec<StoredHit>> {
        let mut hits = Vec::new();
        for b in &batches {
            let strs = |name: &str| column::<StringArray>(b, name);
            let u32s = |name: &str| column::<UInt32Array>(b, name);
            // Where a passage is is always read; what it says only when
            // asked for (`placed` leaves it out).
            let (chunk_id, doc_id, page) = (strs("chunk_id")?, strs("doc_id")?, u32s("page")?);
            let read = b.column_by_name("text").is_some();
            let (path, text, start, end) = if read {
                (
                    Some(strs("path")?),
                    Some(strs("text")?),
                    Some(u32s("start")?),
                    Some(u32s("end")?),
                )
            } else {
                (None, None, None, None)
            };
            let str_at = |a: Option<&StringArray>, i: usize| {
                a.map_or(String::new(), |a| a.value(i).to_string())
            };
            let score = match score_col {
                Some(name) => Some(column::<Float32Array>(b, name)?),
                None => None,
            };
            for i in 0..b.num_rows() {
                let s = score.as_ref().map_or(0.0, |s| s.value(i));
                hits.push(StoredHit {
                    record: ChunkRecord {
                        chunk_id: chunk_id.value(i).to_string(),
                        doc_id: doc_id.value(i).to_string(),
                        path: str_at(path, i),
                        page: if page.is_null(i) {
                            None
                        } else {
                            Some(page.value(i))
                        },
                        start: start.map_or(0, |a| a.value(i)),
                        end: end.map_or(0, |a| a.value(i)),
                        text: str_at(text, i),
                    },
                    score: if higher_is_better { s } else { 1.0 - s },
                });
            }
        }
        Ok(hits)
    }

    async fn indexed(&self) -> Result<Indexed> {
        if let Some(known) = *self.indexed.lock().unwrap_or_else(|p| p.into_inner()) {
            return Ok(known);
        }
        let indices = self.table.list_indices().await?;
        let on = |column: &str| {
            indices
                .iter()
                .any(|i| i.columns.iter().any(|c| c == column))
        };
        let known = Indexed {
            vector: on("vector"),
            text: on("text"),
        };
        *self.indexed.lock().unwrap_or_else(|p| p.into_inner()) = Some(known);
        Ok(known)
    }

    /// Whether there is a full-text index to search, building it when rows
    /// were added without one; false for an empty table.
    async fn full_text_ready(&self) -> Result<bool> {
        if !self.indexed().await?.text {
            if self.count().await? == 0 {
                return Ok(false);
            }
            let _gate = self.indexing.lock().await;
            // Built meanwhile by the search or import that held the gate?
            // Only the full-text index: merging and the vector index are the
            // import's work, not a question's.
            if !self.indexed().await?.text {
                // Rows keep their ids: the vectors in memory stay.
                self.indexes_changed();
                let built = self.create_text_index().await;
                self.indexes_changed();
                built?;
            }
        }
        Ok(true)
    }

    /// `columns` of `rows` (rows deleted since are left out), each scored
    /// by its cosine similarity to `vector` when given.
    async fn take(
        &self,
        rows: &[u64],
        columns: &[&str],
        vector: Option<&[f32]>,
    ) -> Result<Vec<(u64, StoredHit)>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let Some(wrapper) = self.table.dataset() else {
            return Err(Error::Bug(
                "the LanceDB table is not a local dataset".into(),
            ));
        };
        let dataset = wrapper.get().await?;
        // Rows of fragments rewritten since the search (a merge after an
        // import running meanwhile) are gone: leave them out rather than fail.
        let rows: Vec<u64> = rows
            .iter()
            .copied()
            .filter(|r| dataset.get_fragment((r >> 32) as usize).is_some())
            .collect();
        let rows = rows.as_slice();
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut columns: Vec<&str> = columns.to_vec();
        if vector.is_some() {
            columns.push("vector");
        }
        let projection = dataset
            .schema()
            .project(&columns)
            .map_err(lancedb::Error::from)?;
        let batch = dataset
            .take_builder(rows, projection)
            .map_err(lancedb::Error::from)?
            .with_row_address(true)
            .execute()
            .await
            .map_err(lancedb::Error::from)?;
        // Row addresses are the row ids of a table without stable row ids
        // (Quire's); when every row came back, they came back in order.
        let found: Vec<u64> = if batch.num_rows() == rows.len() {
            rows.to_vec()
        } else {
            column::<arrow_array::UInt64Array>(&batch, "_rowaddr")?
                .values()
                .to_vec()
        };
        let mut hits = self.collect(vec![batch.clone()], None, false).await?;
        if let Some(query) = vector {
            let vectors = vector_values(&batch, self.dimension)?;
            let norm = quire_kernels::decode::dot(query, query)
                .sqrt()
                .max(f32::MIN_POSITIVE);
            for (i, h) in hits.iter_mut().enumerate() {
                let v = &vectors[i * self.dimension..(i + 1) * self.dimension];
                let vn = quire_kernels::decode::dot(v, v)
                    .sqrt()
                    .max(f32::MIN_POSITIVE);
                h.score = quire_kernels::decode::dot(query, v) / (norm * vn);
            }
        }
        Ok(found.into_iter().zip(hits).collect())
    }

    /// Rewrites small fragments into large ones.
    async fn compact(&self) -> Result<()> {
        // One merge at a time, read in small batches: the merge runs beside
        // searches and an import's embedding, and its memory is the import's
        // peak (BENCHMARKS.md, 2026-12-07 afternoon).
        let options = lancedb::table::CompactionOptions {
            target_rows_per_fragment: FRAGMENT_ROWS,
            num_threads: Some(1),
            batch_size: Some(1_024),
            ..Default::default()
        };
        self.table
            .optimize(OptimizeAction::Compact {
                options,
                remap_options: None,
            })
            .await?;
        Ok(())
    }

    /// Deletes the files of versions older than `grace`; `unverified` also
    /// those of versions whose writing may still be under way (only when no
    /// import runs).
    async fn prune(&self, unverified: bool, grace: Duration) -> Result<()> {
        self.table
            .optimize(OptimizeAction::Prune {
                older_than: Some(grace),
                delete_unverified: Some(unverified),
                error_if_tagged_old_versions: Some(false),
            })
            .await?;
        Ok(())
    }

    /// Forgets the listed indexes and the vectors in memory: the next query
    /// lists and loads them again.
    fn written(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.indexed.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *self.vectors.lock().unwrap_or_else(|p| p.into_inner()) = Slot::default();
    }

    /// An index was built or changed (no row moved).
    fn indexes_changed(&self) {
        *self.indexed.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Folds the rows added since into the full-text index as a delta, when
    /// there are [`FOLD_ROWS`] of them and an index to fold them into (an
    /// import running into a library that has one). Skipped while another
    /// index build runs.
    async fn fold_new_rows(&self) -> Result<()> {
        use std::sync::atomic::Ordering;
        if self.unindexed.load(Ordering::SeqCst) < FOLD_ROWS || !self.indexed().await?.text {
            return Ok(());
        }
        let Ok(_gate) = self.indexing.try_lock() else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let taken = self.unindexed.swap(0, Ordering::SeqCst);
        let mut options = lancedb::table::OptimizeOptions::default();
        options.num_indices_to_merge = Some(0);
        let folded = self.table.optimize(OptimizeAction::Index(options)).await;
        self.indexes_changed();
        match folded {
            Ok(_) => tracing::debug!(
                rows = taken,
                ms = started.elapsed().as_millis() as u64,
                "new rows folded into the full-text index"
            ),
            // The rows stay searchable (read in full) until the import's own
            // index update at its end: not worth failing the import for.
            Err(e) => {
                self.unindexed.fetch_add(taken, Ordering::SeqCst);
                tracing::warn!("folding new rows into the full-text index failed: {e}");
            }
        }
        Ok(())
    }

    /// Rows were added (in new fragments): the vectors in memory are kept,
    /// and the next query reads the new fragments' alone.
    fn appended(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.indexed.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.vectors.lock().unwrap_or_else(|p| p.into_inner()).stale = true;
    }

    /// The rows of `doc_ids` were deleted (the other rows keep their ids):
    /// the vectors in memory are kept, without those documents.
    fn deleted(&self, doc_ids: &[String]) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.indexed.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let mut slot = self.vectors.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cache) = slot.cache.take() {
            slot.cache = Some(Arc::new(cache.without_documents(doc_ids)));
        }
    }

    /// The vectors in memory, loaded from the current table version when
    /// missing or topped up with the fragments added since; `None` when the
    /// library is too large to hold them.
    async fn vector_cache(&self) -> Result<Option<Arc<VectorCache>>> {
        let current = || {
            let slot = self.vectors.lock().unwrap_or_else(|p| p.into_inner());
            (slot.cache.clone(), slot.stale)
        };
        if let (Some(c), false) = current() {
            return Ok(Some(c));
        }
        let _gate = self.loading.lock().await;
        let (held, stale) = current();
        if let (Some(c), false) = (&held, stale) {
            return Ok(Some(c.clone()));
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let Some(wrapper) = self.table.dataset() else {
            return Ok(None);
        };
        let dataset = wrapper.get().await?;
        let rows = dataset
            .count_rows(None)
            .await
            .map_err(lancedb::Error::from)?;
        if rows > MEMORY_SCAN_MAX_ROWS {
            // Too large to hold now: what was held is let go.
            *self.vectors.lock().unwrap_or_else(|p| p.into_inner()) = Slot::default();
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let base = held.unwrap_or_else(|| Arc::new(VectorCache::new(self.dimension)));
        let wanted: Vec<_> = dataset
            .fragments()
            .iter()
            .filter(|f| !base.holds(f.id))
            .cloned()
            .collect();
        let ids: Vec<u64> = wanted.iter().map(|f| f.id).collect();
        let mut segment = Segment::new(self.dimension);
        if !wanted.is_empty() {
            let mut scan = dataset.scan();
            scan.with_fragments(wanted)
                .project(&["doc_id", "vector"])
                .map_err(lancedb::Error::from)?
                .with_row_id();
            let mut stream = scan.try_into_stream().await.map_err(lancedb::Error::from)?;
            while let Some(batch) = stream.try_next().await.map_err(lancedb::Error::from)? {
                let doc_ids = column::<StringArray>(&batch, "doc_id")?;
                let row_ids = column::<arrow_array::UInt64Array>(&batch, "_rowid")?;
                let vectors = vector_values(&batch, self.dimension)?;
                for i in 0..batch.num_rows() {
                    let v = &vectors[i * self.dimension..(i + 1) * self.dimension];
                    segment.push(row_ids.value(i), doc_ids.value(i), v);
                }
            }
            segment.shrink_to_fit();
            drop(stream);
        }
        let read = segment.len();
        self.rows_read
            .fetch_add(read, std::sync::atomic::Ordering::SeqCst);
        let cache = Arc::new(base.with_segment(segment, ids));
        crate::heap::release_free();
        tracing::debug!(
            read,
            rows = cache.len(),
            segments = cache.segments(),
            bytes = cache.memory_bytes(),
            ms = started.elapsed().as_millis() as u64,
            "vectors read into memory"
        );
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) == generation {
            *self.vectors.lock().unwrap_or_else(|p| p.into_inner()) = Slot {
                cache: Some(cache.clone()),
                stale: false,
            };
        }
        Ok(Some(cache))
    }
}

#[async_trait]
impl Store for LanceStore {
    async fn add(&self, rows: Vec<ChunkRow>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        if let Some(bad) = rows.iter().find(|r| r.vector.len() != self.dimension) {
            return Err(Error::Bug(format!(
                "vector of {} dims for a {}-dim store",
                bad.vector.len(),
                self.dimension
            )));
        }
        let dim = self.dimension as i32;
        let batch = RecordBatch::try_new(
            schema(self.dimension),
            vec![
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.record.chunk_id.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.record.doc_id.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.record.path.as_str()),
                )),
                Arc::new(UInt32Array::from_iter(rows.iter().map(|r| r.record.page))),
                Arc::new(UInt32Array::from_iter_values(
                    rows.iter().map(|r| r.record.start),
                )),
                Arc::new(UInt32Array::from_iter_values(
                    rows.iter().map(|r| r.record.end),
                )),
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.record.text.as_str()),
                )),
                Arc::new(
                    FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
                        rows.iter()
                            .map(|r| Some(r.vector.iter().copied().map(Some).collect::<Vec<_>>())),
                        dim,
                    ),
                ),
            ],
        )
        .map_err(|e| Error::Bug(format!("building a record batch: {e}")))?;
        let added = batch.num_rows();
        self.table.add(batch).execute().await?;
        self.appended();
        self.unindexed
            .fetch_add(added, std::sync::atomic::Ordering::SeqCst);
        self.fold_new_rows().await?;
        Ok(())
    }

    async fn move_document(&self, from: &str, to: &str, path: &str) -> Result<()> {
        let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
        // Chunk ids are `<doc id>:<n>`; the doc id's length is fixed.
        self.table
            .update()
            .only_if(in_filter(&[from.to_string()]))
            .column("doc_id", quote(to))
            .column("path", quote(path))
            .column(
                "chunk_id",
                format!(
                    "concat({}, substr(chunk_id, {}))",
                    quote(to),
                    from.len() + 1
                ),
            )
            .execute()
            .await?;
        self.written();
        Ok(())
    }

    async fn delete_documents(&self, doc_ids: &[String]) -> Result<()> {
        if doc_ids.is_empty() {
            return Ok(());
        }
        self.table.delete(in_filter(doc_ids).as_str()).await?;
        self.deleted(doc_ids);
        Ok(())
    }

    async fn dense(
        &self,
        vector: &[f32],
        limit: usize,
        doc_ids: Option<&[String]>,
    ) -> Result<Vec<StoredHit>> {
        // A few more candidates than asked, re-ranked by their exact cosine.
        let found = self
            .dense_rows(vector, limit + limit / 2 + 8, doc_ids)
            .await?;
        let rows: Vec<u64> = found.iter().map(|c| c.row).collect();
        let mut hits: Vec<StoredHit> = self
            .records(&rows, Some(vector))
            .await?
            .into_iter()
            .map(|(_, h)| h)
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.record.chunk_id.cmp(&b.record.chunk_id))
        });
        hits.truncate(limit);
        Ok(hits)
    }

    async fn dense_rows(
        &self,
        vector: &[f32],
        limit: usize,
        doc_ids: Option<&[String]>,
    ) -> Result<Vec<Candidate>> {
        // The vectors in memory (approximate scores), or LanceDB's search for
        // libraries too large to hold them.
        if let Some(cache) = self.vector_cache().await? {
            let (query, ids) = (vector.to_vec(), doc_ids.map(<[String]>::to_vec));
            let found =
                tokio::task::spawn_blocking(move || cache.nearest(&query, limit, ids.as_deref()))
                    .await
                    .map_err(|e| Error::Bug(format!("the vector scan failed: {e}")))?;
            return Ok(found
                .into_iter()
                .map(|(row, score)| Candidate { row, score })
                .collect());
        }
        let mut q = self
            .table
            .query()
            .nearest_to(vector)?
            .distance_type(DistanceType::Cosine)
            .select(Select::columns(&["chunk_id"]))
            .with_row_id()
            .limit(limit);
        if let Some(ids) = doc_ids {
            q = q.only_if(in_filter(ids));
        }
        if self.indexed().await?.vector {
            // Re-rank the index's candidates with the full vectors.
            q = q.refine_factor(REFINE_FACTOR);
        }
        let batches: Vec<RecordBatch> = q.execute().await?.try_collect().await?;
        candidates(&batches, "_distance", |d| 1.0 - d)
    }

    async fn full_text_rows(
        &self,
        query: &str,
        limit: usize,
        doc_ids: Option<&[String]>,
    ) -> Result<Vec<Candidate>> {
        if query.trim().is_empty() || !self.full_text_ready().await? {
            return Ok(Vec::new());
        }
        let mut q = self
            .table
            .query()
            .full_text_search(FullTextSearchQuery::new(query.to_string()))
            .select(Select::columns(&["chunk_id"]))
            .with_row_id()
            .limit(limit);
        if let Some(ids) = doc_ids {
            q = q.only_if(in_filter(ids));
        }
        let batches: Vec<RecordBatch> = q.execute().await?.try_collect().await?;
        candidates(&batches, "_score", |s| s)
    }

    async fn page_rows(&self, doc_id: &str, pages: &[u32]) -> Result<Vec<u64>> {
        if pages.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = pages.iter().map(u32::to_string).collect();
        let filter = format!(
            "{} AND page IN ({})",
            in_filter(&[doc_id.to_string()]),
            list.join(", ")
        );
        self.row_ids(filter).await
    }

    async fn document_rows(&self, doc_id: &str) -> Result<Vec<u64>> {
        self.row_ids(in_filter(&[doc_id.to_string()])).await
    }

    async fn records(&self, rows: &[u64], vector: Option<&[f32]>) -> Result<Vec<(u64, StoredHit)>> {
        self.take(rows, &RECORD_COLUMNS, vector).await
    }

    async fn placed(&self, rows: &[u64], vector: &[f32]) -> Result<Vec<(u64, StoredHit)>> {
        self.take(rows, &PLACE_COLUMNS, Some(vector)).await
    }

    #[cfg(feature = "bench")]
    async fn dense_exact(&self, vector: &[f32], limit: usize) -> Result<Vec<StoredHit>> {
        let q = self
            .table
            .query()
            .nearest_to(vector)?
            .distance_type(DistanceType::Cosine)
            .bypass_vector_index()
            .limit(limit);
        let batches: Vec<RecordBatch> = q.execute().await?.try_collect().await?;
        self.collect(batches, Some("_distance"), false).await
    }

    #[cfg(feature = "bench")]
    fn memory_bytes(&self) -> (u64, u64) {
        let vectors = match self.vectors.lock() {
            Ok(slot) => slot
                .cache
                .as_ref()
                .map(|c| c.memory_bytes() as u64)
                .unwrap_or(0),
            Err(_) => 0,
        };
        (self.session.size_bytes(), vectors)
    }

    #[cfg(feature = "bench")]
    async fn dense_method(&self) -> Result<&'static str> {
        Ok(if self.vector_cache().await?.is_some() {
            "8-bit vectors in memory, f32 re-rank"
        } else if self.indexed().await?.vector {
            "IVF-HNSW-SQ index"
        } else {
            "exact scan"
        })
    }

    async fn full_text(
        &self,
        query: &str,
        limit: usize,
        doc_ids: Option<&[String]>,
    ) -> Result<Vec<StoredHit>> {
        let found = self.full_text_rows(query, limit, doc_ids).await?;
        let rows: Vec<u64> = found.iter().map(|c| c.row).collect();
        let mut records: std::collections::HashMap<u64, StoredHit> =
            self.records(&rows, None).await?.into_iter().collect();
        Ok(found
            .into_iter()
            .filter_map(|c| {
                let mut hit = records.remove(&c.row)?;
                hit.score = c.score;
                Some(hit)
            })
            .collect())
    }

    async fn refresh_indexes(&self) -> Result<()> {
        let _gate = self.indexing.lock().await;
        self.reindex().await
    }

    async fn purge_deleted(&self) -> Result<()> {
        let _gate = self.indexing.lock().await;
        self.written();
        let result = self.compact_and_prune().await;
        self.written();
        result
    }

    async fn count(&self) -> Result<usize> {
        Ok(self.table.count_rows(None).await?)
    }
}

impl LanceStore {
    /// Builds or updates the indexes (the caller holds `indexing`).
    async fn reindex(&self) -> Result<()> {
        self.written();
        let result = self.build_indexes().await;
        self.written();
        // The update's transient memory (and the vectors just dropped) back
        // to the system.
        crate::heap::release_free();
        result
    }

    /// The row ids of the chunks matching `filter`.
    async fn row_ids(&self, filter: String) -> Result<Vec<u64>> {
        let batches: Vec<RecordBatch> = self
            .table
            .query()
            .only_if(filter)
            .select(Select::columns(&["chunk_id"]))
            .with_row_id()
            .execute()
            .await?
            .try_collect()
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            out.extend_from_slice(column::<arrow_array::UInt64Array>(b, "_rowid")?.values());
        }
        Ok(out)
    }

    async fn build_indexes(&self) -> Result<()> {
        let rows = self.count().await?;
        if rows == 0 {
            return Ok(());
        }
        let step = |what: &str| {
            tracing::debug!(
                rss_mb = crate::heap::rss_bytes().unwrap_or(0) >> 20,
                hwm_mb = crate::heap::peak_rss_bytes().unwrap_or(0) >> 20,
                "index update: {what}"
            )
        };
        step("start");
        self.merge_fragments().await?;
        // Each step's transient memory goes back before the next one's: the
        // allocator would keep it, and the steps' peaks would add up.
        crate::heap::release_free();
        step("fragments merged");
        if self.indexed().await?.vector {
            // `optimize` below folds new rows into every index.
        } else if rows >= VECTOR_INDEX_MIN_ROWS {
            let params = IvfHnswSqIndexBuilder::default().distance_type(DistanceType::Cosine);
            self.table
                .create_index(&["vector"], Index::IvfHnswSq(params))
                .execute()
                .await?;
        }
        step("vector index");
        if self.indexed().await?.text {
            self.optimize_indexes().await?;
        } else {
            self.create_text_index().await?;
        }
        step("text index");
        Ok(())
    }

    async fn create_text_index(&self) -> Result<()> {
        self.unindexed.store(0, std::sync::atomic::Ordering::SeqCst);
        let params = FtsIndexBuilder::default()
            .stem(true)
            .remove_stop_words(true)
            .ascii_folding(true);
        self.table
            .create_index(&["text"], Index::FTS(params))
            .execute()
            .await?;
        Ok(())
    }

    /// Every add writes at least one fragment (file set) and every read visits
    /// each: past [`MAX_FRAGMENTS`], rewrites them as one and drops the old
    /// files.
    async fn merge_fragments(&self) -> Result<()> {
        let Some(wrapper) = self.table.dataset() else {
            return Ok(());
        };
        let small = wrapper
            .get()
            .await?
            .get_fragments()
            .iter()
            .filter(|f| f.metadata().physical_rows.is_none_or(|n| n < FRAGMENT_ROWS))
            .count();
        if small <= MAX_FRAGMENTS {
            return Ok(());
        }
        self.compact().await?;
        // A search running meanwhile may still read the version before the
        // merge: its files stay a while (the next merge or purge deletes them).
        self.prune(false, MERGE_GRACE).await?;
        self.written();
        Ok(())
    }

    /// Folds new rows into the indexes, merging all of an index's parts into
    /// one (the full-text search visits each part).
    async fn optimize_indexes(&self) -> Result<()> {
        self.unindexed.store(0, std::sync::atomic::Ordering::SeqCst);
        let mut options = lancedb::table::OptimizeOptions::default();
        options.num_indices_to_merge = Some(usize::MAX);
        self.table.optimize(OptimizeAction::Index(options)).await?;
        Ok(())
    }

    async fn compact_and_prune(&self) -> Result<()> {
        self.compact().await?;
        if self.count().await? > 0 {
            if self.indexed().await?.text {
                self.optimize_indexes().await?;
            } else {
                // `purge_deleted` holds the indexing gate.
                self.reindex().await?;
            }
        }
        self.prune(true, Duration::zero()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(doc: &str, i: usize, v: [f32; 4]) -> ChunkRow {
        ChunkRow {
            record: ChunkRecord {
                chunk_id: format!("{doc}#{i}"),
                doc_id: doc.into(),
                path: format!("/x/{doc}.txt"),
                page: None,
                start: 0,
                end: 4,
                text: format!("text of {doc} {i}"),
            },
            vector: v.to_vec(),
        }
    }

    #[tokio::test]
    async fn regression_searches_at_once_on_a_library_without_a_text_index_build_it_once() {
        // A question runs several searches at once; on a library whose first
        // import is still running (no full-text index yet) each one started
        // building the index and all but one failed with a commit conflict.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LanceStore::open(dir.path(), 4).await.expect("store");
        store
            .add(
                (0..8)
                    .map(|i| row("a", i, [1.0, i as f32, 0.0, 0.0]))
                    .collect(),
            )
            .await
            .expect("add");
        let searches = (0..4).map(|_| store.full_text("text of a", 3, None));
        let adding = store.add(vec![row("b", 0, [0.0, 1.0, 0.0, 0.0])]);
        let (found, added) = futures::join!(futures::future::join_all(searches), adding);
        added.expect("an add beside the searches");
        for f in found {
            assert_eq!(f.expect("every search answers").len(), 3);
        }
        store
            .refresh_indexes()
            .await
            .expect("the import's own index update");
        assert_eq!(
            store
                .full_text("text of b", 10, None)
                .await
                .expect("search")
                .len(),
            9
        );
    }

    #[tokio::test]
    async fn regression_a_search_during_an_import_reads_only_the_rows_written_since_the_last() {
        // Every write group of an import dropped the vectors in memory, and
        // the next search read all of the library's again: at 100k passages
        // a search during an import took 400 ms instead of 15.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LanceStore::open(dir.path(), 4).await.expect("store");
        let read = || store.rows_read.load(std::sync::atomic::Ordering::SeqCst);
        let top = |found: Vec<Candidate>| found.first().map(|c| c.row);
        store
            .add(
                (0..50)
                    .map(|i| row("a", i, [1.0, 0.01 * i as f32, 0.0, 0.0]))
                    .collect(),
            )
            .await
            .expect("add a");
        let a0 = top(store
            .dense_rows(&[1.0, 0.0, 0.0, 0.0], 1, None)
            .await
            .expect("search"));
        assert_eq!(read(), 50);
        store
            .add(vec![
                row("b", 0, [0.0, 1.0, 0.0, 0.0]),
                row("b", 1, [0.0, 0.9, 0.1, 0.0]),
            ])
            .await
            .expect("add b");
        let b = store
            .dense_rows(&[0.0, 1.0, 0.0, 0.0], 2, None)
            .await
            .expect("search");
        assert_eq!(read(), 52, "only b's rows are read");
        let records = store.records(&[b[0].row], None).await.expect("read");
        assert_eq!(records[0].1.record.chunk_id, "b#0");
        // Deleting a document keeps the rest in memory, and leaves it out.
        store
            .delete_documents(&["b".to_string()])
            .await
            .expect("delete b");
        let after = store
            .dense_rows(&[0.0, 1.0, 0.0, 0.0], 60, None)
            .await
            .expect("search");
        assert_eq!(after.len(), 50);
        assert_eq!(read(), 52);
        // Imported again under the same id: its new rows are found.
        store
            .add(vec![row("b", 0, [0.0, 0.0, 1.0, 0.0])])
            .await
            .expect("add b again");
        let again = store
            .dense_rows(&[0.0, 0.0, 1.0, 0.0], 1, None)
            .await
            .expect("search");
        assert_eq!(read(), 53);
        let records = store.records(&[again[0].row], None).await.expect("read");
        assert_eq!(records[0].1.record.chunk_id, "b#0");
        assert_eq!(
            store
                .dense_rows(&[0.0, 1.0, 0.0, 0.0], 60, Some(&["b".to_string()]))
                .await
                .expect("search")
                .len(),
            1
        );
        // A merge moves rows: everything is read again.
        store.purge_deleted().await.expect("merge");
        assert_eq!(
            top(store
                .dense_rows(&[1.0, 0.0, 0.0, 0.0], 1, None)
                .await
                .expect("search"))
            .is_some(),
            a0.is_some()
        );
        assert_eq!(read(), 53 + 51);
    }

    #[tokio::test]
    async fn regression_every_import_s_merge_rewrote_the_whole_library() {
        // LanceDB's default merge rewrites every fragment under 1M rows: at
        // an import's end the whole library was read and written again, and
        // that rewrite was the import's memory peak.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LanceStore::open(dir.path(), 4).await.expect("store");
        store
            .add(
                (0..FRAGMENT_ROWS)
                    .map(|i| row("big", i, [1.0, i as f32, 0.0, 0.0]))
                    .collect(),
            )
            .await
            .expect("add a full fragment");
        for d in 0..=MAX_FRAGMENTS {
            store
                .add(vec![row(&format!("small{d}"), 0, [0.0, 1.0, 0.0, 0.0])])
                .await
                .expect("add a small one");
        }
        let fragments = || async {
            let dataset = store
                .table
                .dataset()
                .expect("a native table")
                .get()
                .await
                .expect("dataset");
            dataset
                .get_fragments()
                .iter()
                .map(|f| (f.id(), f.metadata().physical_rows))
                .collect::<Vec<_>>()
        };
        let before = fragments().await;
        assert_eq!(before.len(), MAX_FRAGMENTS + 2);
        store
            .refresh_indexes()
            .await
            .expect("the import's index update");
        let after = fragments().await;
        assert_eq!(after.len(), 2, "{after:?}");
        assert_eq!(after[0], before[0], "the full fragment is left as it was");
        assert_eq!(
            after[1].1,
            Some(MAX_FRAGMENTS + 1),
            "the small ones are merged"
        );
        assert_eq!(
            store.count().await.expect("count"),
            FRAGMENT_ROWS + MAX_FRAGMENTS + 1
        );
    }

    #[tokio::test]
    async fn regression_rows_found_before_a_merge_are_read_or_left_out_not_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LanceStore::open(dir.path(), 4).await.expect("store");
        store
            .add(vec![
                row("a", 0, [1.0, 0.0, 0.0, 0.0]),
                row("a", 1, [0.9, 0.1, 0.0, 0.0]),
            ])
            .await
            .expect("add a");
        store
            .add(vec![row("b", 0, [0.0, 1.0, 0.0, 0.0])])
            .await
            .expect("add b");
        let found = store
            .dense_rows(&[1.0, 0.0, 0.0, 0.0], 3, None)
            .await
            .expect("search");
        assert_eq!(found.len(), 3);
        let read = store
            .records(&[found[0].row], Some(&[1.0, 0.0, 0.0, 0.0]))
            .await
            .expect("read");
        assert_eq!(read[0].1.record.chunk_id, "a#0");
        assert!((read[0].1.score - 1.0).abs() < 1e-6);
        // Another import's merge rewrites the fragments the rows were found in.
        store
            .delete_documents(&["b".to_string()])
            .await
            .expect("delete");
        store.purge_deleted().await.expect("merge");
        let rows: Vec<u64> = found.iter().map(|c| c.row).collect();
        let read = store
            .records(&rows, None)
            .await
            .expect("rows of merged fragments");
        assert!(read.len() < rows.len(), "{read:?}");
        // A new search sees the merged table.
        let again = store
            .dense_rows(&[1.0, 0.0, 0.0, 0.0], 3, None)
            .await
            .expect("search again");
        assert_eq!(again.len(), 2);
        let ids: Vec<u64> = again.iter().map(|c| c.row).collect();
        let read = store.records(&ids, None).await.expect("read again");
        assert_eq!(read.len(), 2);
    }

    #[tokio::test]
    async fn a_moved_document_keeps_its_chunks_and_vectors_under_its_new_id() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LanceStore::open(dir.path(), 4).await.expect("store");
        let (old, new) = ("0123456789abcdef", "fedcba9876543210");
        let mut rows = vec![
            row(old, 0, [1.0, 0.0, 0.0, 0.0]),
            row(old, 1, [0.0, 1.0, 0.0, 0.0]),
        ];
        for (i, r) in rows.iter_mut().enumerate() {
            r.record.chunk_id = format!("{old}:{i}");
        }
        rows.push(row("other", 0, [0.0, 0.0, 1.0, 0.0]));
        store.add(rows).await.expect("add");
        store
            .move_document(old, new, "/y/it's renamed.txt")
            .await
            .expect("move");
        assert!(store.document_rows(old).await.expect("rows").is_empty());
        let moved = store.document_rows(new).await.expect("rows");
        assert_eq!(moved.len(), 2);
        let read = store
            .records(&moved, Some(&[1.0, 0.0, 0.0, 0.0]))
            .await
            .expect("read");
        let mut ids: Vec<String> = read
            .iter()
            .map(|(_, h)| h.record.chunk_id.clone())
            .collect();
        ids.sort();
        assert_eq!(ids, vec![format!("{new}:0"), format!("{new}:1")]);
        for (_, h) in &read {
            assert_eq!(h.record.path, "/y/it's renamed.txt");
            assert!(h.record.text.starts_with(&format!("text of {old}")));
        }
        let best = read.iter().map(|(_, h)| h.score).fold(f32::MIN, f32::max);
        assert!((best - 1.0).abs() < 1e-6, "the vectors came along");
        assert_eq!(store.count().await.expect("count"), 3);
    }

    #[tokio::test]
    async fn placed_rows_are_where_their_records_are_with_the_same_score() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LanceStore::open(dir.path(), 4).await.expect("store");
        let mut paged = row("a", 1, [0.6, 0.8, 0.0, 0.0]);
        paged.record.page = Some(7);
        store
            .add(vec![row("a", 0, [1.0, 0.0, 0.0, 0.0]), paged])
            .await
            .expect("add");
        let q = [1.0, 0.0, 0.0, 0.0];
        let rows: Vec<u64> = store
            .dense_rows(&q, 2, None)
            .await
            .expect("search")
            .iter()
            .map(|c| c.row)
            .collect();
        let whole = store.records(&rows, Some(&q)).await.expect("records");
        let placed = store.placed(&rows, &q).await.expect("placed");
        assert_eq!(placed.len(), whole.len());
        for ((r1, w), (r2, p)) in whole.iter().zip(&placed) {
            assert_eq!(r1, r2);
            assert_eq!(p.score, w.score);
            let (w, p) = (&w.record, &p.record);
            assert_eq!(
                (&p.chunk_id, &p.doc_id, p.page),
                (&w.chunk_id, &w.doc_id, w.page)
            );
            assert!(p.text.is_empty() && p.path.is_empty() && !w.text.is_empty());
        }
        assert!(placed.iter().any(|(_, h)| h.record.page == Some(7)));
    }
}
