//! Quire's engine: a library of the user's documents on their own machine.
//!
//! It reads files ([`loader`]), splits them into chunks ([`chunk`]), embeds
//! them ([`embed`]), keeps chunks and vectors in LanceDB ([`store`]) and the
//! document records in SQLite ([`catalog`]), and answers hybrid searches
//! ([`search`]); it answers questions with an on-device language model
//! ([`llm`]), citing the passages it used ([`answer`], [`chat`]). It knows nothing of terminals, windows or IPC: the `quire`
//! CLI and the desktop app are thin shells over [`Engine`].

pub mod answer;
mod ask;
pub mod bench;
pub mod catalog;
pub mod chat;
pub mod chunk;
pub mod context;
pub mod digest;
pub mod embed;
pub mod error;
pub mod eval;
pub mod heap;
pub mod import;
pub mod library;
pub mod llm;
pub mod loader;
pub mod paths;
pub mod rank;
pub mod search;
pub mod settings;
pub mod statements;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, RwLock};

pub use answer::{Answer, AnswerEvent, CitationMethod, Source, Turn};
pub use ask::{AskOptions, AskRequest, RunningAnswers};
pub use catalog::{Collection, DocumentInfo, Status};
pub use chat::{ChatInfo, ChatMessage, ChatScope};
pub use error::{Error, ErrorReport, FileProblem, Kind, Result};
pub use import::{
    FileOutcome, FileResult, ImportEvent, ImportOptions, ImportProgress, ImportSummary, NoProgress,
};
pub use library::open_in_default_app;
pub use llm::{CancelToken, Generator, ModelInfo};
pub use loader::{Extracted, PageText};
pub use search::{SearchHit, SearchMode, SearchOptions};
pub use settings::Settings;

use catalog::{Catalog, Outcome};
use chunk::{Chunk, Chunker};
use embed::{Embedder, MiniLm};
use import::{collect_files, doc_id_for, file_error};
use store::{ChunkRow, LanceStore, Store};

/// Where the engine keeps its data and finds its models.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    pub models_dir: PathBuf,
}

impl EngineConfig {
    /// The defaults, honouring `QUIRE_DATA_DIR` and `QUIRE_MODELS_DIR`.
    pub fn from_env() -> Self {
        let data_dir = paths::default_data_dir();
        let models_dir = paths::default_models_dir(&data_dir);
        EngineConfig {
            data_dir,
            models_dir,
        }
    }

    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        let models_dir = paths::default_models_dir(&data_dir);
        EngineConfig {
            data_dir,
            models_dir,
        }
    }
}

/// Embedding texts in groups this large keeps progress events flowing.
const EMBED_GROUP: usize = 64;

pub struct Engine {
    config: EngineConfig,
    catalog: Catalog,
    store: Arc<dyn Store>,
    embedder: Arc<dyn Embedder>,
    chunker: Arc<Chunker>,
    settings: RwLock<Settings>,
    /// Loaded on the first answer; one generation at a time.
    generator: Arc<Mutex<Option<LoadedGenerator>>>,
    generations: AtomicUsize,
    /// Questions matched against document headers ([`rank`]); rebuilt after changes.
    library_facts: tokio::sync::Mutex<Option<Arc<rank::LibraryFacts>>>,
}

pub(crate) struct LoadedGenerator {
    path: PathBuf,
    generator: Box<dyn Generator>,
}

impl Engine {
    /// Opens (or creates) the library in `config.data_dir` with the default embedder.
    pub async fn open(config: EngineConfig) -> Result<Self> {
        heap::configure();
        let minilm_dir = config.models_dir.join(paths::MINILM_DIR);
        let embedder = tokio::task::spawn_blocking(move || MiniLm::load(&minilm_dir))
            .await
            .map_err(|e| Error::Bug(e.to_string()))??;
        heap::release_free();
        let chunker = Chunker::new(embedder.sizing_tokenizer(), chunk::DEFAULT_MAX_TOKENS)?;
        Self::with_parts(config, Arc::new(embedder), chunker).await
    }

