//! The import pipeline. Files are read a few at a time ahead of the
//! embedder ([`READERS`] at once, each in a blocking task: read
//! ([`crate::loader`]) → chunk ([`crate::chunk`])); their passages are
//! embedded in full batches that span files, so small files share a batch
//! ([`EMBED_BATCH`]); finished documents are written together — one store
//! write and one catalog transaction for every [`ImportOptions::write_rows`]
//! passages or [`WRITE_EVERY`], whichever comes first.
//!
//! Crash safety. Nothing of a document reaches the catalog or the store
//! until it is written: its record is first marked `importing` (one
//! transaction for the batch), then its old passages are deleted and the new
//! ones added (one store write each), then its record is finished and its
//! file taken off the import queue (one transaction). A process killed at
//! any moment leaves at most a batch of documents marked `importing`; the
//! next open deletes their passages and queues their files again
//! ([`Engine::recover_imports`]), so no document is ever counted imported
//! without all of its passages, and none has them twice. The queue
//! (catalog table `import_queue`) holds every file an import was asked for
//! until its outcome is recorded: [`Engine::resume_import`] finishes what a
//! crash or a stop left, without embedding again what was done.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::catalog::{Begun, Outcome, Status};
use crate::chunk::Chunk;
use crate::error::{ErrorReport, FileProblem, Hint, Kind};
use crate::import::{
    collect_files, doc_id_for, file_error, AttachmentProblem, AttachmentResult, FileOutcome,
    FileResult, ImportEvent, ImportOptions, ImportProgress, ImportSummary,
};
use crate::loader::Extracted;
use crate::store::ChunkRow;
use crate::{context, loader, search, statements, Engine, Error, Result};

/// Passages embedded in one call: large enough to keep the embedder's
/// kernels busy, small enough for progress to move.
const EMBED_BATCH: usize = 128;
/// Files read at the same time, ahead of the embedder.
const READERS: usize = 2;
/// Read documents waiting for the embedder (bounds the memory a fast
/// reader can fill).
const READ_AHEAD: usize = 4;
/// Finished documents are written at least this often.
const WRITE_EVERY: Duration = Duration::from_secs(3);

/// What stops an import: its own token, or [`Engine::stop_imports`].
struct Stop {
    asked: crate::CancelToken,
    all: crate::CancelToken,
}

impl Stop {
    fn is_set(&self) -> bool {
        self.asked.is_cancelled() || self.all.is_cancelled()
    }
}

/// The pages of `extracted` recognised by OCR as JSON (`[2, 5]`; an
/// unpaged document `[0]`), `None` when none was.
fn ocr_pages_json(extracted: &Extracted) -> Option<String> {
    let pages: Vec<u32> = extracted
        .pages
        .iter()
        .filter(|p| p.ocr)
        .map(|p| p.number.unwrap_or(0))
        .collect();
    (!pages.is_empty()).then(|| serde_json::to_string(&pages).unwrap_or_default())
}

/// What the catalog records of a document written: a file, or a file
/// attached to a message.
struct Record {
    id: String,
    path: String,
    name: String,
    size: u64,
    hash: String,
    /// `None`: an attachment in a format Quire knows but could not read.
    format: Option<loader::Format>,
    encoding: Option<&'static str>,
    pages: Option<u32>,
    chars: u64,
    title: String,
    header: String,
    statements: String,
    /// The pages recognised by OCR, as JSON; `None` when none was.
    ocr_pages: Option<String>,
    /// Why it could not be read (code, message): an attachment only.
    problem: Option<(String, String)>,
}

