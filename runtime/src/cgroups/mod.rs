//! The container's cgroup on v1, v2 or hybrid hierarchies (this project's machines are
//! hybrid: v1 controllers under `/sys/fs/cgroup/<controller>`, cgroup2 at
//! `/sys/fs/cgroup/unified`).
//!
//! `create` makes the cgroup, writes the resource limits and puts `[0:PARENT]` in it
//! *before* the first clone, so every later stage is born inside it; `delete` removes it.
//!
//! INTERFACE STUB: the signatures are the contract; the bodies are being written.

use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::events::schema::EventKind;

/// What went wrong; each names the cgroup file or directory.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cgroup: {0}")]
    Invalid(String),
}

/// Which hierarchies the host has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    V1,
    V2,
    Hybrid,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::V1 => "v1",
            Mode::V2 => "v2",
            Mode::Hybrid => "hybrid",
        }
    }
}

/// The container's cgroup: a path relative to each hierarchy's root. Stored in the
/// container's state so later commands (kill --all, pause, delete) find it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    /// Relative path, e.g. `/initscope/ID` or the config's `linux.cgroupsPath`.
    pub path: String,
    pub mode: Mode,
}

impl Cgroup {
    /// Resolve `linux.cgroupsPath` (default `/initscope/<id>`) on this host's hierarchies.
    pub fn new(cgroups_path: Option<&str>, container_id: &str) -> Result<Cgroup, CgroupError> {
        let path = cgroups_path
            .map(str::to_string)
            .unwrap_or_else(|| format!("/initscope/{container_id}"));
        Ok(Cgroup {
            path,
            mode: Mode::Hybrid,
        })
    }

    /// Create the directories and write `resources` (each file written is emitted as
    /// [`EventKind::CgroupSet`]).
    pub fn create(
        &self,
        resources: Option<&LinuxResources>,
        emit: &mut dyn FnMut(EventKind),
    ) -> Result<(), CgroupError> {
        let _ = (resources, emit);
        Ok(())
    }

    /// Move `pid` into the cgroup on every hierarchy.
    pub fn apply(&self, pid: Pid) -> Result<(), CgroupError> {
        let _ = pid;
        Ok(())
    }

    /// Pids of every process in the cgroup.
    pub fn pids(&self) -> Result<Vec<Pid>, CgroupError> {
        Ok(Vec::new())
    }

    /// Freeze (`true`) or thaw (`false`) every process in it.
    pub fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        let _ = frozen;
        Ok(())
    }

    /// Whether the freezer says the cgroup is frozen.
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        Ok(false)
    }

    /// Remove the cgroup's directories (it must be empty of processes). Missing ones are fine.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        Ok(())
    }
}
