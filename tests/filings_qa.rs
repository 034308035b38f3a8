//! Finding the evidence page in real filings: a few SEC filings and their
//! analyst questions from the FinanceBench development set
//! (`../shared/eval/financebench-dev`), imported together and searched as a
//! whole library through `quire eval --qa`'s own code. The naive LangChain
//! stack (PyPDFLoader + 1000/200 splitter + MiniLM + Chroma) found the
//! evidence page in its top 5 for 0.49 of the questions on the issue's
//! measured set. Quire's default pipeline finds it for 0.67 of these 15
//! questions (10; plain hybrid search 0.27), and the right page first for
//! 0.33: the test fails below 0.6 (well above the naive figure) or page@1
//! below 0.25, so losing one question of the ten passes and losing two fails.

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
    eprintln!(
        "ranked: doc@5 {:.3} page@1 {:.3} page@5 {:.3}; hybrid page@5 {:.3}",
        ranked.doc_at_5,
        ranked.page_at_1,
        ranked.page_at_5,
        score("hybrid").page_at_5
    );
    let misses: Vec<_> = report.found.iter().filter(|f| !f.page_at_5).collect();
    assert!(
        ranked.page_at_5 >= 0.6,
        "page@5 {:.3} (0.67 when written); missed: {misses:#?}",
        ranked.page_at_5
    );
    assert!(ranked.doc_at_5 >= 0.99, "doc@5 {:.3}", ranked.doc_at_5);
    assert!(
        ranked.page_at_1 >= 0.25,
        "page@1 {:.3} (0.33 when written)",
        ranked.page_at_1
    );
    // The default pipeline pays for itself over plain fusion.
    assert!(
        ranked.page_at_5 >= score("hybrid").page_at_5,
        "ranked {:.3} < hybrid {:.3}",
        ranked.page_at_5,
        score("hybrid").page_at_5
    );
}

/// Regression: a question naming two companies got five pages of the one it
/// names best ("Which had the higher total revenue in FY2022, Boeing or
/// Lockheed Martin?" found three Lockheed filings and no Boeing page). Each
/// company the question names now keeps a page among the results.
#[tokio::test(flavor = "multi_thread")]
async fn regression_a_question_naming_two_companies_finds_both_filings() {
    let dev = shared().join("eval/financebench-dev/pdfs");
    let (_dir, engine) = temp_engine().await;
    let files: Vec<_> = ["AMERICANEXPRESS_2022_10K", "BOEING_2022_10K"]
        .iter()
        .map(|f| dev.join(format!("{f}.pdf")))
        .collect();
    let results = engine
        .import(&files, &Default::default(), &NoProgress)
        .await
        .expect("import runs");
    assert!(results.iter().all(|r| r.error.is_none()), "{results:#?}");
    let opts = quire_engine::SearchOptions {
        limit: 5,
        ..Default::default()
    };
    for q in [
        "Which had the higher total revenue in FY2022, Boeing or American Express?",
        "Compare the total liabilities of American Express and Boeing at the end of 2022.",
    ] {
        let hits = engine.search(q, &opts).await.expect("search runs");
        let names: Vec<&str> = hits.iter().map(|h| h.name.as_str()).collect();
        for company in ["AMERICANEXPRESS", "BOEING"] {
            assert!(
                names.iter().any(|n| n.starts_with(company)),
                "{q}: no {company} page in {names:?}"
            );
        }
    }
}
