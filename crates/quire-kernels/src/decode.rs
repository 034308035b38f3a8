//! The small vector operations of a transformer decode step (one token):
//! norms, rotary embedding, attention over cached keys and values, the gated
//! activation. Plain loops over slices, compiled optimised.

/// In place: `x / rms(x) · w` (RMS norm).
pub fn rms_norm(x: &mut [f32], w: &[f32], eps: f32) {
    let mean = dot(x, x) / x.len().max(1) as f32;
    let r = 1.0 / (mean + eps).sqrt();
    x.iter_mut().zip(w).for_each(|(v, w)| *v *= r * w);
}

/// Rotary embedding of one head with interleaved pairs: `(x[2i], x[2i+1])`
/// turned by the angle whose cosine and sine are `cos[i]`, `sin[i]`.
pub fn rope_interleaved(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    for ((pair, c), s) in x.chunks_exact_mut(2).zip(cos).zip(sin) {
        let (a, b) = (pair[0], pair[1]);
        pair[0] = a * c - b * s;
        pair[1] = a * s + b * c;
    }
}

/// `a · b`, with eight partial sums so the loop vectorises.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
}

/// `x += y`.
pub fn add_assign(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(x, y)| *x += y);
}

/// `out[i] = silu(gate[i]) · up[i]` (SwiGLU).
pub fn silu_mul(gate: &[f32], up: &[f32], out: &mut [f32]) {
    for ((o, g), u) in out.iter_mut().zip(gate).zip(up) {
        *o = g / (1.0 + crate::exp(-g)) * u;
    }
}

/// In place: `x` replaced by its softmax; `-inf` (masked) entries get exactly 0.
/// Separate passes (maximum, exponentials, sum, scale) so each vectorises:
/// a running sum inside the exponential loop would keep it scalar.
pub fn softmax_row(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::has_avx512() {
        // SAFETY: the CPU has AVX-512F (checked at run time).
        return unsafe { softmax_row_avx512(x) };
    }
    softmax_row_body(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn softmax_row_avx512(x: &mut [f32]) {
    softmax_row_body(x)
}

#[inline(always)]
fn softmax_row_body(x: &mut [f32]) {
    let max = max_of(x);
    if max == f32::NEG_INFINITY {
        return;
    }
    exp_shifted(x, max);
    let inv = 1.0 / sum_of(x);
    x.iter_mut().for_each(|v| *v *= inv);
}

/// In place `x[i] = e^(x[i] − shift)`, with `-inf` giving 0.
#[inline(always)]
fn exp_shifted(x: &mut [f32], shift: f32) {
    for v in x.iter_mut() {
        let e = crate::exp(*v - shift);
        *v = if *v == f32::NEG_INFINITY { 0.0 } else { e };
    }
}

/// The largest value (eight running maxima, so the loop vectorises).
#[inline(always)]
fn max_of(x: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..8 {
            m[i] = if c[i] > m[i] { c[i] } else { m[i] };
        }
    }
    rest.iter()
        .chain(m.iter())
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a })
}

/// The sum (eight running sums, so the loop vectorises).
#[inline(always)]
pub(crate) fn sum_of(x: &[f32]) -> f32 {
    let mut s = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..8 {
            s[i] += c[i];
        }
    }
    s.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_and_rope() {
        let mut x = [3.0, 4.0];
        rms_norm(&mut x, &[1.0, 2.0], 0.0);
        let r = (12.5f32).sqrt();
        assert!((x[0] - 3.0 / r).abs() < 1e-6 && (x[1] - 8.0 / r).abs() < 1e-6);
        let mut v = [1.0, 0.0];
        rope_interleaved(&mut v, &[0.0], &[1.0]); // a quarter turn
        assert!(v[0].abs() < 1e-6 && (v[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn softmax_of_a_long_row_sums_to_one() {
        let mut x: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin() * 5.0).collect();
        let want: Vec<f32> = {
            let m = x.iter().cloned().fold(f32::MIN, f32::max);
            let e: Vec<f32> = x.iter().map(|v| (v - m).exp()).collect();
            let s: f32 = e.iter().sum();
            e.iter().map(|v| v / s).collect()
        };
        softmax_row(&mut x);
        for (a, b) in x.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{a} {b}");
        }
    }

    #[test]
    fn softmax_zeroes_masked_entries() {
        let mut x = [1.0, f32::NEG_INFINITY, 1.0];
        softmax_row(&mut x);
        assert_eq!(x, [0.5, 0.0, 0.5]);
    }

    #[test]
    fn dot_handles_a_remainder() {
        let a: Vec<f32> = (0..11).map(|i| i as f32).collect();
        assert_eq!(dot(&a, &a), (0..11).map(|i| (i * i) as f32).sum::<f32>());
    }
}
