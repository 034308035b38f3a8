//! What this CPU runs, told once: the one place that reads the CPU's
//! features and `QUIRE_GEMM`. Every product asks [`features`] (or
//! [`best`]) instead of detecting for itself, so a forced level applies to
//! all of them alike.
//!
//! Levels, best first: AMX bfloat16 tiles → AVX512-BF16 dot products →
//! AVX-512F (with VNNI for the quantized decode products) → AVX2 + FMA +
//! F16C → portable loops. `QUIRE_GEMM` asks for a lesser level:
//! `avx512` (AVX-512 in f32: no bfloat16 products), `avx2`, or `portable`;
//! any other value counts as `avx512`.

use std::sync::OnceLock;

/// A level of instructions the products may use, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Amx,
    Avx512Bf16,
    Avx512,
    Avx2,
    Portable,
}

pub use crate::detect::Features;

impl Features {
    /// The best level these features allow.
    pub fn best(&self) -> Level {
        if self.amx {
            Level::Amx
        } else if self.bf16 {
            Level::Avx512Bf16
        } else if self.avx512 {
            Level::Avx512
        } else if self.avx2 {
            Level::Avx2
        } else {
            Level::Portable
        }
    }

    /// These features, limited to `level` and below.
    pub fn limited_to(self, level: Level) -> Features {
        Features {
            amx: self.amx && level <= Level::Amx,
            bf16: self.bf16 && level <= Level::Avx512Bf16,
            avx512: self.avx512 && level <= Level::Avx512,
            vnni: self.vnni && level <= Level::Avx512,
            avx2: self.avx2 && level <= Level::Avx2,
        }
    }
}

/// What the CPU has, without `QUIRE_GEMM` (tests: which kernels can run).
pub fn detected() -> Features {
    static DETECTED: OnceLock<Features> = OnceLock::new();
    *DETECTED.get_or_init(crate::detect::detect)
}

/// What the products may use: [`detected`] limited by `QUIRE_GEMM`.
pub fn features() -> Features {
    static FEATURES: OnceLock<Features> = OnceLock::new();
    *FEATURES.get_or_init(|| {
        let limit = match std::env::var("QUIRE_GEMM").as_deref() {
            Err(_) => Level::Amx,
            Ok("portable") => Level::Portable,
            Ok("avx2") => Level::Avx2,
            Ok(_) => Level::Avx512,
        };
        let f = detected().limited_to(limit);
        if f.amx && !crate::amx::request_tiles() {
            return Features { amx: false, ..f };
        }
        f
    })
}

/// The best level the products may use.
pub fn best() -> Level {
    features().best()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forced_level_turns_off_everything_above_it() {
        let all = Features {
            avx2: true,
            avx512: true,
            vnni: true,
            bf16: true,
            amx: true,
        };
        assert_eq!(all.best(), Level::Amx);
        assert_eq!(all.limited_to(Level::Avx512).best(), Level::Avx512);
        assert!(all.limited_to(Level::Avx512).vnni);
        assert!(!all.limited_to(Level::Avx2).vnni);
        assert_eq!(all.limited_to(Level::Avx2).best(), Level::Avx2);
        assert_eq!(all.limited_to(Level::Portable), Features::default());
        let avx2_only = Features {
            avx2: true,
            ..Features::default()
        };
        assert_eq!(avx2_only.limited_to(Level::Amx).best(), Level::Avx2);
    }

    #[test]
    fn what_the_products_use_is_what_the_cpu_has_or_less() {
        let (d, f) = (detected(), features());
        for (used, has) in [
            (f.avx2, d.avx2),
            (f.avx512, d.avx512),
            (f.vnni, d.vnni),
            (f.bf16, d.bf16),
            (f.amx, d.amx),
        ] {
            assert!(!used || has, "{f:?} beyond {d:?}");
        }
    }
}
