//! Quire's readers: files into pages of text. One [`Loader`] per format,
//! picked by extension and magic bytes, each run under a time limit with
//! panics caught, so a hostile or broken file becomes a [`FileProblem`] for
//! that file and nothing more. No models, no store, no async runtime: the
//! engine calls [`extract`] (its import pipeline and document viewer), and the
//! readers can be fuzzed or run in a worker process on their own.

mod doc;
mod docx;
mod email;
mod epub;
mod error;
mod html;
mod image;
mod msg;
pub mod ocr;
mod odt;
mod package;
mod pdf;
mod pdf_repair;
mod pdf_widths;
mod poppler;
mod ppt;
mod pptx;
mod rtf;
mod sheet;
pub mod text;
pub mod worker;

pub use error::FileProblem;
pub use pdf::second_opinion_missed;

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The formats Quire reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Pdf,
    Docx,
    /// Word 97–2003 (`.doc`), read by `catdoc`.
    Doc,
    Html,
    Markdown,
    Text,
    /// PowerPoint (`.pptx`, and `.ppt` read by `catppt`): a page per slide.
    Pptx,
    /// XLSX, XLS, XLSB, ODS: a page per sheet.
    Spreadsheet,
    /// A page per chapter.
    Epub,
    Odt,
    Rtf,
    /// `.eml` and Outlook `.msg`: the message, then a page per attachment.
    Email,
    /// PNG, JPEG, TIFF…: recognised text, a page per image page.
    Image,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Docx => "docx",
            Format::Doc => "doc",
            Format::Html => "html",
            Format::Markdown => "markdown",
            Format::Text => "text",
            Format::Pptx => "pptx",
            Format::Spreadsheet => "spreadsheet",
            Format::Epub => "epub",
            Format::Odt => "odt",
            Format::Rtf => "rtf",
            Format::Email => "email",
            Format::Image => "image",
        }
    }

    /// What one of its pages is called where a citation points: a slide, a
    /// sheet, a chapter, a part of a message; `None` for unpaged formats.
    pub fn page_name(self) -> Option<&'static str> {
        match self {
            Format::Pdf => Some("page"),
            Format::Pptx => Some("slide"),
            Format::Spreadsheet => Some("sheet"),
            Format::Epub => Some("chapter"),
            Format::Email => Some("part"),
            Format::Image => Some("page"),
            Format::Docx
            | Format::Doc
            | Format::Html
            | Format::Markdown
            | Format::Text
            | Format::Odt
            | Format::Rtf => None,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pdf" => Format::Pdf,
            "docx" => Format::Docx,
            "doc" => Format::Doc,
            "html" => Format::Html,
            "markdown" => Format::Markdown,
            "text" => Format::Text,
            "pptx" => Format::Pptx,
            "spreadsheet" => Format::Spreadsheet,
            "epub" => Format::Epub,
            "odt" => Format::Odt,
            "rtf" => Format::Rtf,
            "email" => Format::Email,
            "image" => Format::Image,
            _ => return None,
        })
    }
}

/// The text of one page (PDF) or of a whole unpaged document (`number == None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct PageText {
    pub number: Option<u32>,
    pub text: String,
    /// The text was recognised from the page's image (OCR), not read from
    /// a text layer.
    #[serde(default)]
    pub ocr: bool,
}

/// What a loader read out of a file.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Extracted {
    pub format: Format,
    pub pages: Vec<PageText>,
    /// The encoding a text format was decoded from, when it was detected.
    pub encoding: Option<&'static str>,
    /// The title the file declares in its metadata (today: a PDF's Info
    /// dictionary), when it has one.
    pub title: Option<String>,
    /// The files attached to a message, each read as a document of its own
    /// (e-mail); empty for every other format. Not sent to the UI (the
    /// viewer shows an attachment as the document it is).
    #[serde(skip)]
    #[ts(skip)]
    pub attachments: Vec<Attachment>,
}

