//! `C = A · B (+ bias) (+ C)` in f32 for the dense layers of both models, with
//! the weight `B` supplied in column panels: the BERT weights are packed once
//! at load ([`PackedMatrix`]), the language model's quantized weights are
//! dequantized panel by panel as the product needs them ([`crate::q8::QMatrix`]
//! implements [`Panels`]), so no full f32 copy of a quantized matrix is made.
//!
//! Blocking: `A` is packed once per call into row blocks of [`MR`] rows
//! interleaved by `k`; the work is split into tiles of up to [`MC`] rows × one
//! [`NR`]-column panel, run on rayon's pool; each tile walks `k` in blocks of
//! [`KC`] so the panel block (KC × NR) stays in L1 while the tile's row blocks
//! stream past it.
//!
//! Kernels: AVX-512F (12 × 32 register tile), chosen at run time when the CPU
//! has it; AVX2/FMA/F16C (6 × 16, up to four times per row block) otherwise on
//! x86-64; a portable loop elsewhere. All three accumulate in f32 in the same
//! order of `k`, so they agree to rounding. A short last row block computes
//! only its own rows, and a short tile (a question's few tokens) reads weights
//! kept in half precision straight from their panels, widening them in
//! registers, rather than through a widened copy.

use rayon::prelude::*;

/// Columns per panel.
pub const NR: usize = 32;
/// Rows per packed row block.
pub const MR: usize = 12;
/// Depth of one k block (a multiple of 32, the quantized block size).
pub const KC: usize = 256;
/// Most rows per tile (a KC-deep block of them, 768 KB, stays in L2). Tiles are
/// as tall as this allows while there are enough of them for the threads:
/// each tile fetches (or dequantizes) its panel once per k block.
pub const MC: usize = 768;

/// A weight supplied as panels of [`NR`] output columns.
pub trait Panels: Sync {
    /// Inner dimension.
    fn depth(&self) -> usize;
    /// Output columns.
    fn width(&self) -> usize;
    /// Columns `j·NR .. j·NR+NR` for inner indices `k0 .. k0+kc` (`k0` a
    /// multiple of [`KC`]) as `kc` rows of `NR` values, zero past [`Panels::width`].
    /// Either a view into stored panels or written into `buf` (`kc · NR` long
    /// when [`Panels::fills`], else empty).
    fn panel<'a>(&'a self, j: usize, k0: usize, kc: usize, buf: &'a mut [f32]) -> &'a [f32];
    /// Whether [`Panels::panel`] writes into the buffer (stored panels do not).
    fn fills(&self) -> bool {
        true
    }
    /// The same panel block stored in half precision (IEEE f16 bits), when
    /// the weight keeps it so: kernels that convert in registers read it
    /// directly instead of a widened copy.
    fn half(&self, _j: usize, _k0: usize, _kc: usize) -> Option<&[u16]> {
        None
    }
}

/// One panel block as a kernel reads it: f32 values, or f16 bits it widens
/// in registers.
#[derive(Clone, Copy)]
enum PanelRef<'a> {
    F32(&'a [f32]),
    F16(&'a [u16]),
}

impl PanelRef<'_> {
    /// As f32 values (a copy only for f16 bits; the portable paths).
    fn widened(&self) -> std::borrow::Cow<'_, [f32]> {
        match self {
            PanelRef::F32(p) => std::borrow::Cow::Borrowed(p),
            PanelRef::F16(p) => {
                let mut w = vec![0f32; p.len()];
                crate::f16_to_f32(p, &mut w);
                std::borrow::Cow::Owned(w)
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            PanelRef::F32(p) => p.len(),
            PanelRef::F16(p) => p.len(),
        }
    }
}

/// An f32 weight stored as column panels: panel `j` is `depth` rows of `NR` values.
#[derive(Debug, Clone)]
pub struct PackedMatrix {
    depth: usize,
    width: usize,
    data: Vec<f32>,
}

impl PackedMatrix {
    /// From a `[width, depth]` row-major matrix (a PyTorch `Linear` weight:
    /// one row per output), so that the product is `x · Wᵀ`.
    pub fn from_out_in(w: &[f32], width: usize, depth: usize) -> Option<Self> {
        if w.len() != width * depth {
            return None;
        }
        let panels = width.div_ceil(NR);
        let mut data = vec![0f32; panels * depth * NR];
        if depth == 0 {
            return Some(PackedMatrix { depth, width, data });
        }
        data.par_chunks_mut(depth * NR)
            .enumerate()
            .for_each(|(j, panel)| {
                for c in 0..NR.min(width - j * NR) {
                    let row = &w[(j * NR + c) * depth..(j * NR + c + 1) * depth];
                    for (p, v) in row.iter().enumerate() {
                        panel[p * NR + c] = *v;
                    }
                }
            });
        Some(PackedMatrix { depth, width, data })
    }

