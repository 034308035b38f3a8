//! Quire's desktop window: a Tauri 2 shell over `quire-engine`.
//!
//! Each command parses its arguments, makes one engine call and returns the
//! engine's typed error report (`{code, kind, message, detail}`). Streaming
//! work (import progress, answer tokens) goes through a `Channel` the UI
//! passes in; file drops from the desktop arrive through one too. This file is
//! the only place that knows about IPC.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use quire_engine::{
    AskRequest, Engine, EngineConfig, Error, ErrorReport, ImportEvent, ImportRequest,
    RunningAnswers, SearchRequest, SessionEvent, Settings,
};
use serde_json::{json, Value};
use tauri::ipc::{Channel, InvokeBody, Request, Response};
use tauri::{Manager, State};
use tauri_plugin_dialog::DialogExt;

type CmdResult<T> = Result<T, ErrorReport>;

/// The engine, or why it could not start (shown by the UI with what to do).
struct App {
    engine: Result<Arc<Engine>, ErrorReport>,
    config: EngineConfig,
    running: RunningAnswers,
    drops: Mutex<Option<Channel<Value>>>,
}

impl App {
    fn engine(&self) -> CmdResult<Arc<Engine>> {
        self.engine.clone()
    }
}

fn report(e: Error) -> ErrorReport {
    e.to_report()
}

fn invalid(message: &str) -> ErrorReport {
    Error::InvalidInput(message.to_string()).to_report()
}

#[tauri::command]
async fn info(app: State<'_, App>) -> CmdResult<quire_engine::Info> {
    let version = env!("CARGO_PKG_VERSION");
    let info = match &app.engine {
        Ok(engine) => engine
            .info(version, Some("desktop"))
            .await
            .map_err(report)?,
        Err(e) => quire_engine::Info {
            shell: Some("desktop".into()),
            ..quire_engine::Info::without_engine(&app.config, version, Some(e.clone()))
        },
    };
    Ok(info)
}

#[tauri::command]
async fn documents(
    app: State<'_, App>,
    query: Option<quire_engine::DocumentQuery>,
) -> CmdResult<quire_engine::DocumentPage> {
    app.engine()?
        .documents_page(&query.unwrap_or_default())
        .await
        .map_err(report)
}

#[tauri::command]
async fn remove_document(app: State<'_, App>, id: String) -> CmdResult<Value> {
    Ok(json!({ "removed": app.engine()?.remove(&id).await.map_err(report)? }))
}

#[tauri::command]
async fn document_text(
    app: State<'_, App>,
    id: String,
    password: Option<String>,
) -> CmdResult<Value> {
    Ok(json!({ "text": app.engine()?.document_text(&id, password).await.map_err(report)? }))
}

/// The original file's bytes, for pdf.js.
#[tauri::command]
async fn document_bytes(app: State<'_, App>, id: String) -> CmdResult<Response> {
    let (_, bytes) = app.engine()?.document_file(&id).await.map_err(report)?;
    Ok(Response::new(bytes))
}

#[tauri::command]
async fn open_document(app: State<'_, App>, id: String) -> CmdResult<Value> {
    let opened = app.engine()?.open_document(&id).await.map_err(report)?;
    Ok(json!({ "opened": opened }))
}

#[tauri::command]
async fn import_paths(
    app: State<'_, App>,
    paths: Vec<PathBuf>,
    password: Option<String>,
    force: Option<bool>,
    on_event: Channel<Value>,
) -> CmdResult<Value> {
    let req = ImportRequest {
        paths,
        password,
        force: force.unwrap_or(false),
    };
    let opts = req.options().map_err(report)?;
    let progress = move |e: &ImportEvent| {
        let _ = on_event.send(serde_json::to_value(e).unwrap_or_default());
    };
    let results = app
        .engine()?
        .import(&req.paths, &opts, &progress)
        .await
        .map_err(report)?;
    Ok(json!({ "results": results }))
}