    /// Opens the library with a given embedder and chunker (tests, other models).
    pub async fn with_parts(
        config: EngineConfig,
        embedder: Arc<dyn Embedder>,
        chunker: Chunker,
    ) -> Result<Self> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let catalog = Catalog::open(&dir.join("quire.sqlite")).await?;
        match catalog.meta("embedding_model").await? {
            Some(m) if m != embedder.model_id() => {
                return Err(Error::InvalidInput(format!(
                    "this library was built with the embedding model `{m}`, not `{}`; use another --data-dir",
                    embedder.model_id()
                )))
            }
            Some(_) => {}
            None => catalog.set_meta("embedding_model", embedder.model_id()).await?,
        }
        let store = LanceStore::open(&dir.join("lancedb"), embedder.dimension()).await?;
        let settings = Settings::load(&dir.join(settings::CONFIG_FILE))?;
        Ok(Engine {
            config,
            catalog,
            store: Arc::new(store),
            embedder,
            chunker: Arc::new(chunker),
            settings: RwLock::new(settings),
            generator: Arc::new(Mutex::new(None)),
            generations: AtomicUsize::new(0),
            library_facts: tokio::sync::Mutex::new(None),
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// Imports files and folders. Per-file failures are in the results, not an `Err`.
    pub async fn import(
        &self,
        inputs: &[PathBuf],
        opts: &ImportOptions,
        progress: &dyn ImportProgress,
    ) -> Result<Vec<FileResult>> {
        let (files, missing) = collect_files(inputs);
        progress.event(&ImportEvent::Started {
            files: files.len() + missing.len(),
        });
        let mut results = Vec::new();
        for (path, err) in missing {
            let r = FileResult {
                path: path.display().to_string(),
                doc_id: None,
                outcome: FileOutcome::Failed,
                format: None,
                pages: None,
                chunks: 0,
                error: Some(err.to_report()),
            };
            progress.event(&ImportEvent::FileFinished { result: r.clone() });
            results.push(r);
        }
        let mut changed = false;
        for (index, path) in files.iter().enumerate() {
            progress.event(&ImportEvent::FileStarted {
                index,
                path: path.display().to_string(),
            });
            let r = self.import_file(path, opts, progress).await?;
            changed |= r.outcome != FileOutcome::Unchanged;
            progress.event(&ImportEvent::FileFinished { result: r.clone() });
            results.push(r);
        }
        if changed {
            self.documents_changed().await;
            progress.event(&ImportEvent::IndexingStarted);
            self.store.refresh_indexes().await?;
        }
        progress.event(&ImportEvent::Finished {
            summary: ImportSummary::from_results(&results),
        });
        Ok(results)
    }

    /// One file. Only runtime failures (database, disk) are `Err`; a file's own
    /// problems become a failed [`FileResult`] recorded in the catalog.
    async fn import_file(
        &self,
        path: &Path,
        opts: &ImportOptions,
        progress: &dyn ImportProgress,
    ) -> Result<FileResult> {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let path_str = canonical.display().to_string();
        let name = search::file_name(&path_str);
        let id = doc_id_for(&path_str);
        let mut result = FileResult {
            path: path_str.clone(),
            doc_id: Some(id.clone()),
            outcome: FileOutcome::Failed,
            format: None,
            pages: None,
            chunks: 0,
            error: None,
        };
        let size = match std::fs::metadata(&canonical) {
            Ok(m) => m.len(),
            Err(e) => {
                result.doc_id = None;
                result.error = Some(Error::io(&canonical, e).to_report());
                return Ok(result);
            }
        };
        let previous = self.catalog.get(&id).await?;
        if size > opts.max_file_bytes {
            let err = file_error(
                &canonical,
                FileProblem::TooLarge {
                    size,
                    limit: opts.max_file_bytes,
                },
            );
            self.catalog.begin(&id, &path_str, &name, size, "").await?;
            return self
                .record_failure(&id, previous.is_some(), err, result)
                .await;
        }
        let bytes = match tokio::fs::read(&canonical).await {
            Ok(b) => b,
            Err(e) => {
                result.doc_id = None;
                result.error = Some(Error::io(&canonical, e).to_report());
                return Ok(result);
            }
        };
        let hash = blake3::hash(&bytes).to_hex().to_string();
        if let Some(prev) = previous.as_ref().filter(|p| !opts.force && p.hash == hash) {
            match prev.status {
                // Imported before passages carried their document's header:
                // read again so they do.
                Status::Imported if prev.context.is_some() => {
                    if prev.statements.is_none() {
                        // Imported before statement pages were told: read the
                        // file for them; its passages stay as they are.
                        self.refresh_statements(&id, &canonical, bytes, opts)
                            .await?;
                    }
                    result.outcome = FileOutcome::Unchanged;
                    result.format = prev.format.clone();
                    result.pages = prev.pages;
                    result.chunks = prev.chunks;
                    return Ok(result);
                }
                // The same bytes would fail the same way; a password may change that.
                Status::Failed
                    if opts.load.password.is_none()
                        && prev.error_code.as_deref() != Some("timeout") =>
                {
                    result.error = Some(ErrorReport {
                        code: prev.error_code.clone().unwrap_or_default(),
                        kind: Kind::User,
                        message: prev.error_message.clone().unwrap_or_default(),
                        detail: Some("unchanged since the last attempt; not read again".into()),
                    });
                    return Ok(result);
                }
                _ => {}
            }
        }
        self.catalog
            .begin(&id, &path_str, &name, size, &hash)
            .await?;

        let t0 = std::time::Instant::now();
        let load = opts.load.clone();
        let limit = opts.time_limit;
        let extract_path = canonical.clone();
        let extracted = tokio::task::spawn_blocking(move || {
            loader::extract(&extract_path, bytes, &load, limit)
        })
        .await
        .map_err(|e| Error::Bug(e.to_string()))?;
        let extracted = match extracted {
            Ok(x) => x,
            Err(problem) => {
                return self
                    .record_failure(
                        &id,
                        previous.is_some(),
                        file_error(&canonical, problem),
                        result,
                    )
                    .await
            }
        };
        let t1 = std::time::Instant::now();
        let context = context::describe(&name, extracted.title.as_deref(), &extracted.pages);
        let statement_pages = statements::to_json(&statements::statement_pages(&extracted.pages));
        let chunks = self.chunk(&extracted).await?;
        progress.event(&ImportEvent::FileChunked {
            path: path_str.clone(),
            chunks: chunks.len(),
        });
        let t2 = std::time::Instant::now();
        // Paged documents: each passage also carries its page's heading.
        let headings: std::collections::HashMap<u32, String> = extracted
            .pages
            .iter()
            .filter_map(|p| Some((p.number?, context::page_heading(&p.text))))
            .collect();
        let texts: Vec<String> = chunks
            .iter()
            .map(|c| {
                let heading = c.page.and_then(|p| headings.get(&p));
                context::embedding_text(
                    &context.prefix,
                    heading.map_or("", String::as_str),
                    &c.text,
                )
            })
            .collect();
        let vectors = self.embed_chunks(texts, &path_str, progress).await?;
        let t3 = std::time::Instant::now();
        if previous.is_some() {
            self.store.delete_document(&id).await?;
        }
        let rows = chunks
            .iter()
            .zip(vectors)
            .enumerate()
            .map(|(i, (c, v))| ChunkRow {
                record: c.record(&id, i, &path_str),
                vector: v,
            })
            .collect();
        self.store.add(rows).await?;
        tracing::debug!(
            file = %path_str,
            chunks = chunks.len(),
            read_ms = (t1 - t0).as_millis() as u64,
            chunk_ms = (t2 - t1).as_millis() as u64,
            embed_ms = (t3 - t2).as_millis() as u64,
            store_ms = t3.elapsed().as_millis() as u64,
            "imported"
        );
        let pages = match extracted.format {
            loader::Format::Pdf => extracted.pages.iter().filter_map(|p| p.number).max(),
            _ => None,
        };
        self.catalog
            .finish(
                &id,
                Outcome {
                    status: Status::Imported,
                    format: Some(extracted.format.as_str()),
                    encoding: extracted.encoding,
                    error_code: None,
                    error_message: None,
                    pages,
                    chunks: chunks.len() as u32,
                    chars: extracted.char_count() as u64,
                    title: Some(&context.title),
                    context: Some(&context.header),
                    statements: Some(&statement_pages),
                },
            )
            .await?;
        result.outcome = FileOutcome::Imported;
        result.format = Some(extracted.format.as_str().to_string());
        result.pages = pages;
        result.chunks = chunks.len() as u32;
        Ok(result)
    }

    /// Tells the statement pages of an imported document whose file is
    /// unchanged (no embedding). A file that no longer reads keeps its
    /// passages; it is just left without statement pages.
    async fn refresh_statements(
        &self,
        id: &str,
        path: &Path,
        bytes: Vec<u8>,
        opts: &ImportOptions,
    ) -> Result<()> {
        let (load, limit, path) = (opts.load.clone(), opts.time_limit, path.to_path_buf());
        let extracted =
            tokio::task::spawn_blocking(move || loader::extract(&path, bytes, &load, limit))
                .await
                .map_err(|e| Error::Bug(e.to_string()))?;
        let pages = extracted
            .map(|x| statements::statement_pages(&x.pages))
            .unwrap_or_default();
        self.catalog
            .set_statements(id, &statements::to_json(&pages))
            .await?;
        self.documents_changed().await;
        Ok(())
    }

    async fn record_failure(
        &self,
        id: &str,
        had_chunks: bool,
        err: Error,
        mut result: FileResult,
    ) -> Result<FileResult> {
        if had_chunks {
            // The old text no longer matches the file: it must not answer questions.
            self.store.delete_document(id).await?;
        }
        let report = err.to_report();
        self.catalog
            .finish(
                id,
                Outcome {
                    status: Status::Failed,
                    format: None,
                    encoding: None,
                    error_code: Some(&report.code),
                    error_message: Some(&report.message),
                    pages: None,
                    chunks: 0,
                    chars: 0,
                    title: None,
                    context: None,
                    statements: None,
                },
            )
            .await?;
        result.error = Some(report);
        Ok(result)
    }

    async fn chunk(&self, extracted: &Extracted) -> Result<Vec<Chunk>> {
        let chunker = self.chunker.clone();
        let extracted = extracted.clone();
        tokio::task::spawn_blocking(move || chunker.chunk(&extracted))
            .await
            .map_err(|e| Error::Bug(e.to_string()))
    }

    /// Embeds the passages' texts (as [`context::embedding_text`] made them)
    /// in groups, reporting progress.
    async fn embed_chunks(
        &self,
        texts: Vec<String>,
        path: &str,
        progress: &dyn ImportProgress,
    ) -> Result<Vec<Vec<f32>>> {
        let total = texts.len();
        let mut vectors = Vec::with_capacity(total);
        for group in texts.chunks(EMBED_GROUP) {
            vectors.extend(self.embed_texts(group.to_vec()).await?);
            progress.event(&ImportEvent::ChunksEmbedded {
                path: path.to_string(),
                done: vectors.len(),
                total,
            });
        }
        Ok(vectors)
    }

    async fn embed_texts(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        let embedder = self.embedder.clone();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            embedder.embed(&refs)
        })
        .await
        .map_err(|e| Error::Bug(e.to_string()))?
    }