    /// Repacks in place (reusing the allocation) from `width` rows of `depth`
    /// values at row stride `ld`: the keys of one attention head, for `q · Kᵀ`.
    pub fn pack_out_in(&mut self, w: &[f32], width: usize, depth: usize, ld: usize) {
        self.reset(width, depth);
        for (j, panel) in self.data.chunks_exact_mut(depth * NR).enumerate() {
            let cols = NR.min(width - j * NR);
            for c in 0..cols {
                let row = &w[(j * NR + c) * ld..(j * NR + c) * ld + depth];
                for (p, v) in row.iter().enumerate() {
                    panel[p * NR + c] = *v;
                }
            }
            if cols < NR {
                panel.chunks_exact_mut(NR).for_each(|r| r[cols..].fill(0.0));
            }
        }
    }

    /// Repacks in place from `depth` rows of `width` values at row stride `ld`
    /// (a `[in, out]` matrix): the values of one attention head, for `p · V`.
    pub fn pack_in_out(&mut self, w: &[f32], depth: usize, width: usize, ld: usize) {
        self.reset(width, depth);
        for (j, panel) in self.data.chunks_exact_mut(depth * NR).enumerate() {
            let cols = NR.min(width - j * NR);
            for (p, dst) in panel.chunks_exact_mut(NR).enumerate() {
                dst[..cols].copy_from_slice(&w[p * ld + j * NR..p * ld + j * NR + cols]);
                dst[cols..].fill(0.0);
            }
        }
    }

    /// An empty matrix to repack into.
    pub fn empty() -> Self {
        PackedMatrix {
            depth: 0,
            width: 0,
            data: Vec::new(),
        }
    }

    /// Sized for `width × depth`; the values are left for the packing to
    /// overwrite (padding columns included), not zeroed first.
    fn reset(&mut self, width: usize, depth: usize) {
        self.data.resize(width.div_ceil(NR) * depth * NR, 0.0);
        (self.width, self.depth) = (width, depth);
    }

    /// Multiplies every weight of output column `c` by `scale[c]` (fold a scale into the weight).
    pub fn scale_columns(&mut self, scale: impl Fn(usize) -> f32) {
        for (j, panel) in self.data.chunks_exact_mut(self.depth * NR).enumerate() {
            for row in panel.chunks_exact_mut(NR) {
                for (c, v) in row.iter_mut().enumerate() {
                    *v *= scale(j * NR + c);
                }
            }
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len() * 4
    }
}

impl Panels for PackedMatrix {
    fn depth(&self) -> usize {
        self.depth
    }

    fn width(&self) -> usize {
        self.width
    }

    fn fills(&self) -> bool {
        false
    }

    fn panel<'a>(&'a self, j: usize, k0: usize, kc: usize, _buf: &'a mut [f32]) -> &'a [f32] {
        let start = j * self.depth * NR + k0 * NR;
        &self.data[start..start + kc * NR]
    }
}

/// A [`PackedMatrix`] held in half precision (IEEE f16 bits): half the
/// memory; each panel block is widened to f32 as a tile fetches it, once per
/// tile of up to [`MC`] rows, so the product runs at the f32 kernel's speed.
#[derive(Debug, Clone)]
pub struct HalfPackedMatrix {
    depth: usize,
    width: usize,
    data: Vec<u16>,
}

impl HalfPackedMatrix {
    /// The same panels as `m`, each value rounded to the nearest f16.
    pub fn from_packed(m: &PackedMatrix) -> Self {
        HalfPackedMatrix {
            depth: m.depth,
            width: m.width,
            data: m
                .data
                .iter()
                .map(|&v| half::f16::from_f32(v).to_bits())
                .collect(),
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len() * 2
    }

    pub fn depth(&self) -> usize {
        self.depth
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// Its panels for a product (each widened as a tile fetches it).
    pub fn view(&self) -> HalfPanelView<'_> {
        HalfPanelView {
            data: &self.data,
            depth: self.depth,
            width: self.width,
            stride: self.depth * NR,
        }
    }
}

/// Panels stored elsewhere (a key/value cache): panel `j` starts at
/// `j · stride` and holds `depth` rows of `NR` values.
pub struct PanelView<'a> {
    pub data: &'a [f32],
    pub depth: usize,
    pub width: usize,
    pub stride: usize,
}

impl Panels for PanelView<'_> {
    fn depth(&self) -> usize {
        self.depth
    }

    fn width(&self) -> usize {
        self.width
    }

    fn fills(&self) -> bool {
        false
    }

    fn panel<'a>(&'a self, j: usize, k0: usize, kc: usize, _buf: &'a mut [f32]) -> &'a [f32] {
        let start = j * self.stride + k0 * NR;
        &self.data[start..start + kc * NR]
    }
}

