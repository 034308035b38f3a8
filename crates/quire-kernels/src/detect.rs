//! Which instruction families this CPU has, read from CPUID. Shared by the
//! crate (`cpu.rs`, at run time) and its build script (`build.rs`, which
//! tells the tests), so the two cannot disagree; no crate paths here.

/// The instruction families the products may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// AVX2 with FMA and F16C.
    pub avx2: bool,
    /// AVX-512F.
    pub avx512: bool,
    /// AVX-512 BW, DQ, VL and VNNI (the 8-bit decode tiles), with AVX-512F.
    pub vnni: bool,
    /// AVX512-BF16 dot products, with AVX-512F.
    pub bf16: bool,
    /// AMX bfloat16 tiles (the operating system must still grant them), with AVX512-BF16.
    pub amx: bool,
}

/// What this CPU has.
#[cfg(target_arch = "x86_64")]
pub fn detect() -> Features {
    let avx2 = is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c");
    let avx512 = is_x86_feature_detected!("avx512f");
    let vnni = avx512
        && avx2
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512dq")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni");
    let bf16 = avx512 && is_x86_feature_detected!("avx512bf16");
    // CPUID leaf 7: EDX bit 22 AMX-BF16, bit 24 AMX-TILE.
    let edx = std::arch::x86_64::__cpuid_count(7, 0).edx;
    let amx = bf16 && edx & (1 << 22) != 0 && edx & (1 << 24) != 0;
    Features {
        avx2,
        avx512,
        vnni,
        bf16,
        amx,
    }
}

/// What this CPU has: none of the x86 families.
#[cfg(not(target_arch = "x86_64"))]
pub fn detect() -> Features {
    Features::default()
}
