//! On-device language models: GGUF files read ([`gguf`]), their tokenizer
//! rebuilt from metadata ([`tokenizer`]), their chat template rendered
//! ([`template`]), and text generated on the CPU ([`LocalGenerator`]) behind
//! the [`Generator`] seam.

#[cfg(feature = "bench")]
pub mod bench;
pub mod gguf;
pub mod llama;
mod local;
pub mod model;
pub mod remote;
pub mod template;
pub mod tokenizer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use gguf::ModelInfo;
pub use local::LocalGenerator;
pub use template::{ChatTemplate, Message};
pub use tokenizer::GgufTokenizer;

use crate::error::Result;

/// Stops a running generation from another thread (a Stop button, Ctrl-C).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// Makes the token usable again for the next answer.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// How to pick tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerationParams {
    pub max_tokens: usize,
    /// 0 means greedy.
    pub temperature: f64,
    pub top_p: f64,
    pub seed: u64,
    /// 1.0 disables it.
    pub repeat_penalty: f32,
    pub repeat_last_n: usize,
    /// Keep going past end-of-turn tokens (benchmarks only).
    #[serde(default)]
    pub ignore_stop: bool,
}

impl Default for GenerationParams {
    fn default() -> Self {
        GenerationParams {
            max_tokens: 384,
            temperature: 0.0,
            top_p: 0.9,
            seed: 42,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            ignore_stop: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model ended its turn.
    EndOfTurn,
    /// The answer reached the maximum length.
    MaxTokens,
    /// The context window is full.
    ContextFull,
    /// The user stopped it.
    Cancelled,
}

/// Timings of one generation.
#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct GenerationStats {
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    /// Prompt processing time (up to the first sampled token).
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    /// Prompt tokens whose keys and values were reused from the previous generation.
    pub reused_prompt_tokens: usize,
    pub stop: StopReason,
}

impl GenerationStats {
    /// A generation that produced nothing (stopped before it began, or an
    /// answer reused): `prompt_tokens` read at most.
    pub fn nothing_generated(prompt_tokens: usize, stop: StopReason) -> Self {
        GenerationStats {
            prompt_tokens,
            generated_tokens: 0,
            prefill_ms: 0.0,
            decode_ms: 0.0,
            prefill_tokens_per_s: 0.0,
            decode_tokens_per_s: 0.0,
            reused_prompt_tokens: 0,
            stop,
        }
    }
}

/// A finished generation.
#[derive(Debug, Clone)]
pub struct Generation {
    pub text: String,
    pub ids: Vec<u32>,
    pub stats: GenerationStats,
}

/// Turns a conversation into a streamed answer. One implementation runs
/// GGUF models locally; tests may substitute others.
pub trait Generator: Send {
    fn info(&self) -> &ModelInfo;
    /// Tokens of context the generator accepts (prompt + answer).
    fn context_length(&self) -> usize;
    /// The prompt text for a conversation (chat template applied).
    fn render(&self, messages: &[Message]) -> Result<String>;
    /// Number of tokens `prompt` takes.
    fn count_tokens(&self, prompt: &str) -> Result<usize>;
    /// Generates an answer to a rendered prompt, calling `on_text` with each
    /// new piece of text as soon as it is decodable.
    fn generate(
        &mut self,
        prompt: &str,
        params: &GenerationParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation>;
}
