//! all-MiniLM-L6-v2 (BERT, 6 layers, 384 dimensions) on candle's BERT model:
//! WordPiece tokens truncated to 256, mean pooling over the attention mask,
//! L2 normalisation — the sentence-transformers recipe for this model.
//!
//! Texts are sorted by length and batched so a batch carries little padding.

use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams, TruncationStrategy};

use super::Embedder;
use crate::error::{Error, Result};

/// sentence-transformers' `max_seq_length` for this model.
pub const MAX_TOKENS: usize = 256;
const BATCH: usize = 32;

pub struct MiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
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
                Err(Error::ModelMissing { what: "all-MiniLM-L6-v2", path: p })
            }
        };
        let (config_path, tokenizer_path, weights_path) =
            (file("config.json")?, file("tokenizer.json")?, file("model.safetensors")?);
        let config_text = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let config: Config = serde_json::from_str(&config_text).map_err(Error::model)?;
        let tokenizer = Self::load_tokenizer(&tokenizer_path)?;
        let device = Device::Cpu;
        // SAFETY: the weights file is only read; Quire never writes model files while running.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights_path], DType::F32, &device) }
            .map_err(Error::model)?;
        let model = BertModel::load(vb, &config).map_err(Error::model)?;
        Ok(MiniLm { model, tokenizer, device, dimension: config.hidden_size })
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

    fn embed_batch(&self, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let len = ids.iter().map(|i| i.len()).max().unwrap_or(0).max(1);
        let n = ids.len();
        let mut input = vec![0u32; n * len];
        let mut mask = vec![0u32; n * len];
        for (row, seq) in ids.iter().enumerate() {
            input[row * len..row * len + seq.len()].copy_from_slice(seq);
            mask[row * len..row * len + seq.len()].iter_mut().for_each(|m| *m = 1);
        }
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let input = Tensor::from_vec(input, (n, len), &self.device)?;
            let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
            let types = input.zeros_like()?;
            let hidden = self.model.forward(&input, &types, Some(&mask))?;
            let maskf = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&maskf)?.sum(1)?;
            let counts = maskf.sum(1)?.clamp(1e-9f32, f32::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
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
        let encodings = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(Error::model)?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut out = vec![Vec::new(); ids.len()];
        for batch in order.chunks(BATCH) {
            let batch_ids: Vec<&[u32]> = batch.iter().map(|&i| ids[i]).collect();
            for (&i, v) in batch.iter().zip(self.embed_batch(&batch_ids)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}
