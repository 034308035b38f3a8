//! The forward pass of a quantized GGUF model on the CPU: Quire's own for the
//! llama architecture ([`super::llama`]), candle-transformers' for Qwen2/Qwen3.

use std::path::Path;

use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_qwen2, quantized_qwen3};

use super::gguf::{read_content, ModelInfo, SUPPORTED_ARCHITECTURES};
use super::tokenizer::GgufTokenizer;
use crate::error::{Error, Result};

enum Weights {
    Llama(super::llama::Llama),
    Qwen2(quantized_qwen2::ModelWeights),
    Qwen3(quantized_qwen3::ModelWeights),
}

/// A loaded model: weights, tokenizer, chat template source and limits.
pub struct Model {
    weights: Weights,
    pub info: ModelInfo,
    pub tokenizer: std::sync::Arc<GgufTokenizer>,
    pub chat_template: Option<String>,
    /// The context Quire will use: the model's, capped by the implementation and [`super::gguf::MAX_CONTEXT`].
    pub context: usize,
    device: Device,
}

fn model_err(path: &Path, e: candle_core::Error) -> Error {
    Error::Model(format!("{}: {e}", path.display()))
}

impl Model {
    pub fn load(path: &Path) -> Result<Model> {
        if !path.is_file() {
            return Err(Error::ModelMissing {
                what: "the language model (GGUF)",
                path: path.to_path_buf(),
            });
        }
        let (content, mut reader) = read_content(path)?;
        let file_bytes = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        let info = ModelInfo::from_content(path, &content, file_bytes);
        if !SUPPORTED_ARCHITECTURES.contains(&info.architecture.as_str()) {
            return Err(Error::UnsupportedModel {
                path: path.to_path_buf(),
                architecture: info.architecture.clone(),
            });
        }
        let tokenizer = GgufTokenizer::from_content(&content)?;
        let chat_template =
            super::gguf::md_str(&content.metadata, "tokenizer.chat_template").map(str::to_string);
        let device = Device::Cpu;
        let mut context = info
            .context_length
            .unwrap_or(2048)
            .min(super::gguf::MAX_CONTEXT) as usize;
        let weights = match info.architecture.as_str() {
            "llama" => {
                let m = super::llama::Llama::from_gguf(&content, &mut reader, context)
                    .map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
                context = m.config().context;
                Weights::Llama(m)
            }
            "qwen2" => Weights::Qwen2(
                quantized_qwen2::ModelWeights::from_gguf(content, &mut reader, &device)
                    .map_err(|e| model_err(path, e))?,
            ),
            "qwen3" => Weights::Qwen3(
                quantized_qwen3::ModelWeights::from_gguf(content, &mut reader, &device)
                    .map_err(|e| model_err(path, e))?,
            ),
            other => {
                return Err(Error::UnsupportedModel {
                    path: path.to_path_buf(),
                    architecture: other.to_string(),
                })
            }
        };
        Ok(Model {
            weights,
            info,
            tokenizer: std::sync::Arc::new(tokenizer),
            chat_template,
            context,
            device,
        })
    }

    /// Whether [`Model::forward`] at `pos > 0` may follow a cache that holds
    /// another prompt's first `pos` tokens (the cache is written in place).
    pub fn reuses_prefix(&self) -> bool {
        matches!(self.weights, Weights::Llama(_))
    }

    /// Runs `tokens` at positions `pos..`, over the cached keys and values of
    /// positions `..pos` (cleared when `pos == 0`); returns the logits of the last position.
    pub fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<Vec<f32>> {
        let path = self.info.path.clone();
        let input = Tensor::new(tokens, &self.device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(|e| model_err(&path, e))?;
        if pos == 0 {
            self.clear();
        }
        let logits = match &mut self.weights {
            Weights::Llama(m) => return m.forward(tokens, pos).map_err(|e| model_err(&path, e)),
            Weights::Qwen2(m) => m.forward(&input, pos),
            Weights::Qwen3(m) => m.forward(&input, pos),
        }
        .map_err(|e| model_err(&path, e))?;
        logits
            .squeeze(0)
            .and_then(|l| l.to_dtype(candle_core::DType::F32))
            .and_then(|l| l.flatten_all())
            .and_then(|l| l.to_vec1::<f32>())
            .map_err(|e| model_err(&path, e))
    }

    fn clear(&mut self) {
        match &mut self.weights {
            Weights::Llama(_) => {}
            Weights::Qwen2(m) => m.clear_kv_cache(),
            Weights::Qwen3(m) => m.clear_kv_cache(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::gguf_file::{self, Value};

    fn gguf_with_arch(dir: &Path, arch: &str) -> std::path::PathBuf {
        let path = dir.join(format!("{arch}.gguf"));
        let mut f = std::fs::File::create(&path).unwrap();
        let arch_v = Value::String(arch.to_string());
        let name = Value::String("tiny test".to_string());
        gguf_file::write(
            &mut f,
            &[("general.architecture", &arch_v), ("general.name", &name)],
            &[],
        )
        .unwrap();
        path
    }

    #[test]
    fn an_unsupported_architecture_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = gguf_with_arch(dir.path(), "mamba");
        let info = ModelInfo::read(&path).unwrap();
        assert_eq!(
            (info.architecture.as_str(), info.supported),
            ("mamba", false)
        );
        let err = Model::load(&path).err().expect("refused");
        assert_eq!(err.code(), "unsupported_model");
        assert!(err.to_string().contains("`mamba`"), "{err}");
    }

    #[test]
    fn regression_hostile_head_counts_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hostile.gguf");
        let mut f = std::fs::File::create(&path).unwrap();
        let arch = Value::String("llama".to_string());
        let zero = Value::U32(0);
        let huge = Value::U32(u32::MAX);
        gguf_file::write(
            &mut f,
            &[
                ("general.architecture", &arch),
                ("llama.attention.head_count", &zero),
                ("llama.embedding_length", &huge),
                ("llama.block_count", &huge),
                ("llama.attention.key_length", &huge),
                ("llama.attention.head_count_kv", &huge),
            ],
            &[],
        )
        .unwrap();
        let info = ModelInfo::read(&path).unwrap();
        assert!(info.ram_bytes > 0);
    }

    #[test]
    fn a_file_that_is_not_gguf_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.gguf");
        std::fs::write(&path, b"hello, this is not a model").unwrap();
        let err = Model::load(&path).err().expect("refused");
        assert!(
            err.to_string().contains("not a readable GGUF file"),
            "{err}"
        );
        let missing = Model::load(&dir.path().join("absent.gguf"))
            .err()
            .expect("refused");
        assert_eq!(missing.code(), "model_missing");
    }
}
