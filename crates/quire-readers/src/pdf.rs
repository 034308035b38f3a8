//! PDF: text per page with `pdf-extract` over `lopdf`, page numbers kept.
//! Encrypted files are opened with the user's password (or the empty one);
//! one bad page is skipped, not fatal. Pages without a text layer (scans),
//! and pages whose text layer is garbage (a bad OCR layer), are recognised
//! with Tesseract when it is installed ([`crate::ocr`]); only those pages,
//! so a text PDF costs no OCR. Without it a scan is named so.

use std::panic::AssertUnwindSafe;

use lopdf::encryption::DecryptionError;
use lopdf::{Document, Error as PdfError, LoadOptions as PdfLoadOptions};
use pdf_extract::{MediaBox, OutputDev, OutputError, Transform};

use super::{panic_message, tidy, Extracted, Format, LoadOptions, Loader, PageText, SecondOpinion};
use crate::error::FileProblem;

pub struct PdfLoader;

fn damaged(detail: impl Into<String>) -> FileProblem {
    FileProblem::Damaged {
        format: "PDF",
        detail: detail.into(),
    }
}

fn password_problem(e: &PdfError, given: bool) -> Option<FileProblem> {
    match e {
        PdfError::Decryption(DecryptionError::IncorrectPassword) | PdfError::InvalidPassword => {
            Some(if given {
                FileProblem::WrongPassword
            } else {
                FileProblem::NeedsPassword
            })
        }
        PdfError::Decryption(
            d @ (DecryptionError::UnsupportedEncryption
            | DecryptionError::UnsupportedVersion
            | DecryptionError::UnsupportedRevision),
        ) => Some(FileProblem::UnsupportedEncryption(d.to_string())),
        _ => None,
    }
}

impl Loader for PdfLoader {
    fn format(&self) -> Format {
        Format::Pdf
    }

    fn load(&self, bytes: &[u8], opts: &LoadOptions) -> Result<Extracted, FileProblem> {
        self.read(bytes, opts).or_else(|problem| match problem {
            // lopdf refuses some encryptions' right password (cpdf's RC4 and
            // AES-256 files, a non-ASCII password): poppler is asked with it.
            FileProblem::WrongPassword | FileProblem::UnsupportedEncryption(_)
                if opts.password.is_some() =>
            {
                poppler_with_password(bytes, opts).ok_or(problem)
            }
            problem => Err(problem),
        })
    }
}