/// Finishes the files an earlier import left queued, with progress events.
#[tauri::command]
async fn resume_import(app: State<'_, App>, on_event: Channel<Value>) -> CmdResult<Value> {
    let progress = move |e: &ImportEvent| {
        let _ = on_event.send(serde_json::to_value(e).unwrap_or_default());
    };
    let opts = quire_engine::ImportOptions::default();
    let results = app
        .engine()?
        .resume_import(&opts, &progress)
        .await
        .map_err(report)?;
    Ok(json!({ "results": results }))
}

/// The watched folders.
#[tauri::command]
async fn watched(app: State<'_, App>) -> CmdResult<Value> {
    let folders = app.engine()?.watched_folders().await.map_err(report)?;
    Ok(json!({ "folders": folders }))
}

/// Watches a folder; the running watcher imports it within seconds.
#[tauri::command]
async fn add_watched(app: State<'_, App>, path: PathBuf) -> CmdResult<Value> {
    let path = app.engine()?.watch_add(&path).await.map_err(report)?;
    Ok(json!({ "watching": path }))
}

/// Stops watching a folder (its documents stay).
#[tauri::command]
async fn remove_watched(app: State<'_, App>, path: PathBuf) -> CmdResult<Value> {
    let removed = app.engine()?.watch_remove(&path).await.map_err(report)?;
    Ok(json!({ "removed": removed }))
}

/// Stops the running imports: what is embedded is written, the rest stays
/// queued (finished at the next start, or by `resume_import`).
#[tauri::command]
async fn stop_imports(app: State<'_, App>) -> CmdResult<Value> {
    app.engine()?.stop_imports();
    Ok(json!({ "stopped": true }))
}

/// The files queued for import and not yet done.
#[tauri::command]
async fn import_queue(app: State<'_, App>) -> CmdResult<Value> {
    let queued = app.engine()?.queued_imports().await.map_err(report)?;
    Ok(json!({ "queued": queued }))
}

/// Forgets the queued files (cancels an import for good).
#[tauri::command]
async fn forget_import_queue(app: State<'_, App>) -> CmdResult<Value> {
    let n = app
        .engine()?
        .forget_queued_imports()
        .await
        .map_err(report)?;
    Ok(json!({ "forgotten": n }))
}

/// A file the web view holds without a path (raw body, name in a header).
#[tauri::command]
async fn upload(app: State<'_, App>, request: Request<'_>) -> CmdResult<Value> {
    let InvokeBody::Raw(bytes) = request.body() else {
        return Err(invalid("upload expects the file's bytes"));
    };
    let name = request
        .headers()
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        // The UI sends the name URL-encoded (header values are ASCII).
        .map(|v| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        });
    let path = app
        .engine()?
        .store_upload(name.as_deref().unwrap_or("upload"), bytes)
        .await
        .map_err(report)?;
    Ok(json!({ "path": path }))
}

#[tauri::command]
async fn search(
    app: State<'_, App>,
    q: String,
    mode: Option<String>,
    k: Option<usize>,
) -> CmdResult<Value> {
    let req = SearchRequest { q, mode, k };
    Ok(json!({ "hits": app.engine()?.search_request(&req).await.map_err(report)? }))
}

/// Streams `started`, the engine's answer events, then `chat` when saved in a
/// chat. A page that reloads or navigates away, or a window that closes,
/// stops its answers (`on_page_load`, `on_window_event` below), as
/// `quire serve` does for a client that goes away.
#[tauri::command]
async fn ask(
    app: State<'_, App>,
    request: AskRequest,
    on_event: Channel<Value>,
) -> CmdResult<Value> {
    request.validate().map_err(report)?;
    let engine = app.engine()?;
    let mut send = |e: &SessionEvent| {
        on_event
            .send(serde_json::to_value(e).unwrap_or_default())
            .is_ok()
    };
    let result = app.running.answer(&engine, &request, &mut send).await;
    // Errors already went out as an `error` event.
    Ok(json!({ "chat": result.ok().flatten() }))
}

#[tauri::command]
fn stop_answer(app: State<'_, App>, id: u64) -> Value {
    json!({ "stopped": app.running.stop(id) })
}

#[tauri::command]
async fn chats(app: State<'_, App>) -> CmdResult<Value> {
    Ok(json!({ "chats": app.engine()?.chats().await.map_err(report)? }))
}

