//! Watched folders: folders the library is kept in sync with. While a shell
//! keeps a [`Watching`] alive (`quire serve`, the desktop app, `quire watch
//! run`), a new or changed file is imported within seconds of its last
//! change (debounced, so a file still being written is read once, when it
//! is done), a deleted file leaves the library, and a renamed or moved file
//! keeps its passages (the import finds the document with its content whose
//! file is gone and moves it, [`crate::FileOutcome::Moved`]). When watching
//! starts, the library is first reconciled with the disk: what changed
//! while Quire was closed is caught up the same way. Change notices come
//! from the operating system through `notify`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::Watcher as _;

use crate::import::{ImportEvent, ImportOptions, ImportProgress};
use crate::llm::CancelToken;
use crate::{Engine, Error, Result};

/// A path is synced once it has had no change notice for this long.
const QUIET: Duration = Duration::from_millis(1500);
/// How often pending notices and the list of watched folders are looked at.
const TICK: Duration = Duration::from_millis(500);
/// How often the list of watched folders is read again (folders added or
/// removed by another shell).
const RELIST: Duration = Duration::from_secs(2);

/// Watching in progress; dropping it (or [`Watching::stop`]) stops it.
pub struct Watching {
    stop: CancelToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Watching {
    /// Stops watching and waits for a sync in progress to end.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn canonical_folder(folder: &Path) -> Result<String> {
    let canonical = std::fs::canonicalize(folder).map_err(|e| Error::io(folder, e))?;
    if !canonical.is_dir() {
        return Err(Error::InvalidInput(format!(
            "{} is not a folder: only folders can be watched",
            folder.display()
        )));
    }
    Ok(canonical.display().to_string())
}

/// Whether `path` is `folder` or inside it.
fn within(path: &str, folder: &str) -> bool {
    path == folder
        || path
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with(std::path::MAIN_SEPARATOR))
}

/// Hidden files and folders (and editors' `.swp`, `~` files) inside a
/// watched folder are not synced; `path` is relative to the folder.
fn ignored(path: &Path) -> bool {
    path.components().any(|c| {
        let s = c.as_os_str().to_string_lossy();
        s.starts_with('.') && s.len() > 1 && s != ".."
    }) || path.to_string_lossy().ends_with('~')
}

impl Engine {
    /// Watches a folder: it is remembered in the library and synced by
    /// [`Engine::sync_watched`] and [`Engine::watch`]. Returns its canonical path.
    pub async fn watch_add(&self, folder: &Path) -> Result<String> {
        let path = canonical_folder(folder)?;
        self.catalog.add_watched(&path).await?;
        Ok(path)
    }

    /// Stops watching a folder; its documents stay in the library. Whether
    /// it was watched.
    pub async fn watch_remove(&self, folder: &Path) -> Result<bool> {
        let path = std::fs::canonicalize(folder)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| folder.display().to_string());
        self.catalog.remove_watched(&path).await
    }

    /// The watched folders, canonical paths.
    pub async fn watched_folders(&self) -> Result<Vec<String>> {
        self.catalog.watched().await
    }

    /// Brings the library in line with watched folders as they are on disk
    /// (all of them when `only` is `None`): new and changed files imported,
    /// renamed ones moved, deleted ones removed.
    pub async fn sync_watched(
        &self,
        only: Option<&[String]>,
        progress: &dyn ImportProgress,
    ) -> Result<()> {
        let folders = match only {
            Some(f) => f.to_vec(),
            None => self.watched_folders().await?,
        };
        let present: Vec<PathBuf> = folders
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
            .collect();
        if !present.is_empty() {
            self.import(&present, &ImportOptions::default(), progress)
                .await?;
        }
        let gone: Vec<String> = self
            .documents()
            .await?
            .into_iter()
            // A message's attachments go with it, not on their own.
            .filter(|d| d.parent.is_none())
            .filter(|d| folders.iter().any(|f| within(&d.path, f)))
            .filter(|d| !Path::new(&d.path).exists())
            .map(|d| d.path)
            .collect();
        self.remove_paths(&gone, progress).await
    }

    /// Removes the documents at these paths (files deleted from a watched folder).
    async fn remove_paths(&self, paths: &[String], progress: &dyn ImportProgress) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let docs: Vec<crate::DocumentInfo> = self
            .documents()
            .await?
            .into_iter()
            .filter(|d| d.parent.is_none())
            .filter(|d| paths.iter().any(|p| within(&d.path, p)))
            .filter(|d| !Path::new(&d.path).exists())
            .collect();
        if docs.is_empty() {
            return Ok(());
        }
        let _lock = self.import_lock().await?;
        let mut ids: Vec<String> = Vec::new();
        for d in &docs {
            ids.extend(self.with_children(&d.id).await?);
        }
        self.store.delete_documents(&ids).await?;
        for d in &docs {
            self.catalog.delete(&d.id).await?;
            self.catalog.dequeue(&d.path).await?;
            progress.event(&ImportEvent::Removed {
                path: d.path.clone(),
            });
        }
        self.store.purge_deleted().await?;
        self.documents_changed().await;
        Ok(())
    }

    /// Starts watching the watched folders (and any added later) on this
    /// runtime: first a sync with the disk, then every change as it comes.
    /// Progress (the imports' events and [`ImportEvent::Removed`]) goes to
    /// `progress`; [`ImportEvent::Watching`] says when the first sync is done.
    pub fn watch(self: &Arc<Self>, progress: Arc<dyn ImportProgress>) -> Watching {
        let stop = CancelToken::new();
        let engine = self.clone();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = watch_loop(&engine, progress.as_ref(), &token).await {
                tracing::warn!("watching folders stopped: {e}");
            }
        });
        Watching {
            stop,
            task: Some(task),
        }
    }
}

