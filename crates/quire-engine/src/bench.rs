//! Speed measurements behind `quire bench`: embedding throughput, import end
//! to end, query latency and recall, generation, and peak memory. Each
//! function measures Quire only; the CLI runs the peers (`../shared/bench`)
//! in the same run and prints the ratios.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::embed::{Embedder, MiniLm};
use crate::error::{Error, Result};

pub use crate::llm::bench::{generation, rag_prompt, GenerationBench};

/// The first `n` SciFact abstracts as the peers read them: `title + ". " + text`.
pub fn scifact_texts(corpus_jsonl: &Path, n: usize) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(corpus_jsonl).map_err(|e| Error::io(corpus_jsonl, e))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if out.len() >= n {
            break;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| Error::InvalidInput(format!("{}: {e}", corpus_jsonl.display())))?;
        let id = v.get("_id").and_then(|x| x.as_str()).unwrap_or_default().to_string();
        let title = v.get("title").and_then(|x| x.as_str()).unwrap_or_default();
        let body = v.get("text").and_then(|x| x.as_str()).unwrap_or_default();
        out.push((id, format!("{title}. {body}").trim().to_string()));
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct EmbedBench {
    pub chunks: usize,
    pub tokens: usize,
    pub seconds: f64,
    pub chunks_per_s: f64,
    pub tokens_per_s: f64,
    pub threads: usize,
}

/// Embeds `texts` once (after a warm-up batch) and reports the throughput;
/// tokens are counted as the model sees them (truncated to 256, with [CLS]/[SEP]).
pub fn embedding(model: &MiniLm, texts: &[&str], runs: usize) -> Result<EmbedBench> {
    let mut tokens = 0;
    for t in texts {
        tokens += model.token_ids(t)?.len();
    }
    model.embed(&texts[..texts.len().min(32)])?;
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        model.embed(texts)?;
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let seconds = times[times.len() / 2];
    Ok(EmbedBench {
        chunks: texts.len(),
        tokens,
        seconds,
        chunks_per_s: texts.len() as f64 / seconds,
        tokens_per_s: tokens as f64 / seconds,
        threads: candle_core::utils::get_num_threads(),
    })
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Current resident memory (Linux `VmRSS`), in bytes.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
