//! `quire bench`: Quire's speed beside the peers', measured in one run. Each
//! figure is one engine call (`quire_engine::bench`); the peers are the
//! scripts of `<shared>/bench`, run in the virtualenv `scripts/bench.sh` sets up.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use clap::{Args, ValueEnum};
use quire_engine::bench;
use quire_engine::embed::MiniLm;
use quire_engine::{Engine, EngineConfig};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    Embed,
    Import,
    Query,
    Generate,
    Memory,
}

#[derive(Args)]
pub struct BenchArgs {
    /// What to measure [default: everything]
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<Part>,
    /// The GGUF model [default: the one answers use]
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Runs per generation figure (the median is reported)
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Tokens to decode per run
    #[arg(long, default_value_t = 128)]
    pub decode: usize,
    /// SciFact abstracts to embed
    #[arg(long, default_value_t = 512)]
    pub abstracts: usize,
    /// Files in the generated import library (text, Markdown, HTML, DOCX,
    /// PDF from SciFact abstracts, and the shared corpus)
    #[arg(long, default_value_t = 10_000)]
    pub import_files: usize,
    /// Internal: import these folders in this process and print the figures
    #[arg(long, hide = true)]
    pub import_child: Vec<PathBuf>,
    /// Internal: the import child's data folder
    #[arg(long, hide = true)]
    pub import_data: Option<PathBuf>,
    /// Internal: the import child runs no searches beside the import
    #[arg(long, hide = true)]
    pub import_quiet: bool,
    /// Library sizes for the query figures
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    pub sizes: Vec<usize>,
    /// The shared benchmark data (bench/, eval/scifact/, corpus/)
    #[arg(long, env = "QUIRE_SHARED_DIR", default_value = "../shared")]
    pub shared: PathBuf,
    /// The peers' virtualenv (made by scripts/bench.sh)
    #[arg(long, env = "QUIRE_PEERS")]
    pub peers: Option<PathBuf>,
    /// Measure Quire only (no peers)
    #[arg(long)]
    pub no_peers: bool,
    /// Internal: answer one question in this process and print its peak memory
    #[arg(long, hide = true)]
    pub memory_child: bool,
    /// Grow the query/memory library in this folder and keep it (reused, and
    /// grown only as needed, by the next run) instead of a temporary one.
    #[arg(long)]
    pub library: Option<PathBuf>,
}

impl BenchArgs {
    fn wants(&self, p: Part) -> bool {
        self.only.is_empty() || self.only.contains(&p)
    }
}

/// One line of the final table.
struct Row {
    what: String,
    quire: String,
    peer: String,
    ratio: String,
}

fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

/// A rate beside llama.cpp's, both with `digits` decimals.
fn llama_row(what: String, quire: f64, peer: Option<f64>, digits: usize) -> Row {
    Row {
        what,
        quire: format!("{quire:.digits$}"),
        peer: peer
            .map(|v| format!("llama.cpp {v:.digits$}"))
            .unwrap_or("–".into()),
        ratio: ratio(quire, peer),
    }
}

/// A number that follows `label` in the peer script's output ("… prefill 176 tok/s").
fn after(text: &str, line_start: &str, label: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with(line_start))?;
    let rest = &line[line.find(label)? + label.len()..];
    let num: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse().ok()
}

/// The number just before `unit` on the line starting with `line_start` ("16.5 chunks/s").
fn before(text: &str, line_start: &str, unit: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with(line_start))?;
    let head = &line[..line.find(unit)?];
    let num: String = head
        .trim_end()
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.chars().rev().collect::<String>().parse().ok()
}

struct Peers {
    python: PathBuf,
    venv: PathBuf,
    scripts: PathBuf,
}

