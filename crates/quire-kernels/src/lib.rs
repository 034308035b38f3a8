//! Numeric inner loops on plain slices, written so the compiler vectorises
//! them: the exact (erf) GELU of BERT, and the quantized matrix–vector
//! products of the language model's decode step ([`q8`]). Built optimised
//! even in the dev profile.

pub mod amx;
pub mod cpu;
pub mod decode;
pub mod dense;
mod detect;
pub mod dpbf16;
pub mod gemm;
pub mod q8;
pub mod vectors;

/// Frees the work buffers this thread's products keep between calls (packed
/// inputs, bfloat16 inputs): they grow to the largest product run, which
/// for a large embedding batch is tens of megabytes. Call after a batch.
pub fn release_thread_buffers() {
    gemm::release_thread_buffer();
    amx::release_thread_buffer();
}

/// `n` values in [-1, 1) from a linear congruential generator: test inputs.
#[cfg(test)]
pub(crate) fn test_values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

/// `e^x` for `x` in roughly [-87, 88], relative error below 2e-7: `2^n · p(f)`
/// with a degree-6 polynomial. Branch-free and without float-to-int casts
/// (`n` is rounded by adding 1.5·2²³ and read back from the bits), so a loop
/// over it vectorises.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const SHIFTER: f32 = 12_582_912.0; // 1.5 · 2^23
    let x = x.clamp(-87.3, 88.7);
    let t = x * std::f32::consts::LOG2_E + SHIFTER;
    let n = t - SHIFTER; // x·log2(e) rounded to the nearest integer
                         // x - n·ln2 in two steps (Cody–Waite): ln2 split so n·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let f = (x - n * LN2_HI) - n * LN2_LO; // |f| <= ln2/2
                                           // Taylor coefficients of e^f up to f^6.
    let p = 1.0
        + f * (1.0
            + f * (0.5
                + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    // The low bits of t hold n + 0x400000: 2^n is (n + 127) << 23.
    let scale = f32::from_bits(t.to_bits().wrapping_sub(0x4B40_0000 - 127) << 23);
    p * scale
}

/// `erf(x)`, absolute error below 1.5e-7 (Abramowitz & Stegun 7.1.26).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let r = 1.0 - poly * exp(-a * a);
    r.copysign(x)
}

/// In place: `x = gelu(x + bias[col])` for a row-major matrix with `bias.len()` columns,
/// GELU the exact form `x/2 · (1 + erf(x/√2))` BERT uses.
pub fn bias_gelu(x: &mut [f32], bias: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has AVX-512F (checked at run time).
        return unsafe { bias_gelu_avx512(x, bias) };
    }
    bias_gelu_body(x, bias)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn bias_gelu_avx512(x: &mut [f32], bias: &[f32]) {
    bias_gelu_body(x, bias)
}

/// IEEE half-precision bits to f32 (`dst.len()` values), eight or sixteen
/// per instruction where the CPU converts them (F16C).
pub fn f16_to_f32(src: &[u16], dst: &mut [f32]) {
    assert!(src.len() >= dst.len(), "fewer halves than floats asked for");
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "f16c",
        target_feature = "avx"
    ))]
    {
        use std::arch::x86_64::*;
        let n = dst.len() / 8 * 8;
        for i in (0..n).step_by(8) {
            // SAFETY: i + 8 <= n <= both lengths; F16C and AVX are compiled in.
            unsafe {
                let h = _mm_loadu_si128(src.as_ptr().add(i) as *const __m128i);
                _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
            }
        }
        for (d, s) in dst[n..].iter_mut().zip(&src[n..]) {
            *d = half::f16::from_bits(*s).to_f32();
        }
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "f16c",
        target_feature = "avx"
    )))]
    for (d, s) in dst.iter_mut().zip(src) {
        *d = half::f16::from_bits(*s).to_f32();
    }
}

/// Whether the loops may use AVX-512F ([`cpu::features`]).
pub fn has_avx512() -> bool {
    cpu::features().avx512
}

#[inline(always)]
fn bias_gelu_body(x: &mut [f32], bias: &[f32]) {
    let cols = bias.len();
    if cols == 0 {
        return;
    }
    for row in x.chunks_exact_mut(cols) {
        for (v, b) in row.iter_mut().zip(bias) {
            let z = *v + b;
            *v = 0.5 * z * (1.0 + erf(z * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// In place, each row of `w.len()` values: `(x - mean) / sqrt(var + eps) · w + b`.
pub fn layer_norm(x: &mut [f32], w: &[f32], b: &[f32], eps: f32) {
    let cols = w.len();
    if cols == 0 {
        return;
    }
    for row in x.chunks_exact_mut(cols) {
        let mean = decode::sum_of(row) / cols as f32;
        // Eight running sums so the loop vectorises.
        let mut lanes = [0f32; 8];
        let chunks = row.chunks_exact(8);
        let rest: f32 = chunks
            .remainder()
            .iter()
            .map(|v| (v - mean) * (v - mean))
            .sum();
        for c in chunks {
            for i in 0..8 {
                lanes[i] += (c[i] - mean) * (c[i] - mean);
            }
        }
        let var = (lanes.iter().sum::<f32>() + rest) / cols as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(w).zip(b) {
            *v = (*v - mean) * inv * w + b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_the_standard_library() {
        for i in -800..800 {
            let x = i as f32 * 0.1;
            let (a, b) = (exp(x), x.exp());
            assert!(((a - b) / b).abs() < 5e-7, "exp({x}) = {a}, std {b}");
        }
    }

    #[test]
    fn erf_matches_known_values() {
        // erf values from tables (10 digits).
        for (x, want) in [
            (0.0f32, 0.0f32),
            (0.5, 0.520_499_878),
            (1.0, 0.842_700_793),
            (2.0, 0.995_322_265),
            (-1.5, -0.966_105_146),
        ] {
            assert!(
                (erf(x) - want).abs() < 3e-7,
                "erf({x}) = {}, want {want}",
                erf(x)
            );
        }
    }

    #[test]
    fn layer_norm_centres_scales_and_shifts_each_row() {
        let mut x = vec![1.0, 2.0, 3.0, 10.0, 10.0, 10.0];
        layer_norm(&mut x, &[1.0, 2.0, 1.0], &[0.0, 0.0, 5.0], 1e-6);
        let s = (2.0f32 / 3.0).sqrt();
        let want = [-1.0 / s, 0.0, 1.0 / s + 5.0, 0.0, 0.0, 5.0];
        for (a, b) in x.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{x:?}");
        }
    }

    #[test]
    fn bias_gelu_adds_the_bias_per_column() {
        let mut x = vec![1.0, 1.0, -1.0, 0.0];
        bias_gelu(&mut x, &[0.0, -2.0]);
        // gelu(1) = 0.841344746, gelu(-1) = -0.158655254, gelu(-2) = -0.045500264
        let want = [0.841_344_75, -0.158_655_25, -0.158_655_25, -0.045_500_26];
        for (a, b) in x.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{x:?}");
        }
    }
}
