//! The runtime's top-level error: every message is one line naming the id, path or field
//! and what to do about it. `main` prints it as `initscope-runtime: <message>`.

use std::io;
use std::path::PathBuf;

use crate::bootstrap::failure::StageFailure;
use crate::bootstrap::plan::ConfigError;
use crate::cgroups::CgroupError;
use crate::state::id::InvalidId;
use crate::state::Status;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    InvalidId(#[from] InvalidId),
    #[error("container {id:?} does not exist (no state in {root})", root = root.display())]
    NotFound { id: String, root: PathBuf },
    #[error("container {id:?} already exists in {root}: pick another id or delete it first", root = root.display())]
    AlreadyExists { id: String, root: PathBuf },
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Stage(StageFailure),
    #[error("{0}")]
    Cgroup(#[from] CgroupError),
    #[error("{0}")]
    Hook(#[from] crate::hooks::HookError),
    #[error("{0}")]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error("{0}")]
    Console(#[from] crate::console::ConsoleError),
    #[error("{0}")]
    Rootfs(#[from] crate::rootfs::RootfsError),
    #[error("container {id:?} is {status}: {what}")]
    WrongStatus {
        id: String,
        status: Status,
        what: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{context}: {}", crate::sys::errno_text(*errno as i32))]
    Sys { context: String, errno: nix::Error },
    #[error("{0}")]
    Usage(String),
}

impl RuntimeError {
    pub fn io(context: impl Into<String>, source: io::Error) -> RuntimeError {
        RuntimeError::Io {
            context: context.into(),
            source,
        }
    }

    pub fn sys(context: impl Into<String>, errno: nix::Error) -> RuntimeError {
        RuntimeError::Sys {
            context: context.into(),
            errno,
        }
    }
}

impl From<StageFailure> for RuntimeError {
    fn from(f: StageFailure) -> Self {
        RuntimeError::Stage(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_the_cause() {
        let e = RuntimeError::NotFound {
            id: "x".into(),
            root: "/run/initscope".into(),
        };
        assert_eq!(
            e.to_string(),
            "container \"x\" does not exist (no state in /run/initscope)"
        );
        let e = RuntimeError::sys("open /x", nix::Error::ENOENT);
        assert_eq!(e.to_string(), "open /x: no such file or directory");
    }
}