impl PdfLoader {
    fn read(&self, bytes: &[u8], opts: &LoadOptions) -> Result<Extracted, FileProblem> {
        let given = opts.password.is_some();
        let load = |b: &[u8]| {
            Document::load_mem_with_options(
                b,
                PdfLoadOptions {
                    password: opts.password.clone(),
                    ..Default::default()
                },
            )
        };
        let mut doc = match load(bytes) {
            // An encrypted file is not repaired: its password is what it lacks.
            Ok(doc)
                if !doc.get_pages().is_empty()
                    || doc.is_encrypted()
                    || declares_encryption(bytes) =>
            {
                doc
            }
            Err(e) if password_problem(&e, given).is_some() || declares_encryption(bytes) => {
                return Err(password_problem(&e, given).unwrap_or_else(|| damaged(e.to_string())))
            }
            first => {
                // A broken cross-reference table: rebuilt from the objects
                // themselves, as poppler and pdf.js do.
                let repaired = crate::pdf_repair::rebuilt(bytes).and_then(|b| load(&b).ok());
                match (repaired, first) {
                    (Some(doc), _) if !doc.get_pages().is_empty() => {
                        tracing::debug!("PDF cross-reference table rebuilt");
                        doc
                    }
                    (_, Ok(doc)) => doc,
                    (_, Err(e)) => {
                        if let Some(read) = poppler_only(bytes, opts) {
                            return Ok(read);
                        }
                        return Err(
                            password_problem(&e, given).unwrap_or_else(|| damaged(e.to_string()))
                        );
                    }
                }
            }
        };
        if doc.is_encrypted() {
            let password = opts.password.as_deref().unwrap_or("");
            doc.decrypt(password).map_err(|e| {
                password_problem(&e, given)
                    .unwrap_or_else(|| damaged(format!("cannot decrypt: {e}")))
            })?;
        }
        let fonts = crate::pdf_widths::normalise(&mut doc);
        if fonts > 0 {
            tracing::debug!("glyph width ranges rewritten in {fonts} CID fonts");
        }
        let page_ids = doc.get_pages();
        if page_ids.is_empty() {
            // Some encryption dictionaries lopdf cannot parse leave it with
            // no pages and no idea the file was encrypted.
            if declares_encryption(bytes) {
                return Err(if given {
                    FileProblem::WrongPassword
                } else {
                    FileProblem::NeedsPassword
                });
            }
            return Err(damaged("it has no readable pages"));
        }
        let mut pages = Vec::with_capacity(page_ids.len());
        let mut failures = Vec::new();
        let mut doubt = false;
        for &number in page_ids.keys() {
            match page_text(&doc, number) {
                Ok((text, glyphs)) => {
                    let text = dehyphenate(&tidy(&text));
                    // One doubtful page is enough: later pages are not checked.
                    doubt = doubt
                        || doubtful(&text, glyphs)
                        || content_damaged(&doc, page_ids[&number]);
                    pages.push(PageText {
                        number: Some(number),
                        text,
                        ocr: false,
                    })
                }
                Err(reason) => {
                    tracing::debug!("page {number}: {reason}");
                    failures.push(reason);
                }
            }
        }
        // A second opinion: a page poppler reads clearly more of takes its
        // text. Asked only when a page gives cause ([`doubtful`], or a
        // damaged content stream): `pdftotext` on every file is a process
        // and a second parse per PDF, CPU the embedder shares.
        let ask = opts.second_opinion == SecondOpinion::Always || doubt || !failures.is_empty();
        if let Some(reference) = ask
            .then(|| crate::poppler::pages(bytes, opts.password.as_deref()))
            .flatten()
        {
            for &number in page_ids.keys() {
                let Some(theirs) = reference.get(number as usize - 1) else {
                    continue;
                };
                match pages.iter_mut().find(|p| p.number == Some(number)) {
                    // A page with no text of ours takes any poppler has (a
                    // short page is still its text: "Hello, world!").
                    Some(page)
                        if (alphanumerics(&page.text) == 0 && alphanumerics(theirs) > 0)
                            || crate::poppler::poppler_is_better(&page.text, theirs) =>
                    {
                        tracing::debug!("page {number}: poppler's text taken");
                        page.text = tidy(theirs);
                    }
                    Some(_) => {}
                    None if alphanumerics(theirs) > 0 => pages.push(PageText {
                        number: Some(number),
                        text: tidy(theirs),
                        ocr: false,
                    }),
                    None => {}
                }
            }
            pages.sort_by_key(|p| p.number);
        }
        let wanted: Vec<u32> = page_ids
            .keys()
            .copied()
            .filter(|n| match pages.iter().find(|p| p.number == Some(*n)) {
                // Only a page with an image can be a scan: a blank page costs no OCR.
                Some(p) => needs_ocr(&p.text) && has_image(&doc, page_ids[n]),
                None => true,
            })
            .collect();
        if !wanted.is_empty() && crate::ocr::available() && crate::ocr::pdf_renderer_available() {
            let read = match crate::ocr::pdf_pages(
                bytes,
                opts.password.as_deref(),
                &wanted,
                &crate::ocr::chosen_languages(opts.ocr_languages.as_deref()),
                |done, of| opts.progress.report(done, of),
            ) {
                Ok(read) => read,
                // The pages with a text layer are kept when OCR fails.
                Err(problem) if pages.iter().any(|p| alphanumerics(&p.text) > 0) => {
                    tracing::warn!("OCR failed, the text layer is kept: {problem}");
                    Vec::new()
                }
                Err(problem) => return Err(problem),
            };
            for (number, text) in read {
                let text = tidy(&text);
                match pages.iter_mut().find(|p| p.number == Some(number)) {
                    Some(p) if alphanumerics(&text) > alphanumerics(&p.text) => {
                        p.text = text;
                        p.ocr = true;
                    }
                    Some(_) => {}
                    None => pages.push(PageText {
                        number: Some(number),
                        text,
                        ocr: true,
                    }),
                }
            }
            pages.sort_by_key(|p| p.number);
        }
        if pages.is_empty() {
            let first = failures
                .into_iter()
                .next()
                .map(|e| e.to_string())
                .unwrap_or_default();
            return Err(damaged(format!("no page could be read ({first})")));
        }
        Ok(Extracted {
            attachments: Vec::new(),
            format: Format::Pdf,
            pages,
            encoding: None,
            title: info_title(&doc),
        })
    }
}

