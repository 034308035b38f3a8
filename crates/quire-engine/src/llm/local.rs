//! [`LocalGenerator`]: a GGUF model run on the CPU with its own tokenizer and
//! chat template; sampling, stop tokens and streaming detokenisation.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};

use super::model::Model;
use super::template::{ChatTemplate, Message};
use super::tokenizer::GgufTokenizer;
use super::{
    CancelToken, Generation, GenerationParams, GenerationStats, Generator, ModelInfo, StopReason,
};
use crate::error::{Error, Result};

/// Prompt tokens per forward pass: bounds memory and lets a Stop land during a long prompt.
const PREFILL_BATCH: usize = 256;

pub struct LocalGenerator {
    model: Model,
    /// The model's tokenizer (shared, not a copy).
    tokenizer: Arc<GgufTokenizer>,
    template: ChatTemplate,
    /// The tokens whose keys and values are in the model's cache, in order
    /// (only kept for models that can reuse a cached prefix).
    cached: Vec<u32>,
}

impl LocalGenerator {
    pub fn load(path: &Path) -> Result<Self> {
        let model = Model::load(path)?;
        let tokenizer = model.tokenizer.clone();
        let token_text = |id: Option<u32>| id.and_then(|i| tokenizer.token(i)).unwrap_or_default();
        let template = ChatTemplate::new(
            model.chat_template.as_deref(),
            &token_text(tokenizer.bos_id),
            &token_text(tokenizer.eos_id),
        )?;
        Ok(LocalGenerator {
            model,
            tokenizer,
            template,
            cached: Vec::new(),
        })
    }

    /// Forgets the cached prompt: the next generation runs its whole prompt.
    pub fn forget_cache(&mut self) {
        self.cached.clear();
    }

    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    /// Token ids of a rendered prompt (special tokens parsed; BOS added when the model wants it).
    pub fn prompt_ids(&self, prompt: &str) -> Result<Vec<u32>> {
        let mut ids = self.tokenizer.encode(prompt, true)?;
        if let (true, Some(bos)) = (self.tokenizer.add_bos, self.tokenizer.bos_id) {
            if ids.first() != Some(&bos) {
                ids.insert(0, bos);
            }
        }
        Ok(ids)
    }

