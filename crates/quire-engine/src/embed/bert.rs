//! BERT encoder forward pass (all-MiniLM-L6-v2 and other BERT checkpoints in
//! the Hugging Face safetensors layout), written on candle's tensor ops for
//! throughput on a laptop CPU:
//!
//! - sequences are packed without padding: the dense layers run on one
//!   `[tokens, hidden]` matrix, attention runs per sequence over its real length
//!   (so no attention mask and no wasted rows);
//! - query, key and value are one fused `[hidden, 3·hidden]` product; each
//!   head's keys and values are packed straight from it (no transposes or
//!   copies of Q), with the 1/√d scale folded into the query weights at load time;
//! - the layer runs on plain buffers reused from layer to layer: Quire's own
//!   layer norm, row softmax and bias + exact (erf) GELU
//!   ([`quire_kernels`]), split across threads; attention runs sequences in
//!   parallel;
//! - the dense layers are [`quire_kernels::dense::DenseMatrix`] products,
//!   which pick their kernel from what the CPU runs: AMX tiles or AVX512-BF16
//!   dot products in bfloat16, else Quire's f32 GEMM on half-precision
//!   panels widened as the product runs; the bias and the residual are added
//!   as the product is stored. `QUIRE_GEMM` asks for a lesser kernel.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use quire_kernels::dense::DenseMatrix;
use quire_kernels::gemm::{gemm_serial, Output, PackedMatrix};
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

/// A dense layer: the weight packed once at load for Quire's GEMM
/// ([`quire_kernels::gemm`]), or in bfloat16 pairs for AMX tiles or
/// AVX512-BF16 dot products when the CPU has them; the bias kept beside it.
struct Dense {
    weight: DenseMatrix,
    bias: Vec<f32>,
}

impl Dense {
    fn load(vb: VarBuilder, input: usize, output: usize) -> candle_core::Result<Self> {
        let w = vb
            .get((output, input), "weight")?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let bias = vb.get(output, "bias")?.to_vec1::<f32>()?;
        Self::new(&w, output, input, bias)
    }

    /// From a `[output, input]` row-major weight.
    fn new(w: &[f32], output: usize, input: usize, bias: Vec<f32>) -> candle_core::Result<Self> {
        let shape = || candle_core::Error::Msg(format!("dense weight of {output} × {input}"));
        // bfloat16 pairs where the CPU multiplies them, else half precision
        // (42 → 21 MB for MiniLM's dense layers, the same speed).
        let weight = DenseMatrix::from_out_in(w, output, input).ok_or_else(shape)?;
        Ok(Dense { weight, bias })
    }

    fn width(&self) -> usize {
        self.weight.width()
    }

    /// `x · Wᵀ (+ bias)` for `rows` rows of `x`, added to `out` when `accumulate`
    /// (the residual), else written over it.
    fn apply(&self, x: &[f32], rows: usize, bias: bool, out: &mut [f32], accumulate: bool) {
        let output = Output {
            bias: bias.then_some(&self.bias[..]),
            accumulate,
        };
        self.weight.gemm(x, rows, out, output)
    }
}

/// A `[rows, width]` embedding table left in a safetensors file and read
/// row by row (positioned reads; the file is opened once): a batch costs a
/// read per distinct token, and none of the table is resident in the process.
struct WordTable {
    file: std::fs::File,
    /// Byte offset of row 0 in the file.
    offset: u64,
    rows: usize,
    width: usize,
    dtype: RowType,
}

#[derive(Debug, Clone, Copy)]
enum RowType {
    F32,
    F16,
    Bf16,
}

impl RowType {
    fn bytes(self) -> usize {
        match self {
            RowType::F32 => 4,
            RowType::F16 | RowType::Bf16 => 2,
        }
    }
}