impl Peers {
    fn find(args: &BenchArgs) -> Option<Peers> {
        if args.no_peers {
            return None;
        }
        let venv = args
            .peers
            .clone()
            .or_else(|| dirs_home().map(|h| h.join(".cache/quire-peers")))?;
        let python = venv.join("bin/python");
        let scripts = args.shared.join("bench");
        if python.is_file() && scripts.join("peer_embed.py").is_file() {
            Some(Peers {
                python,
                venv,
                scripts,
            })
        } else {
            eprintln!(
                "peers not installed ({}): run `npm run bench`, which sets them up",
                venv.display()
            );
            None
        }
    }

    fn run(&self, script: &str, args: &[&std::ffi::OsStr]) -> Option<String> {
        eprintln!("running the peer {script} …");
        let out = Command::new(&self.python)
            .arg(self.scripts.join(script))
            .args(args)
            .env("HF_HUB_OFFLINE", "1")
            .env("TRANSFORMERS_OFFLINE", "1")
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if !out.status.success() {
            eprintln!(
                "the peer {script} failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
        }
        Some(text)
    }
}

fn dirs_home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

pub async fn run(config: EngineConfig, args: BenchArgs, json: bool) -> anyhow::Result<()> {
    if !args.import_child.is_empty() {
        return import_child(config, &args).await;
    }
    if args.memory_child {
        let engine = Engine::open(config).await?;
        let m = bench::answer_memory(
            &engine,
            "What do the sources say about the effect of vitamin D on bone density?",
            64,
        )
        .await?;
        println!("{}", serde_json::to_string(&m)?);
        return Ok(());
    }
    let scifact = args.shared.join("eval/scifact/corpus.jsonl");
    let minilm_dir = config.models_dir.join("all-MiniLM-L6-v2");
    let peers = Peers::find(&args);
    let mut rows: Vec<Row> = Vec::new();
    let mut report = serde_json::Map::new();

    if args.wants(Part::Embed) {
        let texts = bench::scifact_texts(&scifact, args.abstracts).context("reading SciFact")?;
        let model = MiniLm::load(&minilm_dir)?;
        let refs: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
        eprintln!("embedding {} SciFact abstracts …", refs.len());
        let b = bench::embedding(&model, &refs, 1)?;
        drop(model);
        let peer = peers.as_ref().and_then(|p| {
            let onnx = p.venv.join("minilm-onnx");
            p.run(
                "peer_embed.py",
                &[
                    minilm_dir.as_os_str(),
                    onnx.as_os_str(),
                    scifact.as_os_str(),
                    args.abstracts.to_string().as_ref(),
                ],
            )
        });
        let st = peer
            .as_deref()
            .and_then(|t| before(t, "sentence-transformers:", "tokens/s"));
        let ort = peer
            .as_deref()
            .and_then(|t| before(t, "onnxruntime", "tokens/s"));
        rows.push(Row {
            what: format!("Embedding, {} abstracts (tokens/s)", b.chunks),
            quire: format!("{:.0} ({:.1} chunks/s)", b.tokens_per_s, b.chunks_per_s),
            peer: st
                .map(|v| format!("sentence-transformers {v:.0}"))
                .unwrap_or("–".into()),
            ratio: ratio(b.tokens_per_s, st),
        });
        rows.push(Row {
            what: String::new(),
            quire: String::new(),
            peer: ort
                .map(|v| format!("ONNX Runtime {v:.0}"))
                .unwrap_or("–".into()),
            ratio: ratio(b.tokens_per_s, ort),
        });
        report.insert("embedding".into(), serde_json::json!({ "quire": b, "sentence_transformers_tokens_per_s": st, "onnxruntime_tokens_per_s": ort }));
    }

    if args.wants(Part::Import) {
        import_at_scale(
            &config,
            &args,
            &scifact,
            &minilm_dir,
            &mut rows,
            &mut report,
        )?;
    }

    // A temporary library, deleted at the end, unless `--library` names one.
    let mut temporary = None;
    let library: PathBuf = match &args.library {
        Some(dir) => dir.clone(),
        None => temporary
            .insert(
                tempfile::Builder::new()
                    .prefix("quire-bench-library-")
                    .tempdir()?,
            )
            .path()
            .to_path_buf(),
    };
    if args.wants(Part::Query) || args.wants(Part::Memory) {
        let mut c = config.clone();
        c.data_dir = library.clone();
        let engine = Engine::open(c).await?;
        // Real chunks: every SciFact abstract embedded once (cached between runs).
        let base = scifact_base(&engine, &scifact)?;
        let queries =
            bench::beir_queries(&args.shared.join("eval/scifact/queries_train.jsonl"), 200)?;
        let mut sizes = args.sizes.clone();
        sizes.sort();
        for &size in &sizes {
            eprintln!("growing the library to {size} chunks …");
            bench::grow_library(&engine, &base, size).await?;
            if args.wants(Part::Query) {
                let q = bench::query_latency(&engine, &queries).await?;
                rows.push(Row {
                    what: format!("Query p50 / p95, {} chunks ({})", q.chunks, q.dense_method),
                    quire: format!(
                        "{:.1} / {:.1} ms, recall@10 {:.3} (alone: embed {:.1}, dense {:.1}, BM25 {:.1}, records {:.1} ms)",
                        q.p50_ms, q.p95_ms, q.recall_at_10, q.embed_p50_ms, q.dense_p50_ms, q.bm25_p50_ms, q.records_p50_ms
                    ),
                    peer: "target p50 ≤ 15 ms, recall ≥ 0.95".into(),
                    ratio: "–".into(),
                });
                report.insert(format!("query_{size}"), serde_json::to_value(&q)?);
            }
        }
        engine.close().await;
    }

    if args.wants(Part::Generate) {
        let engine = Engine::open(config.clone()).await?;
        let path = args
            .model
            .clone()
            .unwrap_or_else(|| engine.model_path(&engine.settings()));
        engine.close().await;
        let mut gen = quire_engine::llm::LocalGenerator::load(&path)?;
        eprintln!("generating with {} …", path.display());
        let b = bench::generation(&mut gen, args.runs, args.decode)?;
        drop(gen);
        let peer = peers.as_ref().and_then(|p| {
            p.run(
                "peer_llm.py",
                &[path.as_os_str(), b.threads.to_string().as_ref()],
            )
        });
        let pf = peer
            .as_deref()
            .and_then(|t| after(t, "llama.cpp", "prefill"));
        let ttft = peer.as_deref().and_then(|t| after(t, "llama.cpp", "(TTFT"));
        let dec = peer
            .as_deref()
            .and_then(|t| after(t, "llama.cpp", "decode"));
        rows.push(llama_row(
            format!("Prefill, {}-token RAG prompt (tok/s)", b.prompt_tokens),
            b.prefill_tokens_per_s,
            pf,
            0,
        ));
        rows.push(Row {
            what: "Time to first token, first answer".into(),
            quire: format!("{:.0} ms", b.ttft_ms),
            peer: ttft
                .map(|v| format!("llama.cpp {v:.0} ms"))
                .unwrap_or("–".into()),
            ratio: ttft
                .map(|t| format!("{:.2}× faster", t / b.ttft_ms))
                .unwrap_or("–".into()),
        });
        rows.push(Row {
            what: format!(
                "Time to first token, repeat case ({} tokens reused)",
                b.repeat_reused_tokens
            ),
            quire: format!("{:.0} ms", b.repeat_ttft_ms),
            peer: "target ≤ 1000 ms".into(),
            ratio: ttft
                .map(|t| format!("{:.2}× faster", t / b.repeat_ttft_ms))
                .unwrap_or("–".into()),
        });
        rows.push(llama_row(
            format!("Decode, {} tokens (tok/s)", b.decode_tokens),
            b.decode_tokens_per_s,
            dec,
            1,
        ));
        report.insert("generation".into(), serde_json::json!({ "model": path, "quire": b, "llama_cpp_prefill_tokens_per_s": pf, "llama_cpp_ttft_ms": ttft, "llama_cpp_decode_tokens_per_s": dec }));
    }

    if args.wants(Part::Memory) {
        // A fresh process: its peak covers opening the library, both models and one answer.
        let exe = std::env::current_exe()?;
        eprintln!("answering in a fresh process over the largest library …");
        let out = Command::new(exe)
            .arg("--data-dir")
            .arg(&library)
            .arg("--models-dir")
            .arg(&config.models_dir)
            .args(["bench", "--memory-child", "--no-peers"])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let m: Option<bench::MemoryBench> = text
            .lines()
            .last()
            .and_then(|l| serde_json::from_str(l).ok());
        match m {
            Some(m) => {
                rows.push(Row {
                    what: format!(
                        "Peak RSS answering, {} chunks, both models ({}-token prompt)",
                        m.chunks, m.prompt_tokens
                    ),
                    quire: mb(m.peak_rss_bytes),
                    peer: "target ≤ 400 MB".into(),
                    ratio: "–".into(),
                });
                for (stage, bytes) in &m.stages {
                    eprintln!("  resident {stage}: {}", mb(*bytes));
                }
                report.insert("memory".into(), serde_json::to_value(&m)?);
            }
            None => eprintln!(
                "the memory measurement failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ),
        }
    }

    if json {
        println!("{}", serde_json::Value::Object(report));
        return Ok(());
    }
    let width = |cell: fn(&Row) -> &String, min: usize| {
        rows.iter()
            .map(|r| cell(r).chars().count())
            .max()
            .unwrap_or(0)
            .max(min)
    };
    let (w0, w1, w2) = (
        width(|r| &r.what, 0),
        width(|r| &r.quire, 5),
        width(|r| &r.peer, 4),
    );
    println!(
        "| {:w0$} | {:w1$} | {:w2$} | Quire/peer |",
        "Figure", "Quire", "Peer"
    );
    println!(
        "|{}|{}|{}|------------|",
        "-".repeat(w0 + 2),
        "-".repeat(w1 + 2),
        "-".repeat(w2 + 2)
    );
    for r in rows {
        println!(
            "| {:w0$} | {:w1$} | {:w2$} | {} |",
            r.what, r.quire, r.peer, r.ratio
        );
    }
    Ok(())
}

/// Every SciFact abstract with its vector, embedded once and cached in
/// `~/.cache/quire/bench` (keyed by the corpus size) so repeated runs skip it.
fn scifact_base(engine: &Engine, corpus: &Path) -> anyhow::Result<Vec<(String, String, Vec<f32>)>> {
    let texts = bench::scifact_texts(corpus, usize::MAX)?;
    let cache_dir = dirs_home().unwrap_or_default().join(".cache/quire/bench");
    let cache = cache_dir.join(format!("scifact-{}-minilm.f32", texts.len()));
    let dim = engine.embedder().dimension();
    let vectors: Vec<f32> = match std::fs::read(&cache) {
        Ok(bytes) if bytes.len() == texts.len() * dim * 4 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        _ => {
            eprintln!(
                "embedding all {} SciFact abstracts once for the query figures (cached in {}) …",
                texts.len(),
                cache.display()
            );
            let refs: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
            let mut all = Vec::with_capacity(texts.len() * dim);
            for part in refs.chunks(512) {
                for v in engine.embedder().embed(part)? {
                    all.extend(v);
                }
            }
            std::fs::create_dir_all(&cache_dir)?;
            std::fs::write(
                &cache,
                all.iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect::<Vec<u8>>(),
            )?;
            all
        }
    };
    Ok(texts
        .into_iter()
        .zip(vectors.chunks_exact(dim))
        .map(|((id, t), v)| (id, t, v.to_vec()))
        .collect())
}

/// The import child: the engine of a fresh library (or a copy of `--library`)
/// imports the given folders while searches run beside it; then the embedder
/// alone embeds a sample of the very texts the import embedded.
async fn import_child(mut config: EngineConfig, args: &BenchArgs) -> anyhow::Result<()> {
    let data = args
        .import_data
        .clone()
        .context("--import-data is required")?;
    config.data_dir = data;
    let minilm = std::sync::Arc::new(MiniLm::load(&config.models_dir.join("all-MiniLM-L6-v2"))?);
    let chunker = quire_engine::chunk::Chunker::new(
        minilm.sizing_tokenizer(),
        quire_engine::chunk::DEFAULT_MAX_TOKENS,
    )?;
    let sampling = std::sync::Arc::new(bench::SamplingEmbedder::new(minilm.clone(), 2048));
    let engine = Engine::with_parts(config, sampling.clone(), chunker).await?;
    // A quiet run measures the import alone (the seed's stack it is compared
    // with runs no searches either).
    let queries = if args.import_quiet {
        Vec::new()
    } else {
        bench::beir_queries(&args.shared.join("eval/scifact/queries_train.jsonl"), 200)?
    };
    let scale = bench::import_at_scale(&engine, &args.import_child, &queries).await?;
    engine.close().await;
    let sample = sampling.sample();
    let refs: Vec<&str> = sample.iter().map(String::as_str).collect();
    let alone = if refs.is_empty() {
        None
    } else {
        Some(bench::embedding(&minilm, &refs, 1)?)
    };
    println!(
        "{}",
        serde_json::json!({ "scale": scale, "embedder_alone": alone })
    );
    Ok(())
}

/// Runs one import child and reads its figures; `searching`: with searches
/// running beside the import.
fn run_import_child(
    config: &EngineConfig,
    args: &BenchArgs,
    inputs: &[&Path],
    data: &Path,
    searching: bool,
) -> anyhow::Result<serde_json::Value> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("--models-dir")
        .arg(&config.models_dir)
        .arg("bench")
        .arg("--shared")
        .arg(&args.shared)
        .arg("--import-data")
        .arg(data);
    if !searching {
        cmd.arg("--import-quiet");
    }
    for i in inputs {
        cmd.arg("--import-child").arg(i);
    }
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("starting the import child")?;
    anyhow::ensure!(
        out.status.success(),
        "the import child failed ({})",
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .context("the import child printed no figures")?;
    Ok(serde_json::from_str(line)?)
}

/// `--only import`: a generated library of `--import-files` files imported
/// with searches beside it (in a child process, so its memory is its own),
/// the embedder alone on the same texts, and the generated PDFs imported by
/// Quire and by the seed's LangChain stack.
#[allow(clippy::too_many_arguments)]
fn import_at_scale(
    config: &EngineConfig,
    args: &BenchArgs,
    scifact: &Path,
    minilm_dir: &Path,
    rows: &mut Vec<Row>,
    report: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("quire-bench-import-")
        .tempdir()?;
    let abstracts = bench::scifact_texts(scifact, usize::MAX).context("reading SciFact")?;
    let mut corpus: Vec<PathBuf> = Vec::new();
    for folder in ["corpus/docs", "corpus/pdfs"] {
        collect_files(&args.shared.join(folder), &mut corpus);
    }
    corpus.retain(|p| {
        !matches!(
            p.file_name().and_then(|n| n.to_str()),
            Some("SOURCES.md" | "manifest.tsv")
        )
    });
    corpus.sort();
    eprintln!("writing a library of {} files …", args.import_files);
    let (dirs, written) =
        crate::bench_library::generate(scratch.path(), args.import_files, &abstracts, &corpus)?;
    let pdfs = dirs.pdfs.clone();
    eprintln!(
        "  {} text, {} Markdown, {} HTML, {} DOCX, {} PDF from SciFact; {} corpus files; {}",
        written.txt,
        written.md,
        written.html,
        written.docx,
        written.pdf,
        written.corpus,
        mb(written.bytes)
    );
    // A base library (`--library`, e.g. the 100k-passage query library) is
    // copied in so the searches during the import run at that size.
    let data = scratch.path().join("data");
    if let Some(base) = &args.library {
        if base.join("quire.sqlite").is_file() {
            eprintln!("copying the base library {} …", base.display());
            copy_dir(base, &data)?;
        }
    }
    eprintln!(
        "importing {} files with searches running beside …",
        written.total()
    );
    let full = run_import_child(
        config,
        args,
        &[&dirs.corpus, &dirs.text, &dirs.pdfs],
        &data,
        true,
    )?;
    let scale = &full["scale"];
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    let imp = &scale["import"];
    let share_row = |what: String, run: &serde_json::Value| {
        let imp = &run["scale"]["import"];
        let alone = f(&run["embedder_alone"], "chunks_per_s");
        let share = if alone > 0.0 {
            f(imp, "chunks_per_s") / alone
        } else {
            0.0
        };
        Row {
            what,
            quire: format!(
                "{:.1} files/s, {:.1} chunks/s, {:.0} s (final index {:.0} s)",
                f(imp, "files_per_s"),
                f(imp, "chunks_per_s"),
                f(imp, "seconds"),
                f(imp, "index_seconds")
            ),
            peer: format!("embedder alone, same texts: {alone:.1} chunks/s"),
            ratio: format!("{:.0} %", share * 100.0),
        }
    };
    rows.push(share_row(
        format!(
            "Import, {} files ({} failed: corpus files Quire cannot read)",
            f(imp, "files") as usize,
            f(imp, "failed") as usize
        ),
        &full,
    ));
    rows.push(Row {
        what: "  peak RSS during it (app + reader workers)".into(),
        quire: format!(
            "{} (app alone {})",
            mb(f(scale, "peak_rss_bytes") as u64),
            mb(f(scale, "peak_rss_engine_bytes") as u64)
        ),
        peer: "–".into(),
        ratio: String::new(),
    });
    // What the app held at its own peak.
    if let Some(parts) = scale["at_peak"].as_array().filter(|p| !p.is_empty()) {
        let text: Vec<String> = parts
            .iter()
            .filter_map(|p| Some(format!("{} {}", p[0].as_str()?, mb(p[1].as_u64()?))))
            .collect();
        rows.push(Row {
            what: "  the app's memory at its peak".into(),
            quire: format!(
                "at {:.0} s of {:.0} s: {}",
                f(scale, "peak_at_seconds"),
                f(imp, "seconds"),
                text.join(", ")
            ),
            peer: "–".into(),
            ratio: String::new(),
        });
    }
    rows.push(Row {
        what: format!(
            "  hybrid search during it, {}→{} passages",
            scale["search_chunks"][0], scale["search_chunks"][1]
        ),
        quire: format!(
            "p50 {:.1} ms, p95 {:.1} ms",
            f(scale, "search_p50_ms"),
            f(scale, "search_p95_ms")
        ),
        peer: "–".into(),
        ratio: String::new(),
    });
    rows.push(Row {
        what: format!(
            "  ranked search (the app's default) during it ({} searches in all, in turn)",
            scale["searches"]
        ),
        quire: format!(
            "p50 {:.1} ms, p95 {:.1} ms",
            f(scale, "ranked_p50_ms"),
            f(scale, "ranked_p95_ms")
        ),
        peer: "–".into(),
        ratio: String::new(),
    });
    // The text-like files alone (text, Markdown, HTML, DOCX): the share of
    // the embedder's throughput the import reaches where reading is cheap,
    // no searches beside it (the import's own throughput; the searches'
    // cost is measured in the run above).
    eprintln!(
        "importing the {} text-like files alone, no searches beside …",
        written.text_like()
    );
    let text_only = run_import_child(
        config,
        args,
        &[&dirs.text],
        &scratch.path().join("data-text"),
        false,
    )?;
    rows.push(share_row(
        format!(
            "Import, the {} text-like files alone (no searches beside)",
            written.text_like()
        ),
        &text_only,
    ));
    // The generated PDFs alone, Quire and the seed's stack, neither
    // searching meanwhile.
    eprintln!("importing the {} generated PDFs alone …", written.pdf);
    let pdf_only = run_import_child(
        config,
        args,
        &[&pdfs],
        &scratch.path().join("data-pdf"),
        false,
    )?;
    let q_pdf = &pdf_only["scale"]["import"];
    let rag = if args.no_peers {
        None
    } else {
        rag_peer(args, minilm_dir, &pdfs)
    };
    let peer_s = rag.as_ref().and_then(|r| r["ingest_s"].as_f64());
    rows.push(Row {
        what: format!("Import end to end, the {} generated PDFs", written.pdf),
        quire: format!(
            "{:.0} s ({:.1} files/s, {} chunks)",
            f(q_pdf, "seconds"),
            f(q_pdf, "files_per_s"),
            q_pdf["chunks"]
        ),
        peer: match (&rag, peer_s) {
            (Some(r), Some(s)) => format!("LangChain+Chroma {s:.0} s ({} chunks)", r["chunks"]),
            _ => "– (run `setup-peers.sh DIR --rag`)".into(),
        },
        ratio: peer_s
            .map(|s| format!("{:.1}×", s / f(q_pdf, "seconds")))
            .unwrap_or("–".into()),
    });
    // OCR: the corpus's scanned PDFs alone (every page without a text layer
    // is rendered and recognised by Tesseract in the reader worker).
    let scans: Vec<PathBuf> = corpus
        .iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("scan_") && n.ends_with(".pdf"))
        })
        .cloned()
        .collect();
    let mut ocr = serde_json::Value::Null;
    if !scans.is_empty() {
        eprintln!(
            "importing the corpus's {} scanned PDFs alone (OCR) …",
            scans.len()
        );
        let inputs: Vec<&Path> = scans.iter().map(PathBuf::as_path).collect();
        ocr = run_import_child(
            config,
            args,
            &inputs,
            &scratch.path().join("data-ocr"),
            false,
        )?;
        let q = &ocr["scale"]["import"];
        let pages = f(q, "ocr_pages");
        rows.push(Row {
            what: format!(
                "OCR, the corpus's {} scanned PDFs (pages recognised)",
                scans.len()
            ),
            quire: if pages > 0.0 {
                format!(
                    "{pages:.0} pages in {:.0} s: {:.2} pages/s ({:.1} s a page, import included)",
                    f(q, "seconds"),
                    pages / f(q, "seconds"),
                    f(q, "seconds") / pages
                )
            } else {
                "no page recognised (is Tesseract installed?)".into()
            },
            peer: "–".into(),
            ratio: String::new(),
        });
    }
    report.insert(
        "import_at_scale".into(),
        serde_json::json!({ "written": written, "library": full, "text": text_only, "pdfs": pdf_only, "langchain_pdfs": rag, "ocr": ocr }),
    );
    Ok(())
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

/// The seed's stack on a folder of PDFs (`peer_rag.py`), in the first
/// virtualenv with LangChain: `--peers`, `~/.cache/quire-peers`, `~/.cache/quire-rag`
/// (`setup-peers.sh DIR --rag` installs it).
fn rag_peer(args: &BenchArgs, minilm_dir: &Path, pdfs: &Path) -> Option<serde_json::Value> {
    let has_langchain = |py: &Path| {
        Command::new(py)
            .args(["-c", "import langchain_community, chromadb"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let home = dirs_home()?;
    let python = [
        args.peers.clone(),
        Some(home.join(".cache/quire-peers")),
        Some(home.join(".cache/quire-rag")),
    ]
    .into_iter()
    .flatten()
    .map(|v| v.join("bin/python"))
    .find(|py| py.is_file() && has_langchain(py))?;
    eprintln!("running the peer peer_rag.py (LangChain + Chroma) on the same PDFs …");
    let out = Command::new(&python)
        .arg(args.shared.join("bench/peer_rag.py"))
        .arg(minilm_dir)
        .arg(pdfs)
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .stderr(std::process::Stdio::inherit())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))?;
    serde_json::from_str(line).ok()
}