async fn watch_loop(
    engine: &Engine,
    progress: &dyn ImportProgress,
    stop: &CancelToken,
) -> Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if matches!(event.kind, notify::EventKind::Access(_)) {
                return;
            }
            for p in event.paths {
                let _ = tx.send(p);
            }
        }
    })
    .map_err(|e| Error::System(format!("cannot watch folders: {e}")))?;
    let mut watching: HashSet<String> = HashSet::new();
    let mut pending: HashMap<PathBuf, Instant> = HashMap::new();
    let mut listed = Instant::now() - RELIST;
    let mut first = true;
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            Some(p) = rx.recv() => {
                pending.insert(p, Instant::now());
            }
            _ = tick.tick() => {
                if stop.is_cancelled() {
                    return Ok(());
                }
                if listed.elapsed() >= RELIST {
                    listed = Instant::now();
                    let now: HashSet<String> = engine.watched_folders().await?.into_iter().collect();
                    let added: Vec<String> = now.difference(&watching).cloned().collect();
                    for gone in watching.difference(&now) {
                        let _ = watcher.unwatch(Path::new(gone));
                    }
                    for f in &added {
                        if let Err(e) = watcher.watch(Path::new(f), notify::RecursiveMode::Recursive) {
                            tracing::warn!("cannot watch {f}: {e}");
                        }
                    }
                    watching = now;
                    if !added.is_empty() {
                        // Caught up with the disk: changes made while not watched.
                        engine.sync_watched(Some(&added), progress).await?;
                    }
                    if first {
                        first = false;
                        progress.event(&ImportEvent::Watching {
                            folders: watching.iter().cloned().collect(),
                        });
                    }
                }
                let due: Vec<PathBuf> = pending
                    .iter()
                    .filter(|(_, t)| t.elapsed() >= QUIET)
                    .map(|(p, _)| p.clone())
                    .collect();
                if due.is_empty() {
                    continue;
                }
                for p in &due {
                    pending.remove(p);
                }
                let due: Vec<PathBuf> = due
                    .into_iter()
                    .filter(|p| {
                        let s = p.display().to_string();
                        watching.iter().any(|f| {
                            within(&s, f)
                                && &s != f
                                && p.strip_prefix(f).is_ok_and(|inside| !ignored(inside))
                        })
                    })
                    .collect();
                // Files and folders that are there are imported first (a
                // renamed file finds its old document gone and moves it);
                // then what is gone leaves the library.
                let (present, gone): (Vec<PathBuf>, Vec<PathBuf>) =
                    due.into_iter().partition(|p| p.exists());
                if !present.is_empty() {
                    engine.import(&present, &ImportOptions::default(), progress).await?;
                }
                let gone: Vec<String> = gone.iter().map(|p| p.display().to_string()).collect();
                engine.remove_paths(&gone, progress).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_within_its_folder_not_a_sibling_with_the_same_prefix() {
        assert!(within("/a/docs/x.pdf", "/a/docs"));
        assert!(within("/a/docs", "/a/docs"));
        assert!(!within("/a/docs2/x.pdf", "/a/docs"));
    }

    #[test]
    fn regression_hidden_and_backup_files_inside_the_folder_are_not_synced_its_own_path_may_be_hidden(
    ) {
        assert!(ignored(Path::new(".git/index")));
        assert!(ignored(Path::new("a/.report.docx.swp")));
        assert!(ignored(Path::new("notes.txt~")));
        assert!(!ignored(Path::new("b/report.pdf")));
    }
}
