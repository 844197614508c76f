//! The subcommands of `initscope`.

pub mod export;
pub mod replay;
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

/// demo/run/trace load eBPF programs and make namespaces: they need root. Say so in one
/// line and point at a recording that works without it.
pub fn need_root(cmd: &str, recording: &str) -> Result<(), CmdError> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    Err(CmdError::Usage(format!(
        "{cmd} needs root (it loads eBPF programs and creates namespaces); without root, watch a recording: initscope replay {recording}"
    )))
}
