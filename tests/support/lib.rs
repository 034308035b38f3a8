//! Shared helpers for Quire's end-to-end tests: where the shared test data and
//! the models are, and a fresh engine in a temporary data directory.

use std::path::PathBuf;

use quire_engine::{Engine, EngineConfig, FileOutcome, FileResult, ImportOptions, NoProgress};

/// The repository root. Read from cargo's run-time environment first: the build cache is
/// shared between checkouts (`.ci/run` reuses it), and a test binary built for another
/// checkout would otherwise look for the models and data in that one.
pub fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("..")
}

/// `../shared` beside the checkout, or `$QUIRE_SHARED`. Missing data fails the test loudly.
pub fn shared() -> PathBuf {
    let dir = std::env::var_os("QUIRE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"));
    assert!(
        dir.join("fixtures").is_dir(),
        "shared test data not found at {} (set QUIRE_SHARED)",
        dir.display()
    );
    dir
}

pub fn corpus(rel: &str) -> PathBuf {
    let p = shared().join("corpus").join(rel);
    assert!(p.exists(), "missing corpus file {}", p.display());
    p
}

/// `models/` of the checkout, or `$QUIRE_MODELS_DIR`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("QUIRE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("models"))
}

/// A fresh library in a temporary directory (removed when the guard drops).
pub async fn temp_engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::Builder::new()
        .prefix("quire-test-")
        .tempdir()
        .expect("temp dir");
    let config = EngineConfig {
        data_dir: dir.path().to_path_buf(),
        models_dir: models_dir(),

        reader_worker: None,
    };
    let engine = Engine::open(config)
        .await
        .expect("engine opens (are the models fetched? `npm run fetch-models`)");
    (dir, engine)
}

/// Imports `files` with the default options; each file's result.
pub async fn import(engine: &Engine, files: &[PathBuf]) -> Vec<FileResult> {
    engine
        .import(files, &ImportOptions::default(), &NoProgress)
        .await
        .expect("the import runs")
}

/// [`import`], checking that every file was imported.
pub async fn import_ok(engine: &Engine, files: &[PathBuf]) -> Vec<FileResult> {
    let results = import(engine, files).await;
    for r in &results {
        assert_eq!(
            r.outcome,
            FileOutcome::Imported,
            "{}: {:?}",
            r.path,
            r.error
        );
    }
    results
}
