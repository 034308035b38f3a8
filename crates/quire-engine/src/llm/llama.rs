//! The llama architecture (SmolLM2, Llama 3.x, TinyLlama…) from a GGUF file:
//! Quire's own forward pass, shaped for a laptop CPU.
//!
//! - Weights stay in the file's format. Q4_0, Q4_1 and Q8_0 matrices (the
//!   default SmolLM2 file: Q4_1 layers, Q8_0 embeddings) are multiplied by
//!   Quire's kernels ([`quire_kernels::q8`]: integer dot products on the
//!   quantized blocks, as llama.cpp does); other formats by candle's.
//! - Decoding (one token) is plain loops over preallocated buffers: norms,
//!   rotary embedding and attention in place, matrix–vector products split
//!   across threads. No tensor graph, no allocation per operation.
//! - Prompts (32+ tokens) run Quire's f32 GEMM ([`quire_kernels::gemm`]), which
//!   dequantizes each weight panel by panel as it goes (no f32 copy of a whole
//!   matrix); Q, K and V are one fused matrix, and so are the gate and up
//!   projections: fewer, larger products per layer.
//! - The key/value cache is preallocated for the whole context and written in
//!   place; a new prompt that starts with the tokens already in the cache
//!   ([`Llama::forward`] at `pos > 0`) only runs its new tokens.
//! - Grouped-query attention shares each key/value head between its query
//!   heads without copying; only the last position goes through the output
//!   norm and the vocabulary projection.

use crate::heap::Zeroed;
use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use quire_kernels::decode as kernels;
use quire_kernels::gemm::{gemm_serial, HalfPanelView, Output, PanelView, NR};
use quire_kernels::q8::{self, Q8Vector, QMatrix};
use rayon::prelude::*;
use std::sync::Arc;

use candle_core::{CpuStorage, Device, Module, Storage, Tensor};

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

/// A weight matrix as the file stores it: multiplied by Quire's kernels when
/// they know its format, else by candle's (`fast`: the same tensor when candle
/// has SIMD dot products for the format, else a Q8_0 copy).
enum Linear {
    Own(QMatrix),
    Candle { exact: Arc<QTensor>, fast: QMatMul },
}

fn own_format(dtype: GgmlDType) -> Option<q8::Format> {
    match dtype {
        GgmlDType::Q4_0 => Some(q8::Format::Q4_0),
        GgmlDType::Q4_1 => Some(q8::Format::Q4_1),
        GgmlDType::Q8_0 => Some(q8::Format::Q8_0),
        _ => None,
    }
}

impl Linear {
    fn new(t: QTensor, device: &Device) -> candle_core::Result<Self> {
        let dims = t.shape().dims().to_vec();
        if let (Some(format), [rows, cols]) = (own_format(t.dtype()), dims.as_slice()) {
            if let Some(m) = QMatrix::new(format, *rows, *cols, t.data()?.into_owned()) {
                return Ok(Linear::Own(m));
            }
        }
        let exact = Arc::new(t);
        let fast = if prepare_keeps(exact.dtype()) {
            QMatMul::QTensor(exact.clone())
        } else {
            QMatMul::from_qtensor(QTensor::quantize(
                &exact.dequantize(device)?,
                GgmlDType::Q8_0,
            )?)?
        };
        Ok(Linear::Candle { exact, fast })
    }

    fn rows(&self) -> usize {
        match self {
            Linear::Own(m) => m.rows,
            Linear::Candle { exact, .. } => exact.shape().dims()[0],
        }
    }

    /// The weight as f32, `[rows, cols]` row-major.
    fn dequantize(&self) -> candle_core::Result<(Vec<f32>, usize, usize)> {
        match self {
            Linear::Own(m) => Ok((m.dequantize(), m.rows, m.cols)),
            Linear::Candle { exact, .. } => {
                let w = exact.dequantize(&Device::Cpu)?;
                let (rows, cols) = w.dims2()?;
                Ok((w.flatten_all()?.to_vec1::<f32>()?, rows, cols))
            }
        }
    }

