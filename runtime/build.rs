//! Link the `initscope-runtime` binary as a position-dependent executable.
//!
//! A PIE Rust binary carries ~14,600 relative relocations (clap's, serde's and oci-spec's
//! tables in `.data.rel.ro`): every start of the runtime has the loader write them, which
//! dirties ~70 pages that are then copied on write, and every stage forked from it inherits
//! those private pages. Measured: 0.13–0.17 ms of CPU per exec of the runtime (of ~2 ms for
//! `--version`), on every command a client runs. runc's Debian binary is not PIE either.
//! The libraries it loads (libc, libseccomp) are still placed at random addresses.

fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
