//! The engine's one error type.
//!
//! Every error has a stable machine-readable [`Error::code`], a message a user
//! can act on, and a [`Kind`] that says whose fault it is: the user's input
//! (a bad file, a wrong password), the runtime (disk, model files), or a bug.

use std::path::PathBuf;

use serde::Serialize;

/// Whose fault an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The user's input: a file that cannot be read, a wrong password, an unknown document.
    User,
    /// The environment: disk, missing model files, database trouble.
    Runtime,
    /// Quire itself is wrong: a panic or a broken invariant.
    Bug,
}

/// Why one file could not be read. Each variant carries what the user can do about it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FileProblem {
    #[error("unsupported file type{}: Quire reads PDF, DOCX, HTML, Markdown and plain text (txt, csv, tsv, srt, eml, …); export it to PDF or DOCX and import that", ext_hint(.0))]
    Unsupported(Option<String>),
    #[error("encrypted PDF: it needs a password (import it again with --password)")]
    NeedsPassword,
    #[error("encrypted PDF: the password was not accepted; check it, and if it is right, Quire cannot decrypt this file's encryption: save an unencrypted copy and import that")]
    WrongPassword,
    #[error(
        "encrypted with a scheme Quire cannot open ({0}); save an unencrypted copy and import that"
    )]
    UnsupportedEncryption(String),
    #[error("no text layer: this looks like a scanned or image-only document; run OCR on it (e.g. `ocrmypdf in.pdf out.pdf`) and import the result")]
    NoTextLayer,
    #[error("the file is empty: there is no text to import")]
    Empty,
    #[error("damaged {format} file: {detail}; open and re-save it in another program, then import again")]
    Damaged {
        format: &'static str,
        detail: String,
    },
    #[error("too large: {size} bytes (limit {limit}); split it into smaller files")]
    TooLarge { size: u64, limit: u64 },
    #[error("reading took longer than {0} s and was stopped; the file may be damaged or unusually complex")]
    Timeout(u64),
    #[error("the reader crashed on this file ({0}); the file is probably damaged")]
    ReaderCrashed(String),
}

fn ext_hint(ext: &Option<String>) -> String {
    match ext {
        Some(e) => format!(" (.{e})"),
        None => String::new(),
    }
}

impl FileProblem {
    /// A short stable code for scripts and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            FileProblem::Unsupported(_) => "unsupported_format",
            FileProblem::NeedsPassword => "needs_password",
            FileProblem::WrongPassword => "wrong_password",
            FileProblem::UnsupportedEncryption(_) => "unsupported_encryption",
            FileProblem::NoTextLayer => "no_text_layer",
            FileProblem::Empty => "empty",
            FileProblem::Damaged { .. } => "damaged",
            FileProblem::TooLarge { .. } => "too_large",
            FileProblem::Timeout(_) => "timeout",
            FileProblem::ReaderCrashed(_) => "reader_crashed",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: FileProblem },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no such document: {0} (see `quire docs`)")]
    UnknownDocument(String),
    #[error("no such chat: {0} (see `quire chats`)")]
    UnknownChat(i64),
    #[error("no such collection: {0} (see `quire collections`)")]
    UnknownCollection(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("{path}: the model architecture `{architecture}` is not supported (Quire runs llama, qwen2 and qwen3 GGUF models, e.g. SmolLM2, Llama 3.2, TinyLlama, Qwen2.5, Qwen3)")]
    UnsupportedModel { path: PathBuf, architecture: String },
    #[error("model missing: {what} not found at {path}; run `npm run fetch-models` (or `python3 scripts/fetch_models.py`) to fetch it")]
    ModelMissing { what: &'static str, path: PathBuf },
    #[error("model error: {0}")]
    Model(String),
    #[error("catalog database error: {0}")]
    Catalog(#[from] sqlx::Error),
    #[error("catalog migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("vector store error: {0}")]
    Store(#[from] lancedb::Error),
    #[error("{0}")]
    System(String),
    #[error("internal error: {0}")]
    Bug(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::File { .. }
            | Error::UnknownDocument(_)
            | Error::UnknownChat(_)
            | Error::UnknownCollection(_)
            | Error::InvalidInput(_)
            | Error::UnsupportedModel { .. } => Kind::User,
            Error::Io { .. }
            | Error::ModelMissing { .. }
            | Error::Model(_)
            | Error::Catalog(_)
            | Error::Migrate(_)
            | Error::Store(_)
            | Error::System(_) => Kind::Runtime,
            Error::Bug(_) => Kind::Bug,
        }
    }

    /// A stable code: scripts and the UI switch on it, never on the message.
    pub fn code(&self) -> &'static str {
        match self {
            Error::File { problem, .. } => problem.code(),
            Error::Io { .. } => "io",
            Error::UnknownDocument(_) => "unknown_document",
            Error::UnknownChat(_) => "unknown_chat",
            Error::UnknownCollection(_) => "unknown_collection",
            Error::InvalidInput(_) => "invalid_input",
            Error::UnsupportedModel { .. } => "unsupported_model",
            Error::ModelMissing { .. } => "model_missing",
            Error::Model(_) => "model",
            Error::Catalog(_) | Error::Migrate(_) => "catalog",
            Error::Store(_) => "store",
            Error::System(_) => "system",
            Error::Bug(_) => "bug",
        }
    }

    /// The typed shape every shell (CLI `--json`, desktop, HTTP) shows a user.
    pub fn to_report(&self) -> ErrorReport {
        ErrorReport {
            code: self.code().to_string(),
            kind: self.kind(),
            message: self.to_string(),
            detail: std::error::Error::source(self).map(|s| s.to_string()),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn model(e: impl std::fmt::Display) -> Self {
        Error::Model(e.to_string())
    }
}

/// `{code, message, detail}`: an error as it crosses into a UI.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorReport {
    pub code: String,
    pub kind: Kind,
    pub message: String,
    pub detail: Option<String>,
}