/// [`PanelView`] over half-precision values (IEEE f16 bits): each panel is
/// widened to f32 as the product fetches it, so the stored panels take half
/// the memory and half the reading (a language model's key/value cache,
/// [`HalfPackedMatrix`]'s weights).
pub struct HalfPanelView<'a> {
    pub data: &'a [u16],
    pub depth: usize,
    pub width: usize,
    pub stride: usize,
}

impl Panels for HalfPanelView<'_> {
    fn depth(&self) -> usize {
        self.depth
    }

    fn width(&self) -> usize {
        self.width
    }

    fn panel<'a>(&'a self, j: usize, k0: usize, kc: usize, buf: &'a mut [f32]) -> &'a [f32] {
        let start = j * self.stride + k0 * NR;
        let buf = &mut buf[..kc * NR];
        crate::f16_to_f32(&self.data[start..start + kc * NR], buf);
        buf
    }

    fn half(&self, j: usize, k0: usize, kc: usize) -> Option<&[u16]> {
        let start = j * self.stride + k0 * NR;
        Some(&self.data[start..start + kc * NR])
    }
}

/// Where the product lands.
#[derive(Debug, Clone, Copy)]
pub struct Output<'a> {
    /// Added to every row (one value per output column).
    pub bias: Option<&'a [f32]>,
    /// Add to what `C` holds (a residual) instead of overwriting it.
    pub accumulate: bool,
}

/// `c[m × width] = a[m × depth] · B (+ bias) (+ c)`, row-major with row
/// strides `lda`, `ldc`.
///
/// # Panics
/// When a slice is too short for its shape, or the bias is not `width` long.
pub fn gemm(
    a: &[f32],
    lda: usize,
    m: usize,
    b: &dyn Panels,
    c: &mut [f32],
    ldc: usize,
    out: Output<'_>,
) {
    gemm_isa(Isa::detect(), true, a, lda, m, b, c, ldc, out)
}

/// [`gemm`] on the calling thread only: for many small products that the
/// caller already runs in parallel (attention heads).
pub fn gemm_serial(
    a: &[f32],
    lda: usize,
    m: usize,
    b: &dyn Panels,
    c: &mut [f32],
    ldc: usize,
    out: Output<'_>,
) {
    gemm_isa(Isa::detect(), false, a, lda, m, b, c, ldc, out)
}

#[allow(clippy::too_many_arguments)]
fn gemm_isa(
    isa: Isa,
    parallel: bool,
    a: &[f32],
    lda: usize,
    m: usize,
    b: &dyn Panels,
    c: &mut [f32],
    ldc: usize,
    out: Output<'_>,
) {
    let (k, n) = (b.depth(), b.width());
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        lda >= k && a.len() >= (m - 1) * lda + k,
        "gemm: A is too short"
    );
    assert!(
        ldc >= n && c.len() >= (m - 1) * ldc + n,
        "gemm: C is too short"
    );
    if let Some(bias) = out.bias {
        assert_eq!(bias.len(), n, "gemm: bias length");
    }
    if k == 0 {
        for row in c.chunks_mut(ldc).take(m) {
            for (j, v) in row[..n].iter_mut().enumerate() {
                let base = if out.accumulate { *v } else { 0.0 };
                *v = base + out.bias.map_or(0.0, |bias| bias[j]);
            }
        }
        return;
    }
    if m <= SKINNY {
        skinny(isa, parallel, a, lda, m, b, c, ldc, out);
        return;
    }
    let blocks = m.div_ceil(MR);
    // Packed A: block `r` is `k` steps of MR values (rows past m are zero).
    // The packing buffer is reused from call to call (taken out of the thread's
    // slot, so a nested call on this thread gets its own). Rows past `m` keep
    // whatever they held: they only reach accumulators that are never stored.
    let mut packed = PACKED.with(|p| p.take());
    if packed.len() < blocks * k * MR {
        packed.resize(blocks * k * MR, 0.0);
    }
    let pack = |(blk, dst): (usize, &mut [f32])| {
        for r in 0..MR.min(m - blk * MR) {
            let row = &a[(blk * MR + r) * lda..(blk * MR + r) * lda + k];
            for (p, v) in row.iter().enumerate() {
                dst[p * MR + r] = *v;
            }
        }
    };
    if parallel {
        packed[..blocks * k * MR]
            .par_chunks_mut(k * MR)
            .enumerate()
            .for_each(pack);
    } else {
        packed[..blocks * k * MR]
            .chunks_mut(k * MR)
            .enumerate()
            .for_each(pack);
    }
    let panels = n.div_ceil(NR);
    let want = if parallel {
        rayon::current_num_threads() * 4
    } else {
        1
    };
    let row_tiles = m.div_ceil(MC).max(want.div_ceil(panels)).min(blocks);
    let mc = m.div_ceil(row_tiles).next_multiple_of(MR);
    let row_tiles = m.div_ceil(mc);
    let c_ptr = SendPtr(c.as_mut_ptr());
    let packed_ref = &packed;
    let run = |buf: &mut Vec<f32>, tile: usize| {
        let (rt, j) = (tile / panels, tile % panels);
        let cols = NR.min(n - j * NR);
        let bias = out.bias.map(|bias| &bias[j * NR..j * NR + cols]);
        let (r0, r1) = (rt * mc, (rt * mc + mc).min(m));
        // A short tile (a question's few tokens) widens f16 panels in
        // registers; a tall one widens each block once into `buf`, which its
        // many row blocks then share.
        let half = isa.reads_half() && r1 - r0 <= DIRECT_HALF_ROWS;
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            let panel = fetch(half, b, j, k0, kc, buf);
            let first = k0 == 0;
            for blk in (r0 / MR)..r1.div_ceil(MR) {
                let rows = MR.min(m - blk * MR);
                let a_blk = &packed_ref[blk * k * MR + k0 * MR..blk * k * MR + (k0 + kc) * MR];
                let tile_out = TileOut {
                    // SAFETY: tiles cover disjoint rows × columns of C; the
                    // offset is inside C (checked against its length above).
                    c: unsafe { c_ptr.get().add(blk * MR * ldc + j * NR) },
                    ldc,
                    rows,
                    cols,
                    load: !first || out.accumulate,
                    bias: if first { bias } else { None },
                };
                // SAFETY: `a_blk` is kc·MR long, `panel` kc·NR long, and
                // `tile_out` addresses rows × cols inside C.
                unsafe { isa.kernel(kc, a_blk, panel, &tile_out) };
            }
            k0 += kc;
        }
    };
    if parallel {
        (0..row_tiles * panels)
            .into_par_iter()
            .for_each_init(Vec::new, run);
    } else {
        let mut buf = Vec::new();
        (0..row_tiles * panels).for_each(|tile| run(&mut buf, tile));
    }
    PACKED.with(|p| p.set(packed));
}