impl Record {
    fn begun<'a>(&'a self, parent: Option<(&'a str, u32)>) -> Begun<'a> {
        Begun {
            id: &self.id,
            path: &self.path,
            name: &self.name,
            size: self.size,
            hash: &self.hash,
            parent,
        }
    }

    fn outcome(&self, chunks: usize) -> (&str, Outcome<'_>) {
        let read = self.problem.is_none();
        let (code, message) = self
            .problem
            .as_ref()
            .map(|(code, message)| (code.as_str(), message.as_str()))
            .unzip();
        let outcome = Outcome {
            ocr_pages: self.ocr_pages.as_deref(),
            status: if read {
                Status::Imported
            } else {
                Status::Failed
            },
            format: self.format.map(|f| f.as_str()),
            encoding: self.encoding,
            error_code: code,
            error_message: message,
            pages: self.pages,
            chunks: chunks as u32,
            chars: self.chars,
            title: read.then_some(self.title.as_str()),
            context: read.then_some(self.header.as_str()),
            statements: read.then_some(self.statements.as_str()),
        };
        (self.id.as_str(), outcome)
    }

    fn added(&self) -> crate::rank::AddedDocument {
        crate::rank::AddedDocument {
            id: self.id.clone(),
            header: self.header.clone(),
            statements: self.statements.clone(),
            ocr_pages: self.ocr_pages.clone(),
        }
    }
}

/// A file read and chunked, its passages to embed.
struct Prepared {
    doc: Record,
    previous: bool,
    /// Its passages, then its attachments' (a message's), in order.
    chunks: Vec<Chunk>,
    texts: Vec<String>,
    vectors: Vec<Vec<f32>>,
    /// How many of `chunks` are the file's own (the rest are its
    /// attachments').
    own: usize,
    /// A message's attached files, written with it as documents of their own.
    children: Vec<Child>,
}

/// A file attached to a message: a document of its own whose passages are
/// embedded and written with the message's (all or nothing, like any
/// document), found again in the message by its number. Its hash is the
/// message's and its number: never a file's.
struct Child {
    doc: Record,
    number: u32,
    /// Where its passages are among the message's `chunks`.
    range: std::ops::Range<usize>,
}

impl Prepared {
    fn waiting(&self) -> usize {
        self.texts.len() - self.vectors.len()
    }
}

/// What reading one file came to.
enum Read {
    /// Nothing to write: unchanged, or missing before it could be read.
    Done(FileResult),
    /// The file's own problem, to record (and its old passages to drop).
    Failed {
        id: String,
        path: String,
        name: String,
        size: u64,
        hash: String,
        previous: bool,
        error: Error,
        result: FileResult,
    },
    /// Passages to embed and write.
    Embed(Box<Prepared>),
    /// A file with the content of a document whose file is gone: renamed or
    /// moved. Its passages follow it, nothing is embedded.
    Moved {
        from: String,
        result: FileResult,
        name: String,
    },
}

impl Engine {
    /// Imports files and folders. Per-file failures are in the results, not
    /// an `Err`. The files are queued first (see the module header): a stop
    /// ([`ImportOptions::stop`]) or a crash leaves the rest for
    /// [`Engine::resume_import`].
    pub async fn import(
        &self,
        inputs: &[PathBuf],
        opts: &ImportOptions,
        progress: &dyn ImportProgress,
    ) -> Result<Vec<FileResult>> {
        let (files, missing) = collect_files(inputs);
        let files: Vec<(PathBuf, bool)> = files
            .into_iter()
            .map(|f| (std::fs::canonicalize(&f).unwrap_or(f), opts.force))
            .collect();
        let _lock = self.import_lock().await?;
        let paths: Vec<String> = files.iter().map(|(f, _)| f.display().to_string()).collect();
        self.catalog.enqueue(&paths, opts.force).await?;
        self.run_import(files, missing, opts, progress).await
    }

    /// Imports the files an earlier import left queued (stopped, or cut
    /// short by a crash or the app closing). Nothing queued: nothing done.
    pub async fn resume_import(
        &self,
        opts: &ImportOptions,
        progress: &dyn ImportProgress,
    ) -> Result<Vec<FileResult>> {
        let _lock = self.import_lock().await?;
        let files: Vec<(PathBuf, bool)> = self
            .catalog
            .queued()
            .await?
            .into_iter()
            .map(|(p, force)| (PathBuf::from(p), force || opts.force))
            .collect();
        if files.is_empty() {
            return Ok(Vec::new());
        }
        self.run_import(files, Vec::new(), opts, progress).await
    }

    /// The files queued for import and not yet done.
    pub async fn queued_imports(&self) -> Result<Vec<String>> {
        Ok(self
            .catalog
            .queued()
            .await?
            .into_iter()
            .map(|(p, _)| p)
            .collect())
    }

