//! `quire`: the command-line shell over quire-engine. Each command parses its
//! arguments, makes one engine call and prints the result for people or, with
//! `--json`, as one JSON object per line for scripts.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
mod answering;
mod bench;
mod bench_library;
mod qa_eval;

use quire_engine::{
    eval, DocumentInfo, Engine, EngineConfig, Error, FileOutcome, FileResult, Hint, ImportEvent,
    ImportOptions, ImportProgress, SearchHit, SearchMode, SearchOptions, Status,
};

#[derive(Parser)]
#[command(
    name = "quire",
    version,
    about = "Chat with your documents, offline: import files, search them and ask questions answered with page citations by a language model on this computer."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// Where the library lives [default: ~/.local/share/quire]
    #[arg(long, global = true, env = "QUIRE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where the model files are [default: ./models of a checkout, else <data-dir>/models]
    #[arg(long, global = true, env = "QUIRE_MODELS_DIR")]
    models_dir: Option<PathBuf>,
    /// Print JSON lines instead of text
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum WatchAction {
    /// Watch a folder and import it now
    Add { folder: PathBuf },
    /// The watched folders
    List,
    /// Stop watching a folder (its documents stay; `quire remove` removes them)
    Remove { folder: PathBuf },
    /// Keep the library in sync with the watched folders until Ctrl-C
    Run,
}

#[derive(Subcommand)]
enum Command {
    /// Import files and folders (PDF, Office, EPUB, RTF, e-mail, images, HTML, Markdown, text). Ctrl-C
    /// stops: what is done stays, the rest is finished by `--resume`
    Import {
        #[arg(required_unless_present_any = ["resume", "forget"])]
        paths: Vec<PathBuf>,
        /// Finish the files an earlier import left (stopped, or cut short by a crash)
        #[arg(long, conflicts_with = "forget")]
        resume: bool,
        /// Forget the files an earlier import left, without importing them
        #[arg(long, conflicts_with = "paths")]
        forget: bool,
        /// Write finished documents in groups of about this many chunks
        #[arg(long, default_value_t = 4096, hide = true)]
        write_rows: usize,
        /// Password for encrypted PDFs in this import
        #[arg(long)]
        password: Option<String>,
        /// Seconds reading one file may take before it is given up
        #[arg(long, default_value_t = 120)]
        file_timeout: u64,
        /// Import again even when a file is unchanged
        #[arg(long)]
        force: bool,
    },
    /// Find the best passages for a query
    Search {
        query: String,
        #[arg(long, default_value = "ranked", value_parser = parse_mode)]
        mode: SearchMode,
        /// How many passages to show
        #[arg(short = 'k', long, default_value_t = 5)]
        limit: usize,
        /// Only search this document (id, path or file name); repeatable
        #[arg(long = "doc")]
        docs: Vec<String>,
    },
    /// List the documents in the library
    Docs,
    /// Internal: read files for an import in this process (see ARCHITECTURE.md)
    #[command(hide = true)]
    ReaderWorker,
    /// Where the library and models are, how many passages it holds, and the
    /// files an import left queued
    Info,
    /// Remove a document (id, path or file name) and all of its text
    Remove { doc: String },
    /// Ask a question; the answer streams in and ends with the sources it cites
    Ask {
        question: String,
        #[command(flatten)]
        scope: answering::ScopeArgs,
        #[command(flatten)]
        settings: answering::SettingsArgs,
    },
    /// An interactive chat: follow-up questions use the conversation; Ctrl-C stops an answer
    Chat {
        /// Continue a saved chat (see `quire chats`)
        #[arg(long)]
        resume: Option<i64>,
        #[command(flatten)]
        scope: answering::ScopeArgs,
        #[command(flatten)]
        settings: answering::SettingsArgs,
    },
    /// List saved chats, or show, rename or delete one
    Chats {
        #[command(subcommand)]
        action: Option<answering::ChatsAction>,
    },
    /// List the language models (GGUF) Quire can answer with
    Models,
    /// Show the settings, or change them with --set key=value
    Config {
        /// key=value, e.g. top_k=6 or temperature=0.7; repeatable
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Go back to the defaults
        #[arg(long)]
        reset: bool,
    },
    /// Folders kept in sync with the library while `quire serve`, the desktop
    /// app or `quire watch run` runs: add (imports it now), list, remove, run
    Watch {
        #[command(subcommand)]
        action: WatchAction,
    },
    /// List collections, or add documents to, remove them from, or delete one
    Collections {
        #[command(subcommand)]
        action: Option<answering::CollectionAction>,
    },
    /// Serve the web UI and the HTTP API on 127.0.0.1 (a token is required on every request)
    Serve {
        /// Port on 127.0.0.1 [default: any free port]
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// The built web UI [default: ui/dist of the checkout]
        #[arg(long)]
        ui_dir: Option<PathBuf>,
        /// The token every request must carry (the API key of OpenAI clients
        /// at /v1), at least 16 characters [default: a new random one at each start]
        #[arg(long, env = "QUIRE_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Measure Quire's speed beside the peers' (sentence-transformers, ONNX Runtime, llama.cpp) in one run
    Bench(bench::BenchArgs),
    /// Evaluate retrieval on a BEIR-layout folder (nDCG@10, Recall@10), or with
    /// --qa on a folder of PDFs and questions (doc@k, page@k)
    Eval {
        dir: PathBuf,
        /// Which judgments to use (test, dev, train) [default: the first found]
        #[arg(long)]
        split: Option<String>,
        #[command(flatten)]
        qa: qa_eval::QaArgs,
    },
}

fn parse_mode(s: &str) -> Result<SearchMode, quire_engine::Error> {
    s.parse()
}

fn main() -> ExitCode {
    // Before any thread starts: the allocator's settings apply to them all.
    quire_engine::heap::configure();
    let filter = tracing_subscriber::EnvFilter::try_from_env("QUIRE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(quire_engine::DEFAULT_LOG_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Command::ReaderWorker = cli.command {
        // A reader worker (started by this program's own imports): no
        // runtime, no library; requests on stdin, replies on stdout.
        return ExitCode::from(quire_engine::serve_reader_worker().clamp(0, 255) as u8);
    }
    let json = cli.global.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("quire: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            report_error(&err, json);
            ExitCode::FAILURE
        }
    }
}

