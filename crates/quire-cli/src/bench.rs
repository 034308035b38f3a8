//! `quire bench`: Quire's speed beside the peers', measured in one run.

use std::path::{Path, PathBuf};

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
    /// The shared benchmark data (bench/, eval/scifact/, corpus/)
    #[arg(long, env = "QUIRE_SHARED_DIR", default_value = "../shared")]
    pub shared: PathBuf,
    /// Measure Quire only (no peers)
    #[arg(long)]
    pub no_peers: bool,
}

impl BenchArgs {
    fn wants(&self, p: Part) -> bool {
        self.only.is_empty() || self.only.contains(&p)
    }
}

pub async fn run(config: EngineConfig, args: BenchArgs, json: bool) -> anyhow::Result<()> {
    let scifact = args.shared.join("eval/scifact/corpus.jsonl");
    let minilm_dir = config.models_dir.join("all-MiniLM-L6-v2");
    if args.wants(Part::Embed) {
        let texts = bench::scifact_texts(&scifact, args.abstracts).context("reading SciFact")?;
        let model = MiniLm::load(&minilm_dir)?;
        let refs: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
        let b = bench::embedding(&model, &refs, 1)?;
        if json {
            println!("{}", serde_json::json!({ "embedding": b }));
        } else {
            println!(
                "embedding: {} chunks, {} tokens in {:.2} s: {:.1} chunks/s, {:.0} tokens/s (threads {})",
                b.chunks, b.tokens, b.seconds, b.chunks_per_s, b.tokens_per_s, b.threads
            );
        }
    }
    if args.wants(Part::Generate) {
        let engine = Engine::open(config.clone()).await?;
        let path = args.model.clone().unwrap_or_else(|| engine.model_path(&engine.settings()));
        engine.close().await;
        let mut gen = quire_engine::llm::LocalGenerator::load(&path)?;
        let b = bench::generation(&mut gen, args.runs, args.decode)?;
        if json {
            println!("{}", serde_json::json!({ "model": path, "generation": b }));
        } else {
            println!(
                "generation threads={}: prefill {:.0} tok/s (TTFT {:.0} ms for {} tokens), decode {:.1} tok/s ({} tokens)",
                b.threads, b.prefill_tokens_per_s, b.ttft_ms, b.prompt_tokens, b.decode_tokens_per_s, b.decode_tokens
            );
        }
    }
    let _ = Path::new("");
    Ok(())
}
