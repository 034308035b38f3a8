//! Matrix–vector products on GGUF block-quantized weights, the inner loop of
//! a language model's decode step.
//!
//! Weights stay in the file's own block layout (no copy in another format):
//! - `Q4_1`: blocks of 32 weights, `d: f16, m: f16, qs: [u8; 16]`; weight
//!   `i` is `d·q + m` with `q` the low nibble of `qs[i]` for `i < 16`, the
//!   high nibble of `qs[i - 16]` after.
//! - `Q4_0`: `d: f16, qs: [u8; 16]`, weight `d·(q − 8)`.
//! - `Q8_0`: `d: f16, qs: [i8; 32]`, weight `d·q`.
//!
//! The input vector is quantized once per product to 8 bits in blocks of 32
//! ([`Q8Vector`]: scale, sum, values — GGML's `Q8_1`), so each block's dot
//! product is an integer one, as llama.cpp computes it: on x86-64 with AVX2
//! 32 multiply-adds per instruction pair, elsewhere plain loops.

use rayon::prelude::*;

/// Values per quantization block.
pub const BLOCK: usize = 32;

/// A block-quantized weight format this module multiplies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Q4_0,
    Q4_1,
    Q8_0,
}

impl Format {
    /// Bytes per block of 32 weights.
    pub const fn block_bytes(self) -> usize {
        match self {
            Format::Q4_0 => 18,
            Format::Q4_1 => 20,
            Format::Q8_0 => 34,
        }
    }

    /// Bytes of one row of `cols` weights (`cols` a multiple of 32).
    pub const fn row_bytes(self, cols: usize) -> usize {
        cols / BLOCK * self.block_bytes()
    }
}

#[inline(always)]
fn f16_at(b: &[u8], at: usize) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

/// A vector quantized to 8 bits in blocks of 32: `x[i] ≈ d[b]·q[i]`, with
/// `s[b] = d[b]·Σq` over the block (for the offset of `Q4_1` weights).
#[derive(Debug, Clone, Default)]
pub struct Q8Vector {
    pub d: Vec<f32>,
    pub s: Vec<f32>,
    pub q: Vec<i8>,
    /// `d[b]·Σq` unrounded (the offset of Q4_0 weights held as tiles).
    pub e: Vec<f32>,
    /// `q + 128` as unsigned bytes (the u8 operand of `vpdpbusd` against
    /// signed Q8_0 weights held as tiles).
    pub u: Vec<u8>,
}

impl Q8Vector {
    /// Quantizes `x` (length a multiple of 32) into `self`, reusing its buffers.
    /// The scale is rounded to f16 as GGML stores it, so products match llama.cpp's.
    pub fn quantize(&mut self, x: &[f32]) {
        let blocks = x.len() / BLOCK;
        self.d.clear();
        self.s.clear();
        self.e.clear();
        self.q.clear();
        self.q.resize(blocks * BLOCK, 0);
        for (b, chunk) in x.chunks_exact(BLOCK).enumerate() {
            let amax = chunk.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            let mut sum = 0i32;
            for (q, v) in self.q[b * BLOCK..(b + 1) * BLOCK].iter_mut().zip(chunk) {
                let r = (v * id).round_ties_even() as i32;
                *q = r.clamp(-127, 127) as i8;
                sum += r;
            }
            let d16 = half::f16::from_f32(d).to_f32();
            self.d.push(d16);
            self.s.push(half::f16::from_f32(d * sum as f32).to_f32());
            self.e.push(d16 * sum as f32);
        }
        self.u.clear();
        self.u.extend(self.q.iter().map(|&q| (q as u8) ^ 0x80));
    }

    pub fn len(&self) -> usize {
        self.q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}

/// Dot product of one weight row (`format`, the row's bytes) with `a`.
#[inline]
pub fn dot(format: Format, row: &[u8], a: &Q8Vector) -> f32 {
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    {
        // SAFETY: the target features this is compiled for are checked above;
        // `row` holds `a.d.len()` blocks (asserted by the callers' shapes and
        // re-checked by the slice bounds inside).
        unsafe {
            if vnni() {
                // Q8_0 (the default model's embeddings and output projection):
                // 1.5× the AVX2 product on one thread here. Q4_1 measured no
                // faster (its cost is unpacking nibbles and scales, not the sum).
                if format == Format::Q8_0 {
                    return avx512::dot_q8_0(row, a);
                }
            }
            match format {
                Format::Q4_1 => avx2::dot_q4_1(row, a),
                Format::Q4_0 => avx2::dot_q4_0(row, a),
                Format::Q8_0 => avx2::dot_q8_0(row, a),
            }
        }
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )))]
    {
        dot_scalar(format, row, a)
    }
}

/// Whether the AVX-512 VNNI products may run ([`crate::cpu::features`]).
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
fn vnni() -> bool {
    crate::cpu::features().vnni
}

