//! What the app does with documents beyond importing them: a document's text
//! for the source viewer, a copy of a file handed over by a browser, and
//! opening the original with the system's default app.

use std::path::{Path, PathBuf};

use crate::loader::{Extracted, LoadOptions};
use crate::{DocumentInfo, Engine, Error, ModelInfo, Result};

/// Folder under the data dir that keeps files a browser uploaded (it has no paths).
pub const UPLOADS_DIR: &str = "uploads";

/// A file name safe to create inside a folder: no separators, no leading dots,
/// no control characters, not empty, at most 120 characters.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.');
    let mut out: String = trimmed.chars().take(120).collect();
    if out.is_empty() {
        out = "upload".into();
    }
    out
}

/// One entry of [`Engine::model_choices`].
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
pub struct ModelChoice {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub model: Option<ModelInfo>,
    pub current: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub path: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub error: Option<crate::ErrorReport>,
    /// Whether its estimated RAM ([`ModelInfo::ram_bytes`]) fits in the
    /// memory this machine has available now; `None` when that is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub fits: Option<bool>,
}

#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
pub struct ModelChoices {
    pub models: Vec<ModelChoice>,
    /// The model answers use now.
    pub current: PathBuf,
    /// Memory available to a new program now, in bytes (`None`: unknown).
    pub available_memory: Option<u64>,
}

/// Memory available to a new program now (free plus reclaimable cache).
pub fn available_memory() -> Option<u64> {
    let mut system = sysinfo::System::new();
    system.refresh_memory_specifics(sysinfo::MemoryRefreshKind::nothing().with_ram());
    Some(system.available_memory()).filter(|b| *b > 0)
}

impl Engine {
    /// A document's text as the loader reads it, page by page, for the source
    /// viewer (the offsets of [`crate::Source`] index into these pages).
    /// A message's attachment reads as the attachment.
    pub async fn document_text(&self, key: &str, password: Option<String>) -> Result<Extracted> {
        let doc = self.find_document(key).await?;
        let (file, part) = self.file_of(&doc).await?;
        let path = PathBuf::from(&file);
        std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
        let mut opts = crate::ImportOptions::default();
        opts.load = LoadOptions {
            password,
            ..Default::default()
        };
        let read = self
            .read_file(&path, &opts)
            .await?
            .map_err(|problem| Error::File {
                path: path.clone(),
                problem,
            })?;
        let Some(number) = part else {
            return Ok(read);
        };
        let gone = || Error::File {
            path: PathBuf::from(&doc.path),
            problem: crate::FileProblem::Damaged {
                format: "e-mail",
                detail: format!("the message no longer has attachment {number}"),
            },
        };
        let attachment = read
            .attachments
            .iter()
            .find(|a| a.number == number)
            .ok_or_else(gone)?;
        attachment.extracted().ok_or_else(gone)
    }