fn report_error(err: &anyhow::Error, json: bool) {
    let engine_err = err.chain().find_map(|e| e.downcast_ref::<Error>());
    if json {
        let report = match engine_err {
            Some(e) => e.to_report(),
            None => quire_engine::ErrorReport {
                code: "error".into(),
                kind: quire_engine::Kind::Runtime,
                message: format!("{err:#}"),
                detail: None,
                hint: None,
            },
        };
        println!("{}", serde_json::json!({ "error": report }));
    } else {
        eprintln!("quire: {err:#}");
        if let Some(h) = engine_err.and_then(Error::hint) {
            eprintln!("  {}", hint_text(h));
        }
    }
}

/// A hint in the CLI's terms: the flag or command that does it.
pub(crate) fn hint_text(hint: Hint) -> &'static str {
    match hint {
        Hint::NeedsPassword => "import it again with --password <password>",
        Hint::WrongPassword => "check the password (--password); if it is right, save an unencrypted copy and import that",
        Hint::UnencryptedCopy => "save an unencrypted copy and import that",
        Hint::Ocr => "run OCR on it (e.g. `ocrmypdf in.pdf out.pdf`) and import the result",
        Hint::Resave => "open and re-save it in another program, then import it again",
        Hint::Split => "split it into smaller files",
        Hint::UnsupportedFormat => "export it to PDF or DOCX and import that",
        Hint::ModelsMissing => "run `npm run fetch-models` (or `python3 scripts/fetch_models.py`) to fetch the models",
        Hint::ChooseModel => "choose a llama, qwen2 or qwen3 GGUF (e.g. SmolLM2, Llama 3.2, Qwen2.5): see `quire models`",
        Hint::ListDocuments => "see `quire docs`",
        Hint::ListChats => "see `quire chats`",
        Hint::ListCollections => "see `quire collections`",
        Hint::OtherLibrary => "use another --data-dir for a library of this embedding model",
    }
}