/// Most rows of a tile that reads f16 panels directly (see `gemm_isa`).
const DIRECT_HALF_ROWS: usize = 4 * MR;

thread_local! {
    static PACKED: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

pub(crate) fn release_thread_buffer() {
    PACKED.with(|p| drop(p.take()));
}

/// Most rows for the skinny path: a product of a few rows (one decode step's
/// query heads) reads each panel once with that many rows in registers,
/// without packing A or computing the 12-row tile.
const SKINNY: usize = 4;

#[allow(clippy::too_many_arguments)]
fn skinny(
    isa: Isa,
    parallel: bool,
    a: &[f32],
    lda: usize,
    m: usize,
    b: &dyn Panels,
    c: &mut [f32],
    ldc: usize,
    out: Output<'_>,
) {
    let (k, n) = (b.depth(), b.width());
    let panels = n.div_ceil(NR);
    let c_ptr = SendPtr(c.as_mut_ptr());
    let run = |buf: &mut Vec<f32>, j: usize| {
        let mut acc = [0f32; SKINNY * NR];
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            let panel = fetch(isa.reads_half(), b, j, k0, kc, buf);
            let rows: [&[f32]; SKINNY] = std::array::from_fn(|r| {
                if r < m {
                    &a[r * lda + k0..r * lda + k0 + kc]
                } else {
                    &[]
                }
            });
            match isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU has AVX-512F (detected); rows are kc long, the panel kc·NR.
                Isa::Avx512 => unsafe { x86::skinny_avx512(m, kc, &rows, panel, &mut acc) },
                _ => skinny_portable(m, kc, &rows, &panel.widened(), &mut acc),
            }
            k0 += kc;
        }
        let cols = NR.min(n - j * NR);
        let tile = TileOut {
            // SAFETY: each task writes its own panel's columns of the m rows.
            c: unsafe { c_ptr.get().add(j * NR) },
            ldc,
            rows: m,
            cols,
            load: out.accumulate,
            bias: out.bias.map(|bias| &bias[j * NR..j * NR + cols]),
        };
        let mut full = [0f32; MR * NR];
        full[..SKINNY * NR].copy_from_slice(&acc);
        // SAFETY: `tile` addresses m × cols values inside C (checked by the caller).
        unsafe { tile.store(&full) };
    };
    if parallel && panels > 1 {
        (0..panels).into_par_iter().for_each_init(Vec::new, run);
    } else {
        let mut buf = Vec::new();
        (0..panels).for_each(|j| run(&mut buf, j));
    }
}

fn skinny_portable(
    m: usize,
    kc: usize,
    rows: &[&[f32]; SKINNY],
    panel: &[f32],
    acc: &mut [f32; SKINNY * NR],
) {
    for p in 0..kc {
        let bp = &panel[p * NR..p * NR + NR];
        for r in 0..m {
            let av = rows[r][p];
            for (acc, bv) in acc[r * NR..r * NR + NR].iter_mut().zip(bp) {
                *acc = av.mul_add(*bv, *acc);
            }
        }
    }
}

