//! Matrix products on Intel AMX tiles in bfloat16, for CPUs that have them
//! (Sapphire Rapids and later): one `tdpbf16ps` multiplies a 16 × 32 block
//! of inputs by a 32 × 16 block of weights (8,192 multiply-adds) and adds the
//! products to a 16 × 16 f32 tile.
//!
//! Inputs and weights are rounded to bfloat16 (8 significant bits);
//! products are summed in f32. The embedding model uses this when the CPU has
//! AMX and `QUIRE_GEMM` does not ask for an f32 kernel; its fixture test
//! (cosine ≥ 0.999 against the reference implementation) runs on whichever
//! path the machine takes.
//!
//! Layouts:
//! - weights ([`Bf16Matrix`]): panels of 16 output columns; inside a panel,
//!   row `p` holds the pairs `(W[2p][c], W[2p + 1][c])` for its 16 columns
//!   (the "VNNI" layout `tdpbf16ps` reads), depth padded to 32;
//! - inputs: converted per call to bfloat16 rows, depth padded to 32, rows
//!   to 32.
//!
//! The instructions are written as inline assembly (Rust has no stable AMX
//! intrinsics); the operating system must grant the process the tile state
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM)` on Linux), asked once.

use crate::gemm::{check_shapes, Output, SendPtr};
use rayon::prelude::*;

/// Output columns per weight panel (one tile's width in f32).
const PANEL: usize = 16;
/// Depth of one tile step (32 bfloat16 values in a 64-byte tile row).
const STEP: usize = 32;
/// Rows and columns of C per micro-kernel call (2 × 2 tiles).
const BLOCK: usize = 32;

/// A weight matrix `[width outputs × depth inputs]` in bfloat16, laid out as
/// AMX reads it.
#[derive(Debug, Clone)]
pub struct Bf16Matrix {
    depth: usize,
    width: usize,
    /// `depth` rounded up to [`STEP`].
    padded: usize,
    data: Vec<u16>,
}

/// f32 to bfloat16, rounded to nearest even (NaN kept a NaN).
#[inline(always)]
pub(crate) fn bf16(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    ((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

impl Bf16Matrix {
    /// From `w` stored `[width][depth]` row-major (PyTorch's `Linear`).
    pub fn from_out_in(w: &[f32], width: usize, depth: usize) -> Option<Self> {
        if w.len() != width * depth || width == 0 || depth == 0 {
            return None;
        }
        let padded = depth.next_multiple_of(STEP);
        let panels = width.next_multiple_of(BLOCK) / PANEL;
        let mut data = vec![0u16; panels * padded * PANEL];
        data.par_chunks_mut(padded * PANEL)
            .enumerate()
            .for_each(|(p, panel)| {
                for c in 0..PANEL {
                    let col = p * PANEL + c;
                    if col >= width {
                        continue;
                    }
                    for k in 0..depth {
                        panel[(k / 2) * 2 * PANEL + 2 * c + k % 2] = bf16(w[col * depth + k]);
                    }
                }
            });
        Some(Bf16Matrix {
            depth,
            width,
            padded,
            data,
        })
    }

    pub fn depth(&self) -> usize {
        self.depth
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn bytes(&self) -> usize {
        self.data.len() * 2
    }

    /// The depth rounded up to 32 (each panel's pair rows cover it).
    pub(crate) fn padded(&self) -> usize {
        self.padded
    }

    /// The panels: `width` rounded up to 32, in panels of 16 columns, each
    /// `padded / 2` rows of 16 pairs.
    pub(crate) fn data(&self) -> &[u16] {
        &self.data
    }
}

/// Whether AMX bfloat16 products may run: the CPU has them, the operating
/// system granted the tiles and `QUIRE_GEMM` does not ask for less
/// ([`crate::cpu::features`]).
pub fn available() -> bool {
    crate::cpu::features().amx
}

/// Asks the operating system for the tile state (once, by [`crate::cpu`]).
pub(crate) fn request_tiles() -> bool {
    imp::enable()
}

/// `c[m × width] = a[m × depth] · Wᵀ (+ bias) (+ c)` with row strides `lda`,
/// `ldc`, on AMX tiles across rayon's threads.
///
/// # Panics
/// When AMX is not [`available`], or a slice is too short for its shape.
pub fn gemm(
    a: &[f32],
    lda: usize,
    m: usize,
    w: &Bf16Matrix,
    c: &mut [f32],
    ldc: usize,
    out: Output<'_>,
) {
    assert!(
        available(),
        "AMX products asked for on a machine without them"
    );
    let (k, n, kp) = (w.depth, w.width, w.padded);
    if m == 0 {
        return;
    }
    check_shapes(a, lda, m, k, c, ldc, n, &out);
    // Zero rows up to a whole block of tiles.
    let rows = m.next_multiple_of(BLOCK);
    // SAFETY: AMX is available, and with it AVX512-BF16 (`cpu::features`).
    unsafe { with_bf16_rows(a, lda, m, k, kp, rows, |ab| products(ab, m, w, c, ldc, out)) }
}

/// Runs `f` on `a`'s first `m` rows as bfloat16 rows of `kp` values (zero
/// past `k`), followed by zero rows up to `rows`: the inputs of the bfloat16
/// products (AMX and [`crate::dpbf16`]). The rows are written in parallel
/// into a buffer kept per thread (every value is written: no zeroing pass),
/// taken out of the thread's slot for the call: a product started on this
/// thread while it waits for this one (rayon runs other tasks meanwhile)
/// finds the slot empty and uses a buffer of its own.
///
/// # Safety
/// The CPU has AVX512-BF16; `a` holds `m` rows of `k` values `lda` apart.
pub(crate) unsafe fn with_bf16_rows<R>(
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    kp: usize,
    rows: usize,
    f: impl FnOnce(&[u16]) -> R,
) -> R {
    let mut ab = INPUT.with(|b| b.take());
    if ab.len() < rows * kp {
        ab.resize(rows * kp, 0);
    }
    ab[..rows * kp]
        .par_chunks_mut(kp * 64)
        .enumerate()
        .for_each(|(i, dst)| {
            for (r, d) in dst.chunks_exact_mut(kp).enumerate() {
                let row = i * 64 + r;
                if row < m {
                    // SAFETY: the caller's CPU has AVX512-BF16.
                    unsafe { to_bf16(&a[row * lda..row * lda + k], &mut d[..k]) };
                    d[k..].fill(0);
                } else {
                    d.fill(0);
                }
            }
        });
    let result = f(&ab[..rows * kp]);
    INPUT.with(|b| b.set(ab));
    result
}

/// `dst[i] = bfloat16(src[i])`, rounded to nearest even, 32 per instruction
/// (also the inputs of [`crate::dpbf16`]).
///
/// # Safety
/// The CPU has AVX512-BF16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
pub(crate) unsafe fn to_bf16(src: &[f32], dst: &mut [u16]) {
    use std::arch::x86_64::*;
    let n = src.len().min(dst.len());
    let mut i = 0;
    while i + 32 <= n {
        let lo = _mm512_loadu_ps(src.as_ptr().add(i));
        let hi = _mm512_loadu_ps(src.as_ptr().add(i + 16));
        let h: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
        _mm512_storeu_si512(dst.as_mut_ptr().add(i) as *mut _, h);
        i += 32;
    }
    for j in i..n {
        dst[j] = bf16(src[j]);
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn to_bf16(_: &[f32], _: &mut [u16]) {
    unreachable!("bfloat16 products are never available here")
}

thread_local! {
    static INPUT: std::cell::Cell<Vec<u16>> = const { std::cell::Cell::new(Vec::new()) };
}

pub(crate) fn release_thread_buffer() {
    INPUT.with(|b| drop(b.take()));
}

fn products(ab: &[u16], m: usize, w: &Bf16Matrix, c: &mut [f32], ldc: usize, out: Output<'_>) {
    let (n, kp) = (w.width, w.padded);
    let rows = ab.len() / kp;
    let col_blocks = n.div_ceil(BLOCK);
    let row_blocks = rows / BLOCK;
    let cp = SendPtr(c.as_mut_ptr());
    let wd = &w.data;
    // Tasks: a run of row blocks against one column block.
    (0..row_blocks.div_ceil(4) * col_blocks)
        .into_par_iter()
        .for_each(|task| {
            let (rb0, cb) = ((task / col_blocks) * 4, task % col_blocks);
            let mut tile = [0f32; BLOCK * BLOCK];
            // SAFETY: AMX is available (asserted); the tiles read inside `ab`
            // (rows padded to BLOCK, depth to STEP) and the weight panels
            // (width padded to BLOCK, depth to STEP).
            unsafe { imp::configure() };
            for rb in rb0..(rb0 + 4).min(row_blocks) {
                let ap = ab[rb * BLOCK * kp..].as_ptr();
                let bp = wd[cb * 2 * kp * PANEL..].as_ptr();
                let (r0, c0) = (rb * BLOCK, cb * BLOCK);
                if r0 + BLOCK <= m && c0 + BLOCK <= n {
                    // A whole block: the tiles start from C (and/or the bias)
                    // and are stored straight into it.
                    // SAFETY: rows r0..r0 + 32 and columns c0..c0 + 32 lie
                    // inside `c` (asserted) and belong to this task alone.
                    let cb_ptr = unsafe { cp.get().add(r0 * ldc + c0) };
                    let stride = ldc * 4;
                    let init = match (out.bias, out.accumulate) {
                        (None, false) => None,
                        (None, true) => Some((cb_ptr as *const f32, stride)),
                        // Every row of the tile loads the same 64 bytes of bias.
                        (Some(b), false) => Some((b[c0..].as_ptr(), 0)),
                        (Some(b), true) => {
                            for i in 0..BLOCK {
                                // SAFETY: as above.
                                let row = unsafe {
                                    std::slice::from_raw_parts_mut(cb_ptr.add(i * ldc), BLOCK)
                                };
                                row.iter_mut()
                                    .zip(&b[c0..c0 + BLOCK])
                                    .for_each(|(d, b)| *d += b);
                            }
                            Some((cb_ptr as *const f32, stride))
                        }
                    };
                    // SAFETY: as above.
                    unsafe { imp::block(ap, kp, bp, init, cb_ptr, stride) };
                    continue;
                }
                // SAFETY: as above; `tile` holds 32 × 32 f32.
                unsafe { imp::block(ap, kp, bp, None, tile.as_mut_ptr(), BLOCK * 4) };
                let (r0, c0) = (rb * BLOCK, cb * BLOCK);
                for i in 0..BLOCK.min(m.saturating_sub(r0)) {
                    let cols = BLOCK.min(n - c0);
                    // SAFETY: row r0 + i < m, columns c0..c0 + cols < n: inside
                    // `c` (asserted); each task writes its own rows × columns.
                    let dst = unsafe {
                        std::slice::from_raw_parts_mut(cp.get().add((r0 + i) * ldc + c0), cols)
                    };
                    let src = &tile[i * BLOCK..i * BLOCK + cols];
                    match (out.bias, out.accumulate) {
                        (Some(b), true) => dst
                            .iter_mut()
                            .zip(src.iter().zip(&b[c0..c0 + cols]))
                            .for_each(|(d, (s, b))| *d += s + b),
                        (Some(b), false) => dst
                            .iter_mut()
                            .zip(src.iter().zip(&b[c0..c0 + cols]))
                            .for_each(|(d, (s, b))| *d = s + b),
                        (None, true) => dst.iter_mut().zip(src).for_each(|(d, s)| *d += s),
                        (None, false) => dst.copy_from_slice(src),
                    }
                }
            }
        });
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use super::{PANEL, STEP};
    use std::arch::asm;

    /// Asks Linux for the tile state; true when the CPU has AMX-TILE and
    /// AMX-BF16 and the request succeeded.
    /// Requests the tile state for this process (the CPU's AMX and
    /// AVX512-BF16, for rounding inputs, were checked by [`crate::cpu`]).
    pub fn enable() -> bool {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: a plain system call with integer arguments.
        unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            ) == 0
        }
    }

    /// Loads the tile configuration on this thread: eight tiles of 16 rows × 64 bytes.
    ///
    /// # Safety
    /// [`enable`] returned true.
    pub unsafe fn configure() {
        #[repr(C, align(64))]
        struct Config([u8; 64]);
        let mut cfg = Config([0; 64]);
        cfg.0[0] = 1; // palette 1
        for t in 0..8 {
            cfg.0[16 + 2 * t] = 64; // bytes per row
            cfg.0[48 + t] = 16; // rows
        }
        asm!("ldtilecfg [{}]", in(reg) cfg.0.as_ptr(), options(nostack, readonly));
    }

    /// The 32 × 32 block of C from 32 rows of `a` (bfloat16, `kp` per row)
    /// and two weight panels at `b` (each `kp / 2` rows of 64 bytes), added
    /// to the block at `init` (f32 rows `stride` bytes apart; a stride of 0
    /// repeats one row) or to zero, stored at `out` (rows `out_stride` bytes apart).
    ///
    /// # Safety
    /// [`configure`] ran on this thread; `a` holds 32 rows of `kp`, `b` two
    /// panels of `kp · 16` values; `kp` a multiple of 32; `init` and `out`
    /// address 32 rows of 32 f32 at their strides.
    pub unsafe fn block(
        a: *const u16,
        kp: usize,
        b: *const u16,
        init: Option<(*const f32, usize)>,
        out: *mut f32,
        out_stride: usize,
    ) {
        let sa = kp * 2; // bytes per input row
        let a1 = a.add(16 * kp);
        let b1 = b.add(kp * PANEL);
        match init {
            Some((c, stride)) => asm!(
                "tileloadd tmm0, [{c0} + {s}*1]",
                "tileloadd tmm1, [{c1} + {s}*1]",
                "tileloadd tmm2, [{c2} + {s}*1]",
                "tileloadd tmm3, [{c3} + {s}*1]",
                c0 = in(reg) c,
                c1 = in(reg) c.add(16),
                c2 = in(reg) c.byte_add(16 * stride),
                c3 = in(reg) c.byte_add(16 * stride).add(16),
                s = in(reg) stride,
                options(nostack, readonly)
            ),
            None => asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack, nomem)
            ),
        }
        for s in 0..kp / STEP {
            let (pa0, pa1) = (a.add(s * STEP), a1.add(s * STEP));
            let (pb0, pb1) = (b.add(s * STEP * PANEL), b1.add(s * STEP * PANEL));
            asm!(
                "tileloadd tmm4, [{a0} + {sa}*1]",
                "tileloadd tmm5, [{a1} + {sa}*1]",
                "tileloadd tmm6, [{b0} + {sb}*1]",
                "tileloadd tmm7, [{b1} + {sb}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                a0 = in(reg) pa0,
                a1 = in(reg) pa1,
                b0 = in(reg) pb0,
                b1 = in(reg) pb1,
                sa = in(reg) sa,
                sb = in(reg) 64usize,
                options(nostack, readonly)
            );
        }
        asm!(
            "tilestored [{c0} + {s}*1], tmm0",
            "tilestored [{c1} + {s}*1], tmm1",
            "tilestored [{c2} + {s}*1], tmm2",
            "tilestored [{c3} + {s}*1], tmm3",
            c0 = in(reg) out,
            c1 = in(reg) out.add(16),
            c2 = in(reg) out.byte_add(16 * out_stride),
            c3 = in(reg) out.byte_add(16 * out_stride).add(16),
            s = in(reg) out_stride,
            options(nostack)
        );
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {

    pub fn enable() -> bool {
        false
    }

    pub unsafe fn configure() {}

    pub unsafe fn block(
        _: *const u16,
        _: usize,
        _: *const u16,
        _: Option<(*const f32, usize)>,
        _: *mut f32,
        _: usize,
    ) {
        unreachable!("AMX is never available here")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_values as values;

    fn from_bf16(h: u16) -> f32 {
        f32::from_bits((h as u32) << 16)
    }

    #[test]
    fn rounding_to_bfloat16_is_to_nearest_even() {
        assert_eq!(from_bf16(bf16(1.0)), 1.0);
        assert_eq!(from_bf16(bf16(-2.5)), -2.5);
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties to even (1).
        assert_eq!(from_bf16(bf16(1.0 + 1.0 / 256.0)), 1.0);
        assert_eq!(from_bf16(bf16(1.0 + 3.0 / 256.0)), 1.0 + 4.0 / 256.0);
        assert!(from_bf16(bf16(f32::NAN)).is_nan());
        assert_eq!(from_bf16(bf16(f32::INFINITY)), f32::INFINITY);
    }

    /// Products on the tiles equal f32 products of the bfloat16-rounded
    /// operands (up to summation order), on shapes that are not whole blocks.
    #[test]
    #[cfg_attr(not(quire_cpu_amx), ignore = "this CPU has no AMX")]
    fn tile_products_match_the_rounded_operands() {
        if !available() {
            eprintln!("no AMX on this machine: the tile products are not exercised");
            return;
        }
        for (m, k, n, bias, accumulate) in [
            (37, 40, 48, true, false),
            (64, 384, 1152, true, true),
            (5, 96, 20, false, true),
            (64, 64, 64, false, true),
            (33, 1536, 384, false, false),
        ] {
            let a = values(m * k, 3);
            let w = values(n * k, 5);
            let b = values(n, 9);
            let base = values(m * n, 13);
            let packed = Bf16Matrix::from_out_in(&w, n, k).unwrap();
            let mut got = base.clone();
            let out = Output {
                bias: bias.then_some(&b[..]),
                accumulate,
            };
            gemm(&a, k, m, &packed, &mut got, n, out);
            for i in 0..m {
                for j in 0..n {
                    let mut want: f64 = (0..k)
                        .map(|p| {
                            from_bf16(bf16(a[i * k + p])) as f64
                                * from_bf16(bf16(w[j * k + p])) as f64
                        })
                        .sum();
                    if bias {
                        want += b[j] as f64;
                    }
                    if accumulate {
                        want += base[i * n + j] as f64;
                    }
                    let g = got[i * n + j] as f64;
                    assert!(
                        (g - want).abs() < 1e-4 * (1.0 + k as f64).sqrt(),
                        "{m}x{k}x{n} at ({i},{j}): {g} vs {want}"
                    );
                }
            }
        }
    }
}
