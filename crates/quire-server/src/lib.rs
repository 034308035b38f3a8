//! `quire serve`: the web UI and a JSON + server-sent-events API over the
//! engine, on 127.0.0.1 only, with a random token required on every request.
//!
//! Each handler parses its request, makes one engine call and maps the error
//! to `{"error": {code, kind, message, detail}}` with a fitting status.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use quire_engine::{
    AskRequest, Engine, Error, ErrorReport, ImportEvent, ImportRequest, Kind, RunningAnswers,
    SearchRequest, SessionEvent, Settings,
};
use serde::Deserialize;
use serde_json::json;

mod openai;

/// Shared by every request.
pub struct AppState {
    engine: Arc<Engine>,
    token: String,
    ui_dir: Option<PathBuf>,
    running: RunningAnswers,
}

impl AppState {
    pub fn new(engine: Arc<Engine>, token: String, ui_dir: Option<PathBuf>) -> Arc<Self> {
        Arc::new(AppState {
            engine,
            token,
            ui_dir,
            running: RunningAnswers::default(),
        })
    }
}

/// A fresh random token (OS randomness through a hashed mix of sources).
pub fn random_token() -> String {
    let mut seed = Vec::new();
    if let Ok(bytes) = std::fs::read("/proc/sys/kernel/random/uuid") {
        seed.extend(bytes);
    }
    seed.extend(format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes());
    let addr = &seed as *const _ as usize;
    seed.extend(addr.to_le_bytes());
    blake3::hash(&seed).to_hex()[..32].to_string()
}

/// An engine error as an HTTP response.
pub struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

fn status_for(report: &ErrorReport) -> StatusCode {
    match (report.kind, report.code.as_str()) {
        (_, "unknown_document" | "unknown_chat" | "unknown_collection" | "unknown_model") => {
            StatusCode::NOT_FOUND
        }
        (Kind::User, _) => StatusCode::BAD_REQUEST,
        (_, "model_missing") => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let report = self.0.to_report();
        (status_for(&report), Json(json!({ "error": report }))).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The API and the UI.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/info", get(info))
        .route("/documents", get(documents))
        .route("/documents/{id}", axum::routing::delete(remove_document))
        .route("/documents/{id}/file", get(document_file))
        .route("/documents/{id}/text", get(document_text))
        .route("/documents/{id}/open", post(open_document))
        .route(
            "/upload",
            post(upload).layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route("/import", post(import))
        .route("/import/resume", post(resume_import))
        .route("/import/stop", post(stop_imports))
        .route(
            "/import/queue",
            get(import_queue).delete(forget_import_queue),
        )
        .route(
            "/watched",
            get(watched).post(add_watched).delete(remove_watched),
        )
        .route("/search", get(search))
        .route("/ask", post(ask))
        .route("/answers/{id}/stop", post(stop_answer))
        .route("/chats", get(chats))
        .route(
            "/chats/{id}",
            get(chat).patch(rename_chat).delete(delete_chat),
        )
        .route("/models", get(models))
        .route("/models/inspect", get(inspect_model))
        .route("/settings", get(settings).put(save_settings))
        .route("/collections", get(collections))
        .route(
            "/collections/{name}",
            post(add_to_collection).delete(delete_collection),
        )
        .route("/collections/{name}/remove", post(remove_from_collection));
    Router::new()
        .nest("/api", api)
        .nest("/v1", openai::routes())
        .fallback(ui)
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

const COOKIE: &str = "quire_token";

fn presented_token(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = v.strip_prefix("Bearer ") {
            return Some(t.trim().to_string());
        }
    }
    if let Some(cookies) = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()) {
        for c in cookies.split(';') {
            if let Some(t) = c.trim().strip_prefix(&format!("{COOKIE}=")) {
                return Some(t.to_string());
            }
        }
    }
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(str::to_string)
}

/// Every request carries the token: a header, the cookie set by the first
/// page load, or `?token=` in the URL `quire serve` prints.
async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let query = request.uri().query().map(str::to_string);
    let presented = presented_token(request.headers(), query.as_deref());
    let ok = presented
        .as_deref()
        .is_some_and(|t| blake3::hash(t.as_bytes()) == blake3::hash(state.token.as_bytes()));
    if !ok {
        let report = ErrorReport {
            code: "unauthorized".into(),
            kind: Kind::User,
            message: "this Quire server needs its token: open the URL `quire serve` printed".into(),
            detail: None,
            hint: None,
        };
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": report }))).into_response();
    }
    let from_query = query.as_deref().is_some_and(|q| q.contains("token="));
    let mut response = next.run(request).await;
    if from_query {
        let cookie = format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
            state.token
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

async fn info(State(s): State<Arc<AppState>>) -> ApiResult<Json<quire_engine::Info>> {
    Ok(Json(s.engine.info(env!("CARGO_PKG_VERSION"), None).await?))
}

/// The document list, a page at a time (`offset`, `limit`, `sort`, `desc`,
/// `status`, `q`); without a `limit`, every document.
async fn documents(
    State(s): State<Arc<AppState>>,
    Query(q): Query<quire_engine::DocumentQuery>,
) -> ApiResult<Json<quire_engine::DocumentPage>> {
    Ok(Json(s.engine.documents_page(&q).await?))
}

async fn remove_document(
    State(s): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(json!({ "removed": s.engine.remove(&id).await? })))
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("pdf") => "application/pdf",
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("wasm") => "application/wasm",
        Some("md" | "txt" | "csv" | "tsv") => "text/plain; charset=utf-8",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => "application/octet-stream",
    }
}