/// The same products in plain Rust: the reference for the SIMD versions.
pub fn dot_scalar(format: Format, row: &[u8], a: &Q8Vector) -> f32 {
    let bb = format.block_bytes();
    let mut total = 0f32;
    for (b, blk) in row.chunks_exact(bb).enumerate().take(a.d.len()) {
        let aq = &a.q[b * BLOCK..(b + 1) * BLOCK];
        let d = f16_at(blk, 0);
        match format {
            Format::Q4_1 => {
                let m = f16_at(blk, 2);
                let qs = &blk[4..20];
                let mut isum = 0i32;
                for i in 0..16 {
                    isum += (qs[i] & 0x0f) as i32 * aq[i] as i32
                        + (qs[i] >> 4) as i32 * aq[i + 16] as i32;
                }
                total += d * a.d[b] * isum as f32 + m * a.s[b];
            }
            Format::Q4_0 => {
                let qs = &blk[2..18];
                let mut isum = 0i32;
                for i in 0..16 {
                    isum += ((qs[i] & 0x0f) as i32 - 8) * aq[i] as i32
                        + ((qs[i] >> 4) as i32 - 8) * aq[i + 16] as i32;
                }
                total += d * a.d[b] * isum as f32;
            }
            Format::Q8_0 => {
                let qs = &blk[2..34];
                let isum: i32 = qs
                    .iter()
                    .zip(aq)
                    .map(|(&w, &x)| w as i8 as i32 * x as i32)
                    .sum();
                total += d * a.d[b] * isum as f32;
            }
        }
    }
    total
}

/// The 32 weights of one block as f32.
#[inline(always)]
fn block_values(format: Format, blk: &[u8]) -> [f32; BLOCK] {
    let mut o = [0f32; BLOCK];
    let d = f16_at(blk, 0);
    match format {
        Format::Q4_1 => {
            let m = f16_at(blk, 2);
            for i in 0..16 {
                o[i] = d * (blk[4 + i] & 0x0f) as f32 + m;
                o[i + 16] = d * (blk[4 + i] >> 4) as f32 + m;
            }
        }
        Format::Q4_0 => {
            for i in 0..16 {
                o[i] = d * ((blk[2 + i] & 0x0f) as i32 - 8) as f32;
                o[i + 16] = d * ((blk[2 + i] >> 4) as i32 - 8) as f32;
            }
        }
        Format::Q8_0 => {
            for i in 0..32 {
                o[i] = d * blk[2 + i] as i8 as f32;
            }
        }
    }
    o
}

/// One row's weights as f32 (`out.len()` of them).
pub fn dequantize_row(format: Format, row: &[u8], out: &mut [f32]) {
    for (blk, o) in row
        .chunks_exact(format.block_bytes())
        .zip(out.chunks_exact_mut(BLOCK))
    {
        o.copy_from_slice(&block_values(format, blk));
    }
}

/// How a [`QMatrix`] holds its blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The file's own layout: row after row, each row block after block.
    Rows,
    /// Tiles of [`TILE_ROWS`] rows interleaved block by block, so one
    /// AVX-512 VNNI instruction multiplies four weights of sixteen rows by
    /// the same four inputs (llama.cpp "repacks" weights the same way).
    /// Per tile and block of 32 columns:
    /// - Q4_0 and Q4_1: `d: [f16; 16]`, `m: [f16; 16]` (Q4_0 as `m = −8·d`),
    ///   then 4 parts of 64 bytes; byte `4r + j` of part `t` is byte
    ///   `4t + j` of row `r`'s nibbles (weights `4t + j` and `16 + 4t + j`).
    /// - Q8_0: `d: [f16; 16]`, `Σw: [i16; 16]` per row, then 8 parts of 64
    ///   bytes; byte `4r + j` of part `t` is weight `4t + j` of row `r`.
    Tiles,
}

/// Rows per tile of [`Layout::Tiles`]: one AVX-512 register of sums.
pub const TILE_ROWS: usize = 16;

/// A weight matrix in a block format: `rows` rows of `cols` weights.
#[derive(Debug, Clone)]
pub struct QMatrix {
    pub format: Format,
    pub rows: usize,
    pub cols: usize,
    layout: Layout,
    data: Vec<u8>,
}

/// Rows per parallel task: enough work per task to amortise scheduling,
/// enough tasks to balance the threads.
const ROWS_PER_TASK: usize = 64;

impl Format {
    /// Bytes of one block of one tile (16 rows × 32 weights) in [`Layout::Tiles`].
    const fn tile_block_bytes(self) -> usize {
        match self {
            Format::Q4_0 | Format::Q4_1 => 64 + 16 * 16,
            Format::Q8_0 => 64 + 16 * 32,
        }
    }
}

impl QMatrix {
    /// `data` (the file's layout) must hold exactly `rows` rows of `cols`
    /// weights; `cols` a multiple of 32. Held as tiles when this CPU has
    /// the instructions that multiply them and the rows fill whole tiles.
    pub fn new(format: Format, rows: usize, cols: usize, data: Vec<u8>) -> Option<Self> {
        let layout = if tiles_supported() && rows.is_multiple_of(TILE_ROWS) {
            Layout::Tiles
        } else {
            Layout::Rows
        };
        Self::with_layout(format, rows, cols, data, layout)
    }

