//! `ask`, `chat`, `chats`, `models`, `config` and `collections`: answering
//! questions in a terminal, streamed, with Ctrl-C stopping the answer.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::{Args, Subcommand};
use quire_engine::{
    Answer, AnswerEvent, AskOptions, CancelToken, ChatScope, CitationMethod, Engine, Settings,
    Source,
};

/// The answer Ctrl-C stops; with none running, Ctrl-C ends the program.
static RUNNING: Mutex<Option<CancelToken>> = Mutex::new(None);

pub(crate) fn install_ctrl_c() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            let running = RUNNING.lock().ok().and_then(|r| r.clone());
            match running {
                Some(token) => token.cancel(),
                None => std::process::exit(130),
            }
        });
    });
}

pub(crate) fn set_running(token: Option<CancelToken>) {
    if let Ok(mut r) = RUNNING.lock() {
        *r = token;
    }
}

#[derive(Args, Clone, Default)]
pub struct ScopeArgs {
    /// Only use this document (id, path or file name); repeatable
    #[arg(long = "doc")]
    docs: Vec<String>,
    /// Only use the documents of this collection
    #[arg(long)]
    collection: Option<String>,
}

impl ScopeArgs {
    fn scope(&self) -> ChatScope {
        ChatScope {
            documents: self.docs.clone(),
            collection: self.collection.clone(),
        }
    }
}

/// Per-command overrides of the saved settings (`quire config`).
#[derive(Args, Clone, Default)]
pub struct SettingsArgs {
    /// A GGUF model file to answer with
    #[arg(long)]
    model: Option<PathBuf>,
    /// How many passages the model is given
    #[arg(long)]
    top_k: Option<usize>,
    /// 0 answers deterministically (greedy)
    #[arg(long)]
    temperature: Option<f64>,
    #[arg(long)]
    top_p: Option<f64>,
    /// Longest answer, in tokens
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Replaces the built-in system prompt
    #[arg(long)]
    system_prompt: Option<String>,
    /// Minimum similarity of the best passage; below it Quire says the documents do not cover the question
    #[arg(long)]
    threshold: Option<f32>,
    #[arg(long)]
    seed: Option<u64>,
}

impl SettingsArgs {
    fn apply(&self, mut s: Settings) -> Settings {
        fn set<T: Clone>(slot: &mut T, given: &Option<T>) {
            if let Some(v) = given {
                *slot = v.clone();
            }
        }
        if self.model.is_some() {
            s.model = self.model.clone();
        }
        if self.system_prompt.is_some() {
            s.system_prompt = self.system_prompt.clone();
        }
        set(&mut s.top_k, &self.top_k);
        set(&mut s.temperature, &self.temperature);
        set(&mut s.top_p, &self.top_p);
        set(&mut s.max_tokens, &self.max_tokens);
        set(&mut s.relevance_threshold, &self.threshold);
        set(&mut s.seed, &self.seed);
        s
    }
}

#[derive(Subcommand)]
pub enum ChatsAction {
    /// Print a chat with its citations
    Show { id: i64 },
    /// Give a chat a new title
    Rename { id: i64, title: String },
    /// Delete a chat
    Delete { id: i64 },
}

#[derive(Subcommand)]
pub enum CollectionAction {
    /// Add documents (id, path or file name) to a collection, creating it
    Add {
        name: String,
        #[arg(required = true)]
        docs: Vec<String>,
    },
    /// Take documents out of a collection
    Remove {
        name: String,
        #[arg(required = true)]
        docs: Vec<String>,
    },
    /// Delete a collection (its documents stay in the library)
    Delete { name: String },
}

/// Prints events as they come: tokens to stdout at once, JSON lines with `--json`.
struct Printer {
    json: bool,
    status: bool,
}

impl Printer {
    fn new(json: bool) -> Self {
        Printer {
            json,
            status: !json && std::io::stderr().is_terminal(),
        }
    }