/// A file attached to a message, read by the reader its name calls for, to
/// be a document of its own; its bytes are found again in the message by
/// [`attachment_bytes`] and its `number`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Attachment {
    /// Its place among the message's attachments, from 1, in the order
    /// [`attachment_bytes`] counts them.
    pub number: u32,
    /// Its file name as the message gives it.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// How it reads: the attachment's own format.
    pub format: Option<Format>,
    pub pages: Vec<PageText>,
    pub title: Option<String>,
    /// Why it could not be read ([`FileProblem::code`] and the message),
    /// when it could not.
    pub problem: Option<(String, String)>,
}

impl Attachment {
    /// The attachment as what its reader read, for the import to chunk.
    pub fn extracted(&self) -> Option<Extracted> {
        Some(Extracted {
            format: self.format?,
            pages: self.pages.clone(),
            encoding: None,
            title: self.title.clone(),
            attachments: Vec::new(),
        })
    }
}

/// The bytes and name of attachment `number` of a message (`.eml` or
/// `.msg`), as [`Attachment::number`] counts them: the source viewer shows
/// an attachment's own file.
pub fn attachment_bytes(
    path: &Path,
    bytes: &[u8],
    number: u32,
) -> Result<(String, Vec<u8>), FileProblem> {
    let found = match extension(path).as_deref() {
        Some("msg") => msg::attachment_bytes(bytes, number),
        _ => email::attachment_bytes(bytes, number),
    };
    found.ok_or_else(|| FileProblem::Damaged {
        format: "e-mail",
        detail: format!("the message has no attachment {number}"),
    })
}

impl Extracted {
    pub fn char_count(&self) -> usize {
        self.pages.iter().map(|p| p.text.chars().count()).sum()
    }

    fn has_text(&self) -> bool {
        self.pages
            .iter()
            .any(|p| p.text.chars().any(|c| c.is_alphanumeric()))
    }
}

/// Per-file options a user can give.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The password of an encrypted PDF.
    pub password: Option<String>,
    /// Told of each page recognised by OCR (the slow step).
    pub progress: Progress,
    /// The OCR languages the user chose (Tesseract's `eng+deu` form); `None`:
    /// `QUIRE_OCR_LANGS`, else English and every language installed.
    pub ocr_languages: Option<String>,
    /// When poppler reads a PDF's pages beside `pdf-extract`.
    pub second_opinion: SecondOpinion,
}

/// When poppler's `pdftotext` is asked to read a PDF too (`poppler.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SecondOpinion {
    /// When a page gives cause (`pdf::doubtful`): unmapped glyphs, little
    /// text, right-to-left or CJK script, garbage, words run together.
    #[default]
    Doubtful,
    /// For every file (the check that [`SecondOpinion::Doubtful`] loses nothing).
    Always,
}

/// A callback told `(done, total)` as a reader recognises pages by OCR.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<dyn Fn(usize, usize) + Send + Sync>>);

impl Progress {
    pub fn new(f: impl Fn(usize, usize) + Send + Sync + 'static) -> Self {
        Progress(Some(Arc::new(f)))
    }

    pub fn report(&self, done: usize, total: usize) {
        if let Some(f) = &self.0 {
            f(done, total);
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(..)"
        } else {
            "Progress(none)"
        })
    }
}

/// Reads one format. Implementations must not panic on purpose, but the
/// runner below survives them if they do.
pub trait Loader: Send + Sync {
    fn format(&self) -> Format;
    fn load(&self, bytes: &[u8], opts: &LoadOptions) -> Result<Extracted, FileProblem>;
}

const TEXT_EXTENSIONS: &[&str] = &[
    "txt", "text", "csv", "tsv", "srt", "vtt", "log", "rst", "org", "tex", "json", "yaml", "yml",
    "toml", "ini", "xml",
];
const SHEET_EXTENSIONS: &[&str] = &["xlsx", "xlsm", "xlsb", "xls", "ods"];
/// Formats Quire knows but cannot read, each with the way out.
fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

