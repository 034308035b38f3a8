//! The shell API, declared once: what the desktop window and `quire serve`
//! receive from the UI and send back, and the answering session both run.
//!
//! A shell only moves these values across its transport (Tauri commands and
//! channels, HTTP and server-sent events); the checks (an empty question, a
//! search mode, the largest `k`) and the session's rules (an id to stop it
//! with, stopped when nobody reads it any more) live here, so both shells
//! behave the same. The UI's TypeScript types are generated from these and the
//! engine's other API types (`ui/src/api/generated.ts`, see `tests/api_types.rs`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::answer::AnswerEvent;
use crate::chat::ChatScope;
use crate::llm::CancelToken;
use crate::search::{SearchHit, SearchMode, SearchOptions};
use crate::settings::Settings;
use crate::{AskOptions, Engine, Error, ErrorReport, ImportOptions, Result};

/// The most passages one search returns.
pub const MAX_K: usize = 100;

/// A question as the app's shells receive it (HTTP body, Tauri command argument).
#[derive(Debug, Clone, Default, Deserialize, TS)]
pub struct AskRequest {
    pub question: String,
    /// Ask within this saved chat.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub chat_id: Option<i64>,
    /// Start a new saved chat (ignored with `chat_id`).
    #[serde(default)]
    #[ts(as = "Option<bool>", optional)]
    pub new_chat: bool,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub scope: Option<ChatScope>,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub settings: Option<Settings>,
}

impl AskRequest {
    /// Refuses what cannot be answered (an empty question) before a session starts.
    pub fn validate(&self) -> Result<()> {
        if self.question.trim().is_empty() {
            return Err(Error::InvalidInput("the question is empty".into()));
        }
        Ok(())
    }
}

/// An import of paths on this machine as the shells receive it.
#[derive(Debug, Clone, Default, Deserialize, TS)]
pub struct ImportRequest {
    pub paths: Vec<PathBuf>,
    /// The password of encrypted PDFs among them.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub password: Option<String>,
    /// Read files again even when unchanged.
    #[serde(default)]
    #[ts(as = "Option<bool>", optional)]
    pub force: bool,
}

impl ImportRequest {
    /// Refuses an import of nothing; the import options it stands for.
    pub fn options(&self) -> Result<ImportOptions> {
        if self.paths.is_empty() {
            return Err(Error::InvalidInput("no paths to import".into()));
        }
        let mut opts = ImportOptions {
            force: self.force,
            ..Default::default()
        };
        opts.load.password = self.password.clone();
        Ok(opts)
    }
}

/// A search as the shells receive it: the query, a mode name, how many.
#[derive(Debug, Clone, Default, Deserialize, TS)]
pub struct SearchRequest {
    pub q: String,
    #[serde(default)]
    #[ts(optional)]
    pub mode: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    pub k: Option<usize>,
}

impl SearchRequest {
    /// The options it stands for: the mode parsed (default: ranked), `k` ≤ [`MAX_K`].
    pub fn options(&self) -> Result<SearchOptions> {
        let mode: SearchMode = match self.mode.as_deref() {
            None => crate::rank::DEFAULT_MODE,
            Some(m) => m.parse()?,
        };
        Ok(SearchOptions {
            mode,
            limit: self.k.unwrap_or(10).clamp(1, MAX_K),
            doc_ids: None,
        })
    }
}

/// The most documents one page of the document list holds.
pub const MAX_PAGE: usize = 1000;

/// What the document list is sorted by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum DocumentSort {
    #[default]
    Name,
    Status,
    Pages,
    Chunks,
    Size,
    Added,
    Updated,
}