    /// Stops every import running now, as [`ImportOptions::stop`] would;
    /// imports started later run.
    pub fn stop_imports(&self) {
        if let Ok(mut token) = self.import_stop.lock() {
            token.cancel();
            *token = crate::CancelToken::new();
        }
    }

    /// Forgets the queued files (a cancelled import): what was imported stays.
    pub async fn forget_queued_imports(&self) -> Result<usize> {
        let _lock = self.import_lock().await?;
        self.catalog.clear_queue().await
    }

    async fn run_import(
        &self,
        files: Vec<(PathBuf, bool)>,
        missing: Vec<(PathBuf, Error)>,
        opts: &ImportOptions,
        progress: &dyn ImportProgress,
    ) -> Result<Vec<FileResult>> {
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
                attachments: Vec::new(),
            };
            progress.event(&ImportEvent::FileFinished { result: r.clone() });
            results.push(r);
        }
        let total = files.len();
        let stop = Stop {
            asked: opts.stop.clone(),
            all: self
                .import_stop
                .lock()
                .map(|t| t.clone())
                .unwrap_or_default(),
        };
        let stop = &stop;
        let (tx, rx) = tokio::sync::mpsc::channel::<Read>(READ_AHEAD);
        let readers = async {
            // Boxed with its type spelled out: a stream of async closures
            // here makes the import's future not provably `Send`.
            type Reading<'a> =
                std::pin::Pin<Box<dyn std::future::Future<Output = Result<Read>> + Send + 'a>>;
            let mut reading: futures::stream::FuturesOrdered<Reading<'_>> = Default::default();
            let mut next = files.iter().enumerate();
            loop {
                while reading.len() < READERS && !stop.is_set() {
                    let Some((index, (path, force))) = next.next() else {
                        break;
                    };
                    progress.event(&ImportEvent::FileStarted {
                        index,
                        path: path.display().to_string(),
                    });
                    reading.push_back(Box::pin(self.prepare(path, *force, opts, progress)));
                }
                let Some(read) = reading.next().await else {
                    break;
                };
                if tx.send(read?).await.is_err() {
                    break;
                }
            }
            drop(tx);
            // The readers are done: their processes' memory is not needed
            // for the embedding and index update still to come.
            self.readers.release_idle();
            Ok::<(), Error>(())
        };
        let writer = self.embed_and_write(rx, opts, stop, progress);
        let (read, written) = tokio::join!(readers, writer);
        let (mut done, changed) = written?;
        read?;
        let left = total.saturating_sub(done.len());
        // Returned in the order the files were given (the events came as
        // each was done).
        let order: std::collections::HashMap<String, usize> = files
            .iter()
            .enumerate()
            .map(|(i, (p, _))| (p.display().to_string(), i))
            .collect();
        done.sort_by_key(|r| order.get(&r.path).copied().unwrap_or(usize::MAX));
        results.extend(done);
        if changed {
            self.documents_changed().await;
            progress.event(&ImportEvent::IndexingStarted);
            self.store.refresh_indexes().await?;
        }
        let mut summary = ImportSummary::from_results(&results);
        summary.left = left;
        progress.event(&ImportEvent::Finished { summary });
        Ok(results)
    }

    /// The embedder's side of the pipeline: takes read files as they come,
    /// embeds their passages in batches spanning files, writes finished
    /// documents in groups. Returns the results and whether the library changed.
    async fn embed_and_write(
        &self,
        mut rx: tokio::sync::mpsc::Receiver<Read>,
        opts: &ImportOptions,
        stop: &Stop,
        progress: &dyn ImportProgress,
    ) -> Result<(Vec<FileResult>, bool)> {
        let mut results = Vec::new();
        let mut changed = false;
        let mut embedding: VecDeque<Box<Prepared>> = VecDeque::new();
        let mut ready: Vec<Box<Prepared>> = Vec::new();
        let mut since = Instant::now();
        let mut open = true;
        loop {
            // Take what the readers have finished; wait only when there is
            // nothing to embed (and not past the time to write).
            while open {
                let waiting: usize = embedding.iter().map(|p| p.waiting()).sum();
                if waiting >= EMBED_BATCH || stop.is_set() {
                    break;
                }
                let next = if waiting > 0 {
                    match rx.try_recv() {
                        Ok(r) => Some(r),
                        Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                        Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => None,
                    }
                } else if ready.is_empty() {
                    rx.recv().await
                } else {
                    let left = WRITE_EVERY.saturating_sub(since.elapsed());
                    match tokio::time::timeout(left, rx.recv()).await {
                        Ok(r) => r,
                        Err(_) => break,
                    }
                };
                match next {
                    None => open = false,
                    Some(Read::Done(r)) => {
                        self.catalog.dequeue(&r.path).await?;
                        progress.event(&ImportEvent::FileFinished { result: r.clone() });
                        results.push(r);
                    }
                    Some(Read::Failed {
                        id,
                        path,
                        name,
                        size,
                        hash,
                        previous,
                        error,
                        result,
                    }) => {
                        changed |= previous;
                        let r = self
                            .record_failure(&id, &path, &name, size, &hash, previous, error, result)
                            .await?;
                        progress.event(&ImportEvent::FileFinished { result: r.clone() });
                        results.push(r);
                    }
                    Some(Read::Moved { from, result, name }) => {
                        changed = true;
                        if let Some(to) = result.doc_id.as_deref() {
                            self.move_document(&from, to, &result.path, &name).await?;
                        }
                        progress.event(&ImportEvent::FileFinished {
                            result: result.clone(),
                        });
                        results.push(result);
                    }
                    Some(Read::Embed(p)) if p.texts.is_empty() => ready.push(p),
                    Some(Read::Embed(p)) => embedding.push_back(p),
                }
            }
            if stop.is_set() {
                // Stopped: what is embedded is written, the rest stays queued.
                rx.close();
                if !ready.is_empty() {
                    changed = true;
                    results.extend(self.write(std::mem::take(&mut ready), progress).await?);
                }
                break;
            }
            let more = embedding.iter().any(|p| p.waiting() > 0);
            let rows: usize = ready.iter().map(|p| p.chunks.len()).sum();
            if more
                && !ready.is_empty()
                && (rows >= opts.write_rows || since.elapsed() >= WRITE_EVERY)
            {
                // The finished documents are written while the next batch is
                // embedded (the embedder runs on its own threads).
                changed = true;
                let group = std::mem::take(&mut ready);
                let (written, embedded) = tokio::join!(
                    self.write(group, progress),
                    self.embed_batch(&mut embedding, progress)
                );
                results.extend(written?);
                embedded?;
                since = Instant::now();
            } else if more {
                self.embed_batch(&mut embedding, progress).await?;
            }
            while embedding.front().is_some_and(|p| p.waiting() == 0) {
                ready.extend(embedding.pop_front());
            }
            let rows: usize = ready.iter().map(|p| p.chunks.len()).sum();
            let last = !open && embedding.is_empty();
            if !ready.is_empty()
                && (last || rows >= opts.write_rows || since.elapsed() >= WRITE_EVERY)
            {
                changed = true;
                results.extend(self.write(std::mem::take(&mut ready), progress).await?);
                since = Instant::now();
            }
            if last && ready.is_empty() {
                break;
            }
        }
        Ok((results, changed))
    }

    /// Moves a document (a renamed or moved file) to its new path and id,
    /// with a message's attachments, whose paths and ids follow its own.
    async fn move_document(&self, from: &str, to: &str, path: &str, name: &str) -> Result<()> {
        let children = self.catalog.children(from).await?;
        self.store.move_document(from, to, path).await?;
        self.catalog.move_document(from, to, path, name).await?;
        for c in children {
            let Some(number) = c.part else { continue };
            let child_path = attachment_path(path, number, &c.name);
            let child_id = doc_id_for(&child_path);
            self.store
                .move_document(&c.id, &child_id, &child_path)
                .await?;
            self.catalog
                .move_document(&c.id, &child_id, &child_path, &c.name)
                .await?;
        }
        Ok(())
    }

    /// Embeds the next [`EMBED_BATCH`] passages waiting, in file order.
    async fn embed_batch(
        &self,
        embedding: &mut VecDeque<Box<Prepared>>,
        progress: &dyn ImportProgress,
    ) -> Result<()> {
        let mut texts = Vec::with_capacity(EMBED_BATCH);
        let mut takes = Vec::new();
        for (i, p) in embedding.iter().enumerate() {
            let room = EMBED_BATCH - texts.len();
            if room == 0 {
                break;
            }
            let from = p.vectors.len();
            let to = (from + room).min(p.texts.len());
            texts.extend(p.texts[from..to].iter().cloned());
            takes.push((i, to - from));
        }
        let mut vectors = self.embed_in_background(texts).await?.into_iter();
        test_pause("embed");
        for (i, n) in takes {
            let p = &mut embedding[i];
            p.vectors.extend(vectors.by_ref().take(n));
            progress.event(&ImportEvent::ChunksEmbedded {
                path: p.doc.path.clone(),
                done: p.vectors.len(),
                total: p.texts.len(),
            });
        }
        Ok(())
    }

    /// Writes finished documents together (see the module header).
    async fn write(
        &self,
        docs: Vec<Box<Prepared>>,
        progress: &dyn ImportProgress,
    ) -> Result<Vec<FileResult>> {
        // A message imported before: its old attachments go (the new ones
        // are written below; one it no longer has must not stay).
        let mut previous: Vec<String> = Vec::new();
        for p in docs.iter().filter(|p| p.previous) {
            previous.push(p.doc.id.clone());
            for old in self.catalog.children(&p.doc.id).await? {
                if !p.children.iter().any(|c| c.doc.id == old.id) {
                    self.catalog.delete(&old.id).await?;
                }
                previous.push(old.id);
            }
        }
        let begun: Vec<Begun> = docs
            .iter()
            .flat_map(|p| {
                std::iter::once(p.doc.begun(None)).chain(
                    p.children
                        .iter()
                        .map(|c| c.doc.begun(Some((&p.doc.id, c.number)))),
                )
            })
            .collect();
        self.catalog.begin_all(&begun).await?;
        self.store.delete_documents(&previous).await?;
        let rows: Vec<ChunkRow> = docs
            .iter()
            .flat_map(|p| {
                p.chunks
                    .iter()
                    .zip(&p.vectors)
                    .enumerate()
                    .map(|(i, (c, v))| {
                        // The message's own passages, then each attachment's.
                        let record = match p.children.iter().find(|k| k.range.contains(&i)) {
                            Some(k) => c.record(&k.doc.id, i - k.range.start, &k.doc.path),
                            None => c.record(&p.doc.id, i, &p.doc.path),
                        };
                        ChunkRow {
                            record,
                            vector: v.clone(),
                        }
                    })
            })
            .collect();
        self.store.add(rows).await?;
        test_pause("write");
        let outcomes: Vec<(&str, Outcome)> = docs
            .iter()
            .flat_map(|p| {
                std::iter::once(p.doc.outcome(p.own))
                    .chain(p.children.iter().map(|c| c.doc.outcome(c.range.len())))
            })
            .collect();
        let paths: Vec<&str> = docs.iter().map(|p| p.doc.path.as_str()).collect();
        self.catalog.finish_all(&outcomes, &paths).await?;
        // Searchable now, while the rest of the import runs.
        if docs.iter().any(|p| p.previous) {
            self.documents_changed().await;
        } else {
            let added: Vec<crate::rank::AddedDocument> = docs
                .iter()
                .flat_map(|p| {
                    std::iter::once(p.doc.added()).chain(
                        p.children
                            .iter()
                            .filter(|c| c.doc.problem.is_none())
                            .map(|c| c.doc.added()),
                    )
                })
                .collect();
            self.documents_added(&added).await;
        }
        let mut results = Vec::with_capacity(docs.len());
        for p in &docs {
            let r =
                FileResult {
                    path: p.doc.path.clone(),
                    doc_id: Some(p.doc.id.clone()),
                    outcome: FileOutcome::Imported,
                    format: p.doc.format.map(|f| f.as_str().to_string()),
                    pages: p.doc.pages,
                    chunks: p.chunks.len() as u32,
                    error: None,
                    attachments: p
                        .children
                        .iter()
                        .map(|c| AttachmentResult {
                            path: c.doc.path.clone(),
                            doc_id: c.doc.id.clone(),
                            chunks: c.range.len() as u32,
                            problem: c.doc.problem.as_ref().map(|(code, message)| {
                                AttachmentProblem {
                                    code: code.clone(),
                                    message: message.clone(),
                                }
                            }),
                        })
                        .collect(),
                };
            progress.event(&ImportEvent::FileFinished { result: r.clone() });
            results.push(r);
        }
        Ok(results)
    }

    /// Reads and chunks one file: [`Read::Done`] when there is nothing to do
    /// (unchanged) or it cannot even be opened, [`Read::Failed`] for the
    /// file's own problems. Only runtime failures (database, disk) are `Err`.
    /// Writes nothing but an unchanged document's statement pages.
    async fn prepare(
        &self,
        path: &Path,
        force: bool,
        opts: &ImportOptions,
        progress: &dyn ImportProgress,
    ) -> Result<Read> {
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
            attachments: Vec::new(),
        };
        let size = match std::fs::metadata(&canonical) {
            Ok(m) => m.len(),
            Err(e) => {
                result.doc_id = None;
                result.error = Some(Error::io(&canonical, e).to_report());
                return Ok(Read::Done(result));
            }
        };
        let previous = self.catalog.get(&id).await?;
        let failed = |error: Error, hash: String, result: FileResult| Read::Failed {
            id: id.clone(),
            path: path_str.clone(),
            name: name.clone(),
            size,
            hash,
            previous: previous.is_some(),
            error,
            result,
        };
        if size > opts.max_file_bytes {
            let err = file_error(
                &canonical,
                FileProblem::TooLarge {
                    size,
                    limit: opts.max_file_bytes,
                },
            );
            return Ok(failed(err, String::new(), result));
        }
        // Hashed as it streams: the file is read whole only by its reader.
        let hash_path = canonical.clone();
        let hashed = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let file = std::fs::File::open(&hash_path)?;
            let mut hasher = blake3::Hasher::new();
            hasher.update_reader(std::io::BufReader::with_capacity(1 << 16, file))?;
            Ok(hasher.finalize().to_hex().to_string())
        })
        .await
        .map_err(|e| Error::Bug(e.to_string()))?;
        let hash = match hashed {
            Ok(h) => h,
            Err(e) => {
                result.doc_id = None;
                result.error = Some(Error::io(&canonical, e).to_report());
                return Ok(Read::Done(result));
            }
        };
        if previous.is_none() && !force {
            // Renamed or moved: a document with this content whose file is gone.
            let gone = self
                .catalog
                .with_hash(&hash)
                .await?
                .into_iter()
                .find(|d| d.context.is_some() && !Path::new(&d.path).exists());
            if let Some(from) = gone {
                result.outcome = FileOutcome::Moved;
                result.format = from.format.clone();
                result.pages = from.pages;
                result.chunks = from.chunks;
                return Ok(Read::Moved {
                    from: from.id,
                    result,
                    name,
                });
            }
        }
        if let Some(prev) = previous.as_ref().filter(|p| !force && p.hash == hash) {
            match prev.status {
                // Imported before passages carried their document's header:
                // read again so they do.
                Status::Imported if prev.context.is_some() => {
                    if prev.statements.is_none() {
                        // Imported before statement pages were told: read the
                        // file for them; its passages stay as they are.
                        self.refresh_statements(&id, &canonical, opts).await?;
                    }
                    result.outcome = FileOutcome::Unchanged;
                    result.format = prev.format.clone();
                    result.pages = prev.pages;
                    result.chunks = prev.chunks;
                    return Ok(Read::Done(result));
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
                    return Ok(Read::Done(result));
                }
                _ => {}
            }
        }

        let t0 = Instant::now();
        // OCR is slow: each recognised page is told as it comes.
        let (tx, mut pages_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut reading = opts.clone();
        reading.load.progress = loader::Progress::new(move |done, total| {
            let _ = tx.send((done, total));
        });
        let read = self.read_file(&canonical, &reading);
        tokio::pin!(read);
        let extracted = loop {
            tokio::select! {
                r = &mut read => break r?,
                Some((done, total)) = pages_rx.recv() => progress.event(&ImportEvent::PagesRecognised {
                    path: path_str.clone(),
                    done,
                    total,
                }),
            }
        };
        let extracted = match extracted {
            Ok(x) => x,
            Err(problem) => return Ok(failed(file_error(&canonical, problem), hash, result)),
        };
        test_pause("read");
        let t1 = Instant::now();
        let context = context::describe(&name, extracted.title.as_deref(), &extracted.pages);
        let statement_pages = statements::to_json(&statements::statement_pages(&extracted.pages));
        let mut chunks = self.chunk(&extracted).await?;
        let mut texts = embedding_texts(&context.prefix, &extracted, &chunks);
        let own = chunks.len();
        let mut children = Vec::new();
        for a in &extracted.attachments {
            let child_path = attachment_path(&path_str, a.number, &a.name);
            let child_name = search::file_name(&child_path);
            let mut child = Child {
                doc: Record {
                    id: doc_id_for(&child_path),
                    path: child_path,
                    name: child_name,
                    size: a.size,
                    hash: format!("{hash}#{}", a.number),
                    format: a.format,
                    encoding: None,
                    pages: None,
                    chars: 0,
                    title: String::new(),
                    header: String::new(),
                    statements: String::new(),
                    ocr_pages: None,
                    problem: a.problem.clone(),
                },
                number: a.number,
                range: chunks.len()..chunks.len(),
            };
            if let Some(x) = a.extracted() {
                let d = &mut child.doc;
                let c = context::describe(&d.name, x.title.as_deref(), &x.pages);
                let mine = self.chunk(&x).await?;
                texts.extend(embedding_texts(&c.prefix, &x, &mine));
                chunks.extend(mine);
                child.range.end = chunks.len();
                d.statements = statements::to_json(&statements::statement_pages(&x.pages));
                d.pages = page_count(&x);
                d.chars = x.char_count() as u64;
                d.ocr_pages = ocr_pages_json(&x);
                (d.title, d.header) = (c.title, c.header);
            }
            children.push(child);
        }
        progress.event(&ImportEvent::FileChunked {
            path: path_str.clone(),
            chunks: chunks.len(),
        });
        tracing::debug!(
            file = %path_str,
            chunks = chunks.len(),
            read_ms = (t1 - t0).as_millis() as u64,
            chunk_ms = t1.elapsed().as_millis() as u64,
            "read"
        );
        Ok(Read::Embed(Box::new(Prepared {
            doc: Record {
                id,
                path: path_str,
                name,
                size,
                hash,
                format: Some(extracted.format),
                encoding: extracted.encoding,
                pages: page_count(&extracted),
                chars: extracted.char_count() as u64,
                title: context.title,
                header: context.header,
                statements: statement_pages,
                ocr_pages: ocr_pages_json(&extracted),
                problem: None,
            },
            previous: previous.is_some(),
            vectors: Vec::with_capacity(texts.len()),
            chunks,
            texts,
            own,
            children,
        })))
    }

    /// Tells the statement pages of an imported document whose file is
    /// unchanged (no embedding). A file that no longer reads keeps its
    /// passages; it is just left without statement pages.
    async fn refresh_statements(&self, id: &str, path: &Path, opts: &ImportOptions) -> Result<()> {
        let extracted = self.read_file(path, opts).await?;
        let pages = extracted
            .map(|x| statements::statement_pages(&x.pages))
            .unwrap_or_default();
        self.catalog
            .set_statements(id, &statements::to_json(&pages))
            .await?;
        self.documents_changed().await;
        Ok(())
    }

    /// Records a file's failure; its old passages, which no longer match
    /// the file, are deleted first (the record marked `importing` meanwhile,
    /// so a crash in between is undone at the next open).
    #[allow(clippy::too_many_arguments)]
    async fn record_failure(
        &self,
        id: &str,
        path: &str,
        name: &str,
        size: u64,
        hash: &str,
        had_chunks: bool,
        err: Error,
        mut result: FileResult,
    ) -> Result<FileResult> {
        self.catalog.begin(id, path, name, size, hash).await?;
        if had_chunks {
            // The old text no longer matches the file: it must not answer
            // questions, nor its attachments' (a message's).
            let mut ids = vec![id.to_string()];
            for child in self.catalog.children(id).await? {
                self.catalog.delete(&child.id).await?;
                ids.push(child.id);
            }
            self.store.delete_documents(&ids).await?;
        }
        let report = err.to_report();
        self.catalog
            .finish_all(
                &[(
                    id,
                    Outcome {
                        ocr_pages: None,
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
                )],
                &[path],
            )
            .await?;
        result.error = Some(report);
        Ok(result)
    }

    /// Reads one file through the reader pool (a worker process when the
    /// shell gave one, see [`crate::loader::worker`]), off the async runtime.
    pub(crate) async fn read_file(
        &self,
        path: &Path,
        opts: &ImportOptions,
    ) -> Result<std::result::Result<Extracted, FileProblem>> {
        let (readers, path) = (self.readers.clone(), path.to_path_buf());
        let (mut load, limit) = (opts.load.clone(), opts.time_limit);
        if load.ocr_languages.is_none() {
            load.ocr_languages = self.settings().ocr_languages;
        }
        tokio::task::spawn_blocking(move || readers.extract(&path, &load, limit))
            .await
            .map_err(|e| Error::Bug(e.to_string()))
    }

    async fn chunk(&self, extracted: &Extracted) -> Result<Vec<Chunk>> {
        let chunker = self.chunker.clone();
        let extracted = extracted.clone();
        tokio::task::spawn_blocking(move || chunker.chunk(&extracted))
            .await
            .map_err(|e| Error::Bug(e.to_string()))
    }

    /// Embeds `texts` for someone waiting (a query): on the global pool.
    pub(crate) async fn embed_texts(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        self.embed_on(texts, false).await
    }

    /// Embeds an import's passages on the background pool
    /// ([`crate::priority`]), so searches and answers meanwhile go first.
    pub(crate) async fn embed_in_background(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        self.embed_on(texts, true).await
    }

    async fn embed_on(&self, texts: Vec<String>, background: bool) -> Result<Vec<Vec<f32>>> {
        let embedder = self.embedder.clone();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            if background {
                crate::priority::in_background(|| embedder.embed(&refs))
            } else {
                embedder.embed(&refs)
            }
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
                    attachments: Vec::new(),
                    format: loader::Format::Text,
                    pages: vec![loader::PageText {
                        number: None,
                        text: text.clone(),
                        ocr: false,
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
                            ocr_pages: None,
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
            let vectors = self.embed_in_background(texts).await?;
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

/// The path of attachment `number` of the message at `message`: no file's
/// (`<message>#<n>/<name>`), its last part the attachment's file name.
fn attachment_path(message: &str, number: u32, name: &str) -> String {
    format!(
        "{message}#{number}/{}",
        crate::library::safe_file_name(name)
    )
}

/// The pages, slides, sheets, chapters or a message's parts a document has;
/// `None` for an unpaged format.
fn page_count(extracted: &Extracted) -> Option<u32> {
    match extracted.format.page_name() {
        Some(_) => extracted.pages.iter().filter_map(|p| p.number).max(),
        None => None,
    }
}

/// What is embedded for each passage: the document's header prefix, the
/// heading of its page (paged documents), the passage.
fn embedding_texts(prefix: &str, extracted: &Extracted, chunks: &[Chunk]) -> Vec<String> {
    let headings: std::collections::HashMap<u32, String> = extracted
        .pages
        .iter()
        .filter_map(|p| Some((p.number?, context::page_heading(&p.text))))
        .collect();
    chunks
        .iter()
        .map(|c| {
            let heading = c.page.and_then(|p| headings.get(&p));
            context::embedding_text(prefix, heading.map_or("", String::as_str), &c.text)
        })
        .collect()
}

/// A test's hold on the pipeline: with `QUIRE_TEST_PAUSE_AT=<stage>[:<n>]`
/// (stage `read`, `embed` or `write`), the `n`th time (default 1) the import
/// passes that point it says so on stderr and waits there for ever, so a
/// test can kill the process (`kill -9`) at that moment. `write` is after a
/// batch's passages are added and before its records are finished.
fn test_pause(stage: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;
    static AT: OnceLock<Option<(String, usize)>> = OnceLock::new();
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    let at = AT.get_or_init(|| {
        let v = std::env::var("QUIRE_TEST_PAUSE_AT").ok()?;
        let (s, n) = v.split_once(':').unwrap_or((v.as_str(), "1"));
        Some((s.to_string(), n.parse().unwrap_or(1)))
    });
    let Some((s, n)) = at else { return };
    if s == stage && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == *n {
        eprintln!("quire-test: paused at {stage}");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}