/// The pages poppler reads in a file `lopdf` cannot open (a damage its
/// repair does not reach), when it reads any text.
fn poppler_only(bytes: &[u8], opts: &LoadOptions) -> Option<Extracted> {
    read_by_poppler(bytes, opts, MIN_PAGE_CHARS)
}

/// The pages poppler reads in an encrypted file with the user's password,
/// when it accepts the password and finds any text at all.
fn poppler_with_password(bytes: &[u8], opts: &LoadOptions) -> Option<Extracted> {
    read_by_poppler(bytes, opts, 1)
}

/// The file as poppler reads it, when a page holds at least `min_chars`
/// letters and digits.
fn read_by_poppler(bytes: &[u8], opts: &LoadOptions, min_chars: usize) -> Option<Extracted> {
    let pages: Vec<PageText> = crate::poppler::pages(bytes, opts.password.as_deref())?
        .iter()
        .enumerate()
        .map(|(i, text)| PageText {
            number: Some(i as u32 + 1),
            text: tidy(text),
            ocr: false,
        })
        .collect();
    pages
        .iter()
        .any(|p| alphanumerics(&p.text) >= min_chars)
        .then(|| {
            tracing::debug!("PDF read by poppler alone");
            Extracted {
                attachments: Vec::new(),
                format: Format::Pdf,
                pages,
                encoding: None,
                title: None,
            }
        })
}

/// Whether `c` ends a line as a hyphen breaking a word.
fn is_break_hyphen(c: char) -> bool {
    matches!(c, '-' | '\u{00AD}' | '\u{2010}')
}

/// Words a line break hyphenated joined again, as poppler does:
/// "ef-⏎ficient retrieval" becomes "efficient⏎retrieval" (the rest of the
/// line stays on its own line). Only between lower-case letters, so a dash
/// before a number or a capital ("pre-⏎COVID") is left as it is.
fn dehyphenate(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut carry: Option<String> = None;
    for (i, line) in lines.iter().enumerate() {
        let mut line = carry.take().unwrap_or_else(|| (*line).to_string());
        let next = lines.get(i + 1).copied().unwrap_or("");
        let mut tail = line.chars().rev();
        let breaks = matches!((tail.next(), tail.next()), (Some(h), Some(l)) if is_break_hyphen(h) && l.is_lowercase())
            && next.chars().next().is_some_and(char::is_lowercase);
        if breaks {
            line.pop();
            let end = next.find(char::is_whitespace).unwrap_or(next.len());
            line.push_str(&next[..end]);
            carry = Some(next[end..].trim_start().to_string());
        }
        out.push(line);
    }
    out.join("\n")
}

/// A page text layer this thin holds no body text (a scan's page number, a
/// stray mark).
const MIN_PAGE_CHARS: usize = 20;

fn alphanumerics(text: &str) -> usize {
    text.chars().filter(|c| c.is_alphanumeric()).count()
}

/// Whether the page draws an image (directly or in a form it uses).
fn has_image(doc: &Document, page: lopdf::ObjectId) -> bool {
    doc.get_page_images(page)
        .is_ok_and(|images| !images.is_empty())
}

/// Whether a page's extracted text calls for OCR: (almost) none, or garbage.
fn needs_ocr(text: &str) -> bool {
    alphanumerics(text) < MIN_PAGE_CHARS || crate::ocr::looks_like_garbage(text)
}

/// The `Title` of the document information dictionary, when it has one.
fn info_title(doc: &Document) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok()?;
    let dict = match info {
        lopdf::Object::Reference(id) => doc.get_dictionary(*id).ok()?,
        lopdf::Object::Dictionary(d) => d,
        _ => return None,
    };
    let title = lopdf::decode_text_string(dict.get(b"Title").ok()?).ok()?;
    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    (!title.is_empty()).then_some(title)
}

