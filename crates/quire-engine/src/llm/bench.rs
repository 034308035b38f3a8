//! Generation speed on a RAG-shaped prompt: the same prompt the llama.cpp
//! peer script (`../shared/bench/peer_llm.py`) uses, so the figures compare.

use std::time::Instant;

use serde::Serialize;

use super::{CancelToken, GenerationParams, LocalGenerator};
use crate::error::Result;

/// The peer script's prompt: eight numbered sources and a question.
pub fn rag_prompt() -> String {
    rag_prompt_asking("Why did costs rise?")
}

/// The same sources with another question: the repeat case (a follow-up on
/// the same sources reuses the cached keys and values of the shared prefix).
pub fn rag_prompt_asking(question: &str) -> String {
    let para = "The committee reviewed the annual budget and found that spending on maintenance had risen sharply, \
                while revenue from licensing fell for the third year in a row. ";
    let mut p = String::from("Sources:\n");
    for i in 1..=8 {
        p.push_str(&format!("[{i}] {}\n", para.repeat(3)));
    }
    p.push_str(&format!("\nQuestion: {question}\nAnswer:"));
    p
}

#[derive(Debug, Clone, Serialize)]
pub struct GenerationBench {
    pub threads: usize,
    pub prompt_tokens: usize,
    /// First answer: the whole prompt is processed.
    pub prefill_tokens_per_s: f64,
    /// Time to the first token of the first answer: the whole prompt processed and one token sampled.
    pub ttft_ms: f64,
    pub decode_tokens: usize,
    pub decode_tokens_per_s: f64,
    /// Repeat case: the same sources with another question, right after the first answer.
    pub repeat_ttft_ms: f64,
    pub repeat_reused_tokens: usize,
}

/// Medians of `runs` runs: prefill of [`rag_prompt`] from an empty cache, then
/// `decode` greedy tokens; then the repeat case.
pub fn generation(gen: &mut LocalGenerator, runs: usize, decode: usize) -> Result<GenerationBench> {
    let ids = gen.tokenizer().encode(&rag_prompt(), false)?;
    let repeat_ids = gen
        .tokenizer()
        .encode(&rag_prompt_asking("What happened to revenue?"), false)?;
    let params = GenerationParams {
        max_tokens: decode,
        ignore_stop: true,
        ..Default::default()
    };
    // Warm-up: page the weights in.
    gen.forget_cache();
    gen.generate_ids(
        &ids[..32.min(ids.len())],
        &GenerationParams {
            max_tokens: 1,
            ..params.clone()
        },
        &CancelToken::new(),
        &mut |_, _| {},
    )?;
    let mut results = Vec::new();
    let mut repeats = Vec::new();
    for _ in 0..runs.max(1) {
        gen.forget_cache();
        let t0 = Instant::now();
        let mut first = None;
        let g = gen.generate_ids(&ids, &params, &CancelToken::new(), &mut |_, _| {
            first.get_or_insert_with(|| t0.elapsed());
        })?;
        results.push((
            g.stats.prefill_tokens_per_s,
            g.stats.decode_tokens_per_s,
            first.map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0),
            g.ids.len(),
        ));
        let t0 = Instant::now();
        let mut first = None;
        let one = GenerationParams {
            max_tokens: 1,
            ..params.clone()
        };
        let g = gen.generate_ids(&repeat_ids, &one, &CancelToken::new(), &mut |_, _| {
            first.get_or_insert_with(|| t0.elapsed());
        })?;
        repeats.push((
            first.map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0),
            g.stats.reused_prompt_tokens,
        ));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let n = results[0].3;
    Ok(GenerationBench {
        threads: candle_core::utils::get_num_threads(),
        prompt_tokens: ids.len(),
        prefill_tokens_per_s: median(&mut results.iter().map(|r| r.0).collect()),
        ttft_ms: median(&mut results.iter().map(|r| r.2).collect()),
        decode_tokens: n,
        decode_tokens_per_s: median(&mut results.iter().map(|r| r.1).collect()),
        repeat_ttft_ms: median(&mut repeats.iter().map(|r| r.0).collect()),
        repeat_reused_tokens: repeats[0].1,
    })
}
