//! Importing every file of the shared corpus: nothing crashes or hangs, every
//! file ends imported or failed with a reason, and the reasons are the right
//! ones for the awkward kinds (encrypted, scanned, broken).

use std::collections::BTreeMap;
use std::path::PathBuf;

use quire_e2e::{shared, temp_engine};
use quire_engine::{FileOutcome, ImportOptions, NoProgress, SearchOptions, Status};

struct ManifestRow {
    file: String,
    kind: String,
    password: String,
    /// poppler's `pdftotext` opened it (`ok`, `warnings`) or not (`error`).
    poppler_status: String,
    /// Non-whitespace characters `pdftotext` extracted.
    poppler_text_chars: usize,
}

fn pdf_manifest() -> Vec<ManifestRow> {
    let text = std::fs::read_to_string(shared().join("corpus/pdfs/manifest.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (f, k, p) = (col("file"), col("kind"), col("password"));
    let (ps, pc) = (col("poppler_status"), col("poppler_text_chars"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            ManifestRow {
                file: c[f].into(),
                kind: c[k].into(),
                password: c[p].into(),
                poppler_status: c[ps].into(),
                poppler_text_chars: c[pc].parse().unwrap_or(0),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_corpus_imports_or_fails_with_reasons() {
    let (_dir, engine) = temp_engine().await;
    let inputs: Vec<PathBuf> = vec![shared().join("corpus/pdfs"), shared().join("corpus/docs")];
    let results = engine
        .import(&inputs, &ImportOptions::default(), &NoProgress)
        .await
        .expect("import runs");

    let on_disk = inputs.iter().flat_map(|d| walk(d)).count();
    assert_eq!(results.len(), on_disk, "every file gets a result");

    let by_name: BTreeMap<String, _> = results
        .iter()
        .map(|r| {
            (
                PathBuf::from(&r.path)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                r,
            )
        })
        .collect();
    for r in &results {
        match r.outcome {
            FileOutcome::Imported => assert!(r.chunks > 0, "{} imported with no chunks", r.path),
            FileOutcome::Failed => {
                let e = r.error.as_ref().expect("a failure has a reason");
                assert!(!e.code.is_empty() && e.message.contains(&r.path), "{e:?}");
            }
            FileOutcome::Unchanged | FileOutcome::Moved => {
                panic!("fresh library cannot have unchanged or moved files")
            }
        }
    }

    let mut table: BTreeMap<String, (usize, usize, BTreeMap<String, usize>)> = BTreeMap::new();
    for row in pdf_manifest() {
        let r = by_name
            .get(&row.file)
            .unwrap_or_else(|| panic!("no result for {}", row.file));
        let code = r.error.as_ref().map(|e| e.code.clone());
        if !row.password.is_empty() {
            assert_eq!(code.as_deref(), Some("needs_password"), "{}", row.file);
        }
        // Scans are recognised (Tesseract, installed by the set-up).
        if row.kind.starts_with("scanned") {
            assert_eq!(
                r.outcome,
                FileOutcome::Imported,
                "{}: {:?}",
                row.file,
                r.error
            );
            assert!(r.chunks > 0, "{}", row.file);
        }
        if matches!(
            row.kind.as_str(),
            "multipage-text" | "multipage-book" | "multipage-academic" | "table"
        ) {
            assert_eq!(
                r.outcome,
                FileOutcome::Imported,
                "{}: {:?}",
                row.file,
                r.error
            );
        }
        // Every PDF poppler opens and finds text in, Quire imports (issue 19):
        // a damaged one (`broken_helloworld-bad`: "Hello, world!" alone) and
        // a Japanese one whose fonts need poppler's CMaps (`ja_jo`) included.
        if row.password.is_empty() && row.poppler_status != "error" && row.poppler_text_chars > 0 {
            assert_eq!(
                r.outcome,
                FileOutcome::Imported,
                "{}: {:?}",
                row.file,
                r.error
            );
        }
        let entry = table.entry(row.kind.clone()).or_default();
        match &code {
            None => entry.0 += 1,
            Some(c) => {
                entry.1 += 1;
                *entry.2.entry(c.clone()).or_default() += 1;
            }
        }
    }
    // The owner-password-only PDFs open without a password.
    for name in ["dmca.pdf", "ja_kampo.pdf"] {
        assert_eq!(by_name[name].outcome, FileOutcome::Imported, "{name}");
    }
    // Office files, e-books, RTF and e-mail are read (issue 19): the corpus
    // holds no file of a format Quire does not know any more.
    for r in &results {
        let code = r.error.as_ref().map(|e| e.code.as_str());
        assert_ne!(code, Some("unsupported_format"), "{}", r.path);
    }
    for name in [
        "fake-power-point-table.pptx",
        "group-shapes-nested.pptx",
        "sample-presentation.pptx",
        "science-exploration-1p.pptx",
        "2023-half-year-analyses-by-segment.xlsx",
        "calamine_any_sheets.xlsx",
        "calamine_any_sheets.ods",
        "emoji.xlsx",
        "vodafone.xlsx",
        "tests-example.xls",
        "eng_spa_mult.epub",
        "pandoc-wasteland.epub",
        "winter-sports-gutenberg.epub",
        "fake.odt",
        "fake-doc.rtf",
        "fake-email.eml",
        "simple.doc",
    ] {
        let r = by_name[name];
        assert_eq!(r.outcome, FileOutcome::Imported, "{name}: {:?}", r.error);
        assert!(r.chunks > 0, "{name}");
    }
    // Slides, sheets and chapters are the pages a citation points at.
    for name in [
        "sample-presentation.pptx",
        "calamine_any_sheets.xlsx",
        "winter-sports-gutenberg.epub",
    ] {
        assert!(
            by_name[name].pages.is_some_and(|p| p > 1),
            "{name}: {:?}",
            by_name[name].pages
        );
    }
    for (name, code) in [
        ("empty.txt", "empty"),
        ("password_protected.xlsx", "unsupported_encryption"),
        ("broken_invalid-header-eof-only.pdf", "damaged"),
    ] {
        assert_eq!(
            by_name[name].error.as_ref().map(|e| e.code.as_str()),
            Some(code),
            "{name}"
        );
    }
    println!("PDF kind | imported | failed (reasons)");
    for (kind, (ok, failed, reasons)) in &table {
        println!("{kind} | {ok} | {failed} {reasons:?}");
    }

    // Nothing is left half-imported.
    let docs = engine.documents().await.unwrap();
    assert!(docs.iter().all(|d| d.status != Status::Importing));

    // A passage OCR recognised says so, in search results and in an answer's
    // sources (the UI marks it); a text layer's passage does not.
    let id_of = |name: &str| {
        docs.iter()
            .find(|d| d.name == name)
            .map(|d| d.id.clone())
            .unwrap_or_else(|| panic!("{name} in the library"))
    };
    for (name, query, ocr) in [
        ("scan_linn-two-column.pdf", "the species of the genus", true),
        ("scan_cardinal-rotations.pdf", "the page", true),
        ("tracemonkey.pdf", "trace compilation", false),
    ] {
        let opts = SearchOptions {
            doc_ids: Some(vec![id_of(name)]),
            ..Default::default()
        };
        let hits = engine.search(query, &opts).await.unwrap();
        assert!(!hits.is_empty(), "{name}");
        assert!(
            hits.iter().all(|h| h.ocr == ocr),
            "{name}: {:?}",
            hits.iter().map(|h| h.ocr).collect::<Vec<_>>()
        );
        let (sources, _) = engine
            .retrieve(query, 3, Some(&[id_of(name)][..]))
            .await
            .unwrap();
        assert!(sources.iter().all(|h| h.ocr == ocr), "{name} as a source");
    }

    // Importing again does no work.
    let again = engine
        .import(&inputs, &ImportOptions::default(), &NoProgress)
        .await
        .unwrap();
    for r in &again {
        let prev = results.iter().find(|p| p.path == r.path).unwrap();
        match prev.outcome {
            FileOutcome::Imported => assert_eq!(r.outcome, FileOutcome::Unchanged, "{}", r.path),
            _ => assert_eq!(
                r.error.as_ref().map(|e| &e.code),
                prev.error.as_ref().map(|e| &e.code)
            ),
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