/// Picks the loader for a file from its extension and first bytes.
pub fn loader_for(path: &Path, bytes: &[u8]) -> Result<Box<dyn Loader>, FileProblem> {
    let ext = extension(path);
    if bytes.starts_with(b"%PDF") || ext.as_deref() == Some("pdf") {
        return Ok(Box::new(pdf::PdfLoader));
    }
    if bytes.starts_with(b"{\\rtf") {
        return Ok(Box::new(rtf::RtfLoader));
    }
    match ext.as_deref() {
        Some("docx" | "docm") => Ok(Box::new(docx::DocxLoader)),
        Some("doc") => Ok(Box::new(doc::DocLoader)),
        Some("pptx" | "pptm") => Ok(Box::new(pptx::PptxLoader)),
        Some("ppt" | "pps") => Ok(Box::new(ppt::PptLoader)),
        Some("epub") => Ok(Box::new(epub::EpubLoader)),
        Some("odt") => Ok(Box::new(odt::OdtLoader)),
        Some("rtf") => Ok(Box::new(rtf::RtfLoader)),
        Some("eml") => Ok(Box::new(email::EmailLoader)),
        Some("msg") => Ok(Box::new(msg::MsgLoader)),
        Some(e) if SHEET_EXTENSIONS.contains(&e) => Ok(Box::new(sheet::SheetLoader)),
        Some(e) if image::EXTENSIONS.contains(&e) => {
            Ok(Box::new(image::ImageLoader { ext: e.to_string() }))
        }
        Some("html" | "htm" | "xhtml") => Ok(Box::new(html::HtmlLoader)),
        Some("md" | "markdown" | "mdown" | "mkd") => Ok(Box::new(text::TextLoader::markdown())),
        Some(e) if TEXT_EXTENSIONS.contains(&e) => Ok(Box::new(text::TextLoader::plain())),
        None if text::looks_like_text(bytes) => Ok(Box::new(text::TextLoader::plain())),
        _ => Err(FileProblem::Unsupported(ext)),
    }
}

/// Whether a path has an extension Quire reads (used when walking folders).
pub fn is_supported_extension(path: &Path) -> bool {
    match extension(path).as_deref() {
        Some(
            "pdf" | "doc" | "docx" | "docm" | "pptx" | "pptm" | "ppt" | "pps" | "epub" | "odt"
            | "rtf" | "eml" | "msg" | "html" | "htm" | "xhtml" | "md" | "markdown" | "mdown"
            | "mkd",
        ) => true,
        Some(e) => {
            TEXT_EXTENSIONS.contains(&e)
                || SHEET_EXTENSIONS.contains(&e)
                || image::EXTENSIONS.contains(&e)
        }
        None => false,
    }
}

/// Extracts a file's text on a worker thread, with a time limit, catching panics.
///
/// On a time-out the worker is abandoned (Rust cannot kill a thread); it holds
/// only its own copy of the bytes and ends with the process.
pub fn extract(
    path: &Path,
    bytes: Vec<u8>,
    opts: &LoadOptions,
    time_limit: Duration,
) -> Result<Extracted, FileProblem> {
    if bytes.is_empty() {
        return Err(FileProblem::Empty);
    }
    let loader = loader_for(path, &bytes)?;
    quiet_panics_in_workers();
    let (tx, rx) = mpsc::channel();
    let mut inner = opts.clone();
    let progress_tx = tx.clone();
    inner.progress = Progress::new(move |done, total| {
        let _ = progress_tx.send(Step::Page(done, total));
    });
    let spawned = std::thread::Builder::new()
        .name(format!("{WORKER_PREFIX}{}", loader.format().as_str()))
        .spawn(move || {
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| loader.load(&bytes, &inner)));
            let _ = tx.send(Step::Done(result));
        });
    if let Err(e) = spawned {
        return Err(FileProblem::ReaderCrashed(format!(
            "could not start a reader thread: {e}"
        )));
    }
    // The time limit is per step: the reading, then each page OCR recognises
    // (a long scan takes minutes, each of its pages seconds).
    let outcome = loop {
        match rx.recv_timeout(time_limit) {
            Ok(Step::Page(done, total)) => opts.progress.report(done, total),
            Ok(Step::Done(outcome)) => break Ok(outcome),
            Err(e) => break Err(e),
        }
    };
    let extracted = match outcome {
        Ok(Ok(result)) => result?,
        Ok(Err(panic)) => return Err(FileProblem::ReaderCrashed(panic_message(&panic))),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            return Err(FileProblem::Timeout(time_limit.as_secs()))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            return Err(FileProblem::ReaderCrashed(
                "the reader stopped without an answer".into(),
            ))
        }
    };
    if !extracted.has_text() {
        return Err(match extracted.format {
            Format::Pdf | Format::Image => FileProblem::NoTextLayer,
            _ => FileProblem::Empty,
        });
    }
    Ok(extracted)
}

