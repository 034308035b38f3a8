//! PDF: text per page with `pdf-extract` over `lopdf`, page numbers kept.
//! Encrypted files are opened with the user's password (or the empty one);
//! one bad page is skipped, not fatal; a file with no text layer is named so.

use std::panic::AssertUnwindSafe;

use lopdf::encryption::DecryptionError;
use lopdf::{Document, Error as PdfError, LoadOptions as PdfLoadOptions};
use pdf_extract::PlainTextOutput;

use super::{panic_message, tidy, Extracted, Format, LoadOptions, Loader, PageText};
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
        let given = opts.password.is_some();
        let load_opts = PdfLoadOptions {
            password: opts.password.clone(),
            ..Default::default()
        };
        let mut doc = Document::load_mem_with_options(bytes, load_opts)
            .map_err(|e| password_problem(&e, given).unwrap_or_else(|| damaged(e.to_string())))?;
        if doc.is_encrypted() {
            let password = opts.password.as_deref().unwrap_or("");
            doc.decrypt(password).map_err(|e| {
                password_problem(&e, given)
                    .unwrap_or_else(|| damaged(format!("cannot decrypt: {e}")))
            })?;
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
        for &number in page_ids.keys() {
            match page_text(&doc, number) {
                Ok(text) => pages.push(PageText {
                    number: Some(number),
                    text: tidy(&text),
                }),
                Err(reason) => {
                    tracing::debug!("page {number}: {reason}");
                    failures.push(reason);
                }
            }
        }
        if pages.is_empty() {
            let first = failures.into_iter().next().unwrap_or_default();
            return Err(damaged(format!("no page could be read ({first})")));
        }
        Ok(Extracted {
            format: Format::Pdf,
            pages,
            encoding: None,
        })
    }
}

/// Whether the file's trailer names an encryption dictionary.
fn declares_encryption(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|w| w == b"/Encrypt")
}

/// One page's text; a panic inside the PDF interpreter fails only this page.
fn page_text(doc: &Document, number: u32) -> Result<String, String> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut text = String::new();
        {
            let mut out = PlainTextOutput::new(&mut text);
            pdf_extract::output_doc_page(doc, &mut out, number).map_err(|e| e.to_string())?;
        }
        Ok(text)
    }))
    .unwrap_or_else(|p| Err(format!("reader crashed: {}", panic_message(&p))))
}