    fn event(&self, e: &AnswerEvent) {
        let mut out = std::io::stdout().lock();
        if self.json {
            let _ = writeln!(out, "{}", serde_json::to_string(e).unwrap_or_default());
            let _ = out.flush();
            return;
        }
        match e {
            AnswerEvent::Query { question, query } => {
                if self.status && query != question {
                    eprintln!("(searching for: {query})");
                }
            }
            AnswerEvent::Sources { sources } => {
                if self.status {
                    eprintln!("(reading {} passages…)", sources.len());
                }
            }
            AnswerEvent::Reading {
                part,
                parts,
                name,
                first_page,
                last_page,
            } => {
                if self.status {
                    let pages = match (first_page, last_page) {
                        (Some(a), Some(b)) if a == b => format!(", page {a}"),
                        (Some(a), Some(b)) => format!(", pages {a}–{b}"),
                        _ => String::new(),
                    };
                    eprintln!("(reading part {part} of {parts}: {name}{pages}…)");
                }
            }
            AnswerEvent::Token { text } => {
                let _ = write!(out, "{text}");
                let _ = out.flush();
            }
            AnswerEvent::Escalating {
                reason,
                model,
                left_machine,
            } => {
                let away = if *left_machine {
                    " (the question and its passages go to that server)"
                } else {
                    ""
                };
                let _ = writeln!(out, "\n\n(asking {model}: {reason}{away})\n");
                let _ = out.flush();
            }
            AnswerEvent::Done { answer } => print_answer_end(&mut out, answer),
            AnswerEvent::Error { .. } => {}
        }
    }
}

fn source_line(s: &Source) -> String {
    let page = s.page.map(|p| format!(", page {p}")).unwrap_or_default();
    format!("[{}] {}{page} — \"{}\"", s.n, s.name, s.snippet(160))
}

fn print_answer_end(out: &mut impl Write, a: &Answer) {
    if a.not_covered {
        let _ = writeln!(out, "{}", a.text);
        return;
    }
    let _ = writeln!(out);
    if a.stopped {
        let _ = writeln!(out, "[stopped]");
    }
    if let Some(e) = &a.escalated {
        let cached = if e.cached { ", from the cache" } else { "" };
        let _ = writeln!(out, "(answered by {}{cached}: {})", e.model, e.reason);
    }
    let _ = writeln!(out);
    // What streamed was the model's words; the answer shown differs.
    if let Some(note) = a.shown_differs_note() {
        let _ = writeln!(out, "{note}\n\n{}\n", a.text);
    }
    match a.citation_method {
        CitationMethod::None => {
            let _ = writeln!(
                out,
                "The answer cites none of the passages it was given; check them:"
            );
            for s in &a.sources {
                let _ = writeln!(out, "  {}", source_line(s));
            }
        }
        CitationMethod::Markers | CitationMethod::Overlap | CitationMethod::Extractive => {
            let _ = writeln!(out, "Sources:");
            for s in &a.cited {
                let _ = writeln!(out, "  {}", source_line(s));
            }
        }
    }
    for s in &a.cited {
        let _ = writeln!(out, "      {}", s.path);
    }
    let _ = out.flush();
}

async fn answer_once(
    engine: &Engine,
    chat: Option<Option<i64>>,
    question: &str,
    opts: &AskOptions,
    printer: &Printer,
) -> anyhow::Result<(Option<i64>, Answer)> {
    let cancel = CancelToken::new();
    set_running(Some(cancel.clone()));
    let mut sink = |e: &AnswerEvent| printer.event(e);
    let result = match chat {
        None => engine
            .ask(question, opts, &cancel, &mut sink)
            .await
            .map(|a| (None, a)),
        Some(id) => engine
            .chat_ask(id, question, opts, &cancel, &mut sink)
            .await
            .map(|(id, a)| (Some(id), a)),
    };
    set_running(None);
    Ok(result?)
}