/// Panel `j` over `k0..k0 + kc`: the stored half-precision block when
/// `half` (the kernel widens it in registers), else f32 values (using `buf`, grown as needed,
/// when the weight writes its panels rather than storing them).
fn fetch<'a>(
    half: bool,
    b: &'a dyn Panels,
    j: usize,
    k0: usize,
    kc: usize,
    buf: &'a mut Vec<f32>,
) -> PanelRef<'a> {
    if half {
        if let Some(h) = b.half(j, k0, kc) {
            return PanelRef::F16(h);
        }
    }
    let need = if b.fills() { kc * NR } else { 0 };
    if buf.len() < need {
        buf.resize(need, 0.0);
    }
    PanelRef::F32(b.panel(j, k0, kc, &mut buf[..need]))
}

/// The output pointer shared by the tasks of one product (here and in
/// [`crate::amx`]).
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub(crate) *mut f32);
// SAFETY: used only to write disjoint tiles of one C from rayon's threads.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Panics unless `a` holds `m > 0` rows of `k` values `lda` apart, `c` `m`
/// rows of `n` values `ldc` apart, and the bias (if any) `n` values: the
/// checks every product makes before it runs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_shapes(
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    c: &[f32],
    ldc: usize,
    n: usize,
    out: &Output<'_>,
) {
    assert!(lda >= k && ldc >= n, "strides shorter than the rows");
    assert!(a.len() >= (m - 1) * lda + k, "input too short");
    assert!(c.len() >= (m - 1) * ldc + n, "output too short");
    if let Some(b) = out.bias {
        assert_eq!(b.len(), n, "bias length differs from the width");
    }
}

/// One register tile's destination.
pub(crate) struct TileOut<'a> {
    pub(crate) c: *mut f32,
    pub(crate) ldc: usize,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    /// Add the tile to C's current values.
    pub(crate) load: bool,
    pub(crate) bias: Option<&'a [f32]>,
}

impl TileOut<'_> {
    /// Writes a full MR × NR accumulator block (row-major) into C.
    ///
    /// # Safety
    /// `c` must address `rows × cols` values with stride `ldc`.
    pub(crate) unsafe fn store(&self, acc: &[f32; MR * NR]) {
        for r in 0..self.rows {
            let dst = self.c.add(r * self.ldc);
            for col in 0..self.cols {
                let mut v = acc[r * NR + col];
                if let Some(bias) = self.bias {
                    v += bias[col];
                }
                if self.load {
                    v += *dst.add(col);
                }
                *dst.add(col) = v;
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Avx2,
    Portable,
}

impl Isa {
    /// The best f32 kernel the products may use ([`crate::cpu`]).
    pub fn detect() -> Isa {
        match crate::cpu::best() {
            crate::cpu::Level::Amx | crate::cpu::Level::Avx512Bf16 | crate::cpu::Level::Avx512 => {
                Isa::Avx512
            }
            crate::cpu::Level::Avx2 => Isa::Avx2,
            crate::cpu::Level::Portable => Isa::Portable,
        }
    }

    /// Whether the kernels widen half-precision panels in registers (AVX-512F
    /// and F16C convert them; the AVX2 kernel is chosen only with F16C).
    fn reads_half(self) -> bool {
        matches!(self, Isa::Avx512 | Isa::Avx2)
    }

    /// # Safety
    /// `a` holds kc·MR values, `b` kc·NR, and `out` addresses its tile inside
    /// C; an f16 panel only when [`Isa::reads_half`].
    unsafe fn kernel(self, kc: usize, a: &[f32], b: PanelRef<'_>, out: &TileOut<'_>) {
        debug_assert!(a.len() >= kc * MR && b.len() >= kc * NR);
        match (self, b) {
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512, _) => x86::kernel_avx512(kc, a.as_ptr(), b, out),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2, PanelRef::F32(b)) => {
                x86::kernel_avx2::<false>(kc, a.as_ptr(), b.as_ptr().cast(), out)
            }
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2, PanelRef::F16(b)) => {
                x86::kernel_avx2::<true>(kc, a.as_ptr(), b.as_ptr().cast(), out)
            }
            _ => kernel_portable(kc, a, &b.widened(), out),
        }
    }
}

