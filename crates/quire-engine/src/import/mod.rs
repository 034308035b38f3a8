//! Importing: files → text → chunks → vectors → store + catalog, each file's
//! failure recorded and never fatal. This module holds what an import is told
//! and reports (options, events, results) and which files it takes;
//! [`pipeline`] runs the stages.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, ErrorReport, FileProblem};
use crate::llm::CancelToken;
use crate::loader::LoadOptions;

mod pipeline;
mod recovery;

/// Progress of an import, for progress bars and the UI.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ImportEvent {
    Started {
        files: usize,
    },
    FileStarted {
        index: usize,
        path: String,
    },
    /// OCR recognised page `done` of the `total` pages of the file it reads
    /// this way (it takes seconds a page).
    PagesRecognised {
        path: String,
        done: usize,
        total: usize,
    },
    FileChunked {
        path: String,
        chunks: usize,
    },
    ChunksEmbedded {
        path: String,
        done: usize,
        total: usize,
    },
    FileFinished {
        result: FileResult,
    },
    IndexingStarted,
    Finished {
        summary: ImportSummary,
    },
    /// A watched folder's file was deleted: its document left the library.
    Removed {
        path: String,
    },
    /// Watching has caught up with the disk and follows these folders.
    Watching {
        folders: Vec<String>,
    },
}

/// Receives [`ImportEvent`]s. Any `Fn(&ImportEvent)` is one.
pub trait ImportProgress: Send + Sync {
    fn event(&self, event: &ImportEvent);
}

impl<F: Fn(&ImportEvent) + Send + Sync> ImportProgress for F {
    fn event(&self, event: &ImportEvent) {
        self(event)
    }
}

/// Progress nobody watches.
pub struct NoProgress;
impl ImportProgress for NoProgress {
    fn event(&self, _: &ImportEvent) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum FileOutcome {
    Imported,
    /// Same content as the last successful import: nothing was done.
    Unchanged,
    /// Renamed or moved: the content of a document whose file is gone; its
    /// passages were kept under the new path, nothing embedded again.
    Moved,
    Failed,
}

/// What happened to one file.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct FileResult {
    pub path: String,
    pub doc_id: Option<String>,
    pub outcome: FileOutcome,
    pub format: Option<String>,
    pub pages: Option<u32>,
    /// Its passages, a message's attachments' included.
    pub chunks: u32,
    pub error: Option<ErrorReport>,
    /// A message's attached files, each a document of its own.
    pub attachments: Vec<AttachmentResult>,
}

/// One file attached to an imported message: read, or why not.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct AttachmentResult {
    /// `<message>#<n>/<name>`.
    pub path: String,
    pub doc_id: String,
    pub chunks: u32,
    /// Why it could not be read; `None` when it was.
    pub problem: Option<AttachmentProblem>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct AttachmentProblem {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, ts_rs::TS)]
pub struct ImportSummary {
    pub imported: usize,
    pub unchanged: usize,
    pub failed: usize,
    /// Renamed or moved files whose passages were kept.
    pub moved: usize,
    pub chunks: usize,
    /// Files not done because the import was stopped: they stay queued for
    /// [`crate::Engine::resume_import`].
    pub left: usize,
}

impl ImportSummary {
    pub fn from_results(results: &[FileResult]) -> Self {
        let mut s = ImportSummary::default();
        for r in results {
            match r.outcome {
                FileOutcome::Imported => s.imported += 1,
                FileOutcome::Unchanged => s.unchanged += 1,
                FileOutcome::Failed => s.failed += 1,
                FileOutcome::Moved => s.moved += 1,
            }
            s.chunks += r.chunks as usize;
        }
        s
    }
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub load: LoadOptions,
    /// Longest time reading one file may take.
    pub time_limit: Duration,
    /// Files larger than this are refused without being read.
    pub max_file_bytes: u64,
    /// Import again even when the content is unchanged.
    pub force: bool,
    /// Finished documents are written (and become searchable) in groups of
    /// about this many passages, or every few seconds.
    pub write_rows: usize,
    /// Stops the import: what is embedded is written, the other files stay
    /// queued for [`crate::Engine::resume_import`].
    pub stop: CancelToken,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            load: LoadOptions::default(),
            time_limit: Duration::from_secs(120),
            max_file_bytes: 512 * 1024 * 1024,
            force: false,
            write_rows: 4096,
            stop: CancelToken::new(),
        }
    }
}

/// The files a list of paths stands for: files as given, folders walked
/// (hidden entries skipped, links not followed), in a stable order.
pub fn collect_files(inputs: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, Error)>) {
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for input in inputs {
        match std::fs::metadata(input) {
            Ok(m) if m.is_dir() => {
                let walker = walkdir::WalkDir::new(input)
                    .follow_links(false)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_entry(|e| {
                        e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.')
                    });
                for entry in walker {
                    match entry {
                        Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
                        Ok(_) => {}
                        Err(e) => {
                            let path = e
                                .path()
                                .map(Path::to_path_buf)
                                .unwrap_or_else(|| input.clone());
                            let io = e
                                .into_io_error()
                                .unwrap_or_else(|| std::io::Error::other("walk error"));
                            missing.push((path.clone(), Error::io(path, io)));
                        }
                    }
                }
            }
            Ok(_) => files.push(input.clone()),
            Err(e) => missing.push((input.clone(), Error::io(input.clone(), e))),
        }
    }
    files.dedup();
    (files, missing)
}

/// The stable id of a document: a digest of its canonical path.
pub fn doc_id_for(canonical_path: &str) -> String {
    blake3::hash(canonical_path.as_bytes()).to_hex()[..16].to_string()
}

pub(crate) fn file_error(path: &Path, problem: FileProblem) -> Error {
    Error::File {
        path: path.to_path_buf(),
        problem,
    }
}
