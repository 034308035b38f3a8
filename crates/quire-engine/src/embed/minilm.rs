//! all-MiniLM-L6-v2 (BERT, 6 layers, 384 dimensions) on Quire's BERT forward
//! pass ([`super::bert`]): WordPiece tokens truncated to 256, mean pooling over
//! the real tokens, L2 normalisation — the sentence-transformers recipe.
//!
//! Texts are sorted by length and packed (no padding) into forward passes of
//! about [`TOKENS_PER_PASS`] tokens.

use std::path::Path;

use tokenizers::{Tokenizer, TruncationParams, TruncationStrategy};

use super::bert::{Bert, BertConfig};
use super::Embedder;
use crate::error::{Error, Result};

/// sentence-transformers' `max_seq_length` for this model.
pub const MAX_TOKENS: usize = 256;
/// Tokens per forward pass: large enough for efficient GEMMs, small enough that
/// the intermediate activations (tokens × 1536 floats) stay a few megabytes.
const TOKENS_PER_PASS: usize = 2048;

pub struct MiniLm {
    model: Bert,
    tokenizer: Tokenizer,
    dimension: usize,
}

impl MiniLm {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let file = |name: &'static str| {
            let p = dir.join(name);
            if p.is_file() {
                Ok(p)
            } else {
                Err(Error::ModelMissing {
                    what: "all-MiniLM-L6-v2",
                    path: p,
                })
            }
        };
        let (config_path, tokenizer_path, weights_path) = (
            file("config.json")?,
            file("tokenizer.json")?,
            file("model.safetensors")?,
        );
        let config_text =
            std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let config: BertConfig = serde_json::from_str(&config_text).map_err(Error::model)?;
        let tokenizer = Self::load_tokenizer(&tokenizer_path)?;
        let model = Bert::load(&weights_path, &config).map_err(Error::model)?;
        Ok(MiniLm {
            dimension: model.hidden_size(),
            model,
            tokenizer,
        })
    }

    /// The tokenizer as the embedder uses it: truncated to 256, no padding.
    pub fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
        let mut tokenizer = Tokenizer::from_file(path).map_err(Error::model)?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                strategy: TruncationStrategy::LongestFirst,
                ..Default::default()
            }))
            .map_err(Error::model)?;
        Ok(tokenizer)
    }

    /// A copy of the tokenizer without truncation, for measuring chunk sizes.
    pub fn sizing_tokenizer(&self) -> Tokenizer {
        let mut t = self.tokenizer.clone();
        t.with_padding(None);
        let _ = t.with_truncation(None);
        t
    }

    /// The sizing tokenizer read straight from a model folder (no weights needed).
    pub fn sizing_tokenizer_from_dir(dir: &Path) -> Result<Tokenizer> {
        let mut t = Tokenizer::from_file(dir.join("tokenizer.json")).map_err(Error::model)?;
        t.with_padding(None);
        let _ = t.with_truncation(None);
        Ok(t)
    }

    /// Token ids as the model sees them (with [CLS] and [SEP], truncated).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.tokenizer.encode(text, true).map_err(Error::model)?;
        Ok(enc.get_ids().to_vec())
    }

    fn embed_pass(&self, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let hidden = self.model.forward(ids)?;
            let lengths: Vec<usize> = ids.iter().map(|s| s.len()).collect();
            Bert::mean_pool_normalized(&hidden, &lengths)
        };
        run().map_err(Error::model)
    }
}

impl Embedder for MiniLm {
    fn model_id(&self) -> &str {
        "all-MiniLM-L6-v2"
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(Error::model)?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut out = vec![Vec::new(); ids.len()];
        let mut start = 0;
        while start < order.len() {
            // Longest first: the pass holds as many sequences as fit the token budget (at least one).
            let mut end = start + 1;
            let mut tokens = ids[order[start]].len();
            while end < order.len() && tokens + ids[order[end]].len() <= TOKENS_PER_PASS {
                tokens += ids[order[end]].len();
                end += 1;
            }
            let pass: Vec<&[u32]> = order[start..end].iter().map(|&i| ids[i]).collect();
            for (&i, v) in order[start..end].iter().zip(self.embed_pass(&pass)?) {
                out[i] = v;
            }
            start = end;
        }
        Ok(out)
    }
}