/// A page of the document list as the shells receive it: where it starts,
/// how many, sorted by what, filtered by status and by text. Without a
/// `limit`, every document from `offset` on.
#[derive(Debug, Clone, Default, Deserialize, TS)]
pub struct DocumentQuery {
    #[serde(default)]
    #[ts(optional)]
    pub offset: Option<usize>,
    #[serde(default)]
    #[ts(optional)]
    pub limit: Option<usize>,
    #[serde(default)]
    #[ts(optional)]
    pub sort: Option<DocumentSort>,
    /// Largest first.
    #[serde(default)]
    #[ts(optional)]
    pub desc: Option<bool>,
    #[serde(default)]
    #[ts(optional)]
    pub status: Option<crate::Status>,
    /// Text in the name, title or path (case-insensitive).
    #[serde(default)]
    #[ts(optional)]
    pub q: Option<String>,
}

impl DocumentQuery {
    /// The query with `limit` at most [`MAX_PAGE`] (none: the whole list).
    pub fn checked(&self) -> Self {
        Self {
            limit: self.limit.map(|l| l.min(MAX_PAGE)),
            ..self.clone()
        }
    }
}

/// How many documents of each status match a query's text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
pub struct StatusCounts {
    pub all: usize,
    pub imported: usize,
    pub importing: usize,
    pub failed: usize,
}

impl StatusCounts {
    /// The count of one status; of all of them for `None`.
    pub fn of(&self, status: Option<crate::Status>) -> usize {
        match status {
            None => self.all,
            Some(crate::Status::Imported) => self.imported,
            Some(crate::Status::Importing) => self.importing,
            Some(crate::Status::Failed) => self.failed,
        }
    }

    /// Counts `n` more documents of `status` (and of all).
    pub fn add(&mut self, status: crate::Status, n: usize) {
        match status {
            crate::Status::Imported => self.imported += n,
            crate::Status::Importing => self.importing += n,
            crate::Status::Failed => self.failed += n,
        }
        self.all += n;
    }
}

/// One page of the document list.
#[derive(Debug, Clone, Serialize, TS)]
pub struct DocumentPage {
    pub documents: Vec<crate::DocumentInfo>,
    /// How many documents match the query (all pages).
    pub total: usize,
    /// Where this page starts in that list.
    pub offset: usize,
    /// Documents of each status among those matching the text (not the status).
    pub counts: StatusCounts,
    /// How many documents the library holds, whatever the query.
    pub library: usize,
}

/// What the app shows about itself: version, folders, the answering model.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Info {
    pub version: String,
    pub data_dir: PathBuf,
    pub models_dir: PathBuf,
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<PathBuf>,
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_present: Option<bool>,
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunks: Option<usize>,
    /// Why the library could not be opened (the desktop app starts anyway).
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_error: Option<ErrorReport>,
    /// `desktop` in the window; absent from `quire serve`.
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// The languages scans and images can be recognised in here (Tesseract's
    /// codes, e.g. `eng`, `deu`); empty when Tesseract is not installed.
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ocr_languages: Option<Vec<String>>,
}

impl Info {
    /// The info of a library that could not be opened.
    pub fn without_engine(
        config: &crate::EngineConfig,
        version: &str,
        error: Option<ErrorReport>,
    ) -> Info {
        Info {
            version: version.to_string(),
            data_dir: config.data_dir.clone(),
            models_dir: config.models_dir.clone(),
            model: None,
            model_present: None,
            chunks: None,
            engine_error: error,
            shell: None,
            ocr_languages: None,
        }
    }
}

/// What an answering session streams: `started` (with the id that stops it),
/// the engine's [`AnswerEvent`]s, then `chat` when the answer was saved in one.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SessionEvent {
    Started {
        answer_id: u64,
    },
    Chat {
        id: i64,
    },
    #[serde(untagged)]
    Answer(AnswerEvent),
}

/// Answers being generated, by id, so that a shell can stop one from another
/// request; [`RunningAnswers::answer`] is the one answering session.
#[derive(Default)]
pub struct RunningAnswers {
    next: AtomicU64,
    running: Mutex<std::collections::HashMap<u64, CancelToken>>,
}

impl RunningAnswers {
    /// Registers a new answer: its id and the token that stops it.
    pub fn start(&self) -> (u64, CancelToken) {
        let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let token = CancelToken::new();
        if let Ok(mut r) = self.running.lock() {
            r.insert(id, token.clone());
        }
        (id, token)
    }