    /// As [`QMatrix::new`], in the layout asked for (tiles need `rows` a
    /// multiple of [`TILE_ROWS`]).
    pub fn with_layout(
        format: Format,
        rows: usize,
        cols: usize,
        data: Vec<u8>,
        layout: Layout,
    ) -> Option<Self> {
        if !cols.is_multiple_of(BLOCK) || data.len() != rows * format.row_bytes(cols) {
            return None;
        }
        let data = match layout {
            Layout::Rows => data,
            Layout::Tiles if rows.is_multiple_of(TILE_ROWS) => to_tiles(format, rows, cols, &data),
            Layout::Tiles => return None,
        };
        Some(QMatrix {
            format,
            rows,
            cols,
            layout,
            data,
        })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    fn blocks(&self) -> usize {
        self.cols / BLOCK
    }

    /// The 32 weights of block `b` of row `r`, as f32.
    #[inline]
    fn block(&self, r: usize, b: usize) -> [f32; BLOCK] {
        match self.layout {
            Layout::Rows => {
                let bb = self.format.block_bytes();
                let at = r * self.format.row_bytes(self.cols) + b * bb;
                block_values(self.format, &self.data[at..at + bb])
            }
            Layout::Tiles => {
                let tb = self.format.tile_block_bytes();
                let at = ((r / TILE_ROWS) * self.blocks() + b) * tb;
                tile_block_values(self.format, &self.data[at..at + tb], r % TILE_ROWS)
            }
        }
    }

    /// Row `r`'s weights as f32 (`out.len()` = `cols`).
    pub fn row_into(&self, r: usize, out: &mut [f32]) {
        for (b, o) in out.chunks_exact_mut(BLOCK).enumerate() {
            o.copy_from_slice(&self.block(r, b));
        }
    }

    /// `out[r] = row r · a` for every row, split across rayon's threads.
    pub fn matvec(&self, a: &Q8Vector, out: &mut [f32]) {
        assert_eq!(
            a.len(),
            self.cols,
            "input length differs from the matrix width"
        );
        assert_eq!(
            out.len(),
            self.rows,
            "output length differs from the matrix height"
        );
        match self.layout {
            Layout::Rows => {
                let rb = self.format.row_bytes(self.cols);
                out.par_chunks_mut(ROWS_PER_TASK)
                    .zip(self.data.par_chunks(ROWS_PER_TASK * rb))
                    .for_each(|(o, rows)| {
                        for (y, row) in o.iter_mut().zip(rows.chunks_exact(rb)) {
                            *y = dot(self.format, row, a);
                        }
                    });
            }
            Layout::Tiles => {
                let tile = self.blocks() * self.format.tile_block_bytes();
                let per_task = ROWS_PER_TASK / TILE_ROWS;
                out.par_chunks_mut(ROWS_PER_TASK)
                    .zip(self.data.par_chunks(per_task * tile))
                    .for_each(|(o, tiles)| {
                        for (y, t) in o.chunks_exact_mut(TILE_ROWS).zip(tiles.chunks_exact(tile)) {
                            tile_dot(self.format, t, a, y);
                        }
                    });
            }
        }
    }

    /// All weights as f32, row-major, dequantized across rayon's threads.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.rows * self.cols];
        if self.cols > 0 {
            out.par_chunks_mut(self.cols)
                .enumerate()
                .for_each(|(r, o)| self.row_into(r, o));
        }
        out
    }
}

/// Whether [`Layout::Tiles`] products run on this CPU (AVX-512 with VNNI,
/// and `QUIRE_GEMM` does not ask for less): checked once.
pub fn tiles_supported() -> bool {
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    {
        vnni()
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )))]
    {
        false
    }
}

/// Rows of the file's layout regrouped as [`Layout::Tiles`].
fn to_tiles(format: Format, rows: usize, cols: usize, data: &[u8]) -> Vec<u8> {
    let (bb, tb, blocks) = (
        format.block_bytes(),
        format.tile_block_bytes(),
        cols / BLOCK,
    );
    let rb = format.row_bytes(cols);
    let mut out = vec![0u8; rows / TILE_ROWS * blocks * tb];
    out.par_chunks_mut(blocks * tb)
        .zip(data.par_chunks(TILE_ROWS * rb))
        .for_each(|(tile, src)| {
            for (b, dst) in tile.chunks_exact_mut(tb).enumerate() {
                for r in 0..TILE_ROWS {
                    let blk = &src[r * rb + b * bb..r * rb + (b + 1) * bb];
                    let (scale, rest) = dst.split_at_mut(64);
                    scale[2 * r..2 * r + 2].copy_from_slice(&blk[0..2]);
                    let (second, qs) = match format {
                        Format::Q4_1 => ([blk[2], blk[3]], &blk[4..20]),
                        Format::Q4_0 => {
                            let m = -8.0 * f16_at(blk, 0);
                            (half::f16::from_f32(m).to_bits().to_le_bytes(), &blk[2..18])
                        }
                        Format::Q8_0 => {
                            let sum: i32 = blk[2..34].iter().map(|&w| w as i8 as i32).sum();
                            ((sum as i16).to_le_bytes(), &blk[2..34])
                        }
                    };
                    scale[32 + 2 * r..32 + 2 * r + 2].copy_from_slice(&second);
                    for (t, word) in qs.chunks_exact(4).enumerate() {
                        rest[t * 64 + 4 * r..t * 64 + 4 * r + 4].copy_from_slice(word);
                    }
                }
            }
        });
    out
}