/// The original file, for the source viewer. Documents' text is never served as HTML.
async fn document_file(
    State(s): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Response> {
    let (name, bytes) = s.engine.document_file(&id).await?;
    let ct = match content_type(Path::new(&name)) {
        t if t.starts_with("text/html") => "text/plain; charset=utf-8",
        t => t,
    };
    Ok((
        [
            (header::CONTENT_TYPE, ct),
            (header::CONTENT_SECURITY_POLICY, "sandbox"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
struct TextQuery {
    #[serde(default)]
    password: Option<String>,
}

/// The document's text page by page, for the text viewer.
async fn document_text(
    State(s): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<TextQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({ "text": s.engine.document_text(&id, q.password).await? }),
    ))
}

/// Opens the original file with the default app of the machine the server runs on
/// (the same machine: the server listens on 127.0.0.1 only).
async fn open_document(
    State(s): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let opened = s.engine.open_document(&id).await?;
    Ok(Json(json!({ "opened": opened })))
}

/// The largest file a browser may upload (the importer's own limit).
const MAX_UPLOAD: usize = 512 * 1024 * 1024;

#[derive(Deserialize)]
struct UploadQuery {
    name: String,
}

/// A file from a browser (which has no paths): the raw body is kept in the
/// data dir and its path returned, to be imported like any other.
async fn upload(
    State(s): State<Arc<AppState>>,
    Query(q): Query<UploadQuery>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let path = s.engine.store_upload(&q.name, &body).await?;
    Ok(Json(json!({ "path": path })))
}

#[derive(Deserialize)]
struct InspectQuery {
    path: PathBuf,
}

async fn inspect_model(
    State(s): State<Arc<AppState>>,
    Query(q): Query<InspectQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(json!({ "model": s.engine.inspect_model(&q.path)? })))
}

fn sse_stream(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
        .map(|v| Ok(Event::default().data(v.to_string())));
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Server-sent events of lines already written (`[DONE]` is not JSON).
fn sse_lines(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<String>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream =
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(|v| Ok(Event::default().data(v)));
    Sse::new(stream).keep_alive(KeepAlive::default())
}

use futures::StreamExt;

/// Imports paths on this machine, streaming progress events; ends with `{"event":"results"}`.
async fn import(
    State(s): State<Arc<AppState>>,
    Json(req): Json<ImportRequest>,
) -> ApiResult<Response> {
    let opts = req.options()?;
    Ok(import_events(s, move |engine, progress| {
        Box::pin(async move { engine.import(&req.paths, &opts, progress).await })
    }))
}

/// Finishes the files an earlier import left queued, streaming like `/import`.
async fn resume_import(State(s): State<Arc<AppState>>) -> ApiResult<Response> {
    Ok(import_events(s, |engine, progress| {
        Box::pin(async move {
            engine
                .resume_import(&quire_engine::ImportOptions::default(), progress)
                .await
        })
    }))
}

type ImportRun<'a> = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = quire_engine::Result<Vec<quire_engine::FileResult>>>
            + Send
            + 'a,
    >,
>;

/// Runs an import in its own task, its events as server-sent events.
fn import_events(
    s: Arc<AppState>,
    run: impl for<'a> FnOnce(&'a Engine, &'a (dyn quire_engine::ImportProgress + 'a)) -> ImportRun<'a>
        + Send
        + 'static,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = s.engine.clone();
    tokio::spawn(async move {
        let events = tx.clone();
        let progress = move |e: &ImportEvent| {
            let _ = events.send(serde_json::to_value(e).unwrap_or_default());
        };
        match run(&engine, &progress).await {
            Ok(results) => {
                let _ = tx.send(json!({ "event": "results", "results": results }));
            }
            Err(e) => {
                let _ = tx.send(json!({ "event": "error", "error": e.to_report() }));
            }
        }
    });
    sse_stream(rx).into_response()
}

/// Stops the running imports: what is embedded is written, the rest stays queued.
async fn stop_imports(State(s): State<Arc<AppState>>) -> Json<serde_json::Value> {
    s.engine.stop_imports();
    Json(json!({ "stopped": true }))
}

#[derive(Deserialize)]
struct FolderRequest {
    path: PathBuf,
}

/// The watched folders.
async fn watched(State(s): State<Arc<AppState>>) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({ "folders": s.engine.watched_folders().await? }),
    ))
}

