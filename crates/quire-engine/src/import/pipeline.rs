//! The import pipeline, one file after another: collect the files, then per
//! file read ([`crate::loader`]) → chunk ([`crate::chunk`]) → embed
//! ([`crate::embed`]) → write (the chunks to the [`crate::store::Store`], the
//! record to the [`crate::catalog::Catalog`]). Each stage is its own method,
//! so stages can later run side by side over many files.

use std::path::{Path, PathBuf};

use crate::catalog::Outcome;
use crate::catalog::Status;
use crate::chunk::Chunk;
use crate::error::{ErrorReport, FileProblem, Hint, Kind};
use crate::import::{
    collect_files, doc_id_for, file_error, FileOutcome, FileResult, ImportEvent, ImportOptions,
    ImportProgress, ImportSummary,
};
use crate::loader::Extracted;
use crate::store::ChunkRow;
use crate::{context, loader, search, statements, Engine, Error, Result};

/// Embedding texts in groups this large keeps progress events flowing.
const EMBED_GROUP: usize = 64;

impl Engine {
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
                        hint: prev.error_code.as_deref().and_then(Hint::for_code),
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

    pub(crate) async fn embed_texts(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
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
}