/// Row `i` of one tile block as f32 (the same values as [`block_values`]
/// gives for the block it was made from).
#[inline]
fn tile_block_values(format: Format, tb: &[u8], i: usize) -> [f32; BLOCK] {
    let mut o = [0f32; BLOCK];
    let d = f16_at(tb, 2 * i);
    match format {
        Format::Q4_0 | Format::Q4_1 => {
            let m = f16_at(tb, 32 + 2 * i);
            for t in 0..4 {
                for j in 0..4 {
                    let q = tb[64 + t * 64 + 4 * i + j];
                    o[4 * t + j] = d * (q & 0x0f) as f32 + m;
                    o[16 + 4 * t + j] = d * (q >> 4) as f32 + m;
                }
            }
        }
        Format::Q8_0 => {
            for t in 0..8 {
                for j in 0..4 {
                    o[4 * t + j] = d * tb[64 + t * 64 + 4 * i + j] as i8 as f32;
                }
            }
        }
    }
    o
}

/// `y[i] = row i of the tile · a` for the 16 rows of one tile.
fn tile_dot(format: Format, tile: &[u8], a: &Q8Vector, y: &mut [f32]) {
    let blocks = a.d.len();
    assert!(tile.len() >= blocks * format.tile_block_bytes() && y.len() >= TILE_ROWS);
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    if vnni() {
        // SAFETY: the CPU has AVX-512 VNNI (checked at run time); the tile
        // holds `blocks` blocks and `y` 16 values (asserted above).
        unsafe {
            match format {
                Format::Q4_1 => avx512::tile_q4(tile, a, &a.s, y),
                Format::Q4_0 => avx512::tile_q4(tile, a, &a.e, y),
                Format::Q8_0 => avx512::tile_q8(tile, a, y),
            }
        }
        return;
    }
    tile_dot_scalar(format, tile, a, y)
}

/// The same in plain Rust: the reference for the SIMD version.
pub fn tile_dot_scalar(format: Format, tile: &[u8], a: &Q8Vector, y: &mut [f32]) {
    let tb = format.tile_block_bytes();
    let offsets = if format == Format::Q4_0 { &a.e } else { &a.s };
    for (i, out) in y.iter_mut().enumerate().take(TILE_ROWS) {
        let mut total = 0f32;
        for (b, blk) in tile.chunks_exact(tb).enumerate().take(a.d.len()) {
            let x = &a.q[b * BLOCK..(b + 1) * BLOCK];
            let d = f16_at(blk, 2 * i);
            let mut isum = 0i32;
            match format {
                Format::Q4_0 | Format::Q4_1 => {
                    for t in 0..4 {
                        for j in 0..4 {
                            let q = blk[64 + t * 64 + 4 * i + j];
                            isum += (q & 0x0f) as i32 * x[4 * t + j] as i32
                                + (q >> 4) as i32 * x[16 + 4 * t + j] as i32;
                        }
                    }
                    total += f16_at(blk, 32 + 2 * i) * offsets[b];
                }
                Format::Q8_0 => {
                    for t in 0..8 {
                        for j in 0..4 {
                            isum += blk[64 + t * 64 + 4 * i + j] as i8 as i32 * x[4 * t + j] as i32;
                        }
                    }
                }
            }
            total += d * a.d[b] * isum as f32;
        }
        *out = total;
    }
}

/// The prompt pass's GEMM reads the weight panel by panel, dequantizing
/// each block of `NR` output rows × `kc` inputs as it is needed: no f32 copy
/// of the whole matrix.
impl crate::gemm::Panels for QMatrix {
    fn depth(&self) -> usize {
        self.cols
    }

    fn width(&self) -> usize {
        self.rows
    }

    fn panel<'a>(&'a self, j: usize, k0: usize, kc: usize, buf: &'a mut [f32]) -> &'a [f32] {
        use crate::gemm::NR;
        let buf = &mut buf[..kc * NR];
        // k0 and kc are multiples of the block size (KC is, and so is `cols`).
        let (b0, b1) = (k0 / BLOCK, (k0 + kc).div_ceil(BLOCK));
        for c in 0..NR {
            let r = j * NR + c;
            if r >= self.rows {
                (0..kc).for_each(|p| buf[p * NR + c] = 0.0);
                continue;
            }
            for (bi, b) in (b0..b1).enumerate() {
                for (t, v) in self.block(r, b).iter().enumerate() {
                    buf[(bi * BLOCK + t) * NR + c] = *v;
                }
            }
        }
        buf
    }
}

/// The prompt pass's bfloat16 products ([`crate::dpbf16`]) read the weight
/// the same way, each block dequantized and rounded to bfloat16 pairs.
impl crate::dpbf16::PairPanels for QMatrix {
    fn depth(&self) -> usize {
        self.cols
    }

    fn padded(&self) -> usize {
        // `cols` is a whole number of 32-value blocks.
        self.cols
    }

    fn width(&self) -> usize {
        self.rows
    }