/// Watches a folder; the running watcher imports it within seconds.
async fn add_watched(
    State(s): State<Arc<AppState>>,
    Json(req): Json<FolderRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({ "watching": s.engine.watch_add(&req.path).await? }),
    ))
}

/// Stops watching a folder (its documents stay).
async fn remove_watched(
    State(s): State<Arc<AppState>>,
    Json(req): Json<FolderRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({ "removed": s.engine.watch_remove(&req.path).await? }),
    ))
}

/// The files queued for import and not yet done.
async fn import_queue(State(s): State<Arc<AppState>>) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(json!({ "queued": s.engine.queued_imports().await? })))
}

/// Forgets the queued files (cancels an import for good).
async fn forget_import_queue(State(s): State<Arc<AppState>>) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({ "forgotten": s.engine.forget_queued_imports().await? }),
    ))
}

async fn search(
    State(s): State<Arc<AppState>>,
    Query(q): Query<SearchRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(json!({ "hits": s.engine.search_request(&q).await? })))
}

/// Answers a question as server-sent events: `started` (with the id to stop
/// it), then the engine's events (`query`, `sources`, `token`…, `done` |
/// `error`), then `chat` when the answer was saved in a chat.
async fn ask(State(s): State<Arc<AppState>>, Json(req): Json<AskRequest>) -> ApiResult<Response> {
    req.validate()?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        // A closed connection drops `rx`: the session then stops the answer.
        let mut send =
            |e: &SessionEvent| tx.send(serde_json::to_value(e).unwrap_or_default()).is_ok();
        let _ = s.running.answer(&s.engine, &req, &mut send).await;
    });
    Ok(sse_stream(rx).into_response())
}

async fn stop_answer(
    State(s): State<Arc<AppState>>,
    UrlPath(id): UrlPath<u64>,
) -> Json<serde_json::Value> {
    Json(json!({ "stopped": s.running.stop(id) }))
}

