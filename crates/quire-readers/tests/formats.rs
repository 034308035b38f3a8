//! Every Office, e-book, RTF and e-mail file of the shared corpus reads to
//! the text a person sees in it, with slides, sheets and chapters as pages
//! (issue 19). Words checked here were read off the files themselves.

use std::path::PathBuf;
use std::time::Duration;

use quire_readers::{extract, Extracted, Format, LoadOptions};

fn shared() -> PathBuf {
    std::env::var_os("QUIRE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

fn corpus(rel: &str) -> PathBuf {
    let p = shared().join("corpus/docs").join(rel);
    assert!(p.is_file(), "missing corpus file {}", p.display());
    p
}

fn read(rel: &str) -> Extracted {
    let path = corpus(rel);
    let bytes = std::fs::read(&path).unwrap();
    extract(
        &path,
        bytes,
        &LoadOptions::default(),
        Duration::from_secs(120),
    )
    .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn all_text(x: &Extracted) -> String {
    x.pages
        .iter()
        .map(|p| p.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_new_format_of_the_corpus_reads_with_text() {
    for (rel, format) in [
        ("pptx/fake-power-point-table.pptx", Format::Pptx),
        ("pptx/group-shapes-nested.pptx", Format::Pptx),
        ("pptx/sample-presentation.pptx", Format::Pptx),
        ("pptx/science-exploration-1p.pptx", Format::Pptx),
        (
            "xlsx/2023-half-year-analyses-by-segment.xlsx",
            Format::Spreadsheet,
        ),
        ("xlsx/calamine_any_sheets.xlsx", Format::Spreadsheet),
        ("xlsx/calamine_any_sheets.ods", Format::Spreadsheet),
        ("xlsx/emoji.xlsx", Format::Spreadsheet),
        ("xlsx/vodafone.xlsx", Format::Spreadsheet),
        ("other/tests-example.xls", Format::Spreadsheet),
        ("epub/eng_spa_mult.epub", Format::Epub),
        ("epub/pandoc-wasteland.epub", Format::Epub),
        ("epub/winter-sports-gutenberg.epub", Format::Epub),
        ("other/fake.odt", Format::Odt),
        ("other/fake-doc.rtf", Format::Rtf),
        ("other/fake-email.eml", Format::Email),
        ("other/simple.doc", Format::Doc),
    ] {
        let x = read(rel);
        assert_eq!(x.format, format, "{rel}");
        let text = all_text(&x);
        if rel.ends_with("emoji.xlsx") {
            // Its one cell holds emoji only.
            assert!(text.contains("🤠😅"), "{rel}: {text:?}");
        } else {
            let words = text
                .split_whitespace()
                .filter(|w| w.chars().any(char::is_alphabetic))
                .count();
            assert!(words >= 3, "{rel}: {text:?}");
        }
        println!(
            "{rel}: {} pages, {} chars: {:?}",
            x.pages.len(),
            text.chars().count(),
            text.chars().take(160).collect::<String>()
        );
    }
}

#[test]
fn slides_sheets_and_chapters_are_numbered_pages() {
    let deck = read("pptx/sample-presentation.pptx");
    assert!(deck.pages.len() > 1);
    assert!(deck
        .pages
        .iter()
        .enumerate()
        .all(|(i, p)| p.number == Some(i as u32 + 1)));
    let book = read("xlsx/calamine_any_sheets.xlsx");
    assert!(book.pages.len() > 1, "{:?}", book.pages);
    assert!(
        book.pages[0].text.starts_with("Sheet: "),
        "{:?}",
        book.pages[0].text
    );
    let epub = read("epub/winter-sports-gutenberg.epub");
    assert!(epub.pages.len() > 3, "{}", epub.pages.len());
    assert!(epub.title.is_some());
}

#[test]
fn an_encrypted_workbook_says_what_to_do() {
    let path = corpus("xlsx/password_protected.xlsx");
    let err = extract(
        &path,
        std::fs::read(&path).unwrap(),
        &LoadOptions::default(),
        Duration::from_secs(60),
    )
    .unwrap_err();
    assert_eq!(err.code(), "unsupported_encryption", "{err}");
}

#[test]
fn a_legacy_word_file_reads_with_its_bullets_and_paragraphs() {
    // Words stored in the file as UTF-16 text (`strings -el` shows them).
    let x = read("other/simple.doc");
    assert_eq!(x.format, Format::Doc);
    let text = all_text(&x);
    for words in [
        "These are a few of my favorite things:",
        "• Parrots",
        "This is my first thought. This is my second thought.",
        "DOYLESTOWN, PA 18901",
    ] {
        assert!(text.contains(words), "{words:?} in {text:?}");
    }
}

#[test]
fn damaged_pdfs_that_poppler_opens_are_repaired() {
    // The corpus's broken PDFs whose manifest says poppler opens them: a
    // wrong startxref, a bad xref entry, an xref /Prev loop, and a content
    // stream longer than its /Length says, whose text poppler still reads
    // (`broken_helloworld-bad.pdf`: "Hello, world!").
    for name in [
        "broken_bad-xref-entry_issue-301.pdf",
        "broken_wrong-startxref_naacl06.pdf",
        "broken_xref-loop.pdf",
        "broken_damaged-stream.pdf",
        "broken_zen_of_python_corrupted.pdf",
        "broken_helloworld-bad.pdf",
    ] {
        let root = shared().join("corpus/pdfs").join(name);
        let bytes = std::fs::read(&root).unwrap();
        let x = extract(
            &root,
            bytes,
            &LoadOptions::default(),
            Duration::from_secs(120),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let chars: usize = x
            .pages
            .iter()
            .map(|p| p.text.chars().filter(|c| !c.is_whitespace()).count())
            .sum();
        println!("{name}: {} pages, {chars} characters", x.pages.len());
        assert!(chars > 0, "{name}");
    }
}

#[test]
fn encrypted_pdfs_still_ask_for_their_password_not_a_repair() {
    // The repair is tried when a PDF does not open; an encrypted one must
    // still say it needs its password.
    for name in [
        "enc_aes256_user-baz.pdf",
        "enc_aes256_user-password.pdf",
        "enc_libreoffice_user-openpassword.pdf",
        "enc_pdfplumber_user-test.pdf",
        "enc_rc4-128_user-baz.pdf",
        "enc_user-pw-nonascii_issue6010_2.pdf",
    ] {
        let path = shared().join("corpus/pdfs").join(name);
        let err = extract(
            &path,
            std::fs::read(&path).unwrap(),
            &LoadOptions::default(),
            Duration::from_secs(60),
        )
        .unwrap_err();
        assert_eq!(err.code(), "needs_password", "{name}: {err}");
    }
}

#[test]
fn regression_the_right_password_refused_by_the_pdf_library() {
    // lopdf rejected the right password of cpdf's RC4-128 and AES-256 files
    // and of a non-ASCII one ("wrong password"); poppler opens all three.
    // Every encrypted PDF of the corpus opens with its password, and says
    // so when given a wrong one.
    for row in std::fs::read_to_string(shared().join("corpus/pdfs/manifest.tsv"))
        .unwrap()
        .lines()
        .skip(1)
    {
        let c: Vec<&str> = row.split('\t').collect();
        if !c[1].starts_with("encrypted:user-password") {
            continue;
        }
        let (name, password) = (c[0], c[4]);
        let path = shared().join("corpus/pdfs").join(name);
        let read = |pw: &str| {
            extract(
                &path,
                std::fs::read(&path).unwrap(),
                &LoadOptions {
                    password: Some(pw.to_string()),
                    ..Default::default()
                },
                Duration::from_secs(60),
            )
        };
        let x = read(password).unwrap_or_else(|e| panic!("{name} with its password: {e}"));
        let chars: usize = x.pages.iter().map(|p| p.text.trim().chars().count()).sum();
        assert!(chars > 0, "{name}: no text");
        let err = read("not-the-password").unwrap_err();
        assert_eq!(err.code(), "wrong_password", "{name}: {err}");
    }
}