/// Whether the file's trailer names an encryption dictionary.
fn declares_encryption(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|w| w == b"/Encrypt")
}

/// Why one page could not be read (the others still are).
#[derive(Debug, thiserror::Error)]
enum PageError {
    #[error("{0}")]
    Extract(#[from] pdf_extract::OutputError),
    #[error("reader crashed: {0}")]
    Crashed(String),
}

/// One page's text; a panic inside the PDF interpreter fails only this page.
fn page_text(doc: &Document, number: u32) -> Result<(String, Glyphs), PageError> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut out = PageTextOutput::default();
        pdf_extract::output_doc_page(doc, &mut out, number)?;
        Ok((out.text, out.glyphs))
    }))
    .unwrap_or_else(|p| Err(PageError::Crashed(panic_message(&p))))
}

/// A gap between two glyphs wider than this share of the font size is a space.
///
/// A tenth, as pdf-extract's own output and poppler take. (It was a fifth
/// while pdf-extract dropped the width ranges of CID fonts, which split words
/// like "1 9 3 4": [`crate::pdf_widths`]. With the widths right, a fifth
/// glued words set a sixth of an em apart — "2.1Account" — and a tenth
/// agrees with poppler best on the development filings and the corpus.)
const SPACE_GAP: f64 = 0.1;
/// The width assumed for a glyph its font gives none, in font sizes.
const UNKNOWN_WIDTH: f64 = 0.55;
/// The space threshold after such a glyph.
const UNKNOWN_SPACE_GAP: f64 = 0.4;

/// pdf-extract's plain-text layout (new lines where the text moves down or
/// back, spaces where it jumps ahead) with a word-space threshold that
/// survives inexact glyph widths ([`SPACE_GAP`]).
#[derive(Default)]
struct PageTextOutput {
    text: String,
    last_end: f64,
    last_y: f64,
    first_char: bool,
    /// The space threshold after the last glyph (wider when its width was unknown).
    space_gap: f64,
    glyphs: Glyphs,
}

/// How many glyphs a page showed, and how many of them its fonts map to no
/// character (an empty string, U+FFFD, a control or private-use code).
#[derive(Debug, Default, Clone, Copy)]
struct Glyphs {
    shown: usize,
    unmapped: usize,
}

/// Whether poppler should be asked to read a page too: its fonts map more
/// than one glyph in a hundred to nothing, it holds little text (a scan, text
/// pdf-extract does not see), it has right-to-left or CJK script (poppler
/// orders the one and maps the other's fonts better), it reads as garbage,
/// or words run together (an inexact spacing).
fn doubtful(text: &str, glyphs: Glyphs) -> bool {
    glyphs.unmapped * 100 > glyphs.shown
        || needs_ocr(text)
        || text.chars().any(poppler_script)
        || run_together(text)
}

/// Whether a page's content is damaged: a content stream missing, or one
/// that does not decompress cleanly. lopdf hands pdf-extract what a
/// corrupt Flate stream yields before the damage (or the compressed bytes),
/// of which it reads a few glyphs, or none: the zlib stream is decoded
/// again here, checksum and all.
fn content_damaged(doc: &Document, page: lopdf::ObjectId) -> bool {
    doc.get_page_contents(page).iter().any(|id| {
        let Ok(stream) = doc.get_object(*id).and_then(lopdf::Object::as_stream) else {
            return true;
        };
        match stream.filters() {
            Ok(filters) if filters.first().is_some_and(|f| *f == b"FlateDecode") => {
                let mut zlib = flate2::read::ZlibDecoder::new(stream.content.as_slice());
                std::io::copy(&mut zlib, &mut std::io::sink()).is_err()
            }
            Ok(_) => stream.decompressed_content().is_err(),
            Err(_) => false,
        }
    })
}

/// Arabic, Hebrew and the CJK scripts.
fn poppler_script(c: char) -> bool {
    matches!(c as u32,
        0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFF // Hebrew, Arabic
        | 0x2E80..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF | 0x20000..=0x3FFFF)
}