async fn chats(State(s): State<Arc<AppState>>) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(json!({ "chats": s.engine.chats().await? })))
}

async fn chat(
    State(s): State<Arc<AppState>>,
    UrlPath(id): UrlPath<i64>,
) -> ApiResult<Json<serde_json::Value>> {
    let (info, messages) = s.engine.chat(id).await?;
    Ok(Json(json!({ "chat": info, "messages": messages })))
}

#[derive(Deserialize)]
struct Rename {
    title: String,
}

async fn rename_chat(
    State(s): State<Arc<AppState>>,
    UrlPath(id): UrlPath<i64>,
    Json(r): Json<Rename>,
) -> ApiResult<Json<serde_json::Value>> {
    s.engine.rename_chat(id, &r.title).await?;
    Ok(Json(json!({ "renamed": id })))
}

async fn delete_chat(
    State(s): State<Arc<AppState>>,
    UrlPath(id): UrlPath<i64>,
) -> ApiResult<Json<serde_json::Value>> {
    s.engine.delete_chat(id).await?;
    Ok(Json(json!({ "deleted": id })))
}

async fn models(State(s): State<Arc<AppState>>) -> Json<quire_engine::library::ModelChoices> {
    Json(s.engine.model_choices())
}

async fn settings(State(s): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(json!({ "settings": s.engine.settings() }))
}

async fn save_settings(
    State(s): State<Arc<AppState>>,
    Json(settings): Json<Settings>,
) -> ApiResult<Json<serde_json::Value>> {
    s.engine.save_settings(settings)?;
    Ok(Json(json!({ "settings": s.engine.settings() })))
}

async fn collections(State(s): State<Arc<AppState>>) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({ "collections": s.engine.collections().await? }),
    ))
}

#[derive(Deserialize)]
struct Members {
    documents: Vec<String>,
}

async fn add_to_collection(
    State(s): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    Json(m): Json<Members>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({ "added": s.engine.add_to_collection(&name, &m.documents).await? }),
    ))
}

async fn remove_from_collection(
    State(s): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    Json(m): Json<Members>,
) -> ApiResult<Json<serde_json::Value>> {
    s.engine.remove_from_collection(&name, &m.documents).await?;
    Ok(Json(json!({ "removed": m.documents })))
}

async fn delete_collection(
    State(s): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult<Json<serde_json::Value>> {
    s.engine.delete_collection(&name).await?;
    Ok(Json(json!({ "deleted": name })))
}

/// The built UI's files; `index.html` for any other path. Never outside the UI folder.
async fn ui(State(s): State<Arc<AppState>>, request: Request) -> Response {
    let Some(dir) = s.ui_dir.as_ref().filter(|d| d.join("index.html").is_file()) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "The web UI is not built yet; the API is under /api.",
        )
            .into_response();
    };
    let rel = request.uri().path().trim_start_matches('/');
    let safe = !rel.split('/').any(|p| p == ".." || p.starts_with('.')) && !rel.contains('\\');
    let file = if safe && !rel.is_empty() && dir.join(rel).is_file() {
        dir.join(rel)
    } else {
        dir.join("index.html")
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            if let Ok(v) = HeaderValue::from_str(content_type(&file)) {
                r.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            r.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
                ),
            );
            r
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Where `quire serve` binds: 127.0.0.1 only.
pub async fn bind(port: u16) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Serves until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<AppState>) -> std::io::Result<()> {
    // What an earlier import left (a crash, a stop, the app closed) is
    // finished while the server runs.
    let engine = state.engine.clone();
    tokio::spawn(async move {
        let opts = quire_engine::ImportOptions::default();
        if let Err(e) = engine.resume_import(&opts, &quire_engine::NoProgress).await {
            tracing::warn!("resuming the queued import failed: {e}");
        }
    });
    // Watched folders are kept in sync while the server runs.
    let _watching = state.engine.watch(Arc::new(quire_engine::NoProgress));
    axum::serve(listener, router(state)).await
}
