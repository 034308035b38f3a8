//! Tells the tests which instruction families the building CPU has, so a
//! test of a kernel this CPU cannot run is reported as ignored (with the
//! reason) rather than passed. The kernels themselves choose at run time
//! (`src/cpu.rs`); a test built on one CPU and run on another still checks
//! `cpu::features()` before it runs a kernel.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(quire_cpu_amx, quire_cpu_bf16, quire_cpu_vnni)");
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(target_arch = "x86_64")]
    {
        // The build script runs on the building machine; for a native
        // build that is the machine the tests run on.
        if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("x86_64") {
            return;
        }
        let avx512 = is_x86_feature_detected!("avx512f");
        let bf16 = avx512 && is_x86_feature_detected!("avx512bf16");
        let vnni = avx512
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512vnni");
        let edx = std::arch::x86_64::__cpuid_count(7, 0).edx;
        let amx = bf16 && edx & (1 << 22) != 0 && edx & (1 << 24) != 0;
        for (on, name) in [(amx, "amx"), (bf16, "bf16"), (vnni, "vnni")] {
            if on {
                println!("cargo::rustc-cfg=quire_cpu_{name}");
            }
        }
    }
}
