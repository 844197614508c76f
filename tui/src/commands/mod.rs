//! The subcommands of `initscope`.

pub mod export;
pub mod replay;

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
