//! poppler's `pdftotext`: the second opinion on a PDF page's text.
//!
//! Quire reads PDF text with `pdf-extract`, whose content-stream order keeps a
//! table's rows on one line each (poppler's reading order splits a
//! statement into a column of labels and columns of figures, which retrieval
//! of figures cannot use). Where `pdf-extract` reads a page poorly — text it
//! does not see (a font it cannot map, CJK without a usable encoding, a
//! damaged stream), right-to-left script in visual order — poppler reads it
//! well, so each page is compared with `pdftotext`'s and poppler's text is
//! taken when it holds clearly more of the page's words ([`poppler_is_better`]).
//!
//! `pdftotext` (Debian `poppler-utils`, with `poppler-data`'s CMaps for CJK
//! fonts; installed by the set-up and declared by the `.deb` as for OCR) runs as a separate program in the reader
//! worker's process group, so the worker's time limit stops it too; poppler
//! is GPL and not linked. Without it, pages are `pdf-extract`'s alone.

use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Whether `pdftotext` can run here.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| crate::ocr::program_runs("pdftotext"))
}

/// The text of every page of the PDF in `bytes`, as `pdftotext` reads it
/// (page `n` at index `n - 1`), or `None` when it is not installed or fails.
pub fn pages(bytes: &[u8], password: Option<&str>) -> Option<Vec<String>> {
    if !available() {
        return None;
    }
    let mut cmd = Command::new("pdftotext");
    cmd.args(["-q", "-enc", "UTF-8"]);
    if let Some(pw) = password {
        cmd.args(["-upw", pw]);
    }
    cmd.args(["-", "-"]).stderr(Stdio::null());
    let out = crate::ocr::output_with_input(&mut cmd, bytes).ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // Every page ends with a form feed.
    let mut pages: Vec<String> = text.split('\u{c}').map(without_bidi_controls).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    Some(pages)
}

/// poppler marks right-to-left runs with embedding controls; the text is
/// already in logical order without them.
fn without_bidi_controls(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .collect()
}

/// Fewer alphanumerics than this on poppler's page: nothing to compare.
const MIN_CHARS: usize = 20;
/// Below this share of poppler's words found on our page, ours misses text.
const MIN_RECALL: f64 = 0.8;
/// poppler's page must have at least this share of our page's word count
/// (a little fewer: it glues a number to a right-to-left word, "4לחוק").
const MIN_WORDS_SHARE: f64 = 0.9;

fn words(text: &str) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        *counts.entry(w.to_lowercase()).or_insert(0) += 1;
    }
    counts
}

/// Whether poppler's text of a page is better than ours: it has text, ours
/// holds under [`MIN_RECALL`] of its words, and it does not have clearly
/// fewer words than ours (where poppler glues a page's words together —
/// fonts it maps badly — ours has more, and is kept). A page both read alike, or whose
/// words only come in another order (table rows against columns), keeps ours.
pub fn poppler_is_better(ours: &str, theirs: &str) -> bool {
    if theirs.chars().filter(|c| c.is_alphanumeric()).count() < MIN_CHARS {
        return false;
    }
    let (ours, theirs) = (words(ours), words(theirs));
    let total: usize = theirs.values().sum();
    let ours_total: usize = ours.values().sum();
    if (total as f64) < MIN_WORDS_SHARE * ours_total as f64 {
        return false;
    }
    // Letters spaced apart ("A l e t t e r from"): poppler splits the
    // words of some text layers (a bad OCR layer), which then seem many.
    if single_letters(&theirs) > (2.0 * single_letters(&ours)).max(MAX_SINGLE_LETTERS) {
        return false;
    }
    let shared: usize = theirs
        .iter()
        .map(|(w, n)| (*n).min(ours.get(w).copied().unwrap_or(0)))
        .sum();
    (shared as f64) < MIN_RECALL * total as f64
}

/// Above this share of one-letter words, a text spaces its letters apart
/// (English prose has about one in twenty; a letter-spaced page over half).
const MAX_SINGLE_LETTERS: f64 = 0.3;

/// The share of a page's words that are a single Latin letter (CJK text,
/// whose characters poppler may space apart, is not counted).
fn single_letters(words: &std::collections::HashMap<String, usize>) -> f64 {
    let total: usize = words.values().sum();
    let single: usize = words
        .iter()
        .filter(|(w, _)| {
            let mut c = w.chars();
            c.next().is_some_and(|c| c.is_ascii_alphabetic()) && c.next().is_none()
        })
        .map(|(_, n)| n)
        .sum();
    single as f64 / total.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_holding_more_of_the_words_wins() {
        let theirs = "Beautiful is better than ugly. Explicit is better than implicit. Simple is better than complex.";
        assert!(poppler_is_better("Beautiful is better than ugly.", theirs));
        assert!(!poppler_is_better(theirs, theirs));
        // The same words in another order (a table's rows against its columns).
        assert!(!poppler_is_better(
            "Revenue 100 200 Cost 50 60 Profit 50 140",
            "Revenue Cost Profit 100 50 50 200 60 140"
        ));
    }

    #[test]
    fn letter_spaced_words_of_poppler_do_not_replace_ours() {
        let ours = "A lette r from the Company accepting membership and enclosing thei r check and executed contracts";
        let theirs = "A l e t t e r from the Company accepting membership and enclosing t h e i r check and executed c o n t r a c t s";
        assert!(!poppler_is_better(ours, theirs));
    }

    #[test]
    fn glued_words_of_poppler_do_not_replace_ours() {
        let ours = "Information Systems Research volume two pages one hundred";
        let theirs = "InformationSystemsResearch volumetwo pagesonehundred";
        assert!(!poppler_is_better(ours, theirs));
    }

    #[test]
    fn right_to_left_text_in_visual_order_is_replaced() {
        // Hebrew as pdf-extract gives it (visual order) and as poppler does.
        let ours = "?םלוכ םולש המ םלוע םולש .יתימא דלי רבכ ינא";
        let theirs = "\u{202B}שלום עולם מה שלום כולם?\u{202C} אני כבר ילד אמיתי.";
        assert!(poppler_is_better(ours, &without_bidi_controls(theirs)));
        assert!(!without_bidi_controls(theirs).contains('\u{202B}'));
    }
}
