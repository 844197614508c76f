//! How the stages get into the container's cgroup, fast.
//!
//! Moving a process by writing its pid to `cgroup.procs` takes the kernel's global
//! threadgroup lock, whose first writer waits a full RCU grace period: 5–20 ms on this
//! machine, more than the whole rest of a bootstrap. Two ways around it, both exact:
//! - cgroup2: `create` forks `[0:PARENT]` with `clone3(CLONE_INTO_CGROUP)`, so it is
//!   born there;
//! - v1 hierarchies: `[0:PARENT]` moves itself by writing `0` to each hierarchy's
//!   `tasks` (a single thread moving itself needs no global lock).
//!
//! The parent does this before anything else and before it clones `[1:CHILD]`, so every
//! later stage is born inside the cgroup, as with runc. It reports `cgroup_join`.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

use super::failure::StageFailure;
use crate::cgroups::{Cgroup, CgroupError};
use crate::events::emitter::Emitter;
use crate::events::schema::{EventKind, Stage};

/// Where the parent joins, decided by `create` before the fork.
#[derive(Debug, Clone)]
pub struct JoinPlan {
    /// The cgroup path (for the event).
    pub path: String,
    pub mode: String,
    /// `tasks` of the container's directory in every v1 hierarchy.
    pub v1_tasks: Vec<PathBuf>,
    /// The container's cgroup2 directory, if the host has one.
    pub v2_dir: Option<PathBuf>,
    /// Set once the parent was born in `v2_dir` (CLONE_INTO_CGROUP worked).
    pub born_in_v2: bool,
}

impl JoinPlan {
    pub fn of(cg: &Cgroup) -> Result<JoinPlan, CgroupError> {
        let mut v1_tasks = Vec::new();
        let mut v2_dir = None;
        for d in cg.hierarchy_dirs()? {
            if d.unified {
                v2_dir = Some(d.dir);
            } else {
                v1_tasks.push(d.dir.join("tasks"));
            }
        }
        Ok(JoinPlan {
            path: cg.path.clone(),
            mode: cg.mode.as_str().to_string(),
            v1_tasks,
            v2_dir,
            born_in_v2: false,
        })
    }

    /// The cgroup2 directory opened for `CLONE_INTO_CGROUP` (O_PATH will not do).
    pub fn open_v2(&self) -> Option<OwnedFd> {
        let dir = self.v2_dir.as_ref()?;
        open(
            dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok()
    }

    /// In `[0:PARENT]`: move itself into every hierarchy it was not born in.
    pub fn join_self(&self, em: &mut Emitter) -> Result<(), StageFailure> {
        let mut files: Vec<(PathBuf, &str)> =
            self.v1_tasks.iter().map(|t| (t.clone(), "0")).collect();
        if let (Some(dir), false) = (&self.v2_dir, self.born_in_v2) {
            // No CLONE_INTO_CGROUP (old kernel): the slow, always-working way.
            files.push((dir.join("cgroup.procs"), "0"));
        }
        if files.is_empty() && !self.born_in_v2 {
            return Ok(()); // no cgroup of ours (rootless without a writable one)
        }
        for (file, value) in files {
            std::fs::write(&file, value).map_err(|e| {
                StageFailure::sys(
                    Stage::Parent,
                    "cgroup_join",
                    format!("join cgroup: write {value} to {}", file.display()),
                    nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                )
            })?;
        }
        em.emit(EventKind::CgroupJoin {
            path: self.path.clone(),
            pid: em.pid(),
            mode: self.mode.clone(),
        });
        Ok(())
    }
}
