//! `quire eval --qa <folder>`: page-level retrieval on a folder of PDFs and
//! questions (`quire_engine::eval::qa`), with the naive LangChain stack's
//! doc@5 / page@5 on the same folder beside it when its peer script is
//! installed (`../shared/bench/peer_rag.py` in its virtualenv).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use clap::Args;
use quire_engine::eval::qa;
use quire_engine::rank::Weights;
use quire_engine::{Engine, EngineConfig};

#[derive(Args, Default)]
pub struct QaArgs {
    /// The folder holds pdfs/ and questions.jsonl (question, doc, evidence: [{doc, page}])
    #[arg(long)]
    pub qa: bool,
    /// Also answer the first N questions and check their citations
    #[arg(long, default_value_t = 0)]
    pub answers: usize,
    /// Keep the imported library in this folder (reused by the next run:
    /// unchanged files are not read again) instead of a temporary one
    #[arg(long)]
    pub library: Option<PathBuf>,
    /// Also score the ranked mode with these weights, "bm25,doc,page[,statement]" (tuning); repeatable
    #[arg(long = "weights", value_parser = parse_weights)]
    pub weights: Vec<Weights>,
    /// Do not run the naive stack beside Quire
    #[arg(long)]
    pub no_peer: bool,
    /// The peers' virtualenv (made by shared/bench/setup-peers.sh --rag)
    #[arg(long, env = "QUIRE_PEERS")]
    pub peers: Option<PathBuf>,
    /// The shared benchmark folder holding bench/peer_rag.py
    #[arg(long, env = "QUIRE_SHARED_DIR", default_value = "../shared")]
    pub shared: PathBuf,
}

fn parse_weights(s: &str) -> Result<Weights, quire_engine::Error> {
    let v: Vec<f32> = s
        .split(',')
        .map(|x| {
            x.trim()
                .parse::<f32>()
                .map_err(|e| quire_engine::Error::InvalidInput(format!("`{x}`: {e}")))
        })
        .collect::<Result<_, _>>()?;
    match v.as_slice() {
        [b, d, p] => Ok(Weights {
            bm25: *b,
            doc: *d,
            page_extra: *p,
            ..quire_engine::rank::WEIGHTS
        }),
        [b, d, p, st] => Ok(Weights {
            bm25: *b,
            doc: *d,
            page_extra: *p,
            statement: *st,
        }),
        _ => Err(quire_engine::Error::InvalidInput(
            "three or four numbers: bm25,doc,page[,statement]".into(),
        )),
    }
}

/// The naive stack's figures on the same folder, or why there are none.
fn run_peer(args: &QaArgs, config: &EngineConfig, dir: &Path) -> anyhow::Result<serde_json::Value> {
    let venv = args
        .peers
        .clone()
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/quire-peers")))
        .ok_or_else(|| anyhow::anyhow!("no peers folder"))?;
    let python = venv.join("bin/python");
    let script = args.shared.join("bench/peer_rag.py");
    if !python.is_file() || !script.is_file() {
        anyhow::bail!(
            "the naive stack is not installed ({} with {}): run shared/bench/setup-peers.sh MODEL_DIR --rag",
            python.display(),
            script.display()
        );
    }
    let model = config.models_dir.join("all-MiniLM-L6-v2");
    eprintln!("running the naive stack (LangChain + MiniLM + Chroma) on the same folder …");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&model)
        .arg(dir.join("pdfs"))
        .arg("--questions")
        .arg(dir.join("questions.jsonl"))
        .args(["--k", "5"])
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        anyhow::bail!("the peer failed: {}", err.lines().last().unwrap_or(""));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .filter(|v| v.get("peer").is_some())
        })
        .ok_or_else(|| anyhow::anyhow!("the peer printed no result"))
}

fn pct(x: f64) -> String {
    format!("{:.3}", x)
}

