//! Link the `initscope-runtime` binary for a cheap start: every client command (and so
//! every `create`, `start`, `delete`) is one exec of it.
//!
//! - Position-dependent (`-no-pie`): a PIE Rust binary carries ~14,600 relative
//!   relocations (clap's, serde's and oci-spec's tables in `.data.rel.ro`): every start of
//!   the runtime has the loader write them, which dirties ~70 pages that are then copied on
//!   write, and every stage forked from it inherits those private pages. Measured: 0.13–0.17
//!   ms of CPU per exec of the runtime (of ~2 ms for `--version`). runc's Debian binary is
//!   not PIE either. The libraries it loads (libc, libseccomp) are still placed at random
//!   addresses.
//! - The unwinder linked in statically (`libgcc_eh.a`) instead of loading `libgcc_s.so.1`:
//!   that library's constructor (`__cpu_indicator_init`) runs `cpuid` a dozen times, and in
//!   a VM each `cpuid` traps to the hypervisor — ~0.1 ms of CPU per exec here, for a library
//!   we only need to unwind a panic. Rust's std asks for `-lgcc_s`; a linker script of that
//!   name, found first, answers with the static archives (what `gcc -static-libgcc` does).

use std::path::PathBuf;

fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");

    let dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("static-libgcc");
    std::fs::create_dir_all(&dir).expect("create OUT_DIR/static-libgcc");
    std::fs::write(dir.join("libgcc_s.so"), "INPUT ( -lgcc_eh -lgcc )\n")
        .expect("write the libgcc_s.so linker script");
    println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
    println!("cargo:rerun-if-changed=build.rs");
}
