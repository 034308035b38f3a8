//! The llama architecture (SmolLM2, Llama 3.x, TinyLlama…) from a GGUF file:
//! Quire's own forward pass on candle's tensor ops, shaped for a laptop CPU.
//!
//! - Weights whose format has no SIMD dot product in candle (Q4_1, Q5_0, Q5_1)
//!   are re-quantized to Q8_0 at load, which candle multiplies with AVX2/NEON.
//!   Prompts (32+ tokens) dequantize the file's own weights for each product
//!   and run an f32 GEMM, so they see the weights exactly. Q, K and V are one
//!   fused matrix, and so are the gate and up projections: fewer, larger
//!   products per layer.
//! - The key/value cache is preallocated for the whole context and written in
//!   place; a new prompt that starts with the tokens already in the cache
//!   ([`Llama::forward`] at `pos > 0`) only runs its new tokens.
//! - Grouped-query attention runs per key/value head on strided views, without
//!   repeating keys and values; only the last position goes through the output
//!   norm and the vocabulary projection.

use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor};

use crate::error::{Error, Result};

/// Model hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone)]
pub struct LlamaConfig {
    pub dim: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub rms_eps: f64,
    pub rope_base: f32,
    pub context: usize,
}

/// A weight matrix kept in the file's own format (`exact`, dequantized for
/// prompt GEMMs, so a prompt sees the model's weights exactly) and as a
/// product-ready matrix for decoding (`fast`: the same tensor when candle has
/// SIMD dot products for its format, else a Q8_0 copy).
struct Linear {
    exact: Arc<QTensor>,
    fast: QMatMul,
}

impl Linear {
    fn new(exact: QTensor, device: &Device) -> candle_core::Result<Self> {
        let exact = Arc::new(exact);
        let fast = if prepare_keeps(exact.dtype()) {
            QMatMul::QTensor(exact.clone())
        } else {
            QMatMul::from_qtensor(QTensor::quantize(&exact.dequantize(device)?, GgmlDType::Q8_0)?)?
        };
        Ok(Linear { exact, fast })
    }

    /// `x · Wᵀ`: a prompt of many rows goes through a real GEMM on the weight
    /// dequantized for this call (re-reading quantized blocks per row costs
    /// more); a single row (decoding) uses the quantized dot products.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if x.dim(0)? >= GEMM_ROWS {
            x.matmul(&self.exact.dequantize(&Device::Cpu)?.t()?)
        } else {
            self.fast.forward(x)
        }
    }
}

struct Layer {
    attn_norm: Tensor,
    qkv: Linear,
    wo: Linear,
    ffn_norm: Tensor,
    gate_up: Linear,
    down: Linear,
    hidden: usize,
    k_cache: Tensor,
    v_cache: Tensor,
}

pub struct Llama {
    cfg: LlamaConfig,
    /// Token embeddings, quantized as in the file; rows are dequantized on lookup.
    embeddings: Arc<QTensor>,
    layers: Vec<Layer>,
    norm: Tensor,
    output: QMatMul,
    cos: Tensor,
    sin: Tensor,
}

fn md_u32(content: &gguf_file::Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|v| v.to_u32().ok())
}

fn md_f32(content: &gguf_file::Content, key: &str) -> Option<f32> {
    content.metadata.get(key).and_then(|v| v.to_f32().ok())
}

impl LlamaConfig {
    pub fn from_gguf(content: &gguf_file::Content, max_context: usize) -> Result<Self> {
        let get = |k: &str| md_u32(content, &format!("llama.{k}")).map(|v| v as usize);
        let dim = get("embedding_length").ok_or_else(|| Error::Model("llama.embedding_length missing".into()))?;
        let layers = get("block_count").ok_or_else(|| Error::Model("llama.block_count missing".into()))?;
        let heads = get("attention.head_count").filter(|&h| h > 0).ok_or_else(|| Error::Model("llama.attention.head_count missing".into()))?;
        let kv_heads = get("attention.head_count_kv").unwrap_or(heads);
        if kv_heads == 0 || heads % kv_heads != 0 || dim % heads != 0 || dim > 1 << 16 || layers > 1024 {
            return Err(Error::Model(format!("inconsistent shapes: {dim} wide, {heads} heads, {kv_heads} key/value heads, {layers} layers")));
        }
        let head_dim = get("attention.key_length").unwrap_or(dim / heads);
        if head_dim % 2 != 0 || head_dim > 1024 {
            return Err(Error::Model(format!("unsupported head size {head_dim}")));
        }
        let context = get("context_length").unwrap_or(2048).min(max_context).max(16);
        Ok(LlamaConfig {
            dim,
            layers,
            heads,
            kv_heads,
            head_dim,
            rms_eps: md_f32(content, "llama.attention.layer_norm_rms_epsilon").unwrap_or(1e-5) as f64,
            rope_base: md_f32(content, "llama.rope.freq_base").unwrap_or(10_000.0),
            context,
        })
    }
}