/// `ui/dist` above the working directory or the executable (a checkout).
fn find_ui_dir() -> Option<PathBuf> {
    let starts = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    starts
        .into_iter()
        .flatten()
        .flat_map(|s| s.ancestors().map(|a| a.join("ui/dist")).collect::<Vec<_>>())
        .find(|d| d.join("index.html").is_file())
}

fn config(g: &Global) -> EngineConfig {
    let mut c = match &g.data_dir {
        Some(d) => EngineConfig::with_data_dir(d),
        None => EngineConfig::from_env(),
    };
    if let Some(m) = &g.models_dir {
        c.models_dir = m.clone();
    }
    // Files are read in worker processes: this program, started again.
    c.reader_worker =
        std::env::current_exe()
            .ok()
            .map(|program| quire_engine::loader::worker::WorkerCommand {
                program,
                args: vec!["reader-worker".into()],
            });
    c
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Import {
            paths,
            resume,
            forget,
            write_rows,
            password,
            file_timeout,
            force,
        } => {
            let engine = Engine::open(config(g)).await?;
            if forget {
                let n = engine.forget_queued_imports().await?;
                if !g.json {
                    println!("{n} queued files forgotten");
                }
                engine.close().await;
                return Ok(ExitCode::SUCCESS);
            }
            let mut opts = ImportOptions {
                force,
                time_limit: Duration::from_secs(file_timeout),
                write_rows: write_rows.max(1),
                ..Default::default()
            };
            opts.load.password = password;
            answering::install_ctrl_c();
            answering::set_running(Some(opts.stop.clone()));
            let progress = Progress::new(g.json).printing_files();
            let mut results = Vec::new();
            if resume {
                results = engine.resume_import(&opts, &progress).await?;
            }
            if !paths.is_empty() && !opts.stop.is_cancelled() {
                results.extend(engine.import(&paths, &opts, &progress).await?);
            }
            answering::set_running(None);
            progress.finish();
            let left = engine.queued_imports().await?.len();
            if !g.json {
                let s = quire_engine::ImportSummary::from_results(&results);
                println!(
                    "{} imported, {} unchanged, {} failed; {} chunks",
                    s.imported, s.unchanged, s.failed, s.chunks
                );
                if left > 0 {
                    println!(
                        "{left} files not imported yet: `quire import --resume` finishes them, `quire import --forget` drops them"
                    );
                }
            }
            engine.close().await;
            if opts.stop.is_cancelled() {
                return Ok(ExitCode::from(130));
            }
        }
        Command::Search {
            query,
            mode,
            limit,
            docs,
        } => {
            let engine = Engine::open(config(g)).await?;
            let doc_ids = if docs.is_empty() {
                None
            } else {
                let mut ids = Vec::new();
                for d in &docs {
                    ids.push(engine.find_document(d).await?.id);
                }
                Some(ids)
            };
            let hits = engine
                .search(
                    &query,
                    &SearchOptions {
                        mode,
                        limit,
                        doc_ids,
                    },
                )
                .await?;
            print_hits(&hits, g.json);
            engine.close().await;
        }
        Command::Info => {
            let engine = Engine::open(config(g)).await?;
            let info = engine.info(env!("CARGO_PKG_VERSION"), None).await?;
            let queued = engine.queued_imports().await?;
            if g.json {
                let mut v = serde_json::to_value(&info)?;
                v["queued"] = serde_json::json!(queued);
                println!("{v}");
            } else {
                println!("library:  {}", info.data_dir.display());
                println!("models:   {}", info.models_dir.display());
                println!("passages: {}", info.chunks.unwrap_or(0));
                if !queued.is_empty() {
                    println!(
                        "queued:   {} files (`quire import --resume` imports them)",
                        queued.len()
                    );
                }
            }
            engine.close().await;
        }
        Command::Docs => {
            let engine = Engine::open(config(g)).await?;
            print_docs(&engine.documents().await?, g.json);
            engine.close().await;
        }
        Command::Remove { doc } => {
            let engine = Engine::open(config(g)).await?;
            let removed = engine.remove(&doc).await?;
            if g.json {
                println!("{}", serde_json::json!({ "removed": removed }));
            } else {
                println!("removed {} ({})", removed.name, removed.id);
            }
            engine.close().await;
        }
        Command::Ask {
            question,
            scope,
            settings,
        } => {
            let engine = Engine::open(config(g)).await?;
            let code = answering::ask(&engine, &question, &scope, &settings, g.json).await?;
            engine.close().await;
            return Ok(code);
        }
        Command::Chat {
            resume,
            scope,
            settings,
        } => {
            let engine = Engine::open(config(g)).await?;
            answering::chat(&engine, resume, &scope, &settings, g.json).await?;
            engine.close().await;
        }
        Command::Chats { action } => {
            let engine = Engine::open(config(g)).await?;
            answering::chats(&engine, action, g.json).await?;
            engine.close().await;
        }
        Command::Models => {
            let engine = Engine::open(config(g)).await?;
            answering::models(&engine, g.json);
            engine.close().await;
        }
        Command::Config { set, reset } => {
            let engine = Engine::open(config(g)).await?;
            answering::config(&engine, &set, reset, g.json)?;
            engine.close().await;
        }
        Command::Watch { action } => {
            let engine = std::sync::Arc::new(Engine::open(config(g)).await?);
            let json = g.json;
            let printer = move |e: &ImportEvent| {
                let line = match e {
                    ImportEvent::FileFinished { result } => file_line(result, json),
                    ImportEvent::Removed { path } if json => {
                        serde_json::json!({ "removed": path }).to_string()
                    }
                    ImportEvent::Removed { path } => format!("removed    {path}"),
                    ImportEvent::Watching { folders } if json => {
                        serde_json::json!({ "watching": folders }).to_string()
                    }
                    ImportEvent::Watching { folders } => {
                        format!("watching {} folders (Ctrl-C stops)", folders.len())
                    }
                    _ => return,
                };
                println!("{line}");
                use std::io::Write;
                let _ = std::io::stdout().flush();
            };
            match action {
                WatchAction::Add { folder } => {
                    let path = engine.watch_add(&folder).await?;
                    if !json {
                        println!("watching {path}");
                    }
                    engine.sync_watched(Some(&[path]), &printer).await?;
                }
                WatchAction::List => {
                    let folders = engine.watched_folders().await?;
                    if print_list(
                        &folders,
                        json,
                        "no watched folders: add one with `quire watch add <folder>`",
                    ) {
                        for f in &folders {
                            println!("{f}");
                        }
                    }
                }
                WatchAction::Remove { folder } => {
                    if !engine.watch_remove(&folder).await? {
                        anyhow::bail!(quire_engine::Error::InvalidInput(format!(
                            "{} is not watched (`quire watch list` shows the watched folders)",
                            folder.display()
                        )));
                    }
                    if !json {
                        println!("no longer watching {}", folder.display());
                    }
                }
                WatchAction::Run => {
                    let _watching = engine.watch(std::sync::Arc::new(printer));
                    std::future::pending::<()>().await;
                }
            }
        }
        Command::Collections { action } => {
            let engine = Engine::open(config(g)).await?;
            answering::collections(&engine, action, g.json).await?;
            engine.close().await;
        }
        Command::Serve {
            port,
            ui_dir,
            token,
        } => {
            let token = match token {
                Some(t)
                    if t.trim().chars().count() < 16 || t.trim().contains(char::is_whitespace) =>
                {
                    return Err(Error::InvalidInput(
                        "--token: at least 16 characters, without spaces".into(),
                    )
                    .into())
                }
                Some(t) => t.trim().to_string(),
                None => quire_server::random_token(),
            };
            let engine = std::sync::Arc::new(Engine::open(config(g)).await?);
            let ui_dir = ui_dir.or_else(find_ui_dir);
            let (listener, addr) = quire_server::bind(port)
                .await
                .context("binding 127.0.0.1")?;
            let url = format!("http://{addr}/?token={token}");
            if g.json {
                println!(
                    "{}",
                    serde_json::json!({ "url": url, "address": addr.to_string(), "token": token, "openai_base_url": format!("http://{addr}/v1") })
                );
            } else {
                println!("Quire is serving on {url}");
                println!("(open it in a browser on this machine; Ctrl-C stops the server)");
                println!(
                    "OpenAI-compatible API: base URL http://{addr}/v1, API key {token} (answers come from your library)"
                );
            }
            use std::io::Write;
            let _ = std::io::stdout().flush();
            quire_server::serve(listener, quire_server::AppState::new(engine, token, ui_dir))
                .await?;
        }
        Command::Bench(args) => bench::run(config(g), args, g.json).await?,
        Command::ReaderWorker => {
            return Ok(ExitCode::from(
                quire_engine::serve_reader_worker().clamp(0, 255) as u8,
            ))
        }
        Command::Eval { dir, qa, .. } if qa.qa => {
            qa_eval::run(config(g), &dir, &qa, g.json).await?;
        }
        Command::Eval { dir, split, .. } => {
            let scratch = tempfile::Builder::new()
                .prefix("quire-eval-")
                .tempdir()
                .context("creating a scratch library")?;
            let mut c = config(g);
            c.data_dir = scratch.path().to_path_buf();
            let engine = Engine::open(c).await?;
            let progress = Progress::new(g.json);
            let report = eval::run(&engine, &dir, split.as_deref(), &progress).await?;
            progress.finish();
            if g.json {
                for s in &report.scores {
                    println!(
                        "{}",
                        serde_json::json!({ "dataset": report.dataset, "split": report.split, "queries": report.queries, "mode": s.mode, "ndcg_at_10": s.ndcg_at_10, "recall_at_10": s.recall_at_10 })
                    );
                }
            } else {
                println!(
                    "{} (split {}): {} documents, {} chunks, {} queries",
                    report.dataset, report.split, report.documents, report.chunks, report.queries
                );
                println!("{:<8} {:>8} {:>10}", "mode", "nDCG@10", "Recall@10");
                for s in &report.scores {
                    println!(
                        "{:<8} {:>8.4} {:>10.4}",
                        s.mode.as_str(),
                        s.ndcg_at_10,
                        s.recall_at_10
                    );
                }
            }
            engine.close().await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Progress bars on a terminal; nothing otherwise.
struct Progress {
    multi: Option<MultiProgress>,
    files: ProgressBar,
    chunks: ProgressBar,
    /// Print each file's outcome as it finishes (`import`).
    print_files: bool,
    json: bool,
    /// Passages embedded so far per file: files are embedded side by side,
    /// the bar counts them all.
    embedded: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

impl Progress {
    fn new(json: bool) -> Self {
        let visible = !json && std::io::stderr().is_terminal();
        if !visible {
            return Progress {
                multi: None,
                files: ProgressBar::hidden(),
                chunks: ProgressBar::hidden(),
                print_files: false,
                json,
                embedded: Default::default(),
            };
        }
        let multi = MultiProgress::new();
        let style = |t: &str| {
            ProgressStyle::with_template(t).unwrap_or_else(|_| ProgressStyle::default_bar())
        };
        let files = multi.add(ProgressBar::new(0));
        files.set_style(style("files  [{bar:30}] {pos}/{len} {wide_msg}"));
        let chunks = multi.add(ProgressBar::new(0));
        chunks.set_style(style("chunks [{bar:30}] {pos}/{len} embedded"));
        Progress {
            multi: Some(multi),
            files,
            chunks,
            print_files: false,
            json,
            embedded: Default::default(),
        }
    }

    fn printing_files(mut self) -> Self {
        self.print_files = true;
        self
    }

    fn line(&self, text: String) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => println!("{text}"),
        }
    }

    fn finish(&self) {
        self.files.finish_and_clear();
        self.chunks.finish_and_clear();
    }
}

impl ImportProgress for Progress {
    fn event(&self, e: &ImportEvent) {
        if let (true, ImportEvent::FileFinished { result }) = (self.print_files, e) {
            self.line(file_line(result, self.json));
        }
        if self.multi.is_none() {
            return;
        }
        match e {
            ImportEvent::Started { files } => self.files.set_length(*files as u64),
            ImportEvent::FileStarted { path, .. } => self.files.set_message(path.clone()),
            ImportEvent::PagesRecognised { path, done, total } => self.files.set_message(format!(
                "{path} — recognising text (OCR): page {done} of {total}"
            )),
            ImportEvent::FileChunked { chunks, .. } => self.chunks.inc_length(*chunks as u64),
            ImportEvent::ChunksEmbedded { path, done, total } => {
                if *total == 0 {
                    self.chunks.set_length(*done as u64);
                    self.chunks.set_position(*done as u64);
                } else if let Ok(mut seen) = self.embedded.lock() {
                    let before = seen.insert(path.clone(), *done).unwrap_or(0);
                    self.chunks.inc(done.saturating_sub(before) as u64);
                }
            }
            ImportEvent::FileFinished { .. } => self.files.inc(1),
            ImportEvent::IndexingStarted => self.files.set_message("updating the full-text index…"),
            ImportEvent::Finished { .. }
            | ImportEvent::Removed { .. }
            | ImportEvent::Watching { .. } => {}
        }
    }
}

fn file_line(r: &FileResult, json: bool) -> String {
    if json {
        return serde_json::to_string(r).unwrap_or_default();
    }
    match r.outcome {
        FileOutcome::Imported => {
            let pages = r.pages.map(|p| format!("{p} pages, ")).unwrap_or_default();
            let mut line = format!("imported   {} ({pages}{} chunks)", r.path, r.chunks);
            // A message's attached files, each on a line of its own below it.
            for a in &r.attachments {
                line.push_str(&match &a.problem {
                    None => format!("\n  attached {} ({} chunks)", a.path, a.chunks),
                    Some(p) => format!("\n  FAILED   {}: {}", a.path, p.message),
                });
            }
            line
        }
        FileOutcome::Unchanged => format!("unchanged  {}", r.path),
        FileOutcome::Moved => format!("moved      {} (passages kept)", r.path),
        FileOutcome::Failed => {
            let why = r
                .error
                .as_ref()
                .map(|e| match e.hint {
                    Some(h) => format!("{}; {}", e.message, hint_text(h)),
                    None => e.message.clone(),
                })
                .unwrap_or_else(|| "unknown error".into());
            format!("FAILED     {why}")
        }
    }
}

pub(crate) fn snippet(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        format!("{}…", flat.chars().take(max).collect::<String>())
    }
}

