//! What keeps an import safe across processes and crashes: one import at a
//! time per library (a lock file in the data directory, held while files
//! are written), and, when a library opens with nobody importing, the
//! documents a crash left half written undone and their files queued again
//! (see [`super::pipeline`]'s header for the order of writes that makes this
//! enough).

use std::fs::{File, TryLockError};
use std::time::Duration;

use crate::{Engine, Error, Result};

/// The lock file, in the data directory.
const LOCK_FILE: &str = "import.lock";
/// How often a waiting import looks at the lock again.
const LOCK_POLL: Duration = Duration::from_millis(200);

/// Held while an import writes to a library; released when dropped (or when
/// the process ends, however it ends).
pub(crate) struct ImportLock(#[allow(dead_code)] File);

impl Engine {
    fn lock_file(&self) -> Result<File> {
        let path = self.config.data_dir.join(LOCK_FILE);
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(path, e))
    }

    /// The library's import lock, when nobody holds it.
    fn try_import_lock(&self) -> Result<Option<ImportLock>> {
        let file = self.lock_file()?;
        match file.try_lock() {
            Ok(()) => Ok(Some(ImportLock(file))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(Error::io(self.config.data_dir.join(LOCK_FILE), e)),
        }
    }

    /// The library's import lock, waiting while another import (this
    /// process's or another's) holds it.
    pub(crate) async fn import_lock(&self) -> Result<ImportLock> {
        loop {
            if let Some(lock) = self.try_import_lock()? {
                return Ok(lock);
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    /// Undoes what a crashed import left half written: the passages of every
    /// document still marked `importing` are deleted and its file queued
    /// again. Skipped while another process imports into this library (its
    /// documents are being written, not abandoned). Returns how many.
    pub(crate) async fn recover_imports(&self) -> Result<usize> {
        let Some(_lock) = self.try_import_lock()? else {
            return Ok(0);
        };
        let unfinished = self.catalog.unfinished().await?;
        if unfinished.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = unfinished.iter().map(|(id, _, _)| id.clone()).collect();
        // A message's attachment is read again with the message (its path
        // is not a file's).
        let paths: Vec<String> = unfinished
            .iter()
            .filter(|(_, _, parent)| parent.is_none())
            .map(|(_, p, _)| p.clone())
            .collect();
        tracing::info!(documents = ids.len(), "undoing an interrupted import");
        self.store.delete_documents(&ids).await?;
        self.catalog.enqueue(&paths, false).await?;
        self.documents_changed().await;
        Ok(ids.len())
    }
}