unsafe fn kernel_portable(kc: usize, a: &[f32], b: &[f32], out: &TileOut<'_>) {
    let mut acc = [0f32; MR * NR];
    for p in 0..kc {
        let bp = &b[p * NR..p * NR + NR];
        for r in 0..MR {
            let av = a[p * MR + r];
            for (acc, bv) in acc[r * NR..r * NR + NR].iter_mut().zip(bp) {
                *acc = av.mul_add(*bv, *acc);
            }
        }
    }
    out.store(&acc);
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::{PanelRef, TileOut, MR, NR, SKINNY};
    use std::arch::x86_64::*;

    /// Row `p` of a panel block (32 values) in two zmm registers: loaded, or
    /// widened from f16 bits (`HALF`).
    #[inline(always)]
    unsafe fn load_b<const HALF: bool>(b: *const u8, p: usize) -> (__m512, __m512) {
        if HALF {
            let h = (b as *const u16).add(p * NR);
            (
                _mm512_cvtph_ps(_mm256_loadu_si256(h as *const __m256i)),
                _mm512_cvtph_ps(_mm256_loadu_si256(h.add(16) as *const __m256i)),
            )
        } else {
            let f = (b as *const f32).add(p * NR);
            (_mm512_loadu_ps(f), _mm512_loadu_ps(f.add(16)))
        }
    }

    /// Up to 12 rows × 32 columns in 24 zmm accumulators: the tile's real
    /// rows only (a short last row block computes no padding rows).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn kernel_avx512(
        kc: usize,
        a: *const f32,
        b: PanelRef<'_>,
        out: &TileOut<'_>,
    ) {
        macro_rules! rows {
            ($($r:literal)*) => {
                match (out.rows, b) {
                    $(
                        ($r, PanelRef::F32(b)) => tile::<$r, false>(kc, a, b.as_ptr().cast(), out),
                        ($r, PanelRef::F16(b)) => tile::<$r, true>(kc, a, b.as_ptr().cast(), out),
                    )*
                    (_, PanelRef::F32(b)) => tile::<MR, false>(kc, a, b.as_ptr().cast(), out),
                    (_, PanelRef::F16(b)) => tile::<MR, true>(kc, a, b.as_ptr().cast(), out),
                }
            };
        }
        rows!(1 2 3 4 5 6 7 8 9 10 11)
    }

    #[inline(always)]
    unsafe fn tile<const R: usize, const HALF: bool>(
        kc: usize,
        a: *const f32,
        b: *const u8,
        out: &TileOut<'_>,
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        for p in 0..kc {
            let (b0, b1) = load_b::<HALF>(b, p);
            let ap = a.add(p * MR);
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ap.add(r));
                acc[0] = _mm512_fmadd_ps(av, b0, acc[0]);
                acc[1] = _mm512_fmadd_ps(av, b1, acc[1]);
            }
        }
        store_zmm(&acc, out);
    }

    /// Stores up to MR rows of 32-column accumulators (two zmm registers a
    /// row) into C, adding the bias and C's values as `out` says: straight
    /// from registers for a full-width tile, through [`TileOut::store`] for
    /// a ragged one. The epilogue of every AVX-512 product (f32 and bfloat16).
    ///
    /// # Safety
    /// AVX-512F; `out.c` addresses `out.rows × out.cols` values with stride
    /// `out.ldc`, and `acc` holds at least `out.rows` rows.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn store_zmm(acc: &[[__m512; 2]], out: &TileOut<'_>) {
        if out.cols == NR {
            let bias = out.bias.map(|b| {
                (
                    _mm512_loadu_ps(b.as_ptr()),
                    _mm512_loadu_ps(b.as_ptr().add(16)),
                )
            });
            for (r, acc) in acc.iter().enumerate().take(out.rows) {
                let dst = out.c.add(r * out.ldc);
                let (mut v0, mut v1) = (acc[0], acc[1]);
                if let Some((b0, b1)) = bias {
                    v0 = _mm512_add_ps(v0, b0);
                    v1 = _mm512_add_ps(v1, b1);
                }
                if out.load {
                    v0 = _mm512_add_ps(v0, _mm512_loadu_ps(dst));
                    v1 = _mm512_add_ps(v1, _mm512_loadu_ps(dst.add(16)));
                }
                _mm512_storeu_ps(dst, v0);
                _mm512_storeu_ps(dst.add(16), v1);
            }
        } else {
            let mut tmp = [0f32; MR * NR];
            for (r, acc) in acc.iter().enumerate().take(MR) {
                _mm512_storeu_ps(tmp.as_mut_ptr().add(r * NR), acc[0]);
                _mm512_storeu_ps(tmp.as_mut_ptr().add(r * NR + 16), acc[1]);
            }
            out.store(&tmp);
        }
    }

    /// Up to 4 rows × 32 columns, accumulated into `acc` over one k block.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn skinny_avx512(
        m: usize,
        kc: usize,
        rows: &[&[f32]; SKINNY],
        panel: PanelRef<'_>,
        acc: &mut [f32; SKINNY * NR],
    ) {
        match (m, panel) {
            (1, PanelRef::F32(b)) => skinny_rows::<1, false>(kc, rows, b.as_ptr().cast(), acc),
            (2, PanelRef::F32(b)) => skinny_rows::<2, false>(kc, rows, b.as_ptr().cast(), acc),
            (3, PanelRef::F32(b)) => skinny_rows::<3, false>(kc, rows, b.as_ptr().cast(), acc),
            (_, PanelRef::F32(b)) => skinny_rows::<4, false>(kc, rows, b.as_ptr().cast(), acc),
            (1, PanelRef::F16(b)) => skinny_rows::<1, true>(kc, rows, b.as_ptr().cast(), acc),
            (2, PanelRef::F16(b)) => skinny_rows::<2, true>(kc, rows, b.as_ptr().cast(), acc),
            (3, PanelRef::F16(b)) => skinny_rows::<3, true>(kc, rows, b.as_ptr().cast(), acc),
            (_, PanelRef::F16(b)) => skinny_rows::<4, true>(kc, rows, b.as_ptr().cast(), acc),
        }
    }

    #[inline(always)]
    unsafe fn skinny_rows<const M: usize, const HALF: bool>(
        kc: usize,
        rows: &[&[f32]; SKINNY],
        b: *const u8,
        acc: &mut [f32; SKINNY * NR],
    ) {
        let mut v = [[_mm512_setzero_ps(); 2]; M];
        for (r, v) in v.iter_mut().enumerate() {
            v[0] = _mm512_loadu_ps(acc.as_ptr().add(r * NR));
            v[1] = _mm512_loadu_ps(acc.as_ptr().add(r * NR + 16));
        }
        for p in 0..kc {
            let (b0, b1) = load_b::<HALF>(b, p);
            for (r, v) in v.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*rows[r].get_unchecked(p));
                v[0] = _mm512_fmadd_ps(av, b0, v[0]);
                v[1] = _mm512_fmadd_ps(av, b1, v[1]);
            }
        }
        for (r, v) in v.iter().enumerate() {
            _mm512_storeu_ps(acc.as_mut_ptr().add(r * NR), v[0]);
            _mm512_storeu_ps(acc.as_mut_ptr().add(r * NR + 16), v[1]);
        }
    }

    /// 6 rows × 16 columns in 12 ymm accumulators, up to four times per 12 × 32
    /// tile (the second six rows only when the tile has them); the panel in
    /// f32, or f16 bits widened in registers (`HALF`, F16C).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn kernel_avx2<const HALF: bool>(
        kc: usize,
        a: *const f32,
        b: *const u8,
        out: &TileOut<'_>,
    ) {
        let mut tmp = [0f32; MR * NR];
        for half in 0..2 {
            for r0 in [0, 6] {
                if r0 >= out.rows {
                    break;
                }
                let mut acc = [[_mm256_setzero_ps(); 2]; 6];
                let mut ap = a.add(r0);
                for p in 0..kc {
                    let (b0, b1) = if HALF {
                        let h = (b as *const u16).add(p * NR + half * 16);
                        (
                            _mm256_cvtph_ps(_mm_loadu_si128(h as *const __m128i)),
                            _mm256_cvtph_ps(_mm_loadu_si128(h.add(8) as *const __m128i)),
                        )
                    } else {
                        let f = (b as *const f32).add(p * NR + half * 16);
                        (_mm256_loadu_ps(f), _mm256_loadu_ps(f.add(8)))
                    };
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let av = _mm256_broadcast_ss(&*ap.add(r));
                        acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                        acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
                    }
                    ap = ap.add(MR);
                }
                for (r, acc) in acc.iter().enumerate() {
                    let dst = tmp.as_mut_ptr().add((r0 + r) * NR + half * 16);
                    _mm256_storeu_ps(dst, acc[0]);
                    _mm256_storeu_ps(dst.add(8), acc[1]);
                }
            }
        }
        out.store(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn naive(
        a: &[f32],
        m: usize,
        k: usize,
        w: &[f32],
        n: usize,
        bias: Option<&[f32]>,
        c0: Option<&[f32]>,
    ) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for p in 0..k {
                    s += a[i * k + p] as f64 * w[j * k + p] as f64;
                }
                c[i * n + j] =
                    s as f32 + bias.map_or(0.0, |b| b[j]) + c0.map_or(0.0, |c0| c0[i * n + j]);
            }
        }
        c
    }

    /// `isa`'s product against the plain one; with `half`, the weight held in
    /// f16 panels ([`HalfPackedMatrix`]) against the product of the rounded weight.
    #[allow(clippy::too_many_arguments)]
    fn check(
        isa: Isa,
        half: bool,
        m: usize,
        k: usize,
        n: usize,
        with_bias: bool,
        accumulate: bool,
    ) {
        let mut seed = (m * 31 + k * 7 + n) as u64;
        let a: Vec<f32> = (0..m * k).map(|_| lcg(&mut seed)).collect();
        let mut w: Vec<f32> = (0..n * k).map(|_| lcg(&mut seed)).collect();
        let bias: Vec<f32> = (0..n).map(|_| lcg(&mut seed)).collect();
        let c0: Vec<f32> = (0..m * n).map(|_| lcg(&mut seed)).collect();
        let packed = PackedMatrix::from_out_in(&w, n, k).unwrap();
        let halves = HalfPackedMatrix::from_packed(&packed);
        let view = halves.view();
        let b: &dyn Panels = if half {
            for v in w.iter_mut() {
                *v = half::f16::from_f32(*v).to_f32();
            }
            &view
        } else {
            &packed
        };
        let mut c = if accumulate {
            c0.clone()
        } else {
            vec![f32::NAN; m * n]
        };
        let out = Output {
            bias: with_bias.then_some(&bias[..]),
            accumulate,
        };
        gemm_isa(isa, m % 2 == 0, &a, k, m, b, &mut c, n, out);
        let want = naive(
            &a,
            m,
            k,
            &w,
            n,
            with_bias.then_some(&bias[..]),
            accumulate.then_some(&c0[..]),
        );
        for (i, (x, y)) in c.iter().zip(&want).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * (k as f32).sqrt(),
                "{isa:?} (f16 panels: {half}) {m}×{k}×{n} at {i}: {x} vs {y}"
            );
        }
    }

    #[test]
    fn every_kernel_matches_the_plain_product_on_ragged_shapes() {
        // Every kernel the CPU has, whatever `QUIRE_GEMM` says.
        let cpu = crate::cpu::detected();
        let mut kernels = vec![Isa::Portable];
        if cpu.avx2 {
            kernels.push(Isa::Avx2);
        }
        if cpu.avx512 {
            kernels.push(Isa::Avx512);
        }
        for isa in kernels {
            for half in [false, true] {
                for &(m, k, n) in &[
                    (1, 1, 1),
                    (3, 40, 33),
                    (5, 7, 3),
                    (12, 32, 32),
                    (13, 300, 33),
                    (16, 384, 64),
                    (23, 260, 40),
                    (97, 384, 64),
                    (200, 600, 96),
                    (30, 520, 70),
                ] {
                    check(isa, half, m, k, n, false, false);
                    check(isa, half, m, k, n, true, false);
                    check(isa, half, m, k, n, true, true);
                }
            }
        }
    }

    #[test]
    fn half_precision_panels_give_the_product_of_the_rounded_weight() {
        let (m, k, n) = (40, 600, 70);
        let mut seed = 7u64;
        let a: Vec<f32> = (0..m * k).map(|_| lcg(&mut seed)).collect();
        let w: Vec<f32> = (0..n * k).map(|_| lcg(&mut seed)).collect();
        let half = HalfPackedMatrix::from_packed(&PackedMatrix::from_out_in(&w, n, k).unwrap());
        assert_eq!(half.bytes(), n.div_ceil(NR) * k * NR * 2);
        let rounded: Vec<f32> = w.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect();
        let mut c = vec![f32::NAN; m * n];
        let out = Output {
            bias: None,
            accumulate: false,
        };
        gemm(&a, k, m, &half.view(), &mut c, n, out);
        let want = naive(&a, m, k, &rounded, n, None, None);
        for (i, (x, y)) in c.iter().zip(&want).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * (k as f32).sqrt(),
                "at {i}: {x} vs {y}"
            );
        }
    }

    #[test]
    fn strided_repacking_matches_packing_a_copy() {
        let ld = 90;
        let buf: Vec<f32> = (0..5 * ld).map(|i| i as f32).collect();
        let rows: Vec<f32> = (0..5)
            .flat_map(|r| buf[r * ld..r * ld + 70].to_vec())
            .collect();
        let mut p = PackedMatrix::empty();
        p.pack_out_in(&buf, 5, 70, ld);
        assert_eq!(
            p.data,
            PackedMatrix::from_out_in(&rows, 5, 70).unwrap().data
        );
        let mut t = vec![0f32; 70 * 5];
        for r in 0..5 {
            for c in 0..70 {
                t[c * 5 + r] = rows[r * 70 + c];
            }
        }
        p.pack_in_out(&buf, 5, 70, ld);
        assert_eq!((p.depth, p.width), (5, 70));
        assert_eq!(p.data, PackedMatrix::from_out_in(&t, 70, 5).unwrap().data);
        // Repacking into a used matrix leaves no earlier values in the padding.
        p.pack_out_in(&buf, 5, 70, ld);
        assert_eq!(
            p.data,
            PackedMatrix::from_out_in(&rows, 5, 70).unwrap().data
        );
    }

    #[test]
    fn an_empty_inner_dimension_gives_the_bias() {
        let b = PackedMatrix::from_out_in(&[], 3, 0).unwrap();
        let mut c = vec![1.0; 6];
        gemm(
            &[],
            0,
            2,
            &b,
            &mut c,
            3,
            Output {
                bias: Some(&[1.0, 2.0, 3.0]),
                accumulate: true,
            },
        );
        assert_eq!(c, vec![2.0, 3.0, 4.0, 2.0, 3.0, 4.0]);
    }
}