    /// `x · Wᵀ` for a prompt: many rows go through a real GEMM on the weight
    /// dequantized for this call (re-reading quantized blocks per row costs
    /// more); a few rows through the quantized products, row by row.
    fn forward(&self, x: &Tensor, q: &mut Q8Vector) -> candle_core::Result<Tensor> {
        let n = x.dim(0)?;
        if n >= GEMM_ROWS {
            if let Linear::Own(m) = self {
                // Quire's GEMM, dequantizing the weight panel by panel.
                let input = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
                let mut out = vec![0f32; n * m.rows];
                let output = quire_kernels::gemm::Output {
                    bias: None,
                    accumulate: false,
                };
                quire_kernels::dense::quantized(&input, m.cols, n, m, &mut out, m.rows, output);
                return Tensor::from_vec(out, (n, m.rows), &Device::Cpu);
            }
            let (w, rows, cols) = self.dequantize()?;
            return x.matmul(&Tensor::from_vec(w, (rows, cols), &Device::Cpu)?.t()?);
        }
        match self {
            Linear::Own(m) => {
                let input = x.to_vec2::<f32>()?;
                let mut out = vec![0f32; n * m.rows];
                for (row, o) in input.iter().zip(out.chunks_exact_mut(m.rows)) {
                    q.quantize(row);
                    m.matvec(q, o);
                }
                Tensor::from_vec(out, (n, m.rows), &Device::Cpu)
            }
            Linear::Candle { fast, .. } => fast.forward(x),
        }
    }

    /// `out = W · x` for one vector (`q` is scratch for the quantized input).
    fn matvec(&self, x: &[f32], q: &mut Q8Vector, out: &mut [f32]) -> candle_core::Result<()> {
        match self {
            Linear::Own(m) => {
                q.quantize(x);
                m.matvec(q, out);
            }
            Linear::Candle { fast, .. } => {
                let y = fast
                    .forward(&Tensor::from_slice(x, (1, x.len()), &Device::Cpu)?)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                out.copy_from_slice(&y);
            }
        }
        Ok(())
    }

    /// Row `r` as f32 (the embedding of token `r`).
    fn row_into(&self, r: usize, out: &mut [f32]) -> candle_core::Result<()> {
        if r >= self.rows() {
            candle_core::bail!("token {r} is outside the vocabulary of {}", self.rows());
        }
        match self {
            Linear::Own(m) => m.row_into(r, out),
            Linear::Candle { exact, .. } => {
                let ids = Tensor::new(&[r as u32], &Device::Cpu)?;
                out.copy_from_slice(&exact.embedding(&ids)?.flatten_all()?.to_vec1::<f32>()?);
            }
        }
        Ok(())
    }
}

/// Keys and values of one layer for every position of the context, stored
/// as the GEMM's column panels ([`quire_kernels::gemm::Panels`]) so attention
/// multiplies them where they are, for a prompt and for one token alike:
/// - keys, per key/value head: panels of 32 positions, each `[head_dim][32]`
///   (`q · Kᵀ` has one column per position);
/// - values, per key/value head: panels of 32 dimensions, each `[context][32]`
///   (`p · V` has one column per dimension).
struct KvCache {
    /// Keys in half precision (f16 bits, as llama.cpp keeps its cache by
    /// default): half the memory and reading of f32 for `q · Kᵀ`. Values
    /// stay f32: in f16 too, decode measured no faster, and the default
    /// model's answer in `tests/answer.rs` turned from right to wrong.
    keys: Zeroed<u16>,
    values: Zeroed<f32>,
    /// Positions, rounded up to whole panels.
    context: usize,
    head_dim: usize,
    /// `head_dim` rounded up to whole panels.
    dims: usize,
}

