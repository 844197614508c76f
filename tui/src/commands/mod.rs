//! The subcommands of `initscope`.

pub mod bundle;
pub mod demo;
pub mod diagnose;
pub mod export;
pub mod headless;
pub mod launch;
pub mod replay;
pub mod run;
pub mod trace_view;
pub mod watch;

/// A failed command: one line for the user, and the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
}

impl CmdError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> CmdError {
        CmdError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Without a terminal (or with `--print`): the diagram as text and a summary, on stdout.
pub fn print_report(s: &crate::session::Session) -> Result<(), CmdError> {
    use std::io::Write;
    std::io::stdout()
        .write_all(crate::printout::report(s).as_bytes())
        .map_err(|e| CmdError::io("stdout", e))
}

/// demo/run/trace load eBPF programs and make namespaces: they need root. Say so in one
/// line and point at a recording that works without it.
pub fn need_root(cmd: &str, recording: &str) -> Result<(), CmdError> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    Err(CmdError::Usage(format!(
        "{cmd} needs root (it loads eBPF programs and creates namespaces); without root, watch a recording: {} replay {recording}",
        invoked_as()
    )))
}

/// How the user started us, for a command line they can paste: `target/release/initscope`
/// when run by path, else `initscope`.
pub fn invoked_as() -> String {
    std::env::args()
        .next()
        .filter(|a| a.contains('/'))
        .unwrap_or_else(|| "initscope".into())
}

/// Remove a work dir made by demo/run — but never across a mount (a runtime that left a
/// mount behind must not make us delete what it points at).
pub fn remove_work_dir(dir: tempfile::TempDir) -> Result<(), CmdError> {
    let path = dir.path().to_path_buf();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = path.display().to_string();
    if let Some(m) = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .find(|m| m.starts_with(&prefix))
    {
        let keep = dir.keep();
        return Err(CmdError::Usage(format!(
            "{m} is still mounted; left {} in place",
            keep.display()
        )));
    }
    dir.close()
        .map_err(|e| CmdError::io(format!("removing {}", path.display()), e))
}

/// Can this process load the probe? Root, or CAP_BPF with CAP_PERFMON, or CAP_SYS_ADMIN.
pub fn bpf_capable() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| u64::from_str_radix(&v, 16).ok())
        .unwrap_or(0);
    let has = |bit: u32| caps & (1u64 << bit) != 0;
    has(21) || (has(39) && has(38))
}

/// `trace` without the privileges for eBPF: one line, and a recording to look at instead.
pub fn need_bpf() -> Result<(), CmdError> {
    if bpf_capable() {
        return Ok(());
    }
    Err(CmdError::Usage(format!(
        "loading eBPF needs root or CAP_BPF+CAP_PERFMON; without them, watch a recording: {} replay {}",
        invoked_as(),
        trace_view::SHIPPED_RUNC
    )))
}