    /// A document's original file for the source viewer: its name and bytes
    /// (a message's attachment: the attached file, out of the message).
    pub async fn document_file(&self, key: &str) -> Result<(String, Vec<u8>)> {
        let doc = self.find_document(key).await?;
        let (file, part) = self.file_of(&doc).await?;
        let path = PathBuf::from(&file);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| Error::io(&path, e))?;
        let Some(number) = part else {
            return Ok((doc.name, bytes));
        };
        tokio::task::spawn_blocking(move || {
            crate::loader::attachment_bytes(&path, &bytes, number)
                .map_err(|problem| Error::File { path, problem })
        })
        .await
        .map_err(|e| Error::Bug(e.to_string()))?
    }

    /// Opens a document's file with the desktop's default app (a message's
    /// attachment: the message); returns the path opened.
    pub async fn open_document(&self, key: &str) -> Result<String> {
        let doc = self.find_document(key).await?;
        let (file, _) = self.file_of(&doc).await?;
        open_in_default_app(Path::new(&file))?;
        Ok(file)
    }

    /// The file on disk holding a document, and which attachment of it the
    /// document is (`None`: the whole file).
    pub(crate) async fn file_of(&self, doc: &DocumentInfo) -> Result<(String, Option<u32>)> {
        match (&doc.parent, doc.part) {
            (Some(parent), Some(number)) => {
                let message = self
                    .catalog
                    .get(parent)
                    .await?
                    .ok_or_else(|| Error::UnknownDocument(parent.clone()))?;
                Ok((message.path, Some(number)))
            }
            _ => Ok((doc.path.clone(), None)),
        }
    }

    /// The ids of a document and of its attachments (a message's).
    pub(crate) async fn with_children(&self, id: &str) -> Result<Vec<String>> {
        let mut ids = vec![id.to_string()];
        ids.extend(self.catalog.children(id).await?.into_iter().map(|c| c.id));
        Ok(ids)
    }

    /// Keeps a copy of a file that arrived without a path (a browser upload)
    /// under `<data dir>/uploads/<content hash>/<name>` and returns its path.
    /// The same content under the same name lands on the same path, so a
    /// second upload is recognised as unchanged.
    pub async fn store_upload(&self, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        let hash = blake3::hash(bytes).to_hex();
        let dir = self.config().data_dir.join(UPLOADS_DIR).join(&hash[..16]);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Error::io(&dir, e))?;
        let path = dir.join(safe_file_name(name));
        if !path.is_file() {
            tokio::fs::write(&path, bytes)
                .await
                .map_err(|e| Error::io(&path, e))?;
        }
        Ok(path)
    }

    /// The models a user can pick, as the app's settings list them: each
    /// readable GGUF (marked when it is the one answers use) or why it is not.
    pub fn model_choices(&self) -> ModelChoices {
        let current = self.model_path(&self.settings());
        let available = available_memory();
        let models = self
            .models()
            .into_iter()
            .map(|m| match m {
                Ok(info) => ModelChoice {
                    current: info.path == current,
                    fits: available.map(|a| info.ram_bytes <= a),
                    model: Some(info),
                    path: None,
                    error: None,
                },
                Err((path, error)) => ModelChoice {
                    current: false,
                    model: None,
                    path: Some(path),
                    error: Some(error),
                    fits: None,
                },
            })
            .collect();
        ModelChoices {
            models,
            current,
            available_memory: available,
        }
    }

    /// Reads a GGUF's metadata (architecture, size, RAM needed) before a user
    /// picks it; a file that is not a GGUF model is the user's input fault.
    pub fn inspect_model(&self, path: &Path) -> Result<ModelInfo> {
        ModelInfo::read(path).map_err(|e| match e {
            Error::Model(message) => Error::InvalidInput(message),
            other => other,
        })
    }
}

/// Opens a file with the desktop's default app (`xdg-open`, `open`, `start`).
pub fn open_in_default_app(path: &Path) -> Result<()> {
    if !path.exists() {
        return Err(Error::io(
            path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    let mut cmd = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(windows) {
        let mut c = std::process::Command::new("cmd");
        c.args(["/C", "start", ""]);
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    cmd.arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().map_err(|e| {
        Error::System(format!(
            "could not start the default-app opener for {}: {e}",
            path.display()
        ))
    })?;
    // Reap it in the background; the opener returns at once.
    std::thread::spawn(move || child.wait());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn upload_names_cannot_escape_the_folder() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("..\\..\\x.pdf"), "x.pdf");
        assert_eq!(safe_file_name(".hidden"), "hidden");
        assert_eq!(safe_file_name(""), "upload");
        assert_eq!(safe_file_name("a\u{0}b<c>.md"), "ab_c_.md");
        assert_eq!(safe_file_name("Rapport été.pdf"), "Rapport été.pdf");
    }
}

/// The documents of the library.
impl Engine {
    pub async fn documents(&self) -> Result<Vec<DocumentInfo>> {
        self.catalog.list().await
    }

    /// One page of the document list (sorted, filtered), with counts by status.
    pub async fn documents_page(
        &self,
        q: &crate::api::DocumentQuery,
    ) -> Result<crate::api::DocumentPage> {
        self.catalog.page(&q.checked()).await
    }

    /// Finds a document by id, id prefix, path or file name.
    pub async fn find_document(&self, key: &str) -> Result<DocumentInfo> {
        self.catalog.find(key).await
    }

    /// Removes a document: its chunks, vectors and full-text entries are
    /// deleted and the storage rewritten so the text is gone from disk.
    pub async fn remove(&self, key: &str) -> Result<DocumentInfo> {
        let doc = self.catalog.find(key).await?;
        // A message goes with its attachments.
        let ids = self.with_children(&doc.id).await?;
        self.store.delete_documents(&ids).await?;
        self.store.purge_deleted().await?;
        self.catalog.delete(&doc.id).await?;
        self.documents_changed().await;
        Ok(doc)
    }

    pub async fn chunk_count(&self) -> Result<usize> {
        self.store.count().await
    }
}