impl KvCache {
    fn new(kv_heads: usize, context: usize, head_dim: usize) -> Self {
        let (context, dims) = (context.next_multiple_of(NR), head_dim.next_multiple_of(NR));
        // Mapped zeroed: pages become resident only as positions fill.
        KvCache {
            keys: Zeroed::new(kv_heads * context * head_dim),
            values: Zeroed::new(kv_heads * context * dims),
            context,
            head_dim,
            dims,
        }
    }

    /// Stores key `k` and value `v` of key/value head `g` at position `pos`.
    fn put(&mut self, g: usize, pos: usize, k: &[f32], v: &[f32]) {
        let d = self.head_dim;
        let kb = g * self.context * d + (pos / NR) * d * NR + pos % NR;
        for (p, x) in k.iter().enumerate() {
            self.keys[kb + p * NR] = half::f16::from_f32(*x).to_bits();
        }
        let vb = g * self.context * self.dims + pos * NR;
        for (p, x) in v.iter().enumerate() {
            self.values[vb + (p / NR) * self.context * NR + p % NR] = *x;
        }
    }

    /// Keys of head `g` at positions `0..len`: depth `head_dim`, one column per position.
    fn keys(&self, g: usize, len: usize) -> HalfPanelView<'_> {
        let size = self.context * self.head_dim;
        HalfPanelView {
            data: &self.keys[g * size..(g + 1) * size],
            depth: self.head_dim,
            width: len,
            stride: self.head_dim * NR,
        }
    }

    /// Values of head `g` at positions `0..len`: depth `len`, one column per dimension.
    fn values(&self, g: usize, len: usize) -> PanelView<'_> {
        let size = self.context * self.dims;
        PanelView {
            data: &self.values[g * size..(g + 1) * size],
            depth: len,
            width: self.head_dim,
            stride: self.context * NR,
        }
    }
}

/// `scores[i]` ← softmax over the positions row `i` sees (`0..=first + i`), zero after.
fn causal_softmax(scores: &mut [f32], len: usize, first: usize) {
    for (i, row) in scores.chunks_exact_mut(len).enumerate() {
        let (seen, future) = row.split_at_mut((first + i + 1).min(len));
        kernels::softmax_row(seen);
        future.iter_mut().for_each(|v| *v = 0.0);
    }
}

struct Layer {
    attn_norm: Vec<f32>,
    qkv: Linear,
    wo: Linear,
    ffn_norm: Vec<f32>,
    gate_up: Linear,
    down: Linear,
    hidden: usize,
    cache: KvCache,
}

/// Buffers of the decode step, allocated once.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    xn: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    out: Vec<f32>,
    gate_up: Vec<f32>,
    act: Vec<f32>,
    q8: Q8Vector,
}

pub struct Llama {
    cfg: LlamaConfig,
    /// Token embeddings, quantized as in the file; rows are dequantized on lookup.
    embeddings: Arc<Linear>,
    layers: Vec<Layer>,
    norm: Vec<f32>,
    /// The vocabulary projection (the embeddings when the file ties them).
    output: Arc<Linear>,
    /// Rotary angles: `[context][head_dim / 2]`.
    cos: Vec<f32>,
    sin: Vec<f32>,
    scratch: Scratch,
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
        let dim = get("embedding_length")
            .ok_or_else(|| Error::Model("llama.embedding_length missing".into()))?;
        let layers =
            get("block_count").ok_or_else(|| Error::Model("llama.block_count missing".into()))?;
        let heads = get("attention.head_count")
            .filter(|&h| h > 0)
            .ok_or_else(|| Error::Model("llama.attention.head_count missing".into()))?;
        let kv_heads = get("attention.head_count_kv").unwrap_or(heads);
        if kv_heads == 0
            || heads % kv_heads != 0
            || dim % heads != 0
            || dim > 1 << 16
            || layers > 1024
        {
            return Err(Error::Model(format!("inconsistent shapes: {dim} wide, {heads} heads, {kv_heads} key/value heads, {layers} layers")));
        }
        let head_dim = get("attention.key_length").unwrap_or(dim / heads);
        if head_dim % 2 != 0 || head_dim > 1024 {
            return Err(Error::Model(format!("unsupported head size {head_dim}")));
        }
        let context = get("context_length")
            .unwrap_or(2048)
            .min(max_context)
            .max(16);
        Ok(LlamaConfig {
            dim,
            layers,
            heads,
            kv_heads,
            head_dim,
            rms_eps: md_f32(content, "llama.attention.layer_norm_rms_epsilon").unwrap_or(1e-5)
                as f64,
            rope_base: md_f32(content, "llama.rope.freq_base").unwrap_or(10_000.0),
            context,
        })
    }
}