/// What a reader thread tells [`extract`].
enum Step {
    /// OCR recognised page `done` of `total`.
    Page(usize, usize),
    Done(std::thread::Result<Result<Extracted, FileProblem>>),
}

const WORKER_PREFIX: &str = "quire-reader-";

pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// A reader panic is an expected outcome for a damaged file: it is reported as
/// that file's error, so the default hook's stderr dump is kept for other threads only.
fn quiet_panics_in_workers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_worker = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(WORKER_PREFIX));
            if in_worker {
                tracing::debug!("reader panic: {info}");
            } else {
                previous(info);
            }
        }));
    });
}

/// Tidies extracted text: unifies line ends, trims line ends, squeezes blank runs.
pub(crate) fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.replace("\r\n", "\n").replace('\r', "\n").split('\n') {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    let out = out.trim().replace('\u{0}', "");
    expand_ligatures(&out)
}

/// Typographic ligatures (ﬁ, ﬂ, …) from PDFs become plain letters, so
/// "ﬁne-tuning" is found by "fine-tuning".
fn expand_ligatures(text: &str) -> String {
    if !text.contains(|c| ('\u{FB00}'..='\u{FB06}').contains(&c)) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => out.push_str("st"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_squeezes_blank_lines_and_trailing_space() {
        assert_eq!(tidy("a  \r\n\r\n\r\n\nb\t\n"), "a\n\nb");
        assert_eq!(tidy("e\u{FB03}cient \u{FB01}ne"), "efficient fine");
    }

    #[test]
    fn unknown_binary_is_unsupported() {
        let err = loader_for(Path::new("x.bin"), b"PK\x03\x04rest").err();
        assert_eq!(err, Some(FileProblem::Unsupported(Some("bin".into()))));
    }

    #[test]
    fn a_legacy_powerpoint_file_is_read_by_its_own_reader() {
        let loader = loader_for(Path::new("old.PPT"), b"\xD0\xCF\x11\xE0").expect("a reader");
        assert_eq!(loader.format(), Format::Pptx);
        assert!(is_supported_extension(Path::new("deck.ppt")));
    }

    #[test]
    fn a_legacy_word_file_is_read_by_its_own_reader() {
        let loader = loader_for(Path::new("old.DOC"), b"\xD0\xCF\x11\xE0").expect("a reader");
        assert_eq!(loader.format(), Format::Doc);
    }

    #[test]
    fn empty_file_is_reported_empty() {
        let r = extract(
            Path::new("e.txt"),
            Vec::new(),
            &LoadOptions::default(),
            Duration::from_secs(5),
        );
        assert_eq!(r.err(), Some(FileProblem::Empty));
    }

    struct Panicking;
    impl Loader for Panicking {
        fn format(&self) -> Format {
            Format::Text
        }
        fn load(&self, _: &[u8], _: &LoadOptions) -> Result<Extracted, FileProblem> {
            panic!("boom")
        }
    }

    #[test]
    fn regression_reader_panic_becomes_file_error() {
        quiet_panics_in_workers();
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("{WORKER_PREFIX}test"))
            .spawn(move || {
                let r = std::panic::catch_unwind(|| Panicking.load(b"x", &LoadOptions::default()));
                tx.send(r.map_err(|p| panic_message(&p))).ok();
            })
            .unwrap();
        assert_eq!(rx.recv().unwrap().err().as_deref(), Some("boom"));
    }
}