    fn pairs<'a>(
        &'a self,
        cb: usize,
        k0: usize,
        kc: usize,
        buf: &'a mut Vec<u16>,
    ) -> (&'a [u16], &'a [u16]) {
        if buf.len() < kc * 32 {
            buf.resize(kc * 32, 0);
        }
        let (b0, b1) = (k0 / BLOCK, (k0 + kc).div_ceil(BLOCK));
        for c in 0..32 {
            let r = cb * 32 + c;
            // Panel c / 16, column c % 16: value d of the depth block at pair
            // row d / 2, slot d % 2.
            let base = (c / 16) * kc * 16 + (c % 16) * 2;
            if r >= self.rows {
                (0..kc).for_each(|d| buf[base + (d / 2) * 32 + d % 2] = 0);
                continue;
            }
            for (bi, b) in (b0..b1).enumerate() {
                for (t, v) in self.block(r, b).iter().enumerate() {
                    let d = bi * BLOCK + t;
                    buf[base + (d / 2) * 32 + d % 2] = crate::amx::bf16(*v);
                }
            }
        }
        let (p0, p1) = buf[..kc * 32].split_at(kc * 16);
        (p0, p1)
    }
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
mod avx2 {
    use super::{f16_at, Q8Vector, BLOCK};
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// 16 bytes of nibbles as 32 bytes: low nibbles first, then high nibbles.
    #[inline(always)]
    unsafe fn nibbles(p: *const u8) -> __m256i {
        let b = _mm_loadu_si128(p as *const __m128i);
        let lo = _mm_and_si128(b, _mm_set1_epi8(0x0f));
        let hi = _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(0x0f));
        _mm256_set_m128i(hi, lo)
    }

    /// Σ u8·i8 over 32 pairs as 8 i32 lanes, as f32.
    #[inline(always)]
    unsafe fn udot(w: __m256i, a: __m256i) -> __m256 {
        let p16 = _mm256_maddubs_epi16(w, a);
        _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)))
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_q4_1(row: &[u8], a: &Q8Vector) -> f32 {
        let blocks = a.d.len();
        assert!(row.len() >= blocks * 20 && a.q.len() >= blocks * BLOCK);
        let mut acc = _mm256_setzero_ps();
        let mut offset = 0f32;
        for b in 0..blocks {
            let blk = &row[b * 20..b * 20 + 20];
            let d = f16_at(blk, 0);
            offset += f16_at(blk, 2) * a.s[b];
            let w = nibbles(blk.as_ptr().add(4));
            let x = _mm256_loadu_si256(a.q.as_ptr().add(b * BLOCK) as *const __m256i);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d[b]), udot(w, x), acc);
        }
        hsum(acc) + offset
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_q4_0(row: &[u8], a: &Q8Vector) -> f32 {
        let blocks = a.d.len();
        assert!(row.len() >= blocks * 18 && a.q.len() >= blocks * BLOCK);
        let mut acc = _mm256_setzero_ps();
        for b in 0..blocks {
            let blk = &row[b * 18..b * 18 + 18];
            let d = f16_at(blk, 0);
            // (q − 8)·x as |q − 8|·sign(x, q − 8).
            let w = _mm256_sub_epi8(nibbles(blk.as_ptr().add(2)), _mm256_set1_epi8(8));
            let x = _mm256_loadu_si256(a.q.as_ptr().add(b * BLOCK) as *const __m256i);
            let p = udot(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d[b]), p, acc);
        }
        hsum(acc)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_q8_0(row: &[u8], a: &Q8Vector) -> f32 {
        let blocks = a.d.len();
        assert!(row.len() >= blocks * 34 && a.q.len() >= blocks * BLOCK);
        let mut acc = _mm256_setzero_ps();
        for b in 0..blocks {
            let blk = &row[b * 34..b * 34 + 34];
            let d = f16_at(blk, 0);
            let w = _mm256_loadu_si256(blk.as_ptr().add(2) as *const __m256i);
            let x = _mm256_loadu_si256(a.q.as_ptr().add(b * BLOCK) as *const __m256i);
            let p = udot(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d[b]), p, acc);
        }
        hsum(acc)
    }
}

