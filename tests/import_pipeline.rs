//! The concurrent import pipeline: files read side by side, passages of many
//! files embedded in shared batches and written in groups give the same
//! library as importing the files one at a time; a stopped import keeps what
//! it did and its resume finishes the rest without embedding anything again.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use quire_e2e::{corpus, temp_engine};
use quire_engine::{
    DocumentInfo, Engine, FileOutcome, ImportEvent, ImportOptions, NoProgress, SearchMode,
    SearchOptions,
};

fn files() -> Vec<PathBuf> {
    vec![
        corpus("pdfs/arxiv_dpr_multi-column-2p.pdf"),
        corpus("docs/docx/handbook-1p.docx"),
        corpus("docs/html/fake-html-cp1252.html"),
        corpus("docs/html/sec-10k-example-1p.html"),
        corpus("docs/md/eng_spa_mult.md"),
        corpus("docs/txt/chardet_windows-1252.txt"),
        corpus("pdfs/broken_invalid-header-eof-only.pdf"),
    ]
}

const QUERIES: [&str; 4] = [
    "How much better is the dense passage retriever than BM25?",
    "Who appoints and supervises standing trustees?",
    "Der Preis für Kaffee und Kuchen",
    "annual report fiscal year revenue",
];

/// What a library holds, as comparable values: each document's name,
/// status and passage count, and the dense hits (passage, score) of a few
/// queries — equal scores mean equal vectors for the passages they reach.
async fn contents(engine: &Engine) -> (Vec<(String, String, u32)>, Vec<Vec<(String, f32)>>) {
    let mut docs: Vec<(String, String, u32)> = engine
        .documents()
        .await
        .unwrap()
        .into_iter()
        .map(|d: DocumentInfo| (d.name, format!("{:?}", d.status), d.chunks))
        .collect();
    docs.sort();
    let mut hits = Vec::new();
    for q in QUERIES {
        let found = engine
            .search(
                q,
                &SearchOptions {
                    mode: SearchMode::Dense,
                    limit: 8,
                    doc_ids: None,
                },
            )
            .await
            .unwrap();
        hits.push(
            found
                .into_iter()
                .map(|h| (format!("{}:{}", h.name, h.text), h.score))
                .collect(),
        );
    }
    (docs, hits)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pipeline_gives_the_same_library_as_one_file_at_a_time() {
    let (_a, together) = temp_engine().await;
    let opts = ImportOptions {
        // Several write groups, as a large import has.
        write_rows: 20,
        ..Default::default()
    };
    together.import(&files(), &opts, &NoProgress).await.unwrap();
    let (_b, apart) = temp_engine().await;
    for f in files() {
        apart
            .import(&[f], &ImportOptions::default(), &NoProgress)
            .await
            .unwrap();
    }
    let (docs_a, hits_a) = contents(&together).await;
    let (docs_b, hits_b) = contents(&apart).await;
    assert_eq!(docs_a, docs_b);
    let total: u32 = docs_a.iter().map(|d| d.2).sum();
    assert_eq!(together.chunk_count().await.unwrap(), total as usize);
    assert_eq!(apart.chunk_count().await.unwrap(), total as usize);
    for (q, (a, b)) in QUERIES.iter().zip(hits_a.iter().zip(&hits_b)) {
        assert_eq!(a.len(), b.len(), "{q}");
        for ((pa, sa), (pb, sb)) in a.iter().zip(b) {
            assert_eq!(pa, pb, "{q}");
            assert!((sa - sb).abs() < 1e-4, "{q}: {sa} vs {sb}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_import_keeps_its_work_and_resumes_without_embedding_again() {
    let (_dir, engine) = temp_engine().await;
    let opts = ImportOptions {
        write_rows: 1,
        ..Default::default()
    };
    // Stop as soon as the first file is done.
    let stop = opts.stop.clone();
    let summary = Arc::new(Mutex::new(None));
    let seen = summary.clone();
    let progress = move |e: &ImportEvent| match e {
        ImportEvent::FileFinished { .. } => stop.cancel(),
        ImportEvent::Finished { summary } => *seen.lock().unwrap() = Some(summary.clone()),
        _ => {}
    };
    let first = engine.import(&files(), &opts, &progress).await.unwrap();
    let summary = summary.lock().unwrap().clone().unwrap();
    assert!(!first.is_empty());
    assert!(
        summary.left > 0,
        "the stop came too late to leave files: {summary:?}"
    );
    assert_eq!(first.len() + summary.left, files().len());
    let queued = engine.queued_imports().await.unwrap();
    assert_eq!(queued.len(), summary.left);
    // What was done is whole and searchable.
    let docs = engine.documents().await.unwrap();
    let imported: u32 = docs
        .iter()
        .filter(|d| d.status == quire_engine::Status::Imported)
        .map(|d| d.chunks)
        .sum();
    assert_eq!(engine.chunk_count().await.unwrap(), imported as usize);

    let rest = engine
        .resume_import(&ImportOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(rest.len(), summary.left);
    for r in &rest {
        assert!(
            !first.iter().any(|f| f.path == r.path),
            "{} was done before the stop and read again",
            r.path
        );
    }
    assert!(engine.queued_imports().await.unwrap().is_empty());
    let docs = engine.documents().await.unwrap();
    assert_eq!(docs.len(), files().len());
    let total: u32 = docs.iter().map(|d| d.chunks).sum();
    assert_eq!(engine.chunk_count().await.unwrap(), total as usize);
    assert_eq!(
        first
            .iter()
            .chain(&rest)
            .filter(|r| r.outcome == FileOutcome::Failed)
            .count(),
        1
    );
    // Nothing left: resuming again does nothing.
    assert!(engine
        .resume_import(&ImportOptions::default(), &NoProgress)
        .await
        .unwrap()
        .is_empty());
}

/// An embedder that notes the priority (nice value) of each call's thread.
struct NotingEmbedder {
    inner: Arc<quire_engine::embed::MiniLm>,
    nices: Mutex<Vec<(usize, Option<i32>)>>,
}

impl quire_engine::embed::Embedder for NotingEmbedder {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
    fn dimension(&self) -> usize {
        self.inner.dimension()
    }
    fn embed(&self, texts: &[&str]) -> quire_engine::Result<Vec<Vec<f32>>> {
        let nice = quire_engine::priority::this_thread_nice();
        self.nices.lock().unwrap().push((texts.len(), nice));
        self.inner.embed(texts)
    }
}

/// Searches during an import took ~100 ms instead of ~14 ms (BENCHMARKS.md,
/// issue 18): the import's embedding and the query's shared one pool, and a
/// query's products waited behind the import's. The import now embeds on
/// the background pool, below the priority of everything a user waits for.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn regression_a_search_during_an_import_queued_behind_its_embedding() {
    let dir = tempfile::Builder::new()
        .prefix("quire-test-")
        .tempdir()
        .unwrap();
    let minilm = Arc::new(
        quire_engine::embed::MiniLm::load(&quire_e2e::models_dir().join("all-MiniLM-L6-v2"))
            .unwrap(),
    );
    let chunker = quire_engine::chunk::Chunker::new(
        minilm.sizing_tokenizer(),
        quire_engine::chunk::DEFAULT_MAX_TOKENS,
    )
    .unwrap();
    let noting = Arc::new(NotingEmbedder {
        inner: minilm,
        nices: Mutex::new(Vec::new()),
    });
    let config = quire_engine::EngineConfig {
        data_dir: dir.path().to_path_buf(),
        models_dir: quire_e2e::models_dir(),
        reader_worker: None,
    };
    let engine = Engine::with_parts(config, noting.clone(), chunker)
        .await
        .unwrap();
    let foreground = quire_engine::priority::this_thread_nice().unwrap();
    let background = foreground.max(quire_engine::priority::BACKGROUND_NICE);
    assert!(
        background > foreground,
        "the test runs at the lowest priority already"
    );

    let results = engine
        .import(&files()[..2], &ImportOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert!(results.iter().all(|r| r.outcome == FileOutcome::Imported));
    let imported = std::mem::take(&mut *noting.nices.lock().unwrap());
    assert!(!imported.is_empty());
    for (n, nice) in &imported {
        assert_eq!(
            *nice,
            Some(background),
            "a batch of {n} passages of the import"
        );
    }

    let hits = engine
        .search(QUERIES[0], &SearchOptions::default())
        .await
        .unwrap();
    assert!(!hits.is_empty());
    let searched = std::mem::take(&mut *noting.nices.lock().unwrap());
    assert!(!searched.is_empty());
    for (_, nice) in &searched {
        assert_eq!(*nice, Some(foreground), "the query's embedding");
    }
}
