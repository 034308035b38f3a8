//! BERT encoder forward pass (all-MiniLM-L6-v2 and other BERT checkpoints in
//! the Hugging Face safetensors layout), written on candle's tensor ops for
//! throughput on a laptop CPU:
//!
//! - sequences are packed without padding: the dense layers run on one
//!   `[tokens, hidden]` matrix, attention runs per sequence over its real length
//!   (so no attention mask and no wasted rows);
//! - query, key and value are one fused `[hidden, 3·hidden]` product, read
//!   through strided views (no `contiguous()` copies), with the 1/√d scale folded
//!   into the query weights at load time;
//! - softmax and layer norm are candle-nn's fused multi-threaded kernels; bias +
//!   exact (erf) GELU is one in-place pass ([`quire_kernels::bias_gelu`]) split
//!   across threads;
//! - weights are stored transposed once, so every product is a plain GEMM.

use std::path::Path;

use candle_core::{CpuStorage, DType, Device, InplaceOp1, Layout, Module, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;
use serde::Deserialize;

/// The fields of a BERT `config.json` the forward pass needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub hidden_act: Option<String>,
}

fn default_eps() -> f64 {
    1e-12
}

/// A dense layer with its weight stored as `[in, out]` (transposed once at load).
struct Dense {
    weight_t: Tensor,
    bias: Tensor,
}

impl Dense {
    fn load(vb: VarBuilder, input: usize, output: usize) -> candle_core::Result<Self> {
        let w = vb.get((output, input), "weight")?;
        let b = vb.get(output, "bias")?;
        Ok(Dense { weight_t: w.t()?.contiguous()?, bias: b })
    }

    /// `x · W` without the bias.
    fn product(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(&self.weight_t)
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.product(x)?.broadcast_add(&self.bias)
    }
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(vb: VarBuilder, size: usize, eps: f64) -> candle_core::Result<Self> {
        Ok(LayerNorm { weight: vb.get(size, "weight")?, bias: vb.get(size, "bias")?, eps: eps as f32 })
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

/// In place `x = gelu(x + bias)` over a contiguous `[rows, cols]` f32 tensor.
struct BiasGelu<'a>(&'a [f32]);

impl InplaceOp1 for BiasGelu<'_> {
    fn name(&self) -> &'static str {
        "bias-gelu"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let cols = self.0.len();
        let (CpuStorage::F32(data), Some((start, end))) = (storage, layout.contiguous_offsets()) else {
            candle_core::bail!("bias-gelu needs a contiguous f32 tensor");
        };
        if cols == 0 || (end - start) % cols != 0 {
            candle_core::bail!("bias-gelu: {} values are not rows of {cols}", end - start);
        }
        // Rows in blocks of 16 so each thread works on a few cache-sized pieces.
        data[start..end].par_chunks_mut(cols * 16).for_each(|rows| quire_kernels::bias_gelu(rows, self.0));
        Ok(())
    }
}

struct Layer {
    qkv: Dense,
    attn_out: Dense,
    attn_norm: LayerNorm,
    intermediate: Dense,
    intermediate_bias: Vec<f32>,
    output: Dense,
    out_norm: LayerNorm,
}

/// The encoder: token ids in, last hidden states (one row per real token) out.
pub struct Bert {
    word: Tensor,
    position: Tensor,
    token_type0: Tensor,
    emb_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    hidden: usize,
    max_positions: usize,
}