    /// Generates from token ids; `on_token` sees each new id and its text.
    pub fn generate_ids(
        &mut self,
        prompt_ids: &[u32],
        params: &GenerationParams,
        cancel: &CancelToken,
        on_token: &mut dyn FnMut(u32, &str),
    ) -> Result<Generation> {
        if prompt_ids.is_empty() {
            return Err(Error::InvalidInput("empty prompt".into()));
        }
        let context = self.model.context;
        if prompt_ids.len() >= context {
            return Err(Error::InvalidInput(format!(
                "the prompt has {} tokens; this model takes at most {context}",
                prompt_ids.len()
            )));
        }
        let sampling = if params.temperature <= 0.0 {
            Sampling::ArgMax
        } else if params.top_p > 0.0 && params.top_p < 1.0 {
            Sampling::TopP {
                p: params.top_p,
                temperature: params.temperature,
            }
        } else {
            Sampling::All {
                temperature: params.temperature,
            }
        };
        let mut sampler = LogitsProcessor::from_sampling(params.seed, sampling);
        let t0 = Instant::now();
        let stop;
        let mut logits = Vec::new();
        // The prompt's first tokens may already be in the cache (the same system
        // prompt and sources as the last question): only the rest is run. At least
        // one token is always run, for its logits.
        let reuse = if self.model.reuses_prefix() {
            let same = self
                .cached
                .iter()
                .zip(prompt_ids)
                .take_while(|(a, b)| a == b)
                .count();
            same.min(prompt_ids.len() - 1)
        } else {
            0
        };
        self.cached.truncate(reuse);
        let mut pos = reuse;
        for batch in prompt_ids[reuse..].chunks(PREFILL_BATCH) {
            if cancel.is_cancelled() {
                return Ok(self.finish(
                    Vec::new(),
                    String::new(),
                    prompt_ids.len(),
                    t0,
                    t0,
                    StopReason::Cancelled,
                ));
            }
            logits = self
                .model
                .forward(batch, pos)
                .inspect_err(|_| self.cached.clear())?;
            self.cached.extend_from_slice(batch);
            pos += batch.len();
        }
        let reused_tokens = reuse;
        let t_first = Instant::now();
        let mut out: Vec<u32> = Vec::new();
        let mut text = String::new();
        let tokenizer = self.tokenizer.inner();
        let mut decoder = tokenizer.decode_stream(true);
        loop {
            if cancel.is_cancelled() {
                stop = StopReason::Cancelled;
                break;
            }
            if out.len() >= params.max_tokens {
                stop = StopReason::MaxTokens;
                break;
            }
            if pos >= context {
                stop = StopReason::ContextFull;
                break;
            }
            if params.repeat_penalty != 1.0 {
                let start = out.len().saturating_sub(params.repeat_last_n);
                apply_repeat_penalty(&mut logits, params.repeat_penalty, &out[start..]);
            }
            let t = Tensor::new(logits.as_slice(), &Device::Cpu)
                .map_err(|e| Error::Model(e.to_string()))?;
            let next = sampler
                .sample(&t)
                .map_err(|e| Error::Model(e.to_string()))?;
            out.push(next);
            if !params.ignore_stop && self.tokenizer.is_stop(next) {
                stop = StopReason::EndOfTurn;
                break;
            }
            let piece = decoder
                .step(next)
                .map_err(|e| Error::Model(e.to_string()))?
                .unwrap_or_default();
            text.push_str(&piece);
            on_token(next, &piece);
            logits = self
                .model
                .forward(&[next], pos)
                .inspect_err(|_| self.cached.clear())?;
            self.cached.push(next);
            pos += 1;
        }
        drop(decoder);
        drop(tokenizer);
        let mut g = self.finish(out, text, prompt_ids.len(), t0, t_first, stop);
        g.stats.reused_prompt_tokens = reused_tokens;
        Ok(g)
    }

    fn finish(
        &self,
        ids: Vec<u32>,
        text: String,
        prompt_tokens: usize,
        t0: Instant,
        t_first: Instant,
        stop: StopReason,
    ) -> Generation {
        let prefill = (t_first - t0).as_secs_f64();
        let decode = t_first.elapsed().as_secs_f64();
        let n = ids.len();
        Generation {
            text,
            ids,
            stats: GenerationStats {
                prompt_tokens,
                generated_tokens: n,
                prefill_ms: prefill * 1e3,
                decode_ms: decode * 1e3,
                prefill_tokens_per_s: if prefill > 0.0 {
                    prompt_tokens as f64 / prefill
                } else {
                    0.0
                },
                // The first token comes from the prefill's logits.
                decode_tokens_per_s: if decode > 0.0 && n > 1 {
                    (n - 1) as f64 / decode
                } else {
                    0.0
                },
                reused_prompt_tokens: 0,
                stop,
            },
        }
    }
}

fn apply_repeat_penalty(logits: &mut [f32], penalty: f32, recent: &[u32]) {
    let mut seen = std::collections::HashSet::new();
    for &id in recent {
        if seen.insert(id) {
            if let Some(l) = logits.get_mut(id as usize) {
                *l = if *l >= 0.0 {
                    *l / penalty
                } else {
                    *l * penalty
                };
            }
        }
    }
}

impl Generator for LocalGenerator {
    fn info(&self) -> &ModelInfo {
        &self.model.info
    }

    fn context_length(&self) -> usize {
        self.model.context
    }

    fn render(&self, messages: &[Message]) -> Result<String> {
        self.template.render(messages, true)
    }

    fn count_tokens(&self, prompt: &str) -> Result<usize> {
        Ok(self.prompt_ids(prompt)?.len())
    }

    fn generate(
        &mut self,
        prompt: &str,
        params: &GenerationParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        let ids = self.prompt_ids(prompt)?;
        self.generate_ids(&ids, params, cancel, &mut |_, piece| {
            if !piece.is_empty() {
                on_text(piece)
            }
        })
    }
}