pub async fn ask(
    engine: &Engine,
    question: &str,
    scope: &ScopeArgs,
    settings: &SettingsArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    install_ctrl_c();
    let opts = AskOptions {
        settings: Some(settings.apply(engine.settings())),
        scope: scope.scope(),
        history: Vec::new(),
    };
    let (_, answer) = answer_once(engine, None, question, &opts, &Printer::new(json)).await?;
    Ok(if answer.stopped {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn chat(
    engine: &Engine,
    resume: Option<i64>,
    scope: &ScopeArgs,
    settings: &SettingsArgs,
    json: bool,
) -> anyhow::Result<()> {
    install_ctrl_c();
    let interactive = std::io::stdin().is_terminal();
    let mut chat_id = resume;
    if let Some(id) = resume {
        let (info, messages) = engine.chat(id).await?;
        if json {
            println!("{}", serde_json::json!({ "event": "chat", "chat": info }));
        } else if interactive {
            eprintln!("Resuming “{}” ({} messages).", info.title, messages.len());
            for m in messages.iter().rev().take(2).rev() {
                eprintln!("{}: {}", m.role, crate::snippet(&m.content, 300));
            }
        }
    } else if interactive && !json {
        eprintln!(
            "Ask about your documents. Ctrl-C stops an answer; Ctrl-D or /quit ends the chat."
        );
    }
    let opts = AskOptions {
        settings: Some(settings.apply(engine.settings())),
        scope: scope.scope(),
        history: Vec::new(),
    };
    let printer = Printer::new(json);
    let stdin = std::io::stdin();
    loop {
        if interactive {
            eprint!("\nyou> ");
            let _ = std::io::stderr().flush();
        }
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        let question = line.trim();
        if question.is_empty() {
            continue;
        }
        if question == "/quit" || question == "/exit" {
            break;
        }
        let started = chat_id.is_none();
        match answer_once(engine, Some(chat_id), question, &opts, &printer).await {
            Ok((id, _)) => {
                chat_id = id.or(chat_id);
                if started {
                    if let (true, Some(id)) = (json, chat_id) {
                        println!("{}", serde_json::json!({ "event": "chat", "id": id }));
                    }
                }
            }
            // A failed answer does not end the chat; the error was printed as an event with --json.
            Err(e) if !json => eprintln!("quire: {e:#}"),
            Err(_) => {}
        }
    }
    if let (false, Some(id)) = (json, chat_id) {
        eprintln!("Chat {id} is saved; continue it with `quire chat --resume {id}`.");
    }
    Ok(())
}

pub async fn chats(engine: &Engine, action: Option<ChatsAction>, json: bool) -> anyhow::Result<()> {
    match action {
        None => {
            let chats = engine.chats().await?;
            if crate::print_list(&chats, json, "no chats yet: start one with `quire chat`") {
                println!("{:>5}  {:>8}  title", "id", "messages");
                for c in &chats {
                    println!("{:>5}  {:>8}  {}", c.id, c.messages, c.title);
                }
            }
        }
        Some(ChatsAction::Show { id }) => {
            let (info, messages) = engine.chat(id).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "chat": info, "messages": messages })
                );
            } else {
                println!("# {}", info.title);
                for m in &messages {
                    println!("\n{}: {}", m.role, m.content);
                    for s in &m.cited {
                        println!("  {}", source_line(s));
                    }
                }
            }
        }
        Some(ChatsAction::Rename { id, title }) => {
            engine.rename_chat(id, &title).await?;
            if json {
                println!("{}", serde_json::json!({ "renamed": id, "title": title }));
            }
        }
        Some(ChatsAction::Delete { id }) => {
            engine.delete_chat(id).await?;
            if json {
                println!("{}", serde_json::json!({ "deleted": id }));
            } else {
                println!("deleted chat {id}");
            }
        }
    }
    Ok(())
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub fn models(engine: &Engine, json: bool) {
    let choices = engine.model_choices();
    if json {
        for c in &choices.models {
            let line = match (&c.model, &c.path, &c.error) {
                (Some(info), _, _) => serde_json::json!({
                    "model": info,
                    "default": c.current,
                    "fits": c.fits,
                    "available_memory": choices.available_memory,
                }),
                (None, path, error) => serde_json::json!({ "path": path, "error": error }),
            };
            println!("{line}");
        }
        return;
    }
    if choices.models.is_empty() {
        println!(
            "no GGUF models found in {}; run `npm run fetch-models` for the default one, or pass --model <file.gguf>",
            engine.config().models_dir.display()
        );
        return;
    }
    println!(
        "{:<2}{:<42} {:<8} {:<7} {:>9} {:>8} {:>8} {:>9}  {}",
        "", "file", "arch", "quant", "params", "size", "context", "RAM", "fits"
    );
    let mut unsupported = Vec::new();
    for c in &choices.models {
        match (&c.model, &c.path, &c.error) {
            (Some(i), _, _) => {
                let mark = if c.current { "*" } else { " " };
                let arch = if i.supported {
                    i.architecture.clone()
                } else {
                    format!("{} (unsupported)", i.architecture)
                };
                if let Some(m) = &i.missing {
                    unsupported.push(format!("{}: Quire lacks {m}", i.file_name));
                }
                println!(
                    "{mark:<2}{:<42} {:<8} {:<7} {:>8.0}M {:>8} {:>8} {:>9}  {}",
                    i.file_name,
                    arch,
                    i.quantization,
                    i.parameters as f64 / 1e6,
                    mib(i.file_bytes),
                    i.context_length
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "?".into()),
                    mib(i.ram_bytes),
                    match c.fits {
                        Some(true) => "yes",
                        Some(false) => "no",
                        None => "?",
                    },
                );
            }
            (None, path, error) => println!(
                "  {:<42} cannot be read: {}",
                path.as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                error
                    .as_ref()
                    .map(|e| e.message.as_str())
                    .unwrap_or("unknown error")
            ),
        }
    }
    for u in unsupported {
        println!("  {u}");
    }
    let free = choices
        .available_memory
        .map(|b| {
            format!(
                "; fits: the RAM needed is within the {} this machine has available now",
                mib(b)
            )
        })
        .unwrap_or_default();
    println!("\n* answers use this model (change it with `quire config --set model=<file.gguf>` or --model). RAM: weights + a {}-token context{free}.", quire_engine::llm::gguf::MAX_CONTEXT);
}

