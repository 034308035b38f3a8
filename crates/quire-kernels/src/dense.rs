//! The products a model's layers call, each choosing its kernel in one
//! place from [`crate::cpu`]: AMX tiles → AVX512-BF16 dot products →
//! the f32 GEMM (AVX-512, AVX2 or portable, [`crate::gemm::Isa`]).
//!
//! [`DenseMatrix`] holds a dense layer's weight in the form the best kernel
//! reads (bfloat16 pairs, or half-precision panels widened in registers);
//! [`quantized`] multiplies a prompt by a GGUF weight that stays quantized,
//! dequantized block by block.

use crate::amx::{self, Bf16Matrix};
use crate::gemm::{self, HalfPackedMatrix, Output, PackedMatrix, Panels};
use crate::{cpu, dpbf16};

/// A dense layer's `[width, depth]` weight, held for the best kernel.
pub enum DenseMatrix {
    /// bfloat16 pairs, multiplied on AMX tiles or by AVX512-BF16 dot products.
    Bf16(Bf16Matrix),
    /// Half-precision panels, widened as the f32 GEMM fetches them: half
    /// the memory of f32 at the same speed (a tile widens each panel block
    /// once for up to 768 rows).
    F16(HalfPackedMatrix),
}

impl DenseMatrix {
    /// From a row-major `[width, depth]` weight (PyTorch's `[out, in]`);
    /// `None` when `w` does not hold `width × depth` values.
    pub fn from_out_in(w: &[f32], width: usize, depth: usize) -> Option<Self> {
        let f = cpu::features();
        Some(if f.amx || f.bf16 {
            DenseMatrix::Bf16(Bf16Matrix::from_out_in(w, width, depth)?)
        } else {
            let packed = PackedMatrix::from_out_in(w, width, depth)?;
            DenseMatrix::F16(HalfPackedMatrix::from_packed(&packed))
        })
    }

    pub fn width(&self) -> usize {
        match self {
            DenseMatrix::Bf16(w) => w.width(),
            DenseMatrix::F16(w) => w.width(),
        }
    }

    pub fn depth(&self) -> usize {
        match self {
            DenseMatrix::Bf16(w) => w.depth(),
            DenseMatrix::F16(w) => w.depth(),
        }
    }

    /// `c[m × width] = a[m × depth] · Wᵀ (+ bias) (+ c)`, rows packed
    /// (`lda = depth`, `ldc = width`), across rayon's threads.
    pub fn gemm(&self, a: &[f32], m: usize, c: &mut [f32], out: Output<'_>) {
        let (depth, width) = (self.depth(), self.width());
        match self {
            DenseMatrix::Bf16(w) if cpu::features().amx => amx::gemm(a, depth, m, w, c, width, out),
            DenseMatrix::Bf16(w) => dpbf16::gemm(a, depth, m, w, c, width, out),
            DenseMatrix::F16(w) => gemm::gemm(a, depth, m, &w.view(), c, width, out),
        }
    }
}

/// `c[m × w.width] = a[m × depth] · Wᵀ (+ bias) (+ c)` for a weight that
/// both kernels read panel by panel (a quantized GGUF matrix): bfloat16
/// pairs when the CPU has AVX512-BF16 (twice the f32 kernel's
/// multiply-adds), else the f32 GEMM.
pub fn quantized<W: Panels + dpbf16::PairPanels>(
    a: &[f32],
    depth: usize,
    m: usize,
    w: &W,
    c: &mut [f32],
    width: usize,
    out: Output<'_>,
) {
    if cpu::features().bf16 {
        dpbf16::gemm(a, depth, m, w, c, width, out);
    } else {
        gemm::gemm(a, depth, m, w, c, width, out);
    }
}
