//! The staged bootstrap: `create` → `[0:PARENT]` → `[1:CHILD]` → `[2:INIT]`.
//!
//! There is no re-exec: `create` forks `[0:PARENT]` with the plan already in memory;
//! `[0:PARENT]` clones `[1:CHILD]` with `CLONE_PARENT`; `[1:CHILD]` clones `[2:INIT]` with
//! `CLONE_PARENT`, so every stage is a child of `create`, as in runc. No threads exist
//! before the clones. One file per stage: [`create`], [`parent`], [`child`], [`init`].

pub mod cgroup_join;
pub mod channel;
pub mod child;
pub mod clone;
mod config_json;
pub mod create;
pub mod exec;
mod exec_init;
pub mod failure;
pub mod idmap;
pub mod init;
mod launch;
pub mod lifecycle_hooks;
pub mod parent;
pub mod plan;
pub mod sync;
mod watch;

pub(crate) use watch::last_step;

use std::ffi::CString;
use std::os::fd::OwnedFd;

use crate::events::emitter::Emitter;
use crate::events::schema::{EventKind, Stage};
use channel::Channel;
use failure::StageFailure;
use plan::Plan;

/// Comm names (≤ 15 bytes), runc's roles with our prefix.
pub const COMM_PARENT: &str = "isc:[0:PARENT]";
pub const COMM_CHILD: &str = "isc:[1:CHILD]";
pub const COMM_INIT: &str = "isc:[2:INIT]";

/// What every stage inherits from `create` (all descriptors `O_CLOEXEC`).
pub struct Shared {
    pub plan: Plan,
    /// How `[0:PARENT]` joins the cgroup.
    pub join: cgroup_join::JoinPlan,
    pub em: Emitter,
    /// Write end of the error pipe (`O_DIRECT`: one packet per failure).
    pub err_pipe: OwnedFd,
    /// The host's `/proc` (`O_PATH`), to learn host pids from inside a new pid namespace.
    pub host_proc: OwnedFd,
    /// Host pid of `create` (or `exec`): every stage's parent, `[0:PARENT]` being forked by
    /// it and the others cloned with `CLONE_PARENT`.
    pub creator: i32,
}

/// What travels from `create` through `[0:PARENT]` and `[1:CHILD]` to `[2:INIT]`.
pub struct InitEnds {
    /// Init's end of its channel with `create` (procHooks / procReady).
    pub create: Channel,
    /// `O_PATH` descriptor of `<root>/<id>/exec.fifo` (reopened by init for writing) and
    /// its host path, for the `wait_start` event. `None` for `exec`.
    pub fifo: Option<(OwnedFd, String)>,
    /// The connected `--console-socket` when `process.terminal` is set.
    pub console: Option<OwnedFd>,
    /// Id-mapped mount trees `create` made on the host side, for init to attach.
    pub idmapped: crate::rootfs::Detached,
}

impl Shared {
    /// First thing a new stage does: name itself, die with its creator, announce itself.
    pub fn begin_stage(&mut self, stage: Stage, comm: &str, ns_pid: Option<i32>) {
        if let Ok(name) = CString::new(comm) {
            let _ = nix::sys::prctl::set_name(&name);
        }
        // If `create` dies mid-way, no stage must be left behind (init clears this once
        // it is ready and create may exit).
        let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
        // Not dumpable: a process of the container (an exec'd one sees `[2:INIT]` of a later
        // exec in its pid namespace) may then neither open /proc/PID/exe — the runtime's
        // own binary, which it could overwrite once we exit (CVE-2019-5736) — nor
        // /proc/PID/fd (our host fds). The exec of the user's program makes it dumpable
        // again. runc's stages are non-dumpable for the same reason.
        let _ = nix::sys::prctl::set_dumpable(false);
        let pid = self.host_pid();
        self.em.become_stage(stage, pid);
        self.em.emit(EventKind::StageStart {
            comm: comm.to_string(),
            ppid: self.creator,
            ns_pid,
        });
    }

    /// Our pid as the host sees it, read through the host's `/proc` (in a new pid
    /// namespace `getpid()` says 1).
    pub fn host_pid(&self) -> i32 {
        nix::fcntl::readlinkat(&self.host_proc, "self")
            .ok()
            .and_then(|p| p.to_str().and_then(|s| s.parse().ok()))
            .unwrap_or_else(|| nix::unistd::getpid().as_raw())
    }

    /// Report `f` (event + error pipe) and exit the stage with status 1.
    pub fn fail(&mut self, f: StageFailure) -> ! {
        // In the log before create hears of it.
        f.emit(&mut self.em);
        self.em.flush();
        f.send(&self.err_pipe);
        self.exit(1)
    }

    /// Emit `stage_exit` and leave without running any exit handlers of `create`'s copy.
    pub fn exit(&mut self, status: i32) -> ! {
        self.em.exit(status);
        crate::sys::exit_now(status)
    }
}