/// Words run together: more than one word in fifty is a run of 20 or more
/// letters (English has few such words; glued ones are common when spacing
/// is lost).
fn run_together(text: &str) -> bool {
    let (mut words, mut long) = (0usize, 0usize);
    for w in text.split_whitespace() {
        words += 1;
        let mut run = 0;
        let mut longest = 0;
        for c in w.chars() {
            run = if c.is_alphabetic() { run + 1 } else { 0 };
            longest = longest.max(run);
        }
        long += usize::from(longest >= 20);
    }
    long >= 2 && long * 50 > words
}

/// Reads `bytes` twice — pages asked of poppler only when [`doubtful`], and
/// every page asked — and gives the pages whose text differs: pages poppler
/// reads better that no doubtful page of the file caused it to be asked about. The check
/// that asking poppler only for doubtful pages loses nothing
/// (`tests/text_quality.rs`). `None` when the file cannot be read.
pub fn second_opinion_missed(bytes: &[u8], opts: &LoadOptions) -> Option<Vec<u32>> {
    let doubtful_only = PdfLoader.read(bytes, opts).ok()?;
    let always = LoadOptions {
        second_opinion: SecondOpinion::Always,
        ..opts.clone()
    };
    let every = PdfLoader.read(bytes, &always).ok()?;
    Some(
        every
            .pages
            .iter()
            .filter(|p| {
                !doubtful_only
                    .pages
                    .iter()
                    .any(|q| q.number == p.number && q.text == p.text)
            })
            .filter_map(|p| p.number)
            .collect(),
    )
}

impl OutputDev for PageTextOutput {
    fn begin_page(
        &mut self,
        _page: u32,
        _media_box: &MediaBox,
        _art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        Ok(())
    }
    fn end_page(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        _spacing: f64,
        font_size: f64,
        ch: &str,
    ) -> Result<(), OutputError> {
        // The glyph's origin in device space, y growing downwards as on the page.
        let (x, y) = (trm.m31, -trm.m32);
        // The side of a square as large as the transformed em box.
        let size = ((font_size * trm.m11 + font_size * trm.m21)
            * (font_size * trm.m12 + font_size * trm.m22))
            .abs()
            .sqrt();
        if self.first_char {
            if (y - self.last_y).abs() > size * 1.5 {
                self.text.push('\n');
            }
            if x < self.last_end && (y - self.last_y).abs() > size * 0.5 {
                self.text.push('\n');
            }
            if x > self.last_end + size * self.space_gap {
                self.text.push(' ');
            }
        }
        self.glyphs.shown += 1;
        if ch.is_empty()
            || ch.chars().any(|c| {
                c == '\u{FFFD}'
                    || (c.is_control() && !c.is_whitespace())
                    || ('\u{E000}'..='\u{F8FF}').contains(&c)
            })
        {
            self.glyphs.unmapped += 1;
        }
        self.text.push_str(ch);
        self.first_char = false;
        self.last_y = y;
        // Fonts that give a glyph no width (often the digits) leave its
        // end unknown: assume a typical glyph, and only a wide gap is a space.
        if width > 0.0 {
            self.last_end = x + width * size;
            self.space_gap = SPACE_GAP;
        } else {
            self.last_end = x + UNKNOWN_WIDTH * size;
            self.space_gap = UNKNOWN_SPACE_GAP;
        }
        Ok(())
    }
    fn begin_word(&mut self) -> Result<(), OutputError> {
        self.first_char = true;
        Ok(())
    }
    fn end_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
    fn end_line(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::dehyphenate;

    #[test]
    fn words_hyphenated_at_a_line_end_are_joined() {
        assert_eq!(
            dehyphenate("an ef-\nficient retrieval of high-\ndimensional vectors\nis done"),
            "an efficient\nretrieval of highdimensional\nvectors\nis done"
        );
        // Not a broken word: a dash before a number or a capital, a lone dash.
        let kept = "pages 10-\n12 and pre-\nCOVID sales -\nnone";
        assert_eq!(dehyphenate(kept), kept);
        // A broken word whose next line holds only the rest of it.
        assert_eq!(dehyphenate("com-\nputer\nnext"), "computer\n\nnext");
    }
}