/// Q8_0 rows two blocks per step with AVX-512 VNNI (`vpdpbusd`: u8 × i8
/// summed into i32 lanes in one instruction); an odd last block in 256 bits.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
mod avx512 {
    use super::{f16_at, Q8Vector, BLOCK};
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn pair(lo: __m256i, hi: __m256i) -> __m512i {
        _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1)
    }

    #[inline(always)]
    unsafe fn scales(lo: f32, hi: f32) -> __m512 {
        _mm512_insertf32x8(_mm512_set1_ps(lo), _mm256_set1_ps(hi), 1)
    }

    /// Σ over 32 pairs of u8 `w` × i8 `x` of one block, as f32 lanes.
    #[inline(always)]
    unsafe fn one(w: __m256i, x: __m256i) -> __m256 {
        _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), w, x))
    }

    #[inline(always)]
    unsafe fn hsum256(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma")]
    pub unsafe fn dot_q8_0(row: &[u8], a: &Q8Vector) -> f32 {
        let blocks = a.d.len();
        assert!(row.len() >= blocks * 34 && a.q.len() >= blocks * BLOCK);
        let (r, q) = (row.as_ptr(), a.q.as_ptr());
        let mut acc = _mm512_setzero_ps();
        let mut b = 0;
        while b + 2 <= blocks {
            let (b0, b1) = (&row[b * 34..b * 34 + 34], &row[b * 34 + 34..b * 34 + 68]);
            let w = pair(
                _mm256_loadu_si256(r.add(b * 34 + 2) as *const __m256i),
                _mm256_loadu_si256(r.add(b * 34 + 36) as *const __m256i),
            );
            let x = _mm512_loadu_si512(q.add(b * BLOCK) as *const __m512i);
            // w·x as |w| · (x with w's sign): u8 × i8 for vpdpbusd.
            let neg = _mm512_movepi8_mask(w);
            let xs = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
            let p = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(
                _mm512_setzero_si512(),
                _mm512_abs_epi8(w),
                xs,
            ));
            acc = _mm512_fmadd_ps(
                p,
                scales(f16_at(b0, 0) * a.d[b], f16_at(b1, 0) * a.d[b + 1]),
                acc,
            );
            b += 2;
        }
        let mut total = _mm512_reduce_add_ps(acc);
        if b < blocks {
            let blk = &row[b * 34..b * 34 + 34];
            let w = _mm256_loadu_si256(r.add(b * 34 + 2) as *const __m256i);
            let x = _mm256_loadu_si256(q.add(b * BLOCK) as *const __m256i);
            let p = one(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
            total += hsum256(p) * f16_at(blk, 0) * a.d[b];
        }
        total
    }

    /// Bytes ahead of the block being read that each block asks the cache for.
    const PF: usize = 2048;

    /// Asks for the `LINES` cache lines [`PF`] bytes after `p` (addresses
    /// past the matrix are harmless: a prefetch never faults).
    #[inline(always)]
    unsafe fn ahead<const LINES: usize>(p: *const u8) {
        for i in 0..LINES {
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(PF + 64 * i) as *const i8);
        }
    }

    #[inline(always)]
    unsafe fn word(p: *const u8) -> __m512i {
        _mm512_set1_epi32(std::ptr::read_unaligned(p as *const i32))
    }

    /// Sixteen rows of Q4_0/Q4_1 weights held as one tile ([`super::Layout::Tiles`])
    /// times `a`: per block 8 `vpdpbusd` (nibbles u8 × inputs i8) for all
    /// sixteen rows, scales and offsets as whole vectors.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub unsafe fn tile_q4(tile: &[u8], a: &Q8Vector, offsets: &[f32], y: &mut [f32]) {
        let blocks = a.d.len();
        assert!(tile.len() >= blocks * 320 && offsets.len() >= blocks && y.len() >= 16);
        assert!(a.q.len() >= blocks * BLOCK);
        let (t, x) = (tile.as_ptr(), a.q.as_ptr() as *const u8);
        let low = _mm512_set1_epi8(0x0f);
        let (mut acc, mut off) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        for b in 0..blocks {
            let p = t.add(b * 320);
            // The hardware prefetcher stops at 4 KB pages: ask ahead.
            ahead::<5>(p);
            let xb = x.add(b * BLOCK);
            let d = _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i));
            let m = _mm512_cvtph_ps(_mm256_loadu_si256(p.add(32) as *const __m256i));
            let (mut lo, mut hi) = (_mm512_setzero_si512(), _mm512_setzero_si512());
            for k in 0..4 {
                let v = _mm512_loadu_si512(p.add(64 + 64 * k) as *const _);
                lo = _mm512_dpbusd_epi32(lo, _mm512_and_si512(v, low), word(xb.add(4 * k)));
                let h = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
                hi = _mm512_dpbusd_epi32(hi, h, word(xb.add(16 + 4 * k)));
            }
            let sum = _mm512_cvtepi32_ps(_mm512_add_epi32(lo, hi));
            acc = _mm512_fmadd_ps(sum, _mm512_mul_ps(d, _mm512_set1_ps(a.d[b])), acc);
            off = _mm512_fmadd_ps(m, _mm512_set1_ps(offsets[b]), off);
        }
        _mm512_storeu_ps(y.as_mut_ptr(), _mm512_add_ps(acc, off));
    }

    /// Sixteen rows of Q8_0 weights held as one tile times `a`: inputs as
    /// `q + 128` (u8) × weights (i8), less `128·Σw` per row and block.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub unsafe fn tile_q8(tile: &[u8], a: &Q8Vector, y: &mut [f32]) {
        let blocks = a.d.len();
        assert!(tile.len() >= blocks * 576 && a.u.len() >= blocks * BLOCK && y.len() >= 16);
        let (t, x) = (tile.as_ptr(), a.u.as_ptr());
        let mut acc = _mm512_setzero_ps();
        for b in 0..blocks {
            let p = t.add(b * 576);
            ahead::<9>(p);
            let xb = x.add(b * BLOCK);
            let d = _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i));
            let ws = _mm512_cvtepi16_epi32(_mm256_loadu_si256(p.add(32) as *const __m256i));
            let (mut s0, mut s1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
            for k in 0..4 {
                let v0 = _mm512_loadu_si512(p.add(64 + 128 * k) as *const _);
                let v1 = _mm512_loadu_si512(p.add(128 + 128 * k) as *const _);
                s0 = _mm512_dpbusd_epi32(s0, word(xb.add(8 * k)), v0);
                s1 = _mm512_dpbusd_epi32(s1, word(xb.add(8 * k + 4)), v1);
            }
            let sum = _mm512_sub_epi32(_mm512_add_epi32(s0, s1), _mm512_slli_epi32(ws, 7));
            acc = _mm512_fmadd_ps(
                _mm512_cvtepi32_ps(sum),
                _mm512_mul_ps(d, _mm512_set1_ps(a.d[b])),
                acc,
            );
        }
        _mm512_storeu_ps(y.as_mut_ptr(), acc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quantizes rows the simple way (for tests): per block scale from the max.
    fn quantize_rows(format: Format, w: &[f32], cols: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for blk in w.chunks_exact(BLOCK) {
            let put16 = |out: &mut Vec<u8>, v: f32| {
                out.extend_from_slice(&half::f16::from_f32(v).to_bits().to_le_bytes())
            };
            match format {
                Format::Q4_1 => {
                    let (lo, hi) = blk
                        .iter()
                        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
                    let d = (hi - lo) / 15.0;
                    put16(&mut out, d);
                    put16(&mut out, lo);
                    let q = |v: f32| {
                        if d > 0.0 {
                            ((v - lo) / d).round().clamp(0.0, 15.0) as u8
                        } else {
                            0
                        }
                    };
                    for i in 0..16 {
                        out.push(q(blk[i]) | (q(blk[i + 16]) << 4));
                    }
                }
                Format::Q4_0 => {
                    let amax = blk.iter().fold(0f32, |m, v| m.max(v.abs()));
                    let d = amax / 7.0;
                    put16(&mut out, d);
                    let q = |v: f32| {
                        if d > 0.0 {
                            ((v / d).round() + 8.0).clamp(0.0, 15.0) as u8
                        } else {
                            8
                        }
                    };
                    for i in 0..16 {
                        out.push(q(blk[i]) | (q(blk[i + 16]) << 4));
                    }
                }
                Format::Q8_0 => {
                    let amax = blk.iter().fold(0f32, |m, v| m.max(v.abs()));
                    let d = amax / 127.0;
                    put16(&mut out, d);
                    for &v in blk {
                        out.push((if d > 0.0 { (v / d).round() } else { 0.0 }) as i8 as u8);
                    }
                }
            }
        }
        assert_eq!(out.len(), w.len() / cols * format.row_bytes(cols));
        out
    }

    #[test]
    fn gemm_over_quantized_panels_matches_gemm_over_the_dequantized_weight() {
        use crate::gemm::{gemm, Output, PackedMatrix};
        // 320 columns is not a multiple of the k block; 45 and 48 rows not
        // of the panel (48: whole tiles).
        for (rows, layout) in [(45, Layout::Rows), (48, Layout::Rows), (48, Layout::Tiles)] {
            let (cols, m) = (320, 37);
            for format in [Format::Q4_0, Format::Q4_1, Format::Q8_0] {
                let w = values(rows * cols, 7);
                let data = quantize_rows(format, &w, cols);
                let q = QMatrix::with_layout(format, rows, cols, data, layout).unwrap();
                let dense = PackedMatrix::from_out_in(&q.dequantize(), rows, cols).unwrap();
                let a = values(m * cols, 11);
                let (mut c1, mut c2) = (vec![0f32; m * rows], vec![0f32; m * rows]);
                let out = Output {
                    bias: None,
                    accumulate: false,
                };
                gemm(&a, cols, m, &q, &mut c1, rows, out);
                gemm(&a, cols, m, &dense, &mut c2, rows, out);
                assert_eq!(c1, c2, "{format:?} {layout:?}");
            }
        }
    }

    #[test]
    #[cfg_attr(not(quire_cpu_bf16), ignore = "this CPU has no AVX512-BF16")]
    fn bfloat16_products_over_quantized_panels_match_the_stored_bfloat16_weight() {
        use crate::amx::Bf16Matrix;
        use crate::dpbf16::{available, gemm};
        use crate::gemm::Output;
        if !available() {
            eprintln!("skipped: this CPU has no AVX512-BF16");
            return;
        }
        // The pairs written block by block from the quantized rows must be
        // the ones a Bf16Matrix of the dequantized weight stores.
        for (rows, layout) in [(45, Layout::Rows), (48, Layout::Tiles)] {
            let (cols, m) = (320, 37);
            for format in [Format::Q4_0, Format::Q4_1, Format::Q8_0] {
                let w = values(rows * cols, 7);
                let data = quantize_rows(format, &w, cols);
                let q = QMatrix::with_layout(format, rows, cols, data, layout).unwrap();
                let stored = Bf16Matrix::from_out_in(&q.dequantize(), rows, cols).unwrap();
                let a = values(m * cols, 11);
                let (mut c1, mut c2) = (vec![0f32; m * rows], vec![0f32; m * rows]);
                let out = Output {
                    bias: None,
                    accumulate: false,
                };
                gemm(&a, cols, m, &q, &mut c1, rows, out);
                gemm(&a, cols, m, &stored, &mut c2, rows, out);
                assert_eq!(c1, c2, "{format:?} {layout:?}");
            }
        }
    }

    #[test]
    fn tiles_hold_the_same_weights_as_rows() {
        let (rows, cols) = (48, 96);
        for format in [Format::Q4_0, Format::Q4_1, Format::Q8_0] {
            let data = quantize_rows(format, &values(rows * cols, 5), cols);
            let by_rows = QMatrix::with_layout(format, rows, cols, data.clone(), Layout::Rows);
            let tiles = QMatrix::with_layout(format, rows, cols, data, Layout::Tiles);
            let (by_rows, tiles) = (by_rows.unwrap(), tiles.unwrap());
            assert_eq!(tiles.layout(), Layout::Tiles);
            assert_eq!(by_rows.dequantize(), tiles.dequantize(), "{format:?}");
        }
        // Tiles need whole tiles of rows.
        let data = quantize_rows(Format::Q4_1, &values(40 * 32, 5), 32);
        assert!(QMatrix::with_layout(Format::Q4_1, 40, 32, data, Layout::Tiles).is_none());
    }

    use crate::test_values as values;

    #[test]
    fn simd_and_scalar_products_agree_with_the_dequantized_weights() {
        // An even and an odd number of blocks (the AVX-512 products take two at a time).
        for cols in [256, 288] {
            products_agree(cols);
        }
    }

    fn products_agree(cols: usize) {
        for (rows, layout) in [(70, Layout::Rows), (80, Layout::Tiles)] {
            products_agree_in(cols, rows, layout);
        }
    }

    fn products_agree_in(cols: usize, rows: usize, layout: Layout) {
        let w = values(rows * cols, 7);
        let x = values(cols, 11);
        let mut a = Q8Vector::default();
        a.quantize(&x);
        for format in [Format::Q4_1, Format::Q4_0, Format::Q8_0] {
            let data = quantize_rows(format, &w, cols);
            let rows_bytes = data.clone();
            let m = QMatrix::with_layout(format, rows, cols, data, layout).expect("shape");
            let deq = m.dequantize();
            let mut y = vec![0f32; rows];
            m.matvec(&a, &mut y);
            let mut reference = vec![0f32; rows];
            let rb = format.row_bytes(cols);
            for (r, v) in reference.iter_mut().enumerate() {
                *v = dot_scalar(format, &rows_bytes[r * rb..(r + 1) * rb], &a);
            }
            if layout == Layout::Tiles {
                let tile = cols / BLOCK * format.tile_block_bytes();
                for (t, o) in reference.chunks_exact_mut(TILE_ROWS).enumerate() {
                    let mut y = [0f32; TILE_ROWS];
                    tile_dot_scalar(format, &m.data[t * tile..(t + 1) * tile], &a, &mut y);
                    for (i, (want, got)) in o.iter().zip(y).enumerate() {
                        let tol = 1e-3 * (1.0 + want.abs());
                        assert!(
                            (want - got).abs() < tol,
                            "{format:?} row {i}: {got} vs {want}"
                        );
                    }
                }
            }
            for r in 0..rows {
                // Exact in f32 on the dequantized weights and the quantized input.
                let mut want: f32 = (0..cols)
                    .map(|c| deq[r * cols + c] * a.d[c / BLOCK] * a.q[c] as f32)
                    .sum();
                if format == Format::Q4_1 {
                    // The block sums are stored rounded (f16), as GGML's are: the offset term uses them.
                    for b in 0..cols / BLOCK {
                        let sum: i32 = a.q[b * BLOCK..(b + 1) * BLOCK]
                            .iter()
                            .map(|&q| q as i32)
                            .sum();
                        let m = f16_at(&rows_bytes, r * rb + b * 20 + 2);
                        want += m * (a.s[b] - a.d[b] * sum as f32);
                    }
                }
                let tol = 1e-3 * (1.0 + want.abs());
                assert!(
                    (y[r] - want).abs() < tol,
                    "{format:?} {layout:?} row {r}: {} vs {want}",
                    y[r]
                );
                assert!(
                    (reference[r] - want).abs() < tol,
                    "{format:?} row {r} scalar: {} vs {want}",
                    reference[r]
                );
            }
            // The dequantized weights are close to the originals.
            let err = w
                .iter()
                .zip(&deq)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                err < if format == Format::Q8_0 { 0.01 } else { 0.15 },
                "{format:?}: {err}"
            );
        }
    }

    #[test]
    fn quantized_input_keeps_block_sums() {
        let x = values(64, 3);
        let mut a = Q8Vector::default();
        a.quantize(&x);
        for b in 0..2 {
            let sum: i32 = a.q[b * BLOCK..(b + 1) * BLOCK]
                .iter()
                .map(|&q| q as i32)
                .sum();
            assert!((a.s[b] - a.d[b] * sum as f32).abs() < 1e-2 * (1.0 + a.s[b].abs()));
            for i in b * BLOCK..(b + 1) * BLOCK {
                assert!((a.d[b] * a.q[i] as f32 - x[i]).abs() <= a.d[b] * 0.51 + 1e-6);
            }
        }
    }

    #[test]
    fn a_zero_block_quantizes_to_zero() {
        let mut a = Q8Vector::default();
        a.quantize(&[0.0; 32]);
        assert_eq!(a.d, vec![0.0]);
        assert!(a.q.iter().all(|&q| q == 0));
    }

    #[test]
    fn shapes_are_checked() {
        assert!(QMatrix::new(Format::Q4_1, 2, 32, vec![0; 40]).is_some());
        assert!(QMatrix::new(Format::Q4_1, 2, 32, vec![0; 39]).is_none());
        assert!(QMatrix::new(Format::Q8_0, 1, 33, vec![0; 34]).is_none());
    }
}
