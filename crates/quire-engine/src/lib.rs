//! Quire's engine: a library of the user's documents on their own machine.
//!
//! It reads files ([`loader`]), splits them into chunks ([`chunk`]), embeds
//! them ([`embed`]), keeps chunks and vectors in LanceDB ([`store`]) and the
//! document records in SQLite ([`catalog`]), and answers hybrid searches
//! ([`search`]); it answers questions with an on-device language model
//! ([`llm`]), citing the passages it used ([`answer`], [`chat`]). It knows nothing of terminals, windows or IPC: the `quire`
//! CLI and the desktop app are thin shells over [`Engine`].

pub mod answer;
pub mod api;
mod ask;
#[cfg(feature = "bench")]
pub mod bench;
pub mod catalog;
pub mod chat;
pub mod chunk;
pub mod clients;
mod collections;
pub mod context;
pub mod digest;
pub mod embed;
pub mod error;
pub mod escalation;
pub mod eval;
pub mod grounding;
pub mod heap;
pub mod import;
pub mod library;
pub mod llm;
/// The readers (crate `quire-readers`): files into pages of text.
pub use quire_readers as loader;
mod models;
pub mod paths;
pub mod priority;
pub mod quote;
pub mod rank;
pub mod search;
pub mod settings;
pub mod statements;
pub mod store;
pub mod watch;

use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, RwLock};

pub use answer::{Answer, AnswerEvent, AnswerSink, CitationMethod, Source, Turn};
pub use api::{
    AskRequest, DocumentPage, DocumentQuery, DocumentSort, ImportRequest, Info, RunningAnswers,
    SearchRequest, SessionEvent, StatusCounts,
};
pub use ask::AskOptions;
pub use catalog::{Collection, DocumentInfo, Status};
pub use chat::{ChatInfo, ChatMessage, ChatScope};
pub use error::{Error, ErrorReport, FileProblem, Hint, Kind, Result};
pub use import::{
    AttachmentProblem, AttachmentResult, FileOutcome, FileResult, ImportEvent, ImportOptions,
    ImportProgress, ImportSummary, NoProgress,
};
pub use library::open_in_default_app;
pub use llm::{CancelToken, Generator, ModelInfo};
pub use loader::{Extracted, PageText};
pub use search::{SearchHit, SearchMode, SearchOptions};
pub use settings::Settings;

use catalog::Catalog;
use chunk::Chunker;
use embed::{Embedder, MiniLm};
use models::LoadedGenerator;
use store::{LanceStore, Store};

/// Serves as a reader worker process (the shells start their own binary with
/// a worker argument and call this): requests on stdin, replies on stdout,
/// at the background priority ([`priority`]) since reading is part of an
/// import. Returns the process's exit code.
pub fn serve_reader_worker() -> i32 {
    priority::lower_this_thread();
    loader::worker::serve()
}

/// The shells' log filter when `QUIRE_LOG` is not set: warnings, without
/// the storage and PDF libraries' own (a deprecation notice on every
/// full-text search, a PDF's harmless oddities).
pub const DEFAULT_LOG_FILTER: &str =
    "warn,lance=error,lancedb=error,lance_index=error,lopdf=error,pdf_extract=error,html5ever=error";

/// Where the engine keeps its data and finds its models.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    pub models_dir: PathBuf,
    /// How to start a reader worker process (the shell's own binary with
    /// its worker argument); `None` reads files in this process.
    pub reader_worker: Option<loader::worker::WorkerCommand>,
}

impl EngineConfig {
    /// The defaults, honouring `QUIRE_DATA_DIR` and `QUIRE_MODELS_DIR`.
    pub fn from_env() -> Self {
        let data_dir = paths::default_data_dir();
        let models_dir = paths::default_models_dir(&data_dir);
        EngineConfig {
            data_dir,
            models_dir,
            reader_worker: None,
        }
    }

    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        let models_dir = paths::default_models_dir(&data_dir);
        EngineConfig {
            data_dir,
            models_dir,
            reader_worker: None,
        }
    }
}

pub struct Engine {
    config: EngineConfig,
    catalog: Catalog,
    store: Arc<dyn Store>,
    embedder: Arc<dyn Embedder>,
    chunker: Arc<Chunker>,
    settings: RwLock<Settings>,
    /// Loaded on the first answer; one generation at a time.
    generator: Arc<Mutex<Option<LoadedGenerator>>>,
    generations: AtomicUsize,
    /// Questions matched against document headers ([`rank`]); rebuilt after changes.
    library_facts: tokio::sync::Mutex<Option<Arc<rank::LibraryFacts>>>,
    /// Reads files, in worker processes when the shell gave a command.
    readers: Arc<loader::worker::Pool>,
    /// Stops the imports running now ([`Engine::stop_imports`]).
    import_stop: Mutex<CancelToken>,
}

impl Engine {
    /// Opens (or creates) the library in `config.data_dir` with the default embedder.
    pub async fn open(config: EngineConfig) -> Result<Self> {
        heap::configure();
        let minilm_dir = config.models_dir.join(paths::MINILM_DIR);
        let embedder = tokio::task::spawn_blocking(move || MiniLm::load(&minilm_dir))
            .await
            .map_err(|e| Error::Bug(e.to_string()))??;
        heap::release_free();
        let chunker = Chunker::new(embedder.sizing_tokenizer(), chunk::DEFAULT_MAX_TOKENS)?;
        Self::with_parts(config, Arc::new(embedder), chunker).await
    }

    /// Opens the library with a given embedder and chunker (tests, other models).
    pub async fn with_parts(
        config: EngineConfig,
        embedder: Arc<dyn Embedder>,
        chunker: Chunker,
    ) -> Result<Self> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let catalog = Catalog::open(&dir.join("quire.sqlite")).await?;
        match catalog.meta("embedding_model").await? {
            Some(m) if m != embedder.model_id() => {
                return Err(Error::EmbeddingModelMismatch {
                    library: m,
                    engine: embedder.model_id().to_string(),
                })
            }
            Some(_) => {}
            None => {
                catalog
                    .set_meta("embedding_model", embedder.model_id())
                    .await?
            }
        }
        let store = LanceStore::open(&dir.join("lancedb"), embedder.dimension()).await?;
        let settings = Settings::load(&dir.join(settings::CONFIG_FILE))?;
        let readers = Arc::new(loader::worker::Pool::new(config.reader_worker.clone()));
        let engine = Engine {
            readers,
            config,
            catalog,
            store: Arc::new(store),
            embedder,
            chunker: Arc::new(chunker),
            settings: RwLock::new(settings),
            generator: Arc::new(Mutex::new(None)),
            generations: AtomicUsize::new(0),
            library_facts: tokio::sync::Mutex::new(None),
            import_stop: Mutex::new(CancelToken::new()),
        };
        engine.recover_imports().await?;
        Ok(engine)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    pub async fn close(self) {
        self.catalog.close().await;
    }
}
