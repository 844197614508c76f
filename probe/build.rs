//! Compiles the probe's eBPF C (`bpf/probe.bpf.c`) with clang for the BPF target into
//! `$OUT_DIR/probe.bpf.o`, which `src/loader.rs` embeds. Rust eBPF is not possible on
//! stable without `rust-src`, hence C with CO-RE (see `bpf/kernel_types.h` for why the
//! kernel types are declared by hand rather than generated).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCES: &[&str] = &["bpf/probe.bpf.c", "bpf/events.h", "bpf/kernel_types.h"];

fn main() {
    for s in SOURCES {
        println!("cargo:rerun-if-changed={s}");
    }
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let obj = out.join("probe.bpf.o");

    if let Err(e) = Command::new(&clang).arg("--version").output() {
        fail(&format!(
            "`{clang}` not found ({e}): the probe's eBPF programs are C compiled by clang for the BPF target"
        ));
    }
    if !Path::new("/usr/include/bpf/bpf_helpers.h").exists() {
        fail("/usr/include/bpf/bpf_helpers.h is missing: the probe's eBPF C needs libbpf's headers (Debian: libbpf-dev)");
    }
    // <linux/types.h> pulls <asm/types.h>, which lives under the host's multiarch directory.
    let multiarch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => "aarch64-linux-gnu",
        _ => "x86_64-linux-gnu",
    };
    let status = Command::new(&clang)
        .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Wextra", "-Werror"])
        .arg(format!("-I/usr/include/{multiarch}"))
        .args(["-c", "bpf/probe.bpf.c", "-o"])
        .arg(&obj)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!(
            "clang failed ({s}) compiling bpf/probe.bpf.c (errors above)"
        )),
        Err(e) => fail(&format!("could not run `{clang}`: {e}")),
    }
}

fn fail(what: &str) -> ! {
    eprintln!("error: {what}; run scripts/setup (or: apt-get install clang llvm libbpf-dev linux-libc-dev)");
    panic!("{what}; run scripts/setup (or: apt-get install clang llvm libbpf-dev linux-libc-dev)");
}