    /// Imports in-memory texts as documents keyed by `key` (used by `eval`).
    /// Texts are embedded across documents in large batches.
    pub async fn import_texts(
        &self,
        items: Vec<(String, String)>,
        progress: &dyn ImportProgress,
    ) -> Result<usize> {
        progress.event(&ImportEvent::Started { files: items.len() });
        let mut total_chunks = 0;
        for batch in items.chunks(256) {
            let mut rows = Vec::new();
            let mut texts = Vec::new();
            for (key, text) in batch {
                let id = doc_id_for(key);
                let extracted = Extracted {
                    format: loader::Format::Text,
                    pages: vec![loader::PageText {
                        number: None,
                        text: text.clone(),
                    }],
                    encoding: None,
                    title: None,
                };
                let chunks = self.chunk(&extracted).await?;
                self.catalog
                    .begin(
                        &id,
                        key,
                        key,
                        text.len() as u64,
                        &blake3::hash(text.as_bytes()).to_hex(),
                    )
                    .await?;
                self.catalog
                    .finish(
                        &id,
                        Outcome {
                            status: Status::Imported,
                            format: Some("text"),
                            encoding: None,
                            error_code: None,
                            error_message: None,
                            pages: None,
                            chunks: chunks.len() as u32,
                            chars: text.chars().count() as u64,
                            title: None,
                            context: None,
                            statements: None,
                        },
                    )
                    .await?;
                for (i, c) in chunks.into_iter().enumerate() {
                    texts.push(c.text.clone());
                    rows.push(ChunkRow {
                        record: c.record(&id, i, key),
                        vector: Vec::new(),
                    });
                }
            }
            let vectors = self.embed_texts(texts).await?;
            for (row, v) in rows.iter_mut().zip(vectors) {
                row.vector = v;
            }
            total_chunks += rows.len();
            progress.event(&ImportEvent::ChunksEmbedded {
                path: String::new(),
                done: total_chunks,
                total: 0,
            });
            self.store.add(rows).await?;
        }
        self.documents_changed().await;
        progress.event(&ImportEvent::IndexingStarted);
        self.store.refresh_indexes().await?;
        Ok(total_chunks)
    }

