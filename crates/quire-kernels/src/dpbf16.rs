//! Matrix products in bfloat16 with AVX512-BF16 dot products (`vdpbf16ps`),
//! on CPUs that have the instruction (AMD Zen 4 and later, Intel since Cooper
//! Lake; the embedding model uses AMX tiles instead where there are some):
//! one instruction multiplies 16 pairs of bfloat16 values and adds both
//! products of each pair to an f32 lane, twice the multiply-adds of an f32 FMA.
//!
//! Same numerics as [`crate::amx`]: inputs and weights rounded to bfloat16,
//! products summed in f32 (only the order of the sums differs), on the same
//! weight layout ([`Bf16Matrix`]: 16-column panels of `(W[2p][c], W[2p+1][c])`
//! pairs, which is also what `vdpbf16ps` reads, 64 bytes a row). The weights
//! come through [`PairPanels`]: stored (the embedding model's dense layers)
//! or written block by block from quantized rows as the product needs them
//! (the language model's prompt pass, [`crate::q8::QMatrix`]).
//!
//! Blocking as in [`crate::gemm`]: tiles of up to [`MC`] rows × 32 columns
//! (two panels) on rayon's threads; each walks the depth in blocks of [`KC`]
//! so the panels' block stays in L1 while the tile's row blocks of up to 12
//! rows pass; a short last row block computes only its own rows.

use crate::amx::Bf16Matrix;
use crate::gemm::{check_shapes, Output, SendPtr, TileOut, KC, MC, MR};
use rayon::prelude::*;

/// Output columns per tile (two weight panels).
const NR: usize = 32;

/// A weight supplied to the kernel as bfloat16 pairs: for each block of 32
/// output columns, two panels of 16 columns whose row `p` holds the pairs
/// `(W[2p][c], W[2p + 1][c])`. [`Bf16Matrix`] stores them so; the language
/// model's quantized matrices ([`crate::q8::QMatrix`]) write them block by
/// block as the product needs them.
pub trait PairPanels: Sync {
    /// Inner dimension (the inputs' length).
    fn depth(&self) -> usize;
    /// [`PairPanels::depth`] rounded up to an even number the panels cover
    /// (the inputs are padded with zeros to it).
    fn padded(&self) -> usize;
    /// Output columns.
    fn width(&self) -> usize;
    /// Columns `cb·32 .. cb·32 + 32` over inner indices `k0 .. k0 + kc` (`k0`
    /// a multiple of [`KC`], `kc` even) as two panels of `kc / 2` pair rows of
    /// 16 columns (zero past the width): views into stored panels, or written
    /// into `buf` (grown as needed).
    fn pairs<'a>(
        &'a self,
        cb: usize,
        k0: usize,
        kc: usize,
        buf: &'a mut Vec<u16>,
    ) -> (&'a [u16], &'a [u16]);
}

impl PairPanels for Bf16Matrix {
    fn depth(&self) -> usize {
        Bf16Matrix::depth(self)
    }

    fn padded(&self) -> usize {
        Bf16Matrix::padded(self)
    }

    fn width(&self) -> usize {
        Bf16Matrix::width(self)
    }

    fn pairs<'a>(
        &'a self,
        cb: usize,
        k0: usize,
        kc: usize,
        _buf: &'a mut Vec<u16>,
    ) -> (&'a [u16], &'a [u16]) {
        let (kp, data) = (Bf16Matrix::padded(self), self.data());
        let at = |panel: usize| &data[panel * kp * 16 + k0 * 16..panel * kp * 16 + (k0 + kc) * 16];
        (at(2 * cb), at(2 * cb + 1))
    }
}

/// Whether AVX512-BF16 dot products may run: the CPU has them and
/// `QUIRE_GEMM` does not ask for less ([`crate::cpu::features`]).
pub fn available() -> bool {
    crate::cpu::features().bf16
}