impl WordTable {
    /// Finds tensor `name` (`[rows, width]`, F32, F16 or BF16) in the
    /// safetensors file at `path` from its header.
    fn open(path: &Path, name: &str, rows: usize, width: usize) -> candle_core::Result<Self> {
        use std::io::Read;
        let bad = |why: String| candle_core::Error::Msg(format!("{}: {why}", path.display()));
        let mut file = std::fs::File::open(path)?;
        let file_len = file.metadata()?.len();
        let mut n = [0u8; 8];
        file.read_exact(&mut n)?;
        let n = u64::from_le_bytes(n);
        if n > 100 << 20 || 8 + n > file_len {
            return Err(bad(format!("a safetensors header of {n} bytes")));
        }
        let mut header = vec![0u8; n as usize];
        file.read_exact(&mut header)?;
        let header: serde_json::Value = serde_json::from_slice(&header)
            .map_err(|e| bad(format!("unreadable safetensors header ({e})")))?;
        let info = header
            .get(name)
            .ok_or_else(|| bad(format!("no tensor `{name}`")))?;
        let dtype = match info.get("dtype").and_then(|d| d.as_str()) {
            Some("F32") => RowType::F32,
            Some("F16") => RowType::F16,
            Some("BF16") => RowType::Bf16,
            other => return Err(bad(format!("`{name}` has dtype {other:?}"))),
        };
        let shape: Vec<u64> = info
            .get("shape")
            .and_then(|s| s.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
            .unwrap_or_default();
        let offsets: Vec<u64> = info
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
            .unwrap_or_default();
        let want = (rows * width * dtype.bytes()) as u64;
        match (shape.as_slice(), offsets.as_slice()) {
            ([r, w], [start, end])
                if *r == rows as u64
                    && *w == width as u64
                    && end.checked_sub(*start) == Some(want)
                    && 8 + n + end <= file_len =>
            {
                Ok(WordTable {
                    file,
                    offset: 8 + n + start,
                    rows,
                    width,
                    dtype,
                })
            }
            _ => Err(bad(format!(
                "`{name}` is not a {rows} × {width} table (shape {shape:?}, bytes {offsets:?})"
            ))),
        }
    }

    /// Rows `ids` as f32 into `out` (`ids.len() × width`): each distinct
    /// row is read once.
    fn rows_into(&self, ids: &[u32], out: &mut [f32]) -> candle_core::Result<()> {
        let w = self.width;
        let row_bytes = w * self.dtype.bytes();
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_unstable_by_key(|&i| ids[i]);
        let mut bytes = vec![0u8; row_bytes];
        let mut row = vec![0f32; w];
        let mut last = None;
        for i in order {
            let id = ids[i];
            if last != Some(id) {
                if id as usize >= self.rows {
                    candle_core::bail!("token {id} is outside the vocabulary of {}", self.rows);
                }
                read_at(
                    &self.file,
                    &mut bytes,
                    self.offset + id as u64 * row_bytes as u64,
                )?;
                match self.dtype {
                    RowType::F32 => {
                        for (v, b) in row.iter_mut().zip(bytes.chunks_exact(4)) {
                            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                        }
                    }
                    RowType::F16 => {
                        for (v, b) in row.iter_mut().zip(bytes.chunks_exact(2)) {
                            *v = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
                        }
                    }
                    RowType::Bf16 => {
                        for (v, b) in row.iter_mut().zip(bytes.chunks_exact(2)) {
                            *v = half::bf16::from_le_bytes([b[0], b[1]]).to_f32();
                        }
                    }
                }
                last = Some(id);
            }
            out[i * w..(i + 1) * w].copy_from_slice(&row);
        }
        Ok(())
    }
}

/// Fills `buf` from `file` at byte `offset`, without moving a shared cursor.
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut done, mut buf) = (0u64, buf);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(file, buf, offset + done)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => {
                    done += n as u64;
                    buf = &mut buf[n..];
                }
            }
        }
        Ok(())
    }
}