    /// Stops an answer; false when no answer with that id is running.
    pub fn stop(&self, id: u64) -> bool {
        let token = self.running.lock().ok().and_then(|r| r.get(&id).cloned());
        if let Some(t) = &token {
            t.cancel();
        }
        token.is_some()
    }

    /// Stops every running answer (their page reloaded or its window
    /// closed: nobody reads them); how many were running.
    pub fn stop_all(&self) -> usize {
        let tokens: Vec<CancelToken> = self
            .running
            .lock()
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default();
        for t in &tokens {
            t.cancel();
        }
        tokens.len()
    }

    pub fn finish(&self, id: u64) {
        if let Ok(mut r) = self.running.lock() {
            r.remove(&id);
        }
    }

    /// One answering session: checks the request, sends `started`, streams
    /// the answer and sends `chat` when it was saved in one. `send` returns
    /// false once nobody receives the events (a closed connection or window):
    /// the answer is then stopped, as if the user had pressed Stop. Errors
    /// after `started` go out as an `error` event and are returned too.
    pub async fn answer(
        &self,
        engine: &Engine,
        req: &AskRequest,
        send: &mut (dyn FnMut(&SessionEvent) -> bool + Send),
    ) -> Result<Option<i64>> {
        req.validate()?;
        let (id, cancel) = self.start();
        let finish = Finish { answers: self, id };
        if !send(&SessionEvent::Started { answer_id: id }) {
            cancel.cancel();
        }
        let stop = cancel.clone();
        let mut sink = |e: &AnswerEvent| {
            if !send(&SessionEvent::Answer(e.clone())) {
                stop.cancel();
            }
        };
        let chat = engine.answer_request(req, &cancel, &mut sink).await;
        drop(finish);
        if let Ok(Some(chat)) = &chat {
            send(&SessionEvent::Chat { id: *chat });
        }
        chat
    }
}

/// Forgets a session's id however it ends (finished, failed, or dropped).
struct Finish<'a> {
    answers: &'a RunningAnswers,
    id: u64,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.answers.finish(self.id);
    }
}

impl Engine {
    /// Answers a shell's request, in a saved chat when it asks for one;
    /// returns that chat's id.
    pub async fn answer_request(
        &self,
        req: &AskRequest,
        cancel: &CancelToken,
        sink: crate::answer::AnswerSink<'_>,
    ) -> Result<Option<i64>> {
        let opts = AskOptions {
            settings: req.settings.clone(),
            scope: req.scope.clone().unwrap_or_default(),
            history: Vec::new(),
        };
        if req.chat_id.is_some() || req.new_chat {
            self.chat_ask(req.chat_id, &req.question, &opts, cancel, sink)
                .await
                .map(|(chat, _)| Some(chat))
        } else {
            self.ask(&req.question, &opts, cancel, sink)
                .await
                .map(|_| None)
        }
    }

    /// A search as a shell asked for it.
    pub async fn search_request(&self, req: &SearchRequest) -> Result<Vec<SearchHit>> {
        self.search(&req.q, &req.options()?).await
    }

    /// The app's info for a shell (`shell`: `Some("desktop")` in the window).
    pub async fn info(&self, version: &str, shell: Option<&str>) -> Result<Info> {
        let model = self.model_path(&self.settings());
        // `tesseract --list-langs`, asked each time: a language installed
        // while the app runs shows up.
        let ocr = tokio::task::spawn_blocking(crate::loader::ocr::installed)
            .await
            .map_err(|e| Error::Bug(e.to_string()))?;
        Ok(Info {
            ocr_languages: Some(ocr),
            model_present: Some(model.is_file()),
            model: Some(model),
            chunks: Some(self.chunk_count().await?),
            shell: shell.map(str::to_string),
            ..Info::without_engine(&self.config, version, None)
        })
    }
}