#[tauri::command]
async fn chat(app: State<'_, App>, id: i64) -> CmdResult<Value> {
    let (info, messages) = app.engine()?.chat(id).await.map_err(report)?;
    Ok(json!({ "chat": info, "messages": messages }))
}

#[tauri::command]
async fn rename_chat(app: State<'_, App>, id: i64, title: String) -> CmdResult<Value> {
    app.engine()?
        .rename_chat(id, &title)
        .await
        .map_err(report)?;
    Ok(json!({ "renamed": id }))
}

#[tauri::command]
async fn delete_chat(app: State<'_, App>, id: i64) -> CmdResult<Value> {
    app.engine()?.delete_chat(id).await.map_err(report)?;
    Ok(json!({ "deleted": id }))
}

#[tauri::command]
fn models(app: State<'_, App>) -> CmdResult<quire_engine::library::ModelChoices> {
    Ok(app.engine()?.model_choices())
}

#[tauri::command]
fn inspect_model(app: State<'_, App>, path: PathBuf) -> CmdResult<Value> {
    Ok(json!({ "model": app.engine()?.inspect_model(&path).map_err(report)? }))
}

#[tauri::command]
fn settings(app: State<'_, App>) -> CmdResult<Value> {
    Ok(json!({ "settings": app.engine()?.settings() }))
}

#[tauri::command]
fn save_settings(app: State<'_, App>, settings: Settings) -> CmdResult<Value> {
    let engine = app.engine()?;
    engine.save_settings(settings).map_err(report)?;
    Ok(json!({ "settings": engine.settings() }))
}

#[tauri::command]
async fn collections(app: State<'_, App>) -> CmdResult<Value> {
    Ok(json!({ "collections": app.engine()?.collections().await.map_err(report)? }))
}

#[tauri::command]
async fn add_to_collection(
    app: State<'_, App>,
    name: String,
    documents: Vec<String>,
) -> CmdResult<Value> {
    Ok(
        json!({ "added": app.engine()?.add_to_collection(&name, &documents).await.map_err(report)? }),
    )
}

#[tauri::command]
async fn remove_from_collection(
    app: State<'_, App>,
    name: String,
    documents: Vec<String>,
) -> CmdResult<Value> {
    app.engine()?
        .remove_from_collection(&name, &documents)
        .await
        .map_err(report)?;
    Ok(json!({ "removed": documents }))
}

#[tauri::command]
async fn delete_collection(app: State<'_, App>, name: String) -> CmdResult<Value> {
    app.engine()?
        .delete_collection(&name)
        .await
        .map_err(report)?;
    Ok(json!({ "deleted": name }))
}

/// The system's file picker: `files`, `folder` or `model` (a GGUF file).
#[tauri::command]
async fn pick(window: tauri::Window, kind: String) -> CmdResult<Vec<String>> {
    let dialog = window.dialog().file().set_parent(&window);
    let picked = tauri::async_runtime::spawn_blocking(move || match kind.as_str() {
        "files" => Ok(dialog
            .add_filter(
                "Documents",
                &[
                    "pdf", "docx", "html", "htm", "md", "markdown", "txt", "csv", "json", "xml",
                    "rst", "org", "tex",
                ],
            )
            .blocking_pick_files()
            .unwrap_or_default()),
        "folder" => Ok(dialog.blocking_pick_folder().into_iter().collect()),
        "model" => Ok(dialog
            .add_filter("GGUF models", &["gguf"])
            .blocking_pick_file()
            .into_iter()
            .collect()),
        other => Err(invalid(&format!(
            "unknown picker `{other}` (files, folder, model)"
        ))),
    })
    .await
    .map_err(|e| report(Error::Bug(e.to_string())))??;
    Ok(picked
        .into_iter()
        .filter_map(|p| p.into_path().ok())
        .map(|p| p.display().to_string())
        .collect())
}

/// Files and folders dropped on the window arrive on this channel as
/// `{type: "over" | "leave" | "drop", paths}`.
#[tauri::command]
fn watch_drops(app: State<'_, App>, on_drop: Channel<Value>) {
    if let Ok(mut d) = app.drops.lock() {
        *d = Some(on_drop);
    }
}