struct LayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    fn load(vb: VarBuilder, size: usize, eps: f64) -> candle_core::Result<Self> {
        Ok(LayerNorm {
            weight: vb.get(size, "weight")?.to_vec1()?,
            bias: vb.get(size, "bias")?.to_vec1()?,
            eps: eps as f32,
        })
    }

    /// In place over `[rows, size]`, rows split across threads.
    fn apply(&self, x: &mut [f32]) {
        let cols = self.weight.len();
        x.par_chunks_mut(cols * 16)
            .for_each(|rows| quire_kernels::layer_norm(rows, &self.weight, &self.bias, self.eps));
    }
}

/// Work buffers reused across the layers of one forward pass.
#[derive(Default)]
struct Buffers {
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    inter: Vec<f32>,
}

struct Layer {
    qkv: Dense,
    attn_out: Dense,
    attn_norm: LayerNorm,
    intermediate: Dense,
    output: Dense,
    out_norm: LayerNorm,
}

/// The encoder: token ids in, last hidden states (one row per real token) out.
pub struct Bert {
    /// `[vocabulary, hidden]`, read from the weights file as batches need rows.
    word: WordTable,
    /// `[positions, hidden]`, row-major.
    position: Vec<f32>,
    token_type0: Vec<f32>,
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
        let prefixed = !vb.contains_tensor("embeddings.word_embeddings.weight");
        let vb = if prefixed { vb.pp("bert") } else { vb };
        let (h, inter) = (config.hidden_size, config.intermediate_size);
        let heads = config.num_attention_heads;
        if heads == 0 || h % heads != 0 {
            candle_core::bail!("hidden size {h} is not a multiple of {heads} heads");
        }
        let head_dim = h / heads;
        let emb = vb.pp("embeddings");
        // Word embeddings stay in the file (47 MB in f32 for MiniLM's
        // 30,522 × 384): a batch reads only the rows of its tokens.
        let word_name = if prefixed {
            "bert.embeddings.word_embeddings.weight"
        } else {
            "embeddings.word_embeddings.weight"
        };
        let word = WordTable::open(weights, word_name, config.vocab_size, h)?;
        let position = emb
            .get(
                (config.max_position_embeddings, h),
                "position_embeddings.weight",
            )?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let token_type0 = emb
            .get((2, h), "token_type_embeddings.weight")
            .or_else(|_| emb.get((1, h), "token_type_embeddings.weight"))?
            .get(0)?
            .to_vec1::<f32>()?;
        let emb_norm = LayerNorm::load(emb.pp("LayerNorm"), h, config.layer_norm_eps)?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let att = l.pp("attention.self");
            // One [3h, h] product; the query part carries the softmax scale.
            let (mut w, mut bias) = (Vec::with_capacity(3 * h * h), Vec::with_capacity(3 * h));
            for (name, s) in [("query", scale), ("key", 1.0), ("value", 1.0)] {
                let part = att.pp(name);
                w.extend(
                    part.get((h, h), "weight")?
                        .affine(s, 0.0)?
                        .flatten_all()?
                        .to_vec1::<f32>()?,
                );
                bias.extend(part.get(h, "bias")?.affine(s, 0.0)?.to_vec1::<f32>()?);
            }
            let qkv = Dense::new(&w, 3 * h, h, bias)?;
            let intermediate = Dense::load(l.pp("intermediate.dense"), h, inter)?;
            layers.push(Layer {
                qkv,
                attn_out: Dense::load(l.pp("attention.output.dense"), h, h)?,
                attn_norm: LayerNorm::load(
                    l.pp("attention.output.LayerNorm"),
                    h,
                    config.layer_norm_eps,
                )?,
                intermediate,
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
                candle_core::bail!(
                    "a sequence of {} tokens (1 to {} allowed)",
                    s.len(),
                    self.max_positions
                );
            }
            ids.extend_from_slice(s);
            positions.extend(0..s.len() as u32);
        }
        // Word + position + token type embeddings, row by row.
        let h = self.hidden;
        let mut x = vec![0f32; total * h];
        self.word.rows_into(&ids, &mut x)?;
        for (row, &p) in x.chunks_exact_mut(h).zip(&positions) {
            let pos = &self.position[p as usize * h..(p as usize + 1) * h];
            for ((v, a), b) in row.iter_mut().zip(pos).zip(&self.token_type0) {
                *v += a + b;
            }
        }
        self.emb_norm.apply(&mut x);
        let lengths: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        let mut buffers = Buffers::default();
        for layer in &self.layers {
            self.layer(layer, &mut x, &lengths, &mut buffers);
        }
        quire_kernels::release_thread_buffers();
        Tensor::from_vec(x, (total, self.hidden), &device)
    }

    /// One encoder layer in place on `x` (`[tokens, hidden]`).
    fn layer(&self, l: &Layer, x: &mut Vec<f32>, lengths: &[usize], b: &mut Buffers) {
        let (h, heads, d) = (self.hidden, self.heads, self.head_dim);
        let total = x.len() / h;
        b.qkv.resize(total * 3 * h, 0.0);
        l.qkv.apply(x, total, true, &mut b.qkv, false); // [T, 3h], the query part pre-scaled
        b.ctx.resize(total * h, 0.0);
        // Attention per sequence (in parallel), head after head: scores = q·kᵀ,
        // softmax by row, context = p·v written at the head's columns.
        let mut parts = Vec::with_capacity(lengths.len());
        let (mut rest, mut offset) = (&mut b.ctx[..], 0);
        for &n in lengths {
            let (part, tail) = rest.split_at_mut(n * h);
            parts.push((offset, n, part));
            rest = tail;
            offset += n;
        }
        let qkv = &b.qkv;
        parts.into_par_iter().for_each_init(
            || (PackedMatrix::empty(), Vec::new()),
            |(packed, scores), (offset, n, ctx)| {
                let rows = &qkv[offset * 3 * h..(offset + n) * 3 * h];
                scores.resize(n * n, 0.0);
                for head in 0..heads {
                    let (q, k, v) = (head * d, h + head * d, 2 * h + head * d);
                    packed.pack_out_in(&rows[k..], n, d, 3 * h);
                    gemm_serial(
                        &rows[q..],
                        3 * h,
                        n,
                        packed,
                        scores,
                        n,
                        Output {
                            bias: None,
                            accumulate: false,
                        },
                    );
                    scores
                        .chunks_exact_mut(n)
                        .for_each(quire_kernels::decode::softmax_row);
                    packed.pack_in_out(&rows[v..], n, d, 3 * h);
                    gemm_serial(
                        scores,
                        n,
                        n,
                        packed,
                        &mut ctx[head * d..],
                        h,
                        Output {
                            bias: None,
                            accumulate: false,
                        },
                    );
                }
            },
        );
        // x = norm(x + ctx·W + b)
        l.attn_out.apply(&b.ctx, total, true, x, true);
        l.attn_norm.apply(x);
        let inter = l.intermediate.width();
        b.inter.resize(total * inter, 0.0);
        l.intermediate.apply(x, total, false, &mut b.inter, false);
        // Bias + GELU in one pass, rows in blocks of 16 per task.
        b.inter
            .par_chunks_mut(inter * 16)
            .for_each(|rows| quire_kernels::bias_gelu(rows, &l.intermediate.bias));
        // x = norm(x + inter·W + b)
        l.output.apply(&b.inter, total, true, x, true);
        l.out_norm.apply(x);
    }

    /// Mean of each sequence's rows of `hidden` (from [`Bert::forward`]),
    /// L2-normalised: the sentence-transformers pooling.
    pub fn mean_pool_normalized(
        hidden: &Tensor,
        lengths: &[usize],
    ) -> candle_core::Result<Vec<Vec<f32>>> {
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