/// The UI's TypeScript types for every API type, as `ui/src/api/generated.ts`
/// holds them (64-bit integers as `number`: ids and sizes stay below 2^53).
pub fn typescript() -> String {
    use crate::*;
    let cfg = ts_rs::Config::new().with_large_int("number");
    let decls = [
        Hint::decl(&cfg),
        Kind::decl(&cfg),
        ErrorReport::decl(&cfg),
        Info::decl(&cfg),
        Status::decl(&cfg),
        DocumentInfo::decl(&cfg),
        DocumentSort::decl(&cfg),
        DocumentQuery::decl(&cfg),
        StatusCounts::decl(&cfg),
        DocumentPage::decl(&cfg),
        Collection::decl(&cfg),
        FileOutcome::decl(&cfg),
        import::AttachmentProblem::decl(&cfg),
        import::AttachmentResult::decl(&cfg),
        FileResult::decl(&cfg),
        ImportSummary::decl(&cfg),
        ImportEvent::decl(&cfg),
        Source::decl(&cfg),
        llm::StopReason::decl(&cfg),
        llm::GenerationStats::decl(&cfg),
        loader::Format::decl(&cfg),
        CitationMethod::decl(&cfg),
        SearchHit::decl(&cfg),
        SearchRequest::decl(&cfg),
        ImportRequest::decl(&cfg),
        digest::Whole::decl(&cfg),
        escalation::Escalated::decl(&cfg),
        Answer::decl(&cfg),
        AnswerEvent::decl(&cfg),
        SessionEvent::decl(&cfg),
        ChatScope::decl(&cfg),
        AskRequest::decl(&cfg),
        ChatInfo::decl(&cfg),
        ChatMessage::decl(&cfg),
        ModelInfo::decl(&cfg),
        library::ModelChoice::decl(&cfg),
        library::ModelChoices::decl(&cfg),
        Settings::decl(&cfg),
        PageText::decl(&cfg),
        Extracted::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from the engine's Rust types (quire_engine::api::typescript); do not edit.\n\
         // Regenerate: QUIRE_WRITE_TS=1 cargo test --workspace --test ts_types\n",
    );
    for d in decls {
        out.push_str("\nexport ");
        out.push_str(&d);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_requests_are_checked_once_for_both_shells() {
        let r = |mode: Option<&str>, k: Option<usize>| SearchRequest {
            q: "x".into(),
            mode: mode.map(str::to_string),
            k,
        };
        let o = r(None, None).options().unwrap();
        assert_eq!((o.mode, o.limit), (crate::rank::DEFAULT_MODE, 10));
        assert_eq!(r(Some("bm25"), Some(5000)).options().unwrap().limit, MAX_K);
        assert_eq!(r(Some("dense"), Some(0)).options().unwrap().limit, 1);
        let e = r(Some("psychic"), None).options().unwrap_err();
        assert_eq!(e.code(), "invalid_input");
    }

    #[test]
    fn session_events_keep_the_wire_shape() {
        let s = serde_json::to_value(SessionEvent::Started { answer_id: 7 }).unwrap();
        assert_eq!(s, serde_json::json!({"event": "started", "answer_id": 7}));
        let c = serde_json::to_value(SessionEvent::Chat { id: 3 }).unwrap();
        assert_eq!(c, serde_json::json!({"event": "chat", "id": 3}));
    }

    #[test]
    fn a_stopped_or_finished_answer_is_forgotten() {
        let r = RunningAnswers::default();
        let (id, token) = r.start();
        assert!(r.stop(id));
        assert!(token.is_cancelled());
        {
            let _f = Finish { answers: &r, id };
        }
        assert!(!r.stop(id));
    }

    #[test]
    fn stop_all_stops_every_running_answer() {
        let r = RunningAnswers::default();
        let (a, ta) = r.start();
        let (_, tb) = r.start();
        r.finish(a);
        assert_eq!(r.stop_all(), 1);
        assert!(tb.is_cancelled() && !ta.is_cancelled());
    }
}
