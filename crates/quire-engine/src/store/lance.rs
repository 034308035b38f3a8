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

/// Below this many chunks a brute-force vector scan is fast (a few ms); from
/// here on an IVF-HNSW index with 8-bit scalar quantization is built.
const VECTOR_INDEX_MIN_ROWS: usize = 20_000;
/// Index candidates re-ranked with the full vectors, per result wanted.
const REFINE_FACTOR: u32 = 4;
use lancedb::query::{ExecutableQuery, QueryBase};
use lancedb::table::{Duration, OptimizeAction};
use lancedb::{DistanceType, Table};

use super::{ChunkRecord, ChunkRow, Store, StoredHit};
use crate::error::{Error, Result};

const TABLE: &str = "chunks";

pub struct LanceStore {
    table: Table,
    dimension: usize,
    /// Which columns carry an index, as last listed: listing reads the table's
    /// manifest, too slow to repeat on every query. Cleared by every write.
    indexed: std::sync::Mutex<Option<Indexed>>,
}

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
        let db = lancedb::connect(uri).execute().await?;
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
        })
    }

    async fn collect(
        &self,
        batches: Vec<RecordBatch>,
        score_col: &str,
        higher_is_better: bool,
    ) -> Result<Vec<StoredHit>> {
        let mut hits = Vec::new();
        for b in batches {
            let col = |name: &str| {
                b.column_by_name(name)
                    .ok_or_else(|| Error::Bug(format!("search result lacks column {name}")))
            };
            let strs = |name: &str| -> Result<StringArray> {
                col(name)?
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .cloned()
                    .ok_or_else(|| Error::Bug(format!("column {name} is not text")))
            };
            let u32s = |name: &str| -> Result<UInt32Array> {
                col(name)?
                    .as_any()
                    .downcast_ref::<UInt32Array>()
                    .cloned()
                    .ok_or_else(|| Error::Bug(format!("column {name} is not u32")))
            };
            let (chunk_id, doc_id, path, text) = (
                strs("chunk_id")?,
                strs("doc_id")?,
                strs("path")?,
                strs("text")?,
            );
            let (page, start, end) = (u32s("page")?, u32s("start")?, u32s("end")?);
            let score = col(score_col)?
                .as_any()
                .downcast_ref::<Float32Array>()
                .cloned()
                .ok_or_else(|| Error::Bug(format!("column {score_col} is not f32")))?;
            for i in 0..b.num_rows() {
                let s = score.value(i);
                hits.push(StoredHit {
                    record: ChunkRecord {
                        chunk_id: chunk_id.value(i).to_string(),
                        doc_id: doc_id.value(i).to_string(),
                        path: path.value(i).to_string(),
                        page: if page.is_null(i) {
                            None
                        } else {
                            Some(page.value(i))
                        },
                        start: start.value(i),
                        end: end.value(i),
                        text: text.value(i).to_string(),
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

    /// Forgets the listed indexes: the next query lists them again.
    fn written(&self) {
        *self.indexed.lock().unwrap_or_else(|p| p.into_inner()) = None;
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
        self.table.add(batch).execute().await?;
        self.written();
        Ok(())
    }

    async fn delete_document(&self, doc_id: &str) -> Result<()> {
        self.table
            .delete(in_filter(&[doc_id.to_string()]).as_str())
            .await?;
        self.written();
        Ok(())
    }

    async fn dense(
        &self,
        vector: &[f32],
        limit: usize,
        doc_ids: Option<&[String]>,
    ) -> Result<Vec<StoredHit>> {
        let mut q = self
            .table
            .query()
            .nearest_to(vector)?
            .distance_type(DistanceType::Cosine)
            .limit(limit);
        if let Some(ids) = doc_ids {
            q = q.only_if(in_filter(ids));
        }
        if self.indexed().await?.vector {
            // Re-rank the index's candidates with the full vectors.
            q = q.refine_factor(REFINE_FACTOR);
        }
        let batches: Vec<RecordBatch> = q.execute().await?.try_collect().await?;
        self.collect(batches, "_distance", false).await
    }

    async fn dense_exact(&self, vector: &[f32], limit: usize) -> Result<Vec<StoredHit>> {
        let q = self
            .table
            .query()
            .nearest_to(vector)?
            .distance_type(DistanceType::Cosine)
            .bypass_vector_index()
            .limit(limit);
        let batches: Vec<RecordBatch> = q.execute().await?.try_collect().await?;
        self.collect(batches, "_distance", false).await
    }

    async fn has_vector_index(&self) -> Result<bool> {
        Ok(self.indexed().await?.vector)
    }

    async fn full_text(
        &self,
        query: &str,
        limit: usize,
        doc_ids: Option<&[String]>,
    ) -> Result<Vec<StoredHit>> {
        if query.trim().is_empty() {
            return Ok(Vec::new());
        }
        if !self.indexed().await?.text {
            if self.count().await? == 0 {
                return Ok(Vec::new());
            }
            self.refresh_indexes().await?;
        }
        let mut q = self
            .table
            .query()
            .full_text_search(FullTextSearchQuery::new(query.to_string()))
            .limit(limit);
        if let Some(ids) = doc_ids {
            q = q.only_if(in_filter(ids));
        }
        let batches: Vec<RecordBatch> = q.execute().await?.try_collect().await?;
        self.collect(batches, "_score", true).await
    }

    async fn refresh_indexes(&self) -> Result<()> {
        self.written();
        let result = self.build_indexes().await;
        self.written();
        result
    }

    async fn purge_deleted(&self) -> Result<()> {
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
    async fn build_indexes(&self) -> Result<()> {
        let rows = self.count().await?;
        if rows == 0 {
            return Ok(());
        }
        if self.indexed().await?.vector {
            // `optimize` below folds new rows into every index.
        } else if rows >= VECTOR_INDEX_MIN_ROWS {
            let params = IvfHnswSqIndexBuilder::default().distance_type(DistanceType::Cosine);
            self.table
                .create_index(&["vector"], Index::IvfHnswSq(params))
                .execute()
                .await?;
        }
        if self.indexed().await?.text {
            self.table
                .optimize(OptimizeAction::Index(Default::default()))
                .await?;
        } else {
            let params = FtsIndexBuilder::default()
                .stem(true)
                .remove_stop_words(true)
                .ascii_folding(true);
            self.table
                .create_index(&["text"], Index::FTS(params))
                .execute()
                .await?;
        }
        Ok(())
    }

    async fn compact_and_prune(&self) -> Result<()> {
        self.table
            .optimize(OptimizeAction::Compact {
                options: Default::default(),
                remap_options: None,
            })
            .await?;
        if self.count().await? > 0 {
            if self.indexed().await?.text {
                self.table
                    .optimize(OptimizeAction::Index(Default::default()))
                    .await?;
            } else {
                self.refresh_indexes().await?;
            }
        }
        self.table
            .optimize(OptimizeAction::Prune {
                older_than: Some(Duration::zero()),
                delete_unverified: Some(true),
                error_if_tagged_old_versions: Some(false),
            })
            .await?;
        Ok(())
    }
}
