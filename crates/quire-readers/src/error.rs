//! The readers' one error type: why a file could not be read. The engine
//! carries it inside its own `Error::File` with the file's path.

/// Why one file could not be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FileProblem {
    #[error("unsupported file type{}: Quire reads PDF, Word (DOCX, DOC), PowerPoint (PPTX), spreadsheets (XLSX, XLS, ODS), EPUB, ODT, RTF, e-mail (EML, MSG), HTML, Markdown and plain text (txt, csv, srt, …)", ext_hint(.0))]
    Unsupported(Option<String>),
    #[error("not readable by Quire: {0}")]
    Legacy(String),
    #[error("encrypted PDF: it needs a password")]
    NeedsPassword,
    #[error("encrypted PDF: the password was not accepted (or Quire cannot decrypt this file's encryption)")]
    WrongPassword,
    #[error("encrypted with a scheme Quire cannot open ({0})")]
    UnsupportedEncryption(String),
    #[error("no text layer: this looks like a scanned or image-only document")]
    NoTextLayer,
    #[error("the file is empty: there is no text to import")]
    Empty,
    #[error("damaged {format} file: {detail}")]
    Damaged {
        format: &'static str,
        detail: String,
    },
    #[error("too large: {size} bytes (limit {limit})")]
    TooLarge { size: u64, limit: u64 },
    #[error("reading took longer than {0} s and was stopped; the file may be damaged or unusually complex")]
    Timeout(u64),
    #[error("the reader crashed on this file ({0}); the file is probably damaged")]
    ReaderCrashed(String),
    #[error("reading it needed more than {0} MiB of memory and was stopped; the file may be damaged or unusually large")]
    MemoryLimit(u64),
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
            FileProblem::Legacy(_) => "legacy_format",
            FileProblem::NeedsPassword => "needs_password",
            FileProblem::WrongPassword => "wrong_password",
            FileProblem::UnsupportedEncryption(_) => "unsupported_encryption",
            FileProblem::NoTextLayer => "no_text_layer",
            FileProblem::Empty => "empty",
            FileProblem::Damaged { .. } => "damaged",
            FileProblem::TooLarge { .. } => "too_large",
            FileProblem::Timeout(_) => "timeout",
            FileProblem::ReaderCrashed(_) => "reader_crashed",
            FileProblem::MemoryLimit(_) => "memory_limit",
        }
    }
}
