//! Offline OCR: scanned PDF pages and image files recognised with Tesseract.
//!
//! Quire drives Debian's programs rather than linking their libraries: the
//! `tesseract` command (package `tesseract-ocr`, with its language data and
//! `osd` for page orientation) and poppler's `pdftoppm` (package
//! `poppler-utils`) to render a PDF page to an image. Both run in the reader
//! worker's process tree, under its time limit, and are installed by the
//! project's set-up and declared by the `.deb`. poppler is GPL: it is used as
//! a separate program, not linked. Without them a scanned file fails as
//! before, with `no_text_layer`.
//!
//! Pages are rendered at [`DPI`] in grey and read with page segmentation
//! mode 1 (automatic, with orientation and script detection), so rotated
//! scans come out upright. The languages are `QUIRE_OCR_LANGS` (Tesseract's
//! `eng+deu` form) when set, otherwise English plus every language the
//! system has data for.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::error::FileProblem;

/// Rendering resolution for OCR: Tesseract reads body text best at 200–300 dpi.
const DPI: u32 = 250;
/// The environment variable naming the OCR languages.
pub const LANGS_ENV: &str = "QUIRE_OCR_LANGS";

/// Whether `tesseract` (and its English data) can run here.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| !installed().is_empty())
}

/// The languages Tesseract has data for here (`osd` and `equ` left out).
pub fn installed() -> Vec<String> {
    let Ok(out) = Command::new("tesseract")
        .arg("--list-langs")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty() && !matches!(*l, "osd" | "equ"))
        .map(str::to_string)
        .collect()
}

/// The languages to read, in Tesseract's `a+b` form.
pub fn languages() -> String {
    if let Ok(l) = std::env::var(LANGS_ENV) {
        if !l.trim().is_empty() {
            return l.trim().to_string();
        }
    }
    static DEFAULT: OnceLock<String> = OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            let mut langs = installed();
            langs.sort_by_key(|l| (l != "eng", l.clone()));
            langs.join("+")
        })
        .clone()
}

/// The languages to read with: those of `requested` (Tesseract's `a+b`
/// form, the user's setting) that the system has data for; without any,
/// [`languages`].
pub fn chosen_languages(requested: Option<&str>) -> String {
    let have = installed();
    let chosen: Vec<&str> = requested
        .unwrap_or("")
        .split('+')
        .map(str::trim)
        .filter(|l| have.iter().any(|i| i == l))
        .collect();
    if chosen.is_empty() {
        languages()
    } else {
        chosen.join("+")
    }
}

/// A scratch folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self, FileProblem> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("quire-ocr-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| FileProblem::ReaderCrashed(format!("no scratch folder for OCR: {e}")))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<Vec<u8>, FileProblem> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| FileProblem::ReaderCrashed(format!("{what} could not start: {e}")))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let said = said.lines().last().unwrap_or("").trim().to_string();
        return Err(FileProblem::ReaderCrashed(format!("{what} failed: {said}")));
    }
    Ok(out.stdout)
}

/// The text Tesseract reads in image file `image`: one entry per page (a
/// multi-page TIFF has several).
pub fn image_file(image: &Path, langs: &str) -> Result<Vec<String>, FileProblem> {
    let out = run(
        Command::new("tesseract")
            .arg(image)
            .arg("stdout")
            .args(["-l", langs, "--psm", "1"])
            .env("OMP_THREAD_LIMIT", "1"),
        "tesseract",
    )?;
    let text = String::from_utf8_lossy(&out);
    // Tesseract ends each page with a form feed.
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_string).collect();
    if pages.len() > 1 && pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    Ok(pages)
}

/// The text of image bytes (`ext` names their format for Tesseract's reader).
pub fn image_bytes(bytes: &[u8], ext: &str, langs: &str) -> Result<Vec<String>, FileProblem> {
    let scratch = Scratch::new()?;
    let file = scratch.0.join(format!("image.{ext}"));
    std::fs::write(&file, bytes).map_err(|e| {
        FileProblem::ReaderCrashed(format!("could not write the image for OCR: {e}"))
    })?;
    image_file(&file, langs)
}

/// Pages `pages` (1-based) of the PDF in `bytes`, rendered by `pdftoppm` and
/// read by Tesseract; `progress(done, total)` after each page.
pub fn pdf_pages(
    bytes: &[u8],
    password: Option<&str>,
    pages: &[u32],
    langs: &str,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<(u32, String)>, FileProblem> {
    let scratch = Scratch::new()?;
    let pdf = scratch.0.join("doc.pdf");
    std::fs::write(&pdf, bytes)
        .map_err(|e| FileProblem::ReaderCrashed(format!("could not write the PDF for OCR: {e}")))?;
    let mut out = Vec::with_capacity(pages.len());
    for (i, &page) in pages.iter().enumerate() {
        let root = scratch.0.join(format!("page-{page}"));
        let mut render = Command::new("pdftoppm");
        render
            .args(["-r", &DPI.to_string(), "-gray", "-png", "-singlefile"])
            .args(["-f", &page.to_string(), "-l", &page.to_string()]);
        if let Some(pw) = password {
            render.args(["-upw", pw]);
        }
        render.arg(&pdf).arg(&root);
        run(&mut render, "pdftoppm")?;
        let image = root.with_extension("png");
        let text = image_file(&image, langs)?.join("\n");
        let _ = std::fs::remove_file(&image);
        out.push((page, text));
        progress(i + 1, pages.len());
    }
    Ok(out)
}

/// Whether the PDF renderer is installed.
pub fn pdf_renderer_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| program_runs("pdftoppm"))
}

/// Whether `program -v` starts here (poppler's tools answer it).
pub(crate) fn program_runs(program: &str) -> bool {
    program_answers(program, "-v")
}

/// Runs `cmd` with `bytes` on its standard input and collects its output
/// (stdout, and stderr when `cmd` pipes it). The bytes are written from a
/// thread, borrowed rather than copied: the program may start printing
/// before it has read them all.
pub(crate) fn output_with_input(
    cmd: &mut Command,
    bytes: &[u8],
) -> std::io::Result<std::process::Output> {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("the program's input was not set up"))?;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let _ = std::io::Write::write_all(&mut stdin, bytes);
        });
        child.wait_with_output()
    })
}

/// Whether `program <flag>` starts here (a version flag).
pub(crate) fn program_answers(program: &str, flag: &str) -> bool {
    Command::new(program)
        .arg(flag)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Whether extracted page text is the garbage a bad OCR layer leaves:
/// mostly "words" that are not words (few vowels, many symbols).
pub fn looks_like_garbage(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() < 20 {
        return false;
    }
    let good = words
        .iter()
        .filter(|w| {
            let letters: Vec<char> = w.chars().filter(|c| c.is_alphabetic()).collect();
            let n = w.chars().count();
            letters.len() * 10 >= n * 7
                && (letters.len() < 3
                    || letters.iter().any(|c| "aeiouyAEIOUYàéèìòùäöü".contains(*c))
                    || !letters.iter().all(|c| c.is_ascii()))
        })
        .count();
    good * 2 < words.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_text_is_told_from_words() {
        let words = "The quick brown fox jumps over the lazy dog and keeps running far away into the woods tonight while the moon rises slowly";
        assert!(!looks_like_garbage(words));
        let junk = "Tlie qnick l)r0wn f0x jnmps 0ver tbe 1azy d0g ;:~ ,,. %$# xq zzv bcd fgh jkl mnp qrst vwx 1l1 0o0";
        assert!(looks_like_garbage(junk));
    }
}
