//! The llama architecture (SmolLM2, Llama 3.x, TinyLlama…) from a GGUF file:
//! Quire's own forward pass on candle's tensor ops, shaped for a laptop CPU.
//!
//! - Weights whose format has no SIMD dot product in candle (Q4_1, Q5_0, Q5_1)
//!   are re-quantized to Q8_0 at load, which candle multiplies with AVX2/NEON.
//!   Q, K and V are one fused matrix, and so are the gate and up projections:
//!   fewer, larger products per layer. The 1/√d attention scale is folded into
//!   the query rows (an exact power of two for the usual head sizes).
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

struct Layer {
    attn_norm: Tensor,
    qkv: QMatMul,
    wo: QMatMul,
    ffn_norm: Tensor,
    gate_up: QMatMul,
    down: QMatMul,
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

/// Rows of several weights stacked into one matrix (same input width), in the
/// format of the first unless they differ (then Q8_0, or f32 for float weights).
fn stack(parts: Vec<(QTensor, f64)>, device: &Device) -> candle_core::Result<QMatMul> {
    let dtype = parts[0].0.dtype();
    let same = parts.iter().all(|(p, s)| p.dtype() == dtype && *s == 1.0);
    if parts.len() == 1 && same {
        let (t, _) = parts.into_iter().next().ok_or_else(|| candle_core::Error::Msg("no weight".into()))?;
        return QMatMul::from_qtensor(prepare(t, device)?);
    }
    let mut rows = Vec::with_capacity(parts.len());
    for (p, scale) in &parts {
        let f = p.dequantize(device)?;
        rows.push(if *scale == 1.0 { f } else { (f * *scale)? });
    }
    let all = Tensor::cat(&rows, 0)?;
    drop(rows);
    match dtype {
        GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => QMatMul::from_qtensor(QTensor::quantize(&all, GgmlDType::F32)?),
        // Stacked weights are re-quantized; Q8_0 keeps them within a few percent of a 4-bit step.
        _ => QMatMul::from_qtensor(QTensor::quantize(&all, GgmlDType::Q8_0)?),
    }
}

/// Rows from which a product dequantizes the weight and runs an f32 GEMM
/// instead of one quantized dot product per row and column.
const GEMM_ROWS: usize = 32;

/// `x · Wᵀ`: a prompt of many rows goes through a real GEMM on the weight
/// dequantized for this call (re-reading quantized blocks per row costs more);
/// a single row (decoding) uses the quantized dot products directly.
fn linear(w: &QMatMul, x: &Tensor) -> candle_core::Result<Tensor> {
    match w {
        QMatMul::QTensor(q) if x.dim(0)? >= GEMM_ROWS => x.matmul(&q.dequantize(&Device::Cpu)?.t()?),
        _ => w.forward(x),
    }
}

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
        // 1/√d is a power of two for head sizes 64, 256, …: folding it in loses nothing there.
        let q_scale = 1.0 / (cfg.head_dim as f64).sqrt();
        let mut layers = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            let p = format!("blk.{i}");
            let wq = get(&format!("{p}.attn_q.weight"))?;
            let wk = get(&format!("{p}.attn_k.weight"))?;
            let wv = get(&format!("{p}.attn_v.weight"))?;
            let qkv = stack(vec![(wq, q_scale), (wk, 1.0), (wv, 1.0)], &dev)?;
            let gate = get(&format!("{p}.ffn_gate.weight"))?;
            let hidden = gate.shape().dims()[0];
            let up = get(&format!("{p}.ffn_up.weight"))?;
            let gate_up = stack(vec![(gate, 1.0), (up, 1.0)], &dev)?;
            let cache_shape = (cfg.kv_heads, cfg.context, cfg.head_dim);
            layers.push(Layer {
                attn_norm: get(&format!("{p}.attn_norm.weight"))?.dequantize(&dev)?,
                qkv,
                wo: QMatMul::from_qtensor(prepare(get(&format!("{p}.attn_output.weight"))?, &dev)?)?,
                ffn_norm: get(&format!("{p}.ffn_norm.weight"))?.dequantize(&dev)?,
                gate_up,
                down: QMatMul::from_qtensor(prepare(get(&format!("{p}.ffn_down.weight"))?, &dev)?)?,
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
            let qkv = linear(&l.qkv, &xn)?; // [n, (h + 2 kvh) d]
            let q = qkv.narrow(1, 0, h * d)?.reshape((n, h, d))?.transpose(0, 1)?.contiguous()?.unsqueeze(0)?;
            let k = qkv.narrow(1, h * d, kvh * d)?.reshape((n, kvh, d))?.transpose(0, 1)?.contiguous()?.unsqueeze(0)?;
            let v = qkv.narrow(1, (h + kvh) * d, kvh * d)?.reshape((n, kvh, d))?.transpose(0, 1)?.contiguous()?;
            let q = candle_nn::rotary_emb::rope_i(&q, &cos, &sin)?.squeeze(0)?; // [h, n, d]
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
            x = (linear(&l.wo, &ctx)? + x)?;
            let xn = candle_nn::ops::rms_norm(&x, &l.ffn_norm, c.rms_eps as f32)?;
            let gu = linear(&l.gate_up, &xn)?; // [n, 2 hidden]
            let act = (gu.narrow(1, 0, l.hidden)?.silu()? * gu.narrow(1, l.hidden, l.hidden)?)?;
            x = (linear(&l.down, &act)? + x)?;
        }
        let last = x.narrow(0, n - 1, 1)?;
        let last = candle_nn::ops::rms_norm(&last, &self.norm, c.rms_eps as f32)?;
        self.output.forward(&last)?.squeeze(0)
    }
}