pub fn config(engine: &Engine, set: &[String], reset: bool, json: bool) -> anyhow::Result<()> {
    let mut settings = if reset {
        Settings::default()
    } else {
        engine.settings()
    };
    for kv in set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| quire_engine::Error::InvalidInput(format!("`{kv}`: write key=value")))?;
        settings.set(k.trim(), v)?;
    }
    if reset || !set.is_empty() {
        engine.save_settings(settings.clone())?;
    }
    if json {
        println!(
            "{}",
            serde_json::json!({ "path": engine.settings_path(), "settings": settings })
        );
    } else {
        println!("# {}", engine.settings_path().display());
        print!("{}", toml_text(&settings));
        println!("# model in use: {}", engine.model_path(&settings).display());
    }
    Ok(())
}

fn toml_text(s: &Settings) -> String {
    let v = serde_json::to_value(s).unwrap_or_default();
    let mut out = String::new();
    if let Some(map) = v.as_object() {
        for (k, v) in map {
            out.push_str(&format!("{k} = {v}\n"));
        }
    }
    out
}

pub async fn collections(
    engine: &Engine,
    action: Option<CollectionAction>,
    json: bool,
) -> anyhow::Result<()> {
    match action {
        None => {
            let cols = engine.collections().await?;
            let empty = "no collections: make one with `quire collections add <name> <documents…>`";
            if crate::print_list(&cols, json, empty) {
                for c in &cols {
                    println!("{} ({} documents)", c.name, c.documents.len());
                }
            }
        }
        Some(CollectionAction::Add { name, docs }) => {
            let ids = engine.add_to_collection(&name, &docs).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "collection": name, "added": ids })
                );
            } else {
                println!("added {} documents to {name}", ids.len());
            }
        }
        Some(CollectionAction::Remove { name, docs }) => {
            engine.remove_from_collection(&name, &docs).await?;
            if !json {
                println!("removed {} documents from {name}", docs.len());
            }
        }
        Some(CollectionAction::Delete { name }) => {
            engine.delete_collection(&name).await?;
            if !json {
                println!("deleted collection {name}");
            }
        }
    }
    Ok(())
}