/// One JSON object a line (`--json`).
fn print_json_lines<T: serde::Serialize>(items: &[T]) {
    for item in items {
        println!("{}", serde_json::to_string(item).unwrap_or_default());
    }
}

/// Prints `items` as JSON lines (`json`), or `empty` when there are none;
/// true when the caller is to print them for people.
fn print_list<T: serde::Serialize>(items: &[T], json: bool, empty: &str) -> bool {
    if json {
        print_json_lines(items);
    } else if items.is_empty() {
        println!("{empty}");
    }
    !json && !items.is_empty()
}

fn print_hits(hits: &[SearchHit], json: bool) {
    if !print_list(hits, json, "no passages found") {
        return;
    }
    for (i, h) in hits.iter().enumerate() {
        let page = h.page.map(|p| format!(" · p. {p}")).unwrap_or_default();
        println!("{:>2}. {}{page}  (score {:.4})", i + 1, h.name, h.score);
        println!("    {}", snippet(&h.text, 240));
        println!("    {}", h.path);
    }
}

fn print_docs(docs: &[DocumentInfo], json: bool) {
    let empty = "the library is empty: add files with `quire import <files or folders>`";
    if !print_list(docs, json, empty) {
        return;
    }
    println!(
        "{:<16} {:<9} {:>6} {:>6}  name",
        "id", "status", "chunks", "pages"
    );
    for d in docs {
        let status = match d.status {
            Status::Imported => "imported",
            Status::Failed => "failed",
            Status::Importing => "importing",
        };
        let pages = d.pages.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        println!(
            "{:<16} {:<9} {:>6} {:>6}  {}",
            d.id, status, d.chunks, pages, d.name
        );
        if let Some(msg) = &d.error_message {
            match d.error_code.as_deref().and_then(Hint::for_code) {
                Some(h) => println!("{:<16} {msg}; {}", "", hint_text(h)),
                None => println!("{:<16} {msg}", ""),
            }
        }
    }
}