/// Whether candle multiplies this format with SIMD as it is.
fn prepare_keeps(dtype: GgmlDType) -> bool {
    !matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1)
}

/// A weight as a product-ready matrix: formats without a SIMD kernel become Q8_0.
fn prepare(t: QTensor, device: &Device) -> candle_core::Result<QTensor> {
    if prepare_keeps(t.dtype()) {
        Ok(t)
    } else {
        QTensor::quantize(&t.dequantize(device)?, GgmlDType::Q8_0)
    }
}

/// Rows of several weights stacked into one matrix (same input width): the
/// quantized rows are concatenated as they are when the formats agree.
fn stack(parts: Vec<QTensor>, device: &Device) -> candle_core::Result<QTensor> {
    let dtype = parts[0].dtype();
    let cols = parts[0].shape().dims().get(1).copied().unwrap_or(0);
    let rows: usize = parts.iter().map(|p| p.shape().dims()[0]).sum();
    if parts.iter().all(|p| p.dtype() == dtype && p.shape().dims().get(1) == Some(&cols)) {
        let mut bytes = Vec::new();
        for p in &parts {
            bytes.extend_from_slice(&p.data()?);
        }
        let storage = candle_core::quantized::QStorage::from_data(std::borrow::Cow::Owned(bytes), device, dtype)?;
        return QTensor::new(storage, (rows, cols));
    }
    let f: Vec<Tensor> = parts.iter().map(|p| p.dequantize(device)).collect::<candle_core::Result<_>>()?;
    QTensor::quantize(&Tensor::cat(&f, 0)?, GgmlDType::Q8_0)
}

/// Rows from which a product dequantizes the weight and runs an f32 GEMM
/// instead of one quantized dot product per row and column.
const GEMM_ROWS: usize = 32;

