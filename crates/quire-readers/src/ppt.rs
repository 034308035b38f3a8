//! PowerPoint 97–2003 presentations (`.ppt`): the slides' text read by
//! `catppt` (Debian's `catdoc` package, like [`crate::doc`]), run as a
//! program in the reader worker's process group so the worker's time limit
//! stops it too; it is GPL and not linked. No kept Rust library reads the
//! PowerPoint binary format.
//!
//! The file is checked with `cfb` first: a compound file with a
//! `PowerPoint Document` stream (`catppt` says nothing of any other file),
//! not encrypted (an `EncryptedSummary` stream). `catppt` ends each slide
//! with a form feed: a page per slide, numbered as the slides are, so a
//! citation names the slide as for a `.pptx`.

use std::io::{Cursor, Read};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::error::FileProblem;
use crate::{tidy, Extracted, Format, LoadOptions, Loader, PageText};

pub struct PptLoader;

/// Without `catppt`: what the user can do.
const WAY_OUT: &str = "a legacy PowerPoint presentation: save it as .pptx (PowerPoint, LibreOffice) and import that, or install catdoc";

/// The most text `catppt` may print for one file: many times what a
/// presentation holds.
const MAX_OUTPUT: usize = 64 << 20;
/// catppt reads a real presentation in well under a second.
const CATPPT_TIME: Duration = Duration::from_secs(20);

/// Whether `catppt` can run here.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| crate::ocr::program_answers("catppt", "-V"))
}

impl Loader for PptLoader {
    fn format(&self) -> Format {
        Format::Pptx
    }

    fn load(&self, bytes: &[u8], _opts: &LoadOptions) -> Result<Extracted, FileProblem> {
        check_presentation(bytes)?;
        if !available() {
            return Err(FileProblem::Legacy(WAY_OUT.into()));
        }
        let text = catppt(bytes)?;
        let pages: Vec<PageText> = text
            .split('\u{c}')
            .enumerate()
            .map(|(i, slide)| PageText {
                number: Some(i as u32 + 1),
                text: tidy(slide),
                ocr: false,
            })
            .collect();
        // The form feed after the last slide leaves an empty piece behind it.
        let last = pages
            .iter()
            .rposition(|p| !p.text.is_empty())
            .map_or(0, |i| i + 1);
        Ok(Extracted {
            attachments: Vec::new(),
            format: Format::Pptx,
            pages: pages.into_iter().take(last).collect(),
            encoding: None,
            title: None,
        })
    }
}

/// A compound file with a PowerPoint document stream, not encrypted.
fn check_presentation(bytes: &[u8]) -> Result<(), FileProblem> {
    let damaged = |detail: &str| FileProblem::Damaged {
        format: "PowerPoint presentation",
        detail: detail.into(),
    };
    let file = cfb::CompoundFile::open(Cursor::new(bytes))
        .map_err(|_| damaged("not a PowerPoint 97–2003 presentation (no compound file inside)"))?;
    if !file.is_stream("/PowerPoint Document") {
        return Err(damaged("it has no PowerPoint document stream"));
    }
    if file.is_stream("/EncryptedSummary") {
        return Err(FileProblem::UnsupportedEncryption(
            "a password-protected PowerPoint presentation: save an unencrypted copy as .pptx"
                .into(),
        ));
    }
    Ok(())
}

