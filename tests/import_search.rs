//! End to end in a temporary library: import a two-column PDF, a DOCX, an
//! HTML page and a cp1252 text file; questions find the right file and page in
//! every search mode; removing the PDF removes every one of its hits.

use std::path::PathBuf;

use quire_e2e::{corpus, import, import_ok, temp_engine};
use quire_engine::{
    Engine, FileOutcome, ImportOptions, NoProgress, SearchHit, SearchMode, SearchOptions,
};

const PDF: &str = "pdfs/arxiv_dpr_multi-column-2p.pdf";

fn files() -> Vec<PathBuf> {
    vec![
        corpus(PDF),
        corpus("docs/docx/handbook-1p.docx"),
        corpus("docs/html/fake-html-cp1252.html"),
        corpus("docs/txt/chardet_windows-1252.txt"),
    ]
}

async fn search(engine: &Engine, q: &str, mode: SearchMode, limit: usize) -> Vec<SearchHit> {
    engine
        .search(
            q,
            &SearchOptions {
                mode,
                limit,
                doc_ids: None,
            },
        )
        .await
        .expect("search runs")
}

fn top(hits: &[SearchHit]) -> (String, Option<u32>) {
    let h = hits.first().expect("at least one hit");
    (h.name.clone(), h.page)
}

#[tokio::test(flavor = "multi_thread")]
async fn import_search_and_remove() {
    let (_dir, engine) = temp_engine().await;
    let results = import_ok(&engine, &files()).await;
    let pdf = results
        .iter()
        .find(|r| r.path.ends_with("arxiv_dpr_multi-column-2p.pdf"))
        .unwrap();
    assert_eq!(pdf.pages, Some(2));

    let cases = [
        // The answer (65.2% vs. 42.9% top-5 accuracy) is on page 2 of the paper.
        (
            "How much better is the dense passage retriever than BM25 in top-5 accuracy?",
            "arxiv_dpr_multi-column-2p.pdf",
            Some(2),
        ),
        (
            "Who appoints and supervises standing trustees?",
            "handbook-1p.docx",
            None,
        ),
        (
            "Der Preis für Kaffee und Kuchen war köstlich",
            "fake-html-cp1252.html",
            None,
        ),
        (
            "Stipan Arkadiewitsch berouw over zijn vrouw",
            "chardet_windows-1252.txt",
            None,
        ),
    ];
    let mut snapshot = Vec::new();
    for (q, file, page) in cases {
        for mode in SearchMode::ALL {
            let hits = search(&engine, q, mode, 3).await;
            assert_eq!(top(&hits), (file.to_string(), page), "{mode:?}: {q}");
            snapshot.push(format!(
                "{} | {q} | {}",
                mode.as_str(),
                hits.iter()
                    .map(|h| format!("{} p{:?}", h.name, h.page))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    insta::assert_yaml_snapshot!("retrieval_top3", snapshot);

    // The cp1252 bytes were decoded, not mangled.
    let html = search(&engine, "Der Preis betrug 15,50", SearchMode::Bm25, 5).await;
    let all: String = html.iter().map(|h| h.text.as_str()).collect();
    assert!(all.contains("köstlich") && all.contains("15,50 €"), "{all}");
    assert!(!all.contains('\u{fffd}'));

    // Removing the PDF removes every one of its hits, in every mode.
    let removed = engine
        .remove("arxiv_dpr_multi-column-2p.pdf")
        .await
        .unwrap();
    for mode in SearchMode::ALL {
        for q in [
            "dense passage retriever",
            "BM25 top-5 accuracy",
            "open-domain question answering",
        ] {
            let hits = search(&engine, q, mode, 100).await;
            assert!(
                hits.iter().all(|h| h.doc_id != removed.id),
                "{mode:?} still finds the removed PDF for {q}"
            );
        }
    }
    assert!(engine
        .documents()
        .await
        .unwrap()
        .iter()
        .all(|d| d.id != removed.id));
    // The other documents are still there.
    let hits = search(
        &engine,
        "Who appoints and supervises standing trustees?",
        SearchMode::Hybrid,
        3,
    )
    .await;
    assert_eq!(top(&hits).0, "handbook-1p.docx");
}

#[tokio::test(flavor = "multi_thread")]
async fn encrypted_pdf_needs_and_takes_a_password() {
    let (_dir, engine) = temp_engine().await;
    let file = vec![corpus("pdfs/enc_aes256_user-password.pdf")];
    let code = |r: &[quire_engine::FileResult]| r[0].error.as_ref().map(|e| e.code.clone());

    let r = import(&engine, &file).await;
    assert_eq!(code(&r).as_deref(), Some("needs_password"));

    let mut opts = ImportOptions::default();
    opts.load.password = Some("not-it".into());
    let r = engine.import(&file, &opts, &NoProgress).await.unwrap();
    assert_eq!(code(&r).as_deref(), Some("wrong_password"));

    opts.load.password = Some("password".into());
    let r = engine.import(&file, &opts, &NoProgress).await.unwrap();
    assert_eq!(r[0].outcome, FileOutcome::Imported, "{:?}", r[0].error);
    let hits = search(&engine, "Here's to the crazy ones", SearchMode::Bm25, 3).await;
    assert_eq!(
        top(&hits),
        ("enc_aes256_user-password.pdf".to_string(), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_file_replaces_its_chunks() {
    let (dir, engine) = temp_engine().await;
    let file = dir.path().join("notes.md");
    let write_and_import = |text: &str| {
        std::fs::write(&file, text).unwrap();
        import(&engine, std::slice::from_ref(&file))
    };
    let r = write_and_import("# Budget\n\nThe orchard budget for apples is 400 euros.").await;
    assert_eq!(r[0].outcome, FileOutcome::Imported);
    let r = import(&engine, std::slice::from_ref(&file)).await;
    assert_eq!(r[0].outcome, FileOutcome::Unchanged);

    let r = write_and_import("# Budget\n\nThe vineyard budget for grapes is 900 euros.").await;
    assert_eq!(r[0].outcome, FileOutcome::Imported);
    let hits = search(&engine, "orchard apples", SearchMode::Bm25, 10).await;
    assert!(
        hits.iter().all(|h| !h.text.contains("orchard")),
        "old text still found"
    );
    let hits = search(&engine, "vineyard grapes", SearchMode::Bm25, 10).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(engine.chunk_count().await.unwrap(), 1);
}