/// The default models shipped inside the package, when this is an installed build.
fn bundled_models(handle: &tauri::AppHandle) -> Option<PathBuf> {
    if std::env::var_os(quire_engine::paths::MODELS_DIR_ENV).is_some() {
        return None;
    }
    let dir = handle.path().resource_dir().ok()?.join("models");
    dir.join("manifest.json").is_file().then_some(dir)
}

/// The argument that makes this program a reader worker (see `quire_readers::worker`).
const READER_WORKER_ARG: &str = "--reader-worker";

fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some(READER_WORKER_ARG) {
        std::process::exit(quire_engine::serve_reader_worker());
    }
    // Before any thread starts: the allocator's settings apply to them all.
    quire_engine::heap::configure();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QUIRE_LOG")
                .unwrap_or_else(|_| quire_engine::DEFAULT_LOG_FILTER.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .setup(|app| {
            let mut config = EngineConfig::from_env();
            if let Some(models) = bundled_models(app.handle()) {
                config.models_dir = models;
            }
            // Files are read in worker processes: this program, started again.
            config.reader_worker = std::env::current_exe().ok().map(|program| {
                quire_engine::loader::worker::WorkerCommand {
                    program,
                    args: vec![READER_WORKER_ARG.into()],
                }
            });
            let engine = tauri::async_runtime::block_on(Engine::open(config.clone()))
                .map(Arc::new)
                .map_err(report);
            match &engine {
                Err(e) => tracing::error!("the engine could not start: {}", e.message),
                Ok(engine) => {
                    // What an earlier import left (a crash, a stop, the app
                    // closed) is finished while the window is open.
                    let engine = engine.clone();
                    tauri::async_runtime::spawn(async move {
                        let opts = quire_engine::ImportOptions::default();
                        if let Err(e) = engine.resume_import(&opts, &quire_engine::NoProgress).await
                        {
                            tracing::warn!("resuming the queued import failed: {e}");
                        }
                    });
                }
            }
            app.manage(App {
                engine,
                config,
                running: RunningAnswers::default(),
                drops: Mutex::new(None),
            });
            Ok(())
        })
        .on_page_load(|webview, payload| {
            // A reload or navigation: the page that asked is gone, and so is
            // whoever read its answers; stop them, as `quire serve` does for
            // a client that went away.
            if payload.event() == tauri::webview::PageLoadEvent::Started {
                if let Some(app) = webview.try_state::<App>() {
                    let stopped = app.running.stop_all();
                    if stopped > 0 {
                        tracing::info!("page reloaded: {stopped} answer(s) stopped");
                    }
                }
            }
        })
        .on_window_event(|window, event| {
            if matches!(
                event,
                tauri::WindowEvent::CloseRequested { .. } | tauri::WindowEvent::Destroyed
            ) {
                if let Some(app) = window.try_state::<App>() {
                    app.running.stop_all();
                }
            }
            if let tauri::WindowEvent::DragDrop(drag) = event {
                let message = match drag {
                    tauri::DragDropEvent::Enter { .. } | tauri::DragDropEvent::Over { .. } => {
                        json!({ "type": "over" })
                    }
                    tauri::DragDropEvent::Leave => json!({ "type": "leave" }),
                    tauri::DragDropEvent::Drop { paths, .. } => {
                        json!({ "type": "drop", "paths": paths })
                    }
                    _ => return,
                };
                let state = window.state::<App>();
                if let Some(channel) = state.drops.lock().ok().and_then(|d| d.clone()) {
                    let _ = channel.send(message);
                }
            }
        })
        .invoke_handler(tauri::generate_handler![
            info,
            documents,
            remove_document,
            document_text,
            document_bytes,
            open_document,
            import_paths,
            stop_imports,
            resume_import,
            watched,
            add_watched,
            remove_watched,
            import_queue,
            forget_import_queue,
            upload,
            search,
            ask,
            stop_answer,
            chats,
            chat,
            rename_chat,
            delete_chat,
            models,
            inspect_model,
            settings,
            save_settings,
            collections,
            add_to_collection,
            remove_from_collection,
            delete_collection,
            pick,
            watch_drops,
        ])
        .run(tauri::generate_context!())?;
    Ok(())
}