/// The slides' text as `catppt` prints it (UTF-8, a form feed after each
/// slide). `catppt` reads only files it can open by name: the bytes go to a
/// temporary file, removed when done.
fn catppt(bytes: &[u8]) -> Result<String, FileProblem> {
    let failed = |detail: String| FileProblem::Damaged {
        format: "PowerPoint presentation",
        detail,
    };
    let mut file = tempfile::Builder::new()
        .prefix("quire-ppt-")
        .suffix(".ppt")
        .tempfile()
        .map_err(|e| failed(format!("no temporary file for catppt: {e}")))?;
    std::io::Write::write_all(&mut file, bytes)
        .map_err(|e| failed(format!("no temporary file for catppt: {e}")))?;
    let mut child = Command::new("catppt")
        .args(["-d", "utf-8"])
        .arg(file.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("catppt could not run: {e}")))?;
    // A damaged record can make it print the same text without end: read
    // at most MAX_OUTPUT, then stop it.
    // catppt loops on some damaged files without printing: it is killed
    // past its time, and its file reported, rather than the worker's whole
    // time limit spent on it. Its output is read on threads meanwhile (at
    // most MAX_OUTPUT + 1 bytes of text; its complaints bounded too).
    let read = |pipe: Option<Box<dyn Read + Send>>, cap: usize| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let done = pipe.map(|p| p.take(cap as u64 + 1).read_to_end(&mut out));
            (out, done.is_none_or(|r| r.is_ok()))
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _), MAX_OUTPUT);
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _), 64 << 10);
    let started = Instant::now();
    let mut output_ended: Option<Instant> = None;
    let status = loop {
        if stdout.is_finished() {
            output_ended.get_or_insert_with(Instant::now);
        }
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            // Still printing, or just done (past the cap, it waits on a
            // pipe nobody reads: a second's grace, then it is stopped).
            Ok(None)
                if started.elapsed() < CATPPT_TIME
                    && output_ended.is_none_or(|t| t.elapsed() < Duration::from_secs(1)) =>
            {
                std::thread::sleep(Duration::from_millis(5))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let (text, read_ok) = stdout
        .join()
        .map_err(|_| failed("catppt's output could not be read".into()))?;
    let (complaint, _) = stderr.join().unwrap_or_default();
    if text.len() > MAX_OUTPUT {
        return Err(failed(format!(
            "catppt printed more than {} MB of text from it",
            MAX_OUTPUT >> 20
        )));
    }
    let Some(status) = status else {
        return Err(failed(format!(
            "catppt did not finish reading it in {} s",
            CATPPT_TIME.as_secs()
        )));
    };
    if !read_ok {
        return Err(failed("catppt's output could not be read".into()));
    }
    let why = String::from_utf8_lossy(&complaint).trim().to_string();
    // It says what it could not open on its error output and exits 0.
    if !status.success() || (text.is_empty() && !why.is_empty()) {
        return Err(failed(format!("catppt could not read it ({why})")));
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record(ver_instance: u16, kind: u16, body: &[u8]) -> Vec<u8> {
        let mut r = Vec::with_capacity(8 + body.len());
        r.extend_from_slice(&ver_instance.to_le_bytes());
        r.extend_from_slice(&kind.to_le_bytes());
        r.extend_from_slice(&(body.len() as u32).to_le_bytes());
        r.extend_from_slice(body);
        r
    }

    /// A presentation built to [MS-PPT]: a Document container holding a
    /// SlideListWithText with two slides' text (UTF-16 and 8-bit atoms).
    fn presentation(streams: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut f =
            cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))
                .expect("create");
        for (name, data) in streams {
            f.create_stream(name)
                .expect("stream")
                .write_all(data)
                .expect("write");
        }
        f.flush().expect("flush");
        f.into_inner().into_inner()
    }

    fn two_slides() -> Vec<u8> {
        let utf16: Vec<u8> = "Quarterly results\rRevenue rose 4 %"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let mut slides = Vec::new();
        slides.extend(record(0, 0x03F3, &[0; 20])); // SlidePersistAtom
        slides.extend(record(0, 0x0F9F, &0u32.to_le_bytes())); // TextHeaderAtom
        slides.extend(record(0, 0x0FA0, &utf16)); // TextCharsAtom
        slides.extend(record(0, 0x03F3, &[0; 20]));
        slides.extend(record(0, 0x0F9F, &1u32.to_le_bytes()));
        slides.extend(record(0, 0x0FA8, b"EMEA outlook for 2025")); // TextBytesAtom
        let mut body = record(1, 0x03E9, &[0; 40]); // DocumentAtom
        body.extend(record(0x000F, 0x0FF0, &slides)); // SlideListWithText
        record(0x000F, 0x03E8, &body) // Document
    }

    #[test]
    fn slides_become_pages() {
        if !available() {
            eprintln!("catppt is not installed: skipped");
            return;
        }
        let bytes = presentation(&[("/PowerPoint Document", two_slides())]);
        let x = PptLoader
            .load(&bytes, &LoadOptions::default())
            .expect("read");
        let pages: Vec<(Option<u32>, &str)> = x
            .pages
            .iter()
            .map(|p| (p.number, p.text.as_str()))
            .collect();
        assert_eq!(
            pages,
            vec![
                (Some(1), "Quarterly results\nRevenue rose 4 %"),
                (Some(2), "EMEA outlook for 2025"),
            ]
        );
        assert_eq!(x.format.page_name(), Some("slide"));
    }

    #[test]
    fn not_a_presentation_or_encrypted_says_so() {
        let err = PptLoader
            .load(b"plain words", &LoadOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "damaged", "{err}");
        let word = presentation(&[("/WordDocument", vec![0; 64])]);
        let err = PptLoader.load(&word, &LoadOptions::default()).unwrap_err();
        assert_eq!(err.code(), "damaged", "{err}");
        let locked = presentation(&[
            ("/PowerPoint Document", two_slides()),
            ("/EncryptedSummary", vec![0; 16]),
        ]);
        let err = PptLoader
            .load(&locked, &LoadOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "unsupported_encryption", "{err}");
    }
}
