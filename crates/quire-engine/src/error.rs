//! The engine's one error type.
//!
//! Every error has a stable machine-readable [`Error::code`], a message a user
//! can act on, and a [`Kind`] that says whose fault it is: the user's input
//! (a bad file, a wrong password), the runtime (disk, model files), or a bug.
//!
//! Messages state facts, in no shell's words: what to do about an error is its
//! [`Hint`], which each shell renders its own way (the CLI as a flag or a
//! command, the UI as a field or a button).

use std::path::PathBuf;

use serde::Serialize;

/// Whose fault an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The user's input: a file that cannot be read, a wrong password, an unknown document.
    User,
    /// The environment: disk, missing model files, database trouble.
    Runtime,
    /// Quire itself is wrong: a panic or a broken invariant.
    Bug,
}

/// What a user can do about an error, for a shell to offer in its own terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Hint {
    /// Give the file's password and import it again.
    NeedsPassword,
    /// The password given was refused: check it, or save an unencrypted copy.
    WrongPassword,
    /// Save an unencrypted copy of the file and import that.
    UnencryptedCopy,
    /// Run OCR on the file (it has no text layer) and import the result.
    Ocr,
    /// Open and re-save the file in another program, then import again.
    Resave,
    /// Split the file into smaller ones.
    Split,
    /// Convert the file to a format Quire reads (PDF, DOCX, PPTX, XLSX, EML…).
    UnsupportedFormat,
    /// Fetch the model files.
    ModelsMissing,
    /// Choose a model of an architecture Quire runs.
    ChooseModel,
    /// The document was not found: pick one from the library.
    ListDocuments,
    /// The chat was not found: pick one from the saved chats.
    ListChats,
    /// The collection was not found: pick one from the collections.
    ListCollections,
    /// The library was built with another embedding model: open another library.
    OtherLibrary,
}

impl Hint {
    /// The hint a stored failure's code implies (the catalog keeps codes, not hints).
    pub fn for_code(code: &str) -> Option<Hint> {
        Some(match code {
            "needs_password" => Hint::NeedsPassword,
            "wrong_password" => Hint::WrongPassword,
            "unsupported_encryption" => Hint::UnencryptedCopy,
            "no_text_layer" => Hint::Ocr,
            "damaged" | "reader_crashed" | "timeout" => Hint::Resave,
            "too_large" | "memory_limit" => Hint::Split,
            "unsupported_format" | "legacy_format" => Hint::UnsupportedFormat,
            "model_missing" => Hint::ModelsMissing,
            "unsupported_model" => Hint::ChooseModel,
            "unknown_document" => Hint::ListDocuments,
            "unknown_chat" => Hint::ListChats,
            "unknown_collection" => Hint::ListCollections,
            "embedding_model_mismatch" => Hint::OtherLibrary,
            _ => return None,
        })
    }
}

pub use quire_readers::FileProblem;

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
    #[error("no such document: {0}")]
    UnknownDocument(String),
    #[error("no such chat: {0}")]
    UnknownChat(i64),
    #[error("no such collection: {0}")]
    UnknownCollection(String),
    #[error("no such model: {0} (the models Quire can answer with: `quire models`)")]
    UnknownModel(String),
    #[error("this library was built with the embedding model `{library}`, not `{engine}`")]
    EmbeddingModelMismatch { library: String, engine: String },
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("{path}: the model architecture `{architecture}` is not supported (Quire runs llama, qwen2 and qwen3 GGUF models, e.g. SmolLM2, Llama 3.2, TinyLlama, Qwen2.5, Qwen3)")]
    UnsupportedModel { path: PathBuf, architecture: String },
    #[error("model missing: {what} not found at {path}")]
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
            | Error::UnknownModel(_)
            | Error::InvalidInput(_)
            | Error::EmbeddingModelMismatch { .. }
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
            Error::UnknownModel(_) => "unknown_model",
            Error::InvalidInput(_) => "invalid_input",
            Error::EmbeddingModelMismatch { .. } => "embedding_model_mismatch",
            Error::UnsupportedModel { .. } => "unsupported_model",
            Error::ModelMissing { .. } => "model_missing",
            Error::Model(_) => "model",
            Error::Catalog(_) | Error::Migrate(_) => "catalog",
            Error::Store(_) => "store",
            Error::System(_) => "system",
            Error::Bug(_) => "bug",
        }
    }

    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<Hint> {
        Hint::for_code(self.code())
    }

    /// The typed shape every shell (CLI `--json`, desktop, HTTP) shows a user.
    pub fn to_report(&self) -> ErrorReport {
        ErrorReport {
            code: self.code().to_string(),
            kind: self.kind(),
            message: self.to_string(),
            detail: std::error::Error::source(self).map(|s| s.to_string()),
            hint: self.hint(),
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

/// `{code, kind, message, detail, hint}`: an error as it crosses into a UI.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct ErrorReport {
    pub code: String,
    pub kind: Kind,
    pub message: String,
    pub detail: Option<String>,
    /// What the user can do; the shell words it.
    pub hint: Option<Hint>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_error() -> Vec<Error> {
        let file = |problem| Error::File {
            path: "/x/a.pdf".into(),
            problem,
        };
        vec![
            file(FileProblem::Unsupported(Some("pages".into()))),
            file(FileProblem::NeedsPassword),
            file(FileProblem::WrongPassword),
            file(FileProblem::UnsupportedEncryption("AES-512".into())),
            file(FileProblem::NoTextLayer),
            file(FileProblem::Empty),
            file(FileProblem::Damaged {
                format: "PDF",
                detail: "no xref".into(),
            }),
            file(FileProblem::TooLarge { size: 9, limit: 1 }),
            file(FileProblem::Timeout(60)),
            file(FileProblem::ReaderCrashed("panic".into())),
            Error::UnknownDocument("abc".into()),
            Error::UnknownChat(3),
            Error::UnknownCollection("tax".into()),
            Error::EmbeddingModelMismatch {
                library: "a".into(),
                engine: "b".into(),
            },
            Error::ModelMissing {
                what: "MiniLM",
                path: "/m".into(),
            },
            Error::UnsupportedModel {
                path: "/m.gguf".into(),
                architecture: "mamba".into(),
            },
        ]
    }

    #[test]
    fn engine_messages_name_no_shell_flag_or_command() {
        for e in every_error() {
            let m = e.to_string();
            for shell_word in ["--", "`quire", "npm ", "python3 ", "ocrmypdf"] {
                assert!(!m.contains(shell_word), "{m}");
            }
        }
    }

    #[test]
    fn what_a_user_can_do_travels_as_a_hint() {
        let hint = |e: &Error| e.to_report().hint;
        let all = every_error();
        assert_eq!(hint(&all[1]), Some(Hint::NeedsPassword));
        assert_eq!(hint(&all[0]), Some(Hint::UnsupportedFormat));
        assert_eq!(hint(&all[14]), Some(Hint::ModelsMissing));
        assert_eq!(hint(&Error::InvalidInput("x".into())), None);
        let json = serde_json::to_value(all[1].to_report()).unwrap();
        assert_eq!(json["hint"], "needs_password");
        assert_eq!(json["code"], "needs_password");
    }
}
