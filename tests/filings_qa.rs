//! Finding the evidence page in real filings: a few SEC filings and their
//! analyst questions from the FinanceBench development set
//! (`../shared/eval/financebench-dev`), imported together and searched as a
//! whole library through `quire eval --qa`'s own code. The naive LangChain
//! stack (PyPDFLoader + 1000/200 splitter + MiniLM + Chroma) found the
//! evidence page in its top 5 for 0.49 of the questions on the issue's
//! measured set. Quire's default pipeline found 0.40 on these 15 questions
//! when this test was written (plain hybrid search far less): not yet above
//! the naive figure, so this is a regression guard at 0.35, to be raised as
//! retrieval improves.

use std::io::Write;

use quire_e2e::{shared, temp_engine};
use quire_engine::eval::qa;
use quire_engine::NoProgress;

/// Filings of two companies and a short earnings release: 15 questions.
const FILINGS: [&str; 3] = [
    "AMERICANEXPRESS_2022_10K",
    "BOEING_2022_10K",
    "JOHNSON_JOHNSON_2023Q2_EARNINGS",
];

#[tokio::test(flavor = "multi_thread")]
async fn evidence_pages_of_real_filings_are_found_no_worse_than_measured() {
    let dev = shared().join("eval/financebench-dev");
    let folder = tempfile::tempdir().expect("temp dir");
    let pdfs = folder.path().join("pdfs");
    std::fs::create_dir(&pdfs).unwrap();
    for f in FILINGS {
        std::fs::copy(
            dev.join(format!("pdfs/{f}.pdf")),
            pdfs.join(format!("{f}.pdf")),
        )
        .unwrap();
    }
    let all = std::fs::read_to_string(dev.join("questions.jsonl")).unwrap();
    let mut out = std::fs::File::create(folder.path().join("questions.jsonl")).unwrap();
    let mut n = 0;
    for line in all.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if FILINGS.contains(&v["doc"].as_str().unwrap_or("")) {
            writeln!(out, "{line}").unwrap();
            n += 1;
        }
    }
    drop(out);
    assert_eq!(n, 15, "the subset's questions");

    let (_dir, engine) = temp_engine().await;
    let report = qa::run(&engine, folder.path(), 0, &[], &NoProgress)
        .await
        .expect("the evaluation runs");
    assert_eq!(report.imported, 3, "failed: {:?}", report.failed);
    let score = |label: &str| {
        report
            .scores
            .iter()
            .find(|s| s.label == label)
            .unwrap_or_else(|| panic!("no {label} row"))
            .clone()
    };
    let ranked = score("ranked");
    let misses: Vec<_> = report.found.iter().filter(|f| !f.page_at_5).collect();
    assert!(
        ranked.page_at_5 >= 0.35,
        "page@5 {:.3} (0.40 when written); missed: {misses:#?}",
        ranked.page_at_5
    );
    assert!(ranked.doc_at_5 >= 0.99, "doc@5 {:.3}", ranked.doc_at_5);
    // The default pipeline pays for itself over plain fusion.
    assert!(
        ranked.page_at_5 >= score("hybrid").page_at_5,
        "ranked {:.3} < hybrid {:.3}",
        ranked.page_at_5,
        score("hybrid").page_at_5
    );
}
