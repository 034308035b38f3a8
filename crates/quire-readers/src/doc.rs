//! Word 97–2003 documents (`.doc`): the text read by `catdoc` (Debian's
//! `catdoc`, installed by the set-up and declared by the `.deb`), run as a
//! program in the reader worker's process group like `pdftotext`, so the
//! worker's time limit stops it too; it is GPL and not linked. No kept Rust
//! library reads the Word binary format.
//!
//! Before it runs, the file is checked with `cfb` to be a compound file with
//! a `WordDocument` stream (`catdoc` prints any other file back as text) and
//! not encrypted (the FIB's `fEncrypted` flag). The document is one page, as
//! a `.docx` is: the binary format keeps no page layout to cite.

use std::io::{Cursor, Read};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::error::FileProblem;
use crate::{tidy, Extracted, Format, LoadOptions, Loader, PageText};

pub struct DocLoader;

/// Without `catdoc`: what the user can do.
const WAY_OUT: &str = "a legacy Word document: save it as .docx (Word, LibreOffice) and import that, or install catdoc";

/// Whether `catdoc` can run here.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| crate::ocr::program_answers("catdoc", "-V"))
}

impl Loader for DocLoader {
    fn format(&self) -> Format {
        Format::Doc
    }

    fn load(&self, bytes: &[u8], _opts: &LoadOptions) -> Result<Extracted, FileProblem> {
        check_word_file(bytes)?;
        if !available() {
            return Err(FileProblem::Legacy(WAY_OUT.into()));
        }
        let text = catdoc(bytes)?;
        Ok(Extracted {
            attachments: Vec::new(),
            format: Format::Doc,
            pages: vec![PageText {
                number: None,
                text: tidy(&text),
                ocr: false,
            }],
            encoding: None,
            title: None,
        })
    }
}

/// A compound file with a Word document stream, not encrypted.
fn check_word_file(bytes: &[u8]) -> Result<(), FileProblem> {
    let damaged = |detail: &str| FileProblem::Damaged {
        format: "Word document",
        detail: detail.into(),
    };
    let mut file = cfb::CompoundFile::open(Cursor::new(bytes))
        .map_err(|_| damaged("not a Word 97–2003 document (no compound file inside)"))?;
    let mut fib = [0u8; 12];
    file.open_stream("/WordDocument")
        .and_then(|mut s| s.read_exact(&mut fib))
        .map_err(|_| damaged("it has no Word document stream"))?;
    if u16::from_le_bytes([fib[0], fib[1]]) != 0xA5EC {
        return Err(damaged("its Word document stream does not start as one"));
    }
    // FIB base: bit 8 of the flags at offset 10 is fEncrypted.
    if u16::from_le_bytes([fib[10], fib[11]]) & 0x0100 != 0 {
        return Err(FileProblem::UnsupportedEncryption(
            "a password-protected Word document: save an unencrypted copy as .docx".into(),
        ));
    }
    Ok(())
}

/// The document's text as `catdoc` prints it (UTF-8, lines not wrapped).
fn catdoc(bytes: &[u8]) -> Result<String, FileProblem> {
    let failed = |detail: String| FileProblem::Damaged {
        format: "Word document",
        detail,
    };
    let mut cmd = Command::new("catdoc");
    cmd.args(["-w", "-d", "utf-8"]).stderr(Stdio::piped());
    let out = crate::ocr::output_with_input(&mut cmd, bytes)
        .map_err(|e| failed(format!("catdoc could not run: {e}")))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(failed(format!("catdoc could not read it ({why})")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_file_that_is_not_a_word_document_is_damaged_not_printed_back() {
        // catdoc would print this back as the document's text.
        let err = DocLoader
            .load(b"plain words, not a Word file", &LoadOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "damaged", "{err}");
        let mut f = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("create");
        f.create_stream("/Workbook")
            .expect("stream")
            .write_all(b"cells")
            .expect("write");
        f.flush().expect("flush");
        let err = DocLoader
            .load(&f.into_inner().into_inner(), &LoadOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "damaged", "{err}");
    }

    #[test]
    fn an_encrypted_word_document_says_so() {
        let mut fib = vec![0u8; 64];
        fib[0..2].copy_from_slice(&0xA5ECu16.to_le_bytes());
        fib[10..12].copy_from_slice(&0x0100u16.to_le_bytes());
        let mut f = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("create");
        f.create_stream("/WordDocument")
            .expect("stream")
            .write_all(&fib)
            .expect("write");
        f.flush().expect("flush");
        let err = DocLoader
            .load(&f.into_inner().into_inner(), &LoadOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "unsupported_encryption", "{err}");
    }
}
