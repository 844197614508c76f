//! What can go wrong loading or running the probe, each as one line saying what is needed.

use std::error::Error as StdError;
use std::io;

/// An error of the probe. Messages are one line: what failed and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("loading eBPF needs root or CAP_BPF+CAP_PERFMON: {0}")]
    Permission(String),
    #[error("no BTF at /sys/kernel/btf/vmlinux: {0} (the kernel needs CONFIG_DEBUG_INFO_BTF=y)")]
    NoBtf(String),
    #[error("tracepoint {name} missing: {detail}")]
    TracepointMissing { name: String, detail: String },
    #[error("eBPF program {program} rejected by the kernel: {detail}")]
    Program { program: String, detail: String },
    #[error("loading the probe's eBPF object failed: {0}")]
    Load(String),
    #[error("probe map {map}: {detail}")]
    Map { map: &'static str, detail: String },
    #[error("bad probe option {field}: {detail}")]
    BadOption { field: &'static str, detail: String },
    #[error("no process {0} to track (/proc/{0} does not exist)")]
    NoSuchPid(i32),
    #[error("tracked-process map is full ({0} entries): raise ProbeOptions::max_tracked")]
    TrackedFull(u32),
    #[error("waiting on the probe's ring buffer: {0}")]
    Poll(io::Error),
}

/// The errno somewhere in an error's chain of causes (aya wraps the bpf(2) error).
pub(crate) fn errno_in(e: &(dyn StdError + 'static)) -> Option<i32> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if let Some(n) = io.raw_os_error() {
                return Some(n);
            }
        }
        cur = err.source();
    }
    None
}

/// The whole chain of causes on one line (aya's top-level messages alone are terse).
pub(crate) fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let m = err.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = err.source();
    }
    one_line(&s)
}

/// Verifier logs are long and multi-line; keep the end, where the reason is.
pub(crate) fn one_line(s: &str) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    const MAX: usize = 400;
    if flat.len() <= MAX {
        return flat;
    }
    let mut start = flat.len() - MAX;
    while !flat.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &flat[start..])
}

/// Permission errors become [`ProbeError::Permission`]; anything else goes to `other`.
pub(crate) fn classify(
    e: &(dyn StdError + 'static),
    other: impl FnOnce(String) -> ProbeError,
) -> ProbeError {
    match errno_in(e) {
        Some(libc::EPERM) | Some(libc::EACCES) => ProbeError::Permission(chain(e)),
        _ => other(chain(e)),
    }
}