impl Llama {
    pub fn from_gguf<R: std::io::Read + std::io::Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        max_context: usize,
    ) -> Result<Self> {
        let cfg = LlamaConfig::from_gguf(content, max_context)?;
        Self::load(content, reader, cfg).map_err(|e| Error::Model(e.to_string()))
    }

    fn load<R: std::io::Read + std::io::Seek>(content: &gguf_file::Content, r: &mut R, cfg: LlamaConfig) -> candle_core::Result<Self> {
        let dev = Device::Cpu;
        let mut get = |name: &str| content.tensor(r, name, &dev);
        let embeddings = Arc::new(get("token_embd.weight")?);
        let output = match get("output.weight") {
            Ok(w) => QMatMul::from_qtensor(prepare(w, &dev)?)?,
            // Tied weights: the same matrix, when its format has a fast product.
            Err(_) if prepare_keeps(embeddings.dtype()) => QMatMul::QTensor(embeddings.clone()),
            Err(_) => QMatMul::from_qtensor(prepare(QTensor::quantize(&embeddings.dequantize(&dev)?, embeddings.dtype())?, &dev)?)?,
        };
        let norm = get("output_norm.weight")?.dequantize(&dev)?;
        let mut layers = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            let p = format!("blk.{i}");
            let wq = get(&format!("{p}.attn_q.weight"))?;
            let wk = get(&format!("{p}.attn_k.weight"))?;
            let wv = get(&format!("{p}.attn_v.weight"))?;
            let qkv = Linear::new(stack(vec![wq, wk, wv], &dev)?, &dev)?;
            let gate = get(&format!("{p}.ffn_gate.weight"))?;
            let hidden = gate.shape().dims()[0];
            let up = get(&format!("{p}.ffn_up.weight"))?;
            let gate_up = Linear::new(stack(vec![gate, up], &dev)?, &dev)?;
            let cache_shape = (cfg.kv_heads, cfg.context, cfg.head_dim);
            layers.push(Layer {
                attn_norm: get(&format!("{p}.attn_norm.weight"))?.dequantize(&dev)?,
                qkv,
                wo: Linear::new(get(&format!("{p}.attn_output.weight"))?, &dev)?,
                ffn_norm: get(&format!("{p}.ffn_norm.weight"))?.dequantize(&dev)?,
                gate_up,
                down: Linear::new(get(&format!("{p}.ffn_down.weight"))?, &dev)?,
                hidden,
                k_cache: Tensor::zeros(cache_shape, DType::F32, &dev)?,
                v_cache: Tensor::zeros(cache_shape, DType::F32, &dev)?,
            });
        }
        // Rotary tables; Llama 3 GGUFs carry per-frequency factors in `rope_freqs.weight`.
        let factors = match get("rope_freqs.weight") {
            Ok(t) => Some(t.dequantize(&dev)?.to_vec1::<f32>()?),
            Err(_) => None,
        };
        let half = cfg.head_dim / 2;
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| {
                let f = 1.0 / cfg.rope_base.powf(2.0 * i as f32 / cfg.head_dim as f32);
                f / factors.as_ref().and_then(|v| v.get(i).copied()).unwrap_or(1.0)
            })
            .collect();
        let inv_freq = Tensor::from_vec(inv_freq, (1, half), &dev)?;
        let t = Tensor::arange(0u32, cfg.context as u32, &dev)?.to_dtype(DType::F32)?.reshape((cfg.context, 1))?;
        let freqs = t.matmul(&inv_freq)?;
        Ok(Llama { embeddings, layers, norm, output, cos: freqs.cos()?, sin: freqs.sin()?, cfg })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    /// Runs `tokens` at positions `pos..pos + len`, over the cached keys and
    /// values of positions `0..pos`; returns the logits of the last position.
    pub fn forward(&mut self, tokens: &[u32], pos: usize) -> candle_core::Result<Tensor> {
        let c = &self.cfg;
        let n = tokens.len();
        if n == 0 || pos + n > c.context {
            candle_core::bail!("positions {pos}..{} are outside the context of {}", pos + n, c.context);
        }
        let dev = Device::Cpu;
        let ids = Tensor::new(tokens, &dev)?;
        let mut x = self.embeddings.embedding(&ids)?; // [n, dim]
        let cos = self.cos.narrow(0, pos, n)?;
        let sin = self.sin.narrow(0, pos, n)?;
        let (h, kvh, d) = (c.heads, c.kv_heads, c.head_dim);
        let rep = h / kvh;
        let total = pos + n;
        let scale = 1.0 / (d as f64).sqrt();
        // Causal mask for the rows of one key/value head group: row r is token r % n.
        let mask = if n > 1 {
            let mut m = vec![0f32; rep * n * total];
            for r in 0..rep * n {
                let i = r % n;
                for j in pos + i + 1..total {
                    m[r * total + j] = f32::NEG_INFINITY;
                }
            }
            Some(Tensor::from_vec(m, (rep * n, total), &dev)?)
        } else {
            None
        };
        for l in self.layers.iter_mut() {
            let xn = candle_nn::ops::rms_norm(&x, &l.attn_norm, c.rms_eps as f32)?;
            let qkv = l.qkv.forward(&xn)?; // [n, (h + 2 kvh) d]
            let q = qkv.narrow(1, 0, h * d)?.reshape((n, h, d))?.transpose(0, 1)?.contiguous()?.unsqueeze(0)?;
            let k = qkv.narrow(1, h * d, kvh * d)?.reshape((n, kvh, d))?.transpose(0, 1)?.contiguous()?.unsqueeze(0)?;
            let v = qkv.narrow(1, (h + kvh) * d, kvh * d)?.reshape((n, kvh, d))?.transpose(0, 1)?.contiguous()?;
            let q = (candle_nn::rotary_emb::rope_i(&q, &cos, &sin)?.squeeze(0)? * scale)?; // [h, n, d]
            let k = candle_nn::rotary_emb::rope_i(&k, &cos, &sin)?.squeeze(0)?; // [kvh, n, d]
            l.k_cache.slice_set(&k, 1, pos)?;
            l.v_cache.slice_set(&v, 1, pos)?;
            let keys = l.k_cache.narrow(1, 0, total)?; // [kvh, total, d]
            let values = l.v_cache.narrow(1, 0, total)?;
            // Heads h = g·rep + r share key/value head g: [kvh, rep·n, d].
            let q = q.reshape((kvh, rep * n, d))?;
            let mut scores = q.matmul(&keys.transpose(1, 2)?)?; // [kvh, rep·n, total]
            if let Some(m) = &mask {
                scores = scores.broadcast_add(m)?;
            }
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let ctx = probs.matmul(&values)?; // [kvh, rep·n, d] = [h, n, d]
            let ctx = ctx.reshape((h, n, d))?.transpose(0, 1)?.reshape((n, h * d))?;
            x = (l.wo.forward(&ctx)? + x)?;
            let xn = candle_nn::ops::rms_norm(&x, &l.ffn_norm, c.rms_eps as f32)?;
            let gu = l.gate_up.forward(&xn)?; // [n, 2 hidden]
            let act = (gu.narrow(1, 0, l.hidden)?.silu()? * gu.narrow(1, l.hidden, l.hidden)?)?;
            x = (l.down.forward(&act)? + x)?;
        }
        let last = x.narrow(0, n - 1, 1)?;
        let last = candle_nn::ops::rms_norm(&last, &self.norm, c.rms_eps as f32)?;
        self.output.forward(&last)?.squeeze(0)
    }
}