/// Whether candle multiplies this format with SIMD as it is.
fn prepare_keeps(dtype: GgmlDType) -> bool {
    !matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1)
}

/// Rows of several weights stacked into one matrix (same input width): the
/// quantized rows are concatenated as they are when the formats agree.
fn stack(parts: Vec<QTensor>, device: &Device) -> candle_core::Result<QTensor> {
    let dtype = parts[0].dtype();
    let cols = parts[0].shape().dims().get(1).copied().unwrap_or(0);
    let rows: usize = parts.iter().map(|p| p.shape().dims()[0]).sum();
    if parts
        .iter()
        .all(|p| p.dtype() == dtype && p.shape().dims().get(1) == Some(&cols))
    {
        let mut bytes = Vec::new();
        for p in &parts {
            bytes.extend_from_slice(&p.data()?);
        }
        let storage = candle_core::quantized::QStorage::from_data(
            std::borrow::Cow::Owned(bytes),
            device,
            dtype,
        )?;
        return QTensor::new(storage, (rows, cols));
    }
    let f: Vec<Tensor> = parts
        .iter()
        .map(|p| p.dequantize(device))
        .collect::<candle_core::Result<_>>()?;
    QTensor::quantize(&Tensor::cat(&f, 0)?, GgmlDType::Q8_0)
}

