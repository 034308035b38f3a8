//! Generation speed on a RAG-shaped prompt: the same prompt the llama.cpp
//! peer script (`../shared/bench/peer_llm.py`) uses, so the figures compare.

use std::time::Instant;

use serde::Serialize;

use super::{CancelToken, GenerationParams, LocalGenerator};
use crate::error::Result;

/// The peer script's prompt: eight numbered sources and a question.
pub fn rag_prompt() -> String {
    let para = "The committee reviewed the annual budget and found that spending on maintenance had risen sharply, \
                while revenue from licensing fell for the third year in a row. ";
    let mut p = String::from("Sources:\n");
    for i in 1..=8 {
        p.push_str(&format!("[{i}] {}\n", para.repeat(3)));
    }
    p.push_str("\nQuestion: Why did costs rise?\nAnswer:");
    p
}

#[derive(Debug, Clone, Serialize)]
pub struct GenerationBench {
    pub threads: usize,
    pub prompt_tokens: usize,
    pub prefill_tokens_per_s: f64,
    /// Time to the first token: the whole prompt processed and one token sampled.
    pub ttft_ms: f64,
    pub decode_tokens: usize,
    pub decode_tokens_per_s: f64,
}

/// Median of `runs` runs: prefill of [`rag_prompt`], then `decode` greedy tokens.
pub fn generation(gen: &mut LocalGenerator, runs: usize, decode: usize) -> Result<GenerationBench> {
    let ids = gen.tokenizer().encode(&rag_prompt(), false)?;
    let params = GenerationParams { max_tokens: decode, ignore_stop: true, ..Default::default() };
    // Warm-up: page the weights in.
    gen.generate_ids(&ids[..32.min(ids.len())], &GenerationParams { max_tokens: 1, ..params.clone() }, &CancelToken::new(), &mut |_, _| {})?;
    let mut results = Vec::new();
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        let mut first = None;
        let g = gen.generate_ids(&ids, &params, &CancelToken::new(), &mut |_, _| {
            first.get_or_insert_with(|| t0.elapsed());
        })?;
        results.push((g.stats.prefill_tokens_per_s, g.stats.decode_tokens_per_s, first.map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0), g.ids.len()));
    }
    results.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (prefill, decode_tps, ttft, n) = results[results.len() / 2];
    Ok(GenerationBench {
        threads: candle_core::utils::get_num_threads(),
        prompt_tokens: ids.len(),
        prefill_tokens_per_s: prefill,
        ttft_ms: ttft,
        decode_tokens: n,
        decode_tokens_per_s: decode_tps,
    })
}