pub async fn run(
    mut config: EngineConfig,
    dir: &Path,
    args: &QaArgs,
    json: bool,
) -> anyhow::Result<()> {
    let scratch;
    match &args.library {
        Some(lib) => config.data_dir = lib.clone(),
        None => {
            scratch = tempfile::Builder::new()
                .prefix("quire-eval-qa-")
                .tempdir()
                .context("creating a scratch library")?;
            config.data_dir = scratch.path().to_path_buf();
        }
    }
    let engine = Engine::open(config.clone()).await?;
    let progress = crate::Progress::new(json);
    let report = qa::run(&engine, dir, args.answers, &args.weights, &progress).await?;
    progress.finish();
    engine.close().await;
    let peer = if args.no_peer {
        Err(anyhow::anyhow!("not run (--no-peer)"))
    } else {
        run_peer(args, &config, dir)
    };
    if json {
        println!(
            "{}",
            serde_json::json!({ "report": report, "peer": peer.as_ref().ok(), "peer_error": peer.as_ref().err().map(|e| e.to_string()) })
        );
        return Ok(());
    }
    println!(
        "{}: {} files ({} imported), {} chunks, {} questions ({} need several files)",
        report.dataset,
        report.files,
        report.imported,
        report.chunks,
        report.questions,
        report.multi_doc_questions
    );
    for f in &report.failed {
        println!("  not imported: {f}");
    }
    println!(
        "{:<34} {:>6} {:>6} {:>7} {:>7} {:>8} {:>10} {:>7}",
        "pipeline", "doc@1", "doc@5", "page@1", "page@5", "page@10", "all docs@10", "p50 ms"
    );
    for s in &report.scores {
        println!(
            "{:<34} {:>6} {:>6} {:>7} {:>7} {:>8} {:>10} {:>7.1}",
            s.label,
            pct(s.doc_at_1),
            pct(s.doc_at_5),
            pct(s.page_at_1),
            pct(s.page_at_5),
            pct(s.page_at_10),
            s.all_docs_at_10.map(pct).unwrap_or_else(|| "-".into()),
            s.p50_ms
        );
    }
    match &peer {
        Ok(p) => {
            let f = |k: &str| {
                p.get(k)
                    .and_then(|v| v.as_f64())
                    .map(pct)
                    .unwrap_or("-".into())
            };
            println!(
                "{:<34} {:>6} {:>6} {:>7} {:>7} {:>8} {:>10} {:>7}",
                "naive stack (peer)",
                "-",
                f("doc@5"),
                "-",
                f("page@5"),
                "-",
                "-",
                "-"
            );
        }
        Err(e) => println!("naive stack: {e}"),
    }
    if !report.answers.is_empty() {
        let with_ev: Vec<_> = report
            .answers
            .iter()
            .filter(|a| a.evidence_retrieved)
            .collect();
        let cites = with_ev.iter().filter(|a| a.cites_evidence).count();
        let figures: Vec<bool> = report
            .answers
            .iter()
            .filter_map(|a| a.gold_figure_found)
            .collect();
        println!(
            "answers: {} asked; evidence page retrieved for {}, cited by {} of those; gold figure in {} of {} with a figure",
            report.answers.len(),
            with_ev.len(),
            cites,
            figures.iter().filter(|f| **f).count(),
            figures.len()
        );
        // The escalation rules against what the default model did: the
        // answers they would route should be the poor ones.
        let poor = |a: &quire_engine::eval::qa::QaAnswer| {
            !a.cites_evidence || a.gold_figure_found == Some(false)
        };
        let (routed, kept): (Vec<_>, Vec<_>) =
            report.answers.iter().partition(|a| a.escalation.is_some());
        let share = |v: &[&quire_engine::eval::qa::QaAnswer]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                format!(
                    "{:.0} %",
                    100.0 * v.iter().filter(|a| poor(a)).count() as f64 / v.len() as f64
                )
            }
        };
        println!(
            "escalation rules: {} of {} answers routed (complex {}); poor answers (no evidence cited, or the gold figure missing) among them {}, among the rest {}",
            routed.len(),
            report.answers.len(),
            report
                .answers
                .iter()
                .filter(|a| quire_engine::escalation::complex(&a.question).is_some())
                .count(),
            share(&routed),
            share(&kept)
        );
        for a in &report.answers {
            println!(
                "- {}\n  {}\n  evidence retrieved: {}, cited: {}, figure: {}; cites {}",
                a.question,
                a.answer.replace('\n', " "),
                a.evidence_retrieved,
                a.cites_evidence,
                a.gold_figure_found.map_or("-".into(), |f| f.to_string()),
                a.cited.join(", ")
            );
        }
    }
    Ok(())
}
