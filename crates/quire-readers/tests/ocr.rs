//! OCR accuracy (issue 19): scanned pages are recognised with Tesseract, and
//! the words come out. Word recall against the corpus's ground truth, and
//! against a page this test renders itself from a text PDF's own text.

use std::collections::HashMap;
use std::time::Duration;

use quire_readers::{extract, ocr, LoadOptions};

/// `../shared` beside the checkout, or `$QUIRE_SHARED`.
fn shared() -> std::path::PathBuf {
    std::env::var_os("QUIRE_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
        })
}

/// Lower-cased words of three letters or more (what a search would use).
fn words(text: &str) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
    {
        *out.entry(w.to_lowercase()).or_default() += 1;
    }
    out
}

/// The share of `truth`'s words (with their counts) found in `got`.
fn recall(truth: &str, got: &str) -> f64 {
    let (t, g) = (words(truth), words(got));
    let total: usize = t.values().sum();
    let found: usize = t
        .iter()
        .map(|(w, n)| (*n).min(*g.get(w).unwrap_or(&0)))
        .sum();
    found as f64 / total.max(1) as f64
}

fn read(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).expect("corpus file");
    let x = extract(
        path,
        bytes,
        &LoadOptions::default(),
        Duration::from_secs(300),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    x.pages
        .iter()
        .map(|p| p.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_scanned_page_is_read_with_its_words() {
    assert!(
        ocr::available(),
        "tesseract is installed by the set-up (scripts/setup.sh)"
    );
    let pdfs = shared().join("corpus/pdfs");
    let truth =
        std::fs::read_to_string(pdfs.join("ground_truth/scan_linn-two-column.txt")).unwrap();
    let got = read(&pdfs.join("scan_linn-two-column.pdf"));
    let r = recall(&truth, &got);
    println!("scan_linn-two-column: word recall {r:.3}");
    assert!(r >= 0.9, "word recall {r:.3}");
}

#[test]
fn a_page_rendered_from_a_text_pdf_reads_back_as_its_text() {
    assert!(ocr::available() && ocr::pdf_renderer_available());
    let pdf = shared().join("corpus/pdfs/tracemonkey.pdf");
    // The text layer of page 1 is the truth; the same page rendered to an
    // image (by poppler) and read by Tesseract must give back its words.
    let bytes = std::fs::read(&pdf).unwrap();
    let x = extract(
        &pdf,
        bytes.clone(),
        &LoadOptions::default(),
        Duration::from_secs(120),
    )
    .unwrap();
    let truth = &x.pages[0].text;
    let got = ocr::pdf_pages(&bytes, None, &[1], &ocr::languages(), |_, _| {}).unwrap();
    let r = recall(truth, &got[0].1);
    println!("tracemonkey p. 1 rendered and read: word recall {r:.3}");
    assert!(r >= 0.9, "word recall {r:.3}");
}

#[test]
fn rotated_scans_come_out_upright() {
    // The same page scanned four times, turned 0, 90, 180 and 270 degrees.
    let pdfs = shared().join("corpus/pdfs");
    let truth =
        std::fs::read_to_string(pdfs.join("ground_truth/scan_linn-two-column.txt")).unwrap();
    let path = pdfs.join("scan_cardinal-rotations.pdf");
    let x = extract(
        &path,
        std::fs::read(&path).unwrap(),
        &LoadOptions::default(),
        Duration::from_secs(300),
    )
    .unwrap();
    assert_eq!(x.pages.len(), 4);
    for p in &x.pages {
        let r = recall(&truth, &p.text);
        println!("rotated page {:?}: word recall {r:.3}", p.number);
        assert!(r >= 0.85, "page {:?}: word recall {r:.3}", p.number);
    }
}

/// OCR is slow, so each recognised page is told as it is done (the import
/// shows "page n of N"), and the pages say their text was recognised.
#[test]
fn recognised_pages_are_told_one_by_one_and_marked() {
    assert!(ocr::available() && ocr::pdf_renderer_available());
    let path = shared().join("corpus/pdfs/scan_cardinal-rotations.pdf");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let opts = LoadOptions {
        progress: quire_readers::Progress::new(move |done, total| {
            log.lock().unwrap().push((done, total));
        }),
        ..Default::default()
    };
    let bytes = std::fs::read(&path).expect("corpus file");
    let x = extract(&path, bytes, &opts, Duration::from_secs(300)).expect("reads");
    let seen = seen.lock().unwrap().clone();
    let n = x.pages.len();
    assert!(n >= 2, "{n} pages");
    assert_eq!(seen, (1..=n).map(|i| (i, n)).collect::<Vec<_>>());
    assert!(
        x.pages.iter().all(|p| p.ocr),
        "every page of the scan is marked as recognised"
    );
    // A text PDF's pages are not.
    let text = shared().join("corpus/pdfs/tracemonkey.pdf");
    let x = extract(
        &text,
        std::fs::read(&text).unwrap(),
        &LoadOptions::default(),
        Duration::from_secs(300),
    )
    .expect("reads");
    assert!(x.pages.iter().all(|p| !p.ocr));
}

/// A long scan is not cut off by the reading time limit: it applies to each
/// recognised page, not to the whole file.
#[test]
fn the_time_limit_applies_to_each_recognised_page() {
    assert!(ocr::available() && ocr::pdf_renderer_available());
    let path = shared().join("corpus/pdfs/scan_cardinal-rotations.pdf");
    let bytes = std::fs::read(&path).expect("corpus file");
    let started = std::time::Instant::now();
    let whole = extract(
        &path,
        bytes.clone(),
        &LoadOptions::default(),
        Duration::from_secs(300),
    )
    .expect("reads");
    let took = started.elapsed();
    let pages = whole.pages.len() as u32;
    // A limit well under the whole read, but over the slowest page (plus the text pass).
    let limit = (took / pages) * 2 + Duration::from_secs(2);
    if limit >= took {
        eprintln!("the scan read too fast to tell ({took:?} for {pages} pages)");
        return;
    }
    let again = extract(&path, bytes, &LoadOptions::default(), limit)
        .unwrap_or_else(|e| panic!("{e} with a limit of {limit:?} per step ({took:?} in all)"));
    assert_eq!(again.pages.len(), whole.pages.len());
}

/// The OCR languages a user sets are used when installed; others are left
/// out, and with none left the default applies.
#[test]
fn chosen_ocr_languages_are_the_installed_ones() {
    assert!(ocr::available());
    assert_eq!(ocr::chosen_languages(Some("zzz_none+eng")), "eng");
    assert_eq!(ocr::chosen_languages(Some("zzz_none")), ocr::languages());
    assert_eq!(ocr::chosen_languages(None), ocr::languages());
}
