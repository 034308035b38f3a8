//! Tells the tests which instruction families the building CPU has, so a
//! test of a kernel this CPU cannot run is reported as ignored (with the
//! reason) rather than passed. The kernels themselves choose at run time
//! (`src/cpu.rs`, from the same `src/detect.rs`); a test built on one CPU
//! and run on another still checks `cpu::features()` before it runs a kernel.

#[path = "src/detect.rs"]
#[allow(dead_code)] // the tests need only some of the families
mod detect;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(quire_cpu_amx, quire_cpu_bf16, quire_cpu_vnni)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/detect.rs");
    // The build script runs on the building machine; for a native build that
    // is the machine the tests run on.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("x86_64") {
        return;
    }
    let f = detect::detect();
    for (on, name) in [(f.amx, "amx"), (f.bf16, "bf16"), (f.vnni, "vnni")] {
        if on {
            println!("cargo::rustc-cfg=quire_cpu_{name}");
        }
    }
}