/// Prompt tokens run through the layers at once (longer prompts go in parts).
const PROMPT_PART: usize = 256;

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

    fn load<R: std::io::Read + std::io::Seek>(
        content: &gguf_file::Content,
        r: &mut R,
        cfg: LlamaConfig,
    ) -> candle_core::Result<Self> {
        let dev = Device::Cpu;
        let mut get = |name: &str| content.tensor(r, name, &dev);
        let vector = |t: QTensor| t.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>();
        let embeddings = Arc::new(Linear::new(get("token_embd.weight")?, &dev)?);
        let output = match get("output.weight") {
            Ok(w) => Arc::new(Linear::new(w, &dev)?),
            Err(_) => embeddings.clone(),
        };
        let norm = vector(get("output_norm.weight")?)?;
        let (dim, h, kvh, d) = (cfg.dim, cfg.heads, cfg.kv_heads, cfg.head_dim);
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
            let wo = Linear::new(get(&format!("{p}.attn_output.weight"))?, &dev)?;
            let down = Linear::new(get(&format!("{p}.ffn_down.weight"))?, &dev)?;
            if qkv.rows() != (h + 2 * kvh) * d
                || wo.rows() != dim
                || gate_up.rows() != 2 * hidden
                || down.rows() != dim
            {
                candle_core::bail!("layer {i}: weight shapes do not match the metadata");
            }
            layers.push(Layer {
                attn_norm: vector(get(&format!("{p}.attn_norm.weight"))?)?,
                qkv,
                wo,
                ffn_norm: vector(get(&format!("{p}.ffn_norm.weight"))?)?,
                gate_up,
                down,
                hidden,
                cache: KvCache::new(kvh, cfg.context, d),
            });
        }
        // Rotary tables; Llama 3 GGUFs carry per-frequency factors in `rope_freqs.weight`.
        let factors = match get("rope_freqs.weight") {
            Ok(t) => Some(vector(t)?),
            Err(_) => None,
        };
        let half = d / 2;
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| {
                let f = 1.0 / cfg.rope_base.powf(2.0 * i as f32 / d as f32);
                f / factors
                    .as_ref()
                    .and_then(|v| v.get(i).copied())
                    .unwrap_or(1.0)
            })
            .collect();
        let (mut cos, mut sin) = (
            Vec::with_capacity(cfg.context * half),
            Vec::with_capacity(cfg.context * half),
        );
        for p in 0..cfg.context {
            for f in &inv_freq {
                let angle = p as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Ok(Llama {
            embeddings,
            layers,
            norm,
            output,
            cos,
            sin,
            scratch: Scratch::default(),
            cfg,
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    /// Runs `tokens` at positions `pos..pos + len`, over the cached keys and
    /// values of positions `0..pos`; returns the logits of the last position.
    pub fn forward(&mut self, tokens: &[u32], pos: usize) -> candle_core::Result<Vec<f32>> {
        let c = &self.cfg;
        let n = tokens.len();
        if n == 0 || pos + n > c.context {
            candle_core::bail!(
                "positions {pos}..{} are outside the context of {}",
                pos + n,
                c.context
            );
        }
        // On one of rayon's threads, so the parallel loops inside hand work to
        // the other threads directly instead of waking them from outside for
        // each product.
        rayon::scope(|_| {
            if n == 1 {
                return self.step(tokens[0], pos);
            }
            // A long prompt in parts: each part's activations (attention
            // scores grow with part × context) are freed before the next.
            let mut logits = Vec::new();
            for (i, part) in tokens.chunks(PROMPT_PART).enumerate() {
                logits = self.prompt(part, pos + i * PROMPT_PART)?;
            }
            quire_kernels::release_thread_buffers();
            Ok(logits)
        })
    }

    /// Several tokens at once, on tensors: GEMMs for the products.
    fn prompt(&mut self, tokens: &[u32], pos: usize) -> candle_core::Result<Vec<f32>> {
        let c = &self.cfg;
        let n = tokens.len();
        let dev = Device::Cpu;
        let mut rows = vec![0f32; n * c.dim];
        for (t, row) in tokens.iter().zip(rows.chunks_exact_mut(c.dim)) {
            self.embeddings.row_into(*t as usize, row)?;
        }
        let mut x = Tensor::from_vec(rows, (n, c.dim), &dev)?;
        let half = c.head_dim / 2;
        let cos = Tensor::from_slice(&self.cos[pos * half..(pos + n) * half], (n, half), &dev)?;
        let sin = Tensor::from_slice(&self.sin[pos * half..(pos + n) * half], (n, half), &dev)?;
        let (h, kvh, d) = (c.heads, c.kv_heads, c.head_dim);
        let rep = h / kvh;
        let total = pos + n;
        let scale = 1.0 / (d as f64).sqrt();
        let q8 = &mut self.scratch.q8;
        for l in self.layers.iter_mut() {
            let attn_norm = Tensor::from_slice(&l.attn_norm, c.dim, &dev)?;
            let xn = candle_nn::ops::rms_norm(&x, &attn_norm, c.rms_eps as f32)?;
            let qkv = l.qkv.forward(&xn, q8)?; // [n, (h + 2 kvh) d]
            let q = qkv
                .narrow(1, 0, h * d)?
                .reshape((n, h, d))?
                .transpose(0, 1)?
                .contiguous()?
                .unsqueeze(0)?;
            let k = qkv
                .narrow(1, h * d, kvh * d)?
                .reshape((n, kvh, d))?
                .transpose(0, 1)?
                .contiguous()?
                .unsqueeze(0)?;
            let v = qkv
                .narrow(1, (h + kvh) * d, kvh * d)?
                .reshape((n, kvh, d))?
                .transpose(0, 1)?
                .contiguous()?;
            let q = (candle_nn::rotary_emb::rope_i(&q, &cos, &sin)?.squeeze(0)? * scale)?; // [h, n, d]
            let k = candle_nn::rotary_emb::rope_i(&k, &cos, &sin)?.squeeze(0)?; // [kvh, n, d]
            let (kf, vf) = (
                k.flatten_all()?.to_vec1::<f32>()?,
                v.flatten_all()?.to_vec1::<f32>()?,
            );
            for g in 0..kvh {
                for i in 0..n {
                    let at = (g * n + i) * d;
                    l.cache.put(g, pos + i, &kf[at..at + d], &vf[at..at + d]);
                }
            }
            // Attention head by head (in parallel): scores = q·kᵀ over the
            // cached positions, causal softmax by row, context = p·v.
            let q = q.flatten_all()?.to_vec1::<f32>()?; // [h, n, d]
            let cache = &l.cache;
            let heads: Vec<Vec<f32>> = (0..h)
                .into_par_iter()
                .map(|head| {
                    let g = head / rep;
                    let mut scores = vec![0f32; n * total];
                    let mut ctx = vec![0f32; n * d];
                    let none = Output {
                        bias: None,
                        accumulate: false,
                    };
                    let q = &q[head * n * d..(head + 1) * n * d];
                    gemm_serial(q, d, n, &cache.keys(g, total), &mut scores, total, none);
                    // Token i sees positions 0..=pos + i.
                    causal_softmax(&mut scores, total, pos);
                    gemm_serial(
                        &scores,
                        total,
                        n,
                        &cache.values(g, total),
                        &mut ctx,
                        d,
                        none,
                    );
                    ctx
                })
                .collect();
            let mut ctx = vec![0f32; n * h * d];
            for (head, part) in heads.iter().enumerate() {
                for (i, row) in part.chunks_exact(d).enumerate() {
                    ctx[i * h * d + head * d..i * h * d + (head + 1) * d].copy_from_slice(row);
                }
            }
            let ctx = Tensor::from_vec(ctx, (n, h * d), &dev)?;
            x = (l.wo.forward(&ctx, q8)? + x)?;
            let ffn_norm = Tensor::from_slice(&l.ffn_norm, c.dim, &dev)?;
            let xn = candle_nn::ops::rms_norm(&x, &ffn_norm, c.rms_eps as f32)?;
            let gu = l.gate_up.forward(&xn, q8)?; // [n, 2 hidden]
            let act = swiglu(&gu, l.hidden)?;
            x = (l.down.forward(&act, q8)? + x)?;
        }
        let mut last = x.narrow(0, n - 1, 1)?.flatten_all()?.to_vec1::<f32>()?;
        kernels::rms_norm(&mut last, &self.norm, c.rms_eps as f32);
        let mut logits = vec![0f32; self.output.rows()];
        self.output.matvec(&last, q8, &mut logits)?;
        Ok(logits)
    }

    /// One token: the decode step, on preallocated buffers.
    fn step(&mut self, token: u32, pos: usize) -> candle_core::Result<Vec<f32>> {
        let c = &self.cfg;
        let (dim, h, kvh, d) = (c.dim, c.heads, c.kv_heads, c.head_dim);
        let (rep, half, eps) = (h / kvh, d / 2, c.rms_eps as f32);
        let scale = 1.0 / (d as f32).sqrt();
        let s = &mut self.scratch;
        s.x.resize(dim, 0.0);
        s.xn.resize(dim, 0.0);
        s.ctx.resize(h * d, 0.0);
        s.out.resize(dim, 0.0);
        self.embeddings.row_into(token as usize, &mut s.x)?;
        let (cos, sin) = (
            &self.cos[pos * half..(pos + 1) * half],
            &self.sin[pos * half..(pos + 1) * half],
        );
        for l in self.layers.iter_mut() {
            s.xn.copy_from_slice(&s.x);
            kernels::rms_norm(&mut s.xn, &l.attn_norm, eps);
            s.qkv.resize(l.qkv.rows(), 0.0);
            l.qkv.matvec(&s.xn, &mut s.q8, &mut s.qkv)?;
            let (q, kv) = s.qkv.split_at_mut(h * d);
            let (k, v) = kv.split_at_mut(kvh * d);
            for head in q.chunks_exact_mut(d) {
                kernels::rope_interleaved(head, cos, sin);
            }
            q.iter_mut().for_each(|x| *x *= scale);
            for head in k.chunks_exact_mut(d) {
                kernels::rope_interleaved(head, cos, sin);
            }
            for g in 0..kvh {
                l.cache
                    .put(g, pos, &k[g * d..(g + 1) * d], &v[g * d..(g + 1) * d]);
            }
            let cache = &l.cache;
            let q: &[f32] = q;
            // The `rep` query heads of one key/value head are consecutive rows
            // of q: one small product per key/value head, heads in parallel.
            let len = pos + 1;
            s.ctx
                .par_chunks_mut(rep * d)
                .enumerate()
                .for_each(|(g, out)| {
                    let mut scores = vec![0f32; rep * len];
                    let none = Output {
                        bias: None,
                        accumulate: false,
                    };
                    gemm_serial(
                        &q[g * rep * d..(g + 1) * rep * d],
                        d,
                        rep,
                        &cache.keys(g, len),
                        &mut scores,
                        len,
                        none,
                    );
                    scores.chunks_exact_mut(len).for_each(kernels::softmax_row);
                    gemm_serial(&scores, len, rep, &cache.values(g, len), out, d, none);
                });
            l.wo.matvec(&s.ctx, &mut s.q8, &mut s.out)?;
            kernels::add_assign(&mut s.x, &s.out);
            s.xn.copy_from_slice(&s.x);
            kernels::rms_norm(&mut s.xn, &l.ffn_norm, eps);
            s.gate_up.resize(2 * l.hidden, 0.0);
            l.gate_up.matvec(&s.xn, &mut s.q8, &mut s.gate_up)?;
            let (gate, up) = s.gate_up.split_at(l.hidden);
            s.act.resize(l.hidden, 0.0);
            kernels::silu_mul(gate, up, &mut s.act);
            l.down.matvec(&s.act, &mut s.q8, &mut s.out)?;
            kernels::add_assign(&mut s.x, &s.out);
        }
        s.xn.copy_from_slice(&s.x);
        kernels::rms_norm(&mut s.xn, &self.norm, eps);
        let mut logits = vec![0f32; self.output.rows()];
        self.output.matvec(&s.xn, &mut s.q8, &mut logits)?;
        Ok(logits)
    }
}

/// `silu(gate) · up` for each row of a `[n, 2·hidden]` gate-and-up tensor.
fn swiglu(gu: &Tensor, hidden: usize) -> candle_core::Result<Tensor> {
    let (n, width) = gu.dims2()?;
    if width != 2 * hidden {
        candle_core::bail!("gate and up of width {width}, hidden size {hidden}");
    }
    let gu = gu.contiguous()?;
    let mut act = vec![0f32; n * hidden];
    {
        let (storage, layout) = gu.storage_and_layout();
        let (Storage::Cpu(CpuStorage::F32(data)), Some((start, end))) =
            (&*storage, layout.contiguous_offsets())
        else {
            candle_core::bail!("swiglu needs a contiguous f32 tensor on the CPU");
        };
        act.par_chunks_mut(hidden)
            .zip(data[start..end].par_chunks(width))
            .for_each(|(a, row)| kernels::silu_mul(&row[..hidden], &row[hidden..], a));
    }
    Tensor::from_vec(act, (n, hidden), &Device::Cpu)
}