impl Bert {
    pub fn load(weights: &Path, config: &BertConfig) -> candle_core::Result<Self> {
        if let Some(act) = config.hidden_act.as_deref() {
            if act != "gelu" {
                candle_core::bail!("hidden_act `{act}` is not supported (only gelu)");
            }
        }
        let device = Device::Cpu;
        // SAFETY: the weights file is only read; Quire never writes model files while running.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &device)? };
        // Checkpoints saved from BertForX prefix every name with `bert.`.
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") { vb } else { vb.pp("bert") };
        let (h, inter) = (config.hidden_size, config.intermediate_size);
        let heads = config.num_attention_heads;
        if heads == 0 || h % heads != 0 {
            candle_core::bail!("hidden size {h} is not a multiple of {heads} heads");
        }
        let head_dim = h / heads;
        let emb = vb.pp("embeddings");
        let word = emb.get((config.vocab_size, h), "word_embeddings.weight")?;
        let position = emb.get((config.max_position_embeddings, h), "position_embeddings.weight")?;
        let token_type0 = emb.get((2, h), "token_type_embeddings.weight").or_else(|_| emb.get((1, h), "token_type_embeddings.weight"))?.get(0)?;
        let emb_norm = LayerNorm::load(emb.pp("LayerNorm"), h, config.layer_norm_eps)?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let att = l.pp("attention.self");
            let q = Dense::load(att.pp("query"), h, h)?;
            let k = Dense::load(att.pp("key"), h, h)?;
            let v = Dense::load(att.pp("value"), h, h)?;
            // One [h, 3h] product; the query part carries the softmax scale.
            let qkv = Dense {
                weight_t: Tensor::cat(&[&(q.weight_t * scale)?, &k.weight_t, &v.weight_t], 1)?.contiguous()?,
                bias: Tensor::cat(&[&(q.bias * scale)?, &k.bias, &v.bias], 0)?,
            };
            let intermediate = Dense::load(l.pp("intermediate.dense"), h, inter)?;
            let intermediate_bias = intermediate.bias.to_vec1::<f32>()?;
            layers.push(Layer {
                qkv,
                attn_out: Dense::load(l.pp("attention.output.dense"), h, h)?,
                attn_norm: LayerNorm::load(l.pp("attention.output.LayerNorm"), h, config.layer_norm_eps)?,
                intermediate,
                intermediate_bias,
                output: Dense::load(l.pp("output.dense"), inter, h)?,
                out_norm: LayerNorm::load(l.pp("output.LayerNorm"), h, config.layer_norm_eps)?,
            });
        }
        Ok(Bert {
            word,
            position,
            token_type0,
            emb_norm,
            layers,
            heads,
            head_dim,
            hidden: h,
            max_positions: config.max_position_embeddings,
        })
    }

    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// Last hidden states of the packed sequences: `[sum of lengths, hidden]`,
    /// sequence after sequence. Every sequence must be non-empty and no longer
    /// than the model's positions.
    pub fn forward(&self, seqs: &[&[u32]]) -> candle_core::Result<Tensor> {
        let device = Device::Cpu;
        let total: usize = seqs.iter().map(|s| s.len()).sum();
        let mut ids = Vec::with_capacity(total);
        let mut positions = Vec::with_capacity(total);
        for s in seqs {
            if s.is_empty() || s.len() > self.max_positions {
                candle_core::bail!("a sequence of {} tokens (1 to {} allowed)", s.len(), self.max_positions);
            }
            ids.extend_from_slice(s);
            positions.extend(0..s.len() as u32);
        }
        let ids = Tensor::from_vec(ids, total, &device)?;
        let positions = Tensor::from_vec(positions, total, &device)?;
        let x = self.word.index_select(&ids, 0)?.add(&self.position.index_select(&positions, 0)?)?;
        let mut x = self.emb_norm.forward(&x.broadcast_add(&self.token_type0)?)?;
        for layer in &self.layers {
            x = self.layer(layer, &x, seqs)?;
        }
        Ok(x)
    }

    fn layer(&self, l: &Layer, x: &Tensor, seqs: &[&[u32]]) -> candle_core::Result<Tensor> {
        let (h, heads, d) = (self.hidden, self.heads, self.head_dim);
        let qkv = l.qkv.forward(x)?; // [T, 3h]
        let mut contexts = Vec::with_capacity(seqs.len());
        let mut offset = 0;
        for s in seqs {
            let n = s.len();
            // [n, 3, heads, d] → three [heads, n, d] strided views of the same buffer.
            let part = qkv.narrow(0, offset, n)?.reshape((n, 3, heads, d))?;
            let q = part.narrow(1, 0, 1)?.squeeze(1)?.transpose(0, 1)?;
            let k = part.narrow(1, 1, 1)?.squeeze(1)?.transpose(0, 1)?;
            let v = part.narrow(1, 2, 1)?.squeeze(1)?.transpose(0, 1)?;
            let scores = q.matmul(&k.transpose(1, 2)?)?; // [heads, n, n], already scaled
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let ctx = probs.matmul(&v)?; // [heads, n, d]
            contexts.push(ctx.transpose(0, 1)?.reshape((n, h))?);
            offset += n;
        }
        let ctx = Tensor::cat(&contexts, 0)?;
        let attn = l.attn_norm.forward(&(l.attn_out.forward(&ctx)? + x)?)?;
        let inter = l.intermediate.product(&attn)?;
        inter.inplace_op1(&BiasGelu(&l.intermediate_bias))?;
        l.out_norm.forward(&(l.output.forward(&inter)? + attn)?)
    }

    /// Mean of each sequence's rows of `hidden` (from [`Bert::forward`]),
    /// L2-normalised: the sentence-transformers pooling.
    pub fn mean_pool_normalized(hidden: &Tensor, lengths: &[usize]) -> candle_core::Result<Vec<Vec<f32>>> {
        let cols = hidden.dim(1)?;
        let data = hidden.flatten_all()?.to_vec1::<f32>()?;
        let mut out = Vec::with_capacity(lengths.len());
        let mut offset = 0;
        for &n in lengths {
            let mut mean = vec![0f32; cols];
            for row in data[offset * cols..(offset + n) * cols].chunks_exact(cols) {
                mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
            }
            // The mean and the sum point the same way: normalise the sum.
            let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            mean.iter_mut().for_each(|m| *m /= norm);
            out.push(mean);
            offset += n;
        }
        Ok(out)
    }
}