/// `c[m × width] = a[m × depth] · Wᵀ (+ bias) (+ c)` with row strides `lda`,
/// `ldc`, across rayon's threads.
///
/// # Panics
/// When AVX512-BF16 is not [`available`], or a slice is too short for its shape.
pub fn gemm(
    a: &[f32],
    lda: usize,
    m: usize,
    w: &dyn PairPanels,
    c: &mut [f32],
    ldc: usize,
    out: Output<'_>,
) {
    assert!(
        available(),
        "bfloat16 dot products asked for on a CPU without them"
    );
    let (k, n, kp) = (w.depth(), w.width(), w.padded());
    if m == 0 {
        return;
    }
    check_shapes(a, lda, m, k, c, ldc, n, &out);
    // SAFETY: the CPU has AVX512-BF16 (asserted above).
    unsafe { crate::amx::with_bf16_rows(a, lda, m, k, kp, m, |ab| products(ab, m, w, c, ldc, out)) }
}

fn products(ab: &[u16], m: usize, w: &dyn PairPanels, c: &mut [f32], ldc: usize, out: Output<'_>) {
    let (n, kp) = (w.width(), w.padded());
    let col_blocks = n.div_ceil(NR);
    let blocks = m.div_ceil(MR);
    // As tall tiles as there may be while every thread gets some (see gemm).
    let want = rayon::current_num_threads() * 4;
    let row_tiles = m.div_ceil(MC).max(want.div_ceil(col_blocks)).min(blocks);
    let mc = m.div_ceil(row_tiles).next_multiple_of(MR);
    let row_tiles = m.div_ceil(mc);
    let cp = SendPtr(c.as_mut_ptr());
    (0..row_tiles * col_blocks)
        .into_par_iter()
        .for_each_init(Vec::new, |buf, task| {
            let (rt, cb) = (task / col_blocks, task % col_blocks);
            let cols = NR.min(n - cb * NR);
            let bias = out.bias.map(|b| &b[cb * NR..cb * NR + cols]);
            let (r0, r1) = (rt * mc, (rt * mc + mc).min(m));
            let mut k0 = 0;
            while k0 < kp {
                let kc = KC.min(kp - k0);
                let (p0, p1) = w.pairs(cb, k0, kc, buf);
                assert!(p0.len() >= kc * 16 && p1.len() >= kc * 16, "short panels");
                let first = k0 == 0;
                for r in (r0..r1).step_by(MR) {
                    let tile = TileOut {
                        // SAFETY: rows r..r + rows and columns cb·NR.. + cols
                        // lie inside `c` (asserted) and belong to this task.
                        c: unsafe { cp.get().add(r * ldc + cb * NR) },
                        ldc,
                        rows: MR.min(r1 - r),
                        cols,
                        load: !first || out.accumulate,
                        bias: if first { bias } else { None },
                    };
                    // SAFETY: the CPU has AVX512-BF16 (asserted in `gemm`);
                    // rows r.. of `ab` hold `kp` values from k0 on, the
                    // panels kc / 2 pair rows each (asserted).
                    #[cfg(target_arch = "x86_64")]
                    unsafe {
                        x86::kernel(
                            ab[r * kp + k0..].as_ptr(),
                            kp,
                            p0.as_ptr(),
                            p1.as_ptr(),
                            kc,
                            &tile,
                        )
                    };
                }
                k0 += kc;
            }
        });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{TileOut as Tile, MR};
    use crate::gemm::x86::store_zmm;
    use std::arch::x86_64::*;

    /// Up to 12 rows × 32 columns over depth `k0..k0 + kc` in 24 zmm accumulators.
    ///
    /// # Safety
    /// AVX512-BF16; `a` points at row 0's value `k0`, rows `lda` apart (`kc`
    /// values each); `b0`, `b1` at the two panels' `kc / 2` pair rows of 16
    /// columns; `tile` inside C.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn kernel(
        a: *const u16,
        lda: usize,
        b0: *const u16,
        b1: *const u16,
        kc: usize,
        tile: &Tile<'_>,
    ) {
        macro_rules! rows {
            ($($r:literal)*) => {
                match tile.rows {
                    $($r => block::<$r>(a, lda, b0, b1, kc, tile),)*
                    _ => block::<MR>(a, lda, b0, b1, kc, tile),
                }
            };
        }
        rows!(1 2 3 4 5 6 7 8 9 10 11)
    }

    #[inline(always)]
    unsafe fn block<const R: usize>(
        a: *const u16,
        lda: usize,
        b0: *const u16,
        b1: *const u16,
        kc: usize,
        tile: &Tile<'_>,
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        // Pair row p of the depth block in each panel: 16 columns × 2 values.
        for p in 0..kc / 2 {
            let w0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b0.add(p * 32) as *const _));
            let w1: __m512bh = std::mem::transmute(_mm512_loadu_si512(b1.add(p * 32) as *const _));
            for (r, acc) in acc.iter_mut().enumerate() {
                // The pair (a[r][2p], a[r][2p + 1]) in every lane.
                let pair = (a.add(r * lda + 2 * p) as *const i32).read_unaligned();
                let x: __m512bh = std::mem::transmute(_mm512_set1_epi32(pair));
                acc[0] = _mm512_dpbf16_ps(acc[0], x, w0);
                acc[1] = _mm512_dpbf16_ps(acc[1], x, w1);
            }
        }
        store_zmm(&acc, tile);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values as values;

    fn rounded(x: f32) -> f32 {
        half::bf16::from_f32(x).to_f32()
    }

    /// Regression (the answer test panicked with "RefCell already borrowed"
    /// once the language model's prompt pass used these products): the
    /// input buffer was borrowed from the thread's slot for the whole product,
    /// so a product rayon started on that thread while the first one waited
    /// found it taken. Products running at once must each keep their inputs.
    #[test]
    #[cfg_attr(not(quire_cpu_bf16), ignore = "this CPU has no AVX512-BF16")]
    fn products_running_at_once_on_rayons_threads_keep_their_own_inputs() {
        use rayon::prelude::*;
        if !available() {
            eprintln!("skipped: this CPU has no AVX512-BF16");
            return;
        }
        let (m, k, n) = (700, 384, 384);
        let w = Bf16Matrix::from_out_in(&values(n * k, 5), n, k).unwrap();
        let inputs: Vec<Vec<f32>> = (0..24).map(|i| values(m * k, 10 + i)).collect();
        let none = Output {
            bias: None,
            accumulate: false,
        };
        let alone: Vec<Vec<f32>> = inputs
            .iter()
            .map(|a| {
                let mut c = vec![0f32; m * n];
                gemm(a, k, m, &w, &mut c, n, none);
                c
            })
            .collect();
        let together: Vec<Vec<f32>> = inputs
            .par_iter()
            .map(|a| {
                let mut c = vec![0f32; m * n];
                gemm(a, k, m, &w, &mut c, n, none);
                c
            })
            .collect();
        assert!(alone == together, "a product read another's inputs");
    }

    #[test]
    #[cfg_attr(not(quire_cpu_bf16), ignore = "this CPU has no AVX512-BF16")]
    fn products_match_the_rounded_operands_on_ragged_shapes() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX512-BF16");
            return;
        }
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 40, 33),
            (12, 32, 32),
            (16, 384, 64),
            (23, 300, 40),
            (97, 600, 70),
            (200, 1536, 96),
        ] {
            let a = values(m * k, 1 + m as u32);
            let w = values(n * k, 2 + k as u32);
            let bias = values(n, 3);
            let c0 = values(m * n, 4);
            let matrix = Bf16Matrix::from_out_in(&w, n, k).unwrap();
            for (with_bias, accumulate) in [(false, false), (true, false), (true, true)] {
                let mut c = if accumulate {
                    c0.clone()
                } else {
                    vec![f32::NAN; m * n]
                };
                let out = Output {
                    bias: with_bias.then_some(&bias[..]),
                    accumulate,
                };
                gemm(&a, k, m, &matrix, &mut c, n, out);
                for i in 0..m {
                    for j in 0..n {
                        let mut want = (0..k)
                            .map(|p| rounded(a[i * k + p]) as f64 * rounded(w[j * k + p]) as f64)
                            .sum::<f64>();
                        if with_bias {
                            want += bias[j] as f64;
                        }
                        if accumulate {
                            want += c0[i * n + j] as f64;
                        }
                        let got = c[i * n + j] as f64;
                        assert!(
                            (got - want).abs() <= 1e-4 * (k as f64).sqrt(),
                            "{m}×{k}×{n} at ({i}, {j}): {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