    /// The best passages for a query.
    pub async fn search(&self, query: &str, opts: &SearchOptions) -> Result<Vec<SearchHit>> {
        let limit = opts.limit.max(1);
        if opts.doc_ids.as_ref().is_some_and(|ids| ids.is_empty()) {
            return Ok(Vec::new());
        }
        let scope = opts.doc_ids.as_deref();
        match opts.mode {
            SearchMode::Dense => {
                let v = self.embed_query(query).await?;
                let dense = self.store.dense(&v, limit, scope).await?;
                let hits = dense.iter().cloned().map(SearchHit::from).collect();
                Ok(search::with_similarity(hits, &dense))
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
        let dense = async {
            let v = self.embed_query(query).await?;
            let rows = self.store.dense_rows(&v, candidates, scope).await?;
            Ok::<_, Error>((v, rows))
        };
        let ((v, dense), bm25) =
            tokio::try_join!(dense, self.store.full_text_rows(query, candidates, scope))?;
        let rows = |list: &[store::Candidate]| list.iter().map(|c| c.row).collect::<Vec<u64>>();
        let fused = search::fuse_ranks(&[rows(&dense), rows(&bm25)], limit);
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
        let in_dense: std::collections::HashSet<u64> = dense.iter().map(|c| c.row).collect();
        let best = top.and_then(|t| records.get(&t)).map(|h| h.score);
        let hits = fused
            .into_iter()
            .filter_map(|(row, score)| {
                let hit = records.get(&row)?.clone();
                let similarity = in_dense.contains(&row).then_some(hit.score);
                Some(SearchHit {
                    score,
                    similarity,
                    ..SearchHit::from(hit)
                })
            })
            .collect();
        Ok((hits, best))
    }

    async fn embed_query(&self, query: &str) -> Result<Vec<f32>> {
        self.embed_texts(vec![query.to_string()])
            .await?
            .pop()
            .ok_or_else(|| Error::Bug("the embedder returned no vector".into()))
    }

    pub async fn documents(&self) -> Result<Vec<DocumentInfo>> {
        self.catalog.list().await
    }

    /// Finds a document by id, id prefix, path or file name.
    pub async fn find_document(&self, key: &str) -> Result<DocumentInfo> {
        self.catalog.find(key).await
    }

    /// Removes a document: its chunks, vectors and full-text entries are
    /// deleted and the storage rewritten so the text is gone from disk.
    pub async fn remove(&self, key: &str) -> Result<DocumentInfo> {
        let doc = self.catalog.find(key).await?;
        self.store.delete_document(&doc.id).await?;
        self.store.purge_deleted().await?;
        self.catalog.delete(&doc.id).await?;
        self.documents_changed().await;
        Ok(doc)
    }

    pub async fn chunk_count(&self) -> Result<usize> {
        self.store.count().await
    }

    pub async fn close(self) {
        self.catalog.close().await;
    }
}
