//! How `create` follows the bootstrap after the fork: it polls the parent's channel
//! (STAGE_PIDS), init's channel (procHooks, procReady, procError), the error pipe and a
//! pidfd per stage, so a failure report or a death is seen the moment it happens — no
//! timeouts. A failure that only says "my peer went away" is explained by the peer's
//! death (which stage, which signal, its last step from events.jsonl).

use std::os::fd::{AsFd, OwnedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::channel::Channel;
use super::failure::{self, StageFailure};
use super::lifecycle_hooks;
use super::sync::SyncMsg;
use crate::error::RuntimeError;
use crate::events::emitter::Emitter;
use crate::events::flags::signal_name;
use crate::events::schema::{EventKind, Stage};
use crate::hooks::HookKind;
use crate::seccomp::notify;
use crate::state::{status, ContainerState, StateDir};
use crate::sys::pidfd_open;

use super::create::Cleanup;

/// A stage create watches through its pidfd.
pub(super) struct Watched {
    pub pid: Pid,
    pub stage: Stage,
    pidfd: Option<OwnedFd>,
}

impl Watched {
    pub fn new(pid: Pid, stage: Stage) -> Result<Watched, RuntimeError> {
        let pidfd =
            pidfd_open(pid).map_err(|e| RuntimeError::io(format!("pidfd_open {pid}"), e))?;
        Ok(Watched {
            pid,
            stage,
            pidfd: Some(pidfd),
        })
    }
}

/// Where a seccomp notify listener fd goes (`linux.seccomp.listenerPath`).
pub(super) struct SeccompAgent {
    pub path: std::path::PathBuf,
    pub metadata: Option<String>,
}

/// create's view of the running bootstrap.
pub(super) struct Watch {
    pub boot: Option<Channel>,
    pub init: Channel,
    pub err: OwnedFd,
    pub stages: Vec<Watched>,
    pub init_pid: Option<Pid>,
    /// Set when the profile notifies: procSeccomp's fd is handed there.
    pub agent: Option<SeccompAgent>,
    /// Following an `exec`: no hooks at procHooks (exec sends none), and the container's
    /// state is not rewritten with the new process's pid.
    pub exec: bool,
    /// Deaths seen (a stage cannot report its own SIGKILL): emitted as `stage_died`.
    pub deaths: Vec<Death>,
}

/// A stage create saw die or exit non-zero.
pub(super) struct Death {
    pub stage: Stage,
    pub pid: Pid,
    pub signal: Option<i32>,
    pub status: Option<i32>,
    pub last_step: String,
}

enum Wake {
    Boot,
    Init,
    Err,
    Exited(usize),
}

impl Watch {
    /// Follow the bootstrap until init's procReady; any failure or unexpected death is
    /// returned as the stage's failure (and a death is also emitted as `stage_died`).
    pub fn follow(
        &mut self,
        em: &mut Emitter,
        dir: &StateDir,
        state: &mut ContainerState,
        cleanup: &mut Cleanup,
    ) -> Result<Pid, RuntimeError> {
        let r = self.follow_until_ready(em, dir, state, cleanup);
        for d in self.deaths.drain(..) {
            em.emit(EventKind::StageDied {
                dead_stage: d.stage,
                dead_pid: d.pid.as_raw(),
                signal: d.signal.map(signal_name),
                exit_status: d.status,
                last_step: d.last_step,
            });
        }
        r
    }

    fn follow_until_ready(
        &mut self,
        em: &mut Emitter,
        dir: &StateDir,
        state: &mut ContainerState,
        cleanup: &mut Cleanup,
    ) -> Result<Pid, RuntimeError> {
        loop {
            em.flush();
            let wakes = self.poll()?;
            for wake in wakes {
                match wake {
                    Wake::Err => {
                        let fails = failure::drain(&self.err);
                        if let Some(f) = fails.into_iter().next() {
                            return Err(self.explain(f, dir).into());
                        }
                    }
                    Wake::Boot => self.on_boot(em, dir, state, cleanup)?,
                    Wake::Init => {
                        if let Some(pid) = self.on_init(em, dir, state, cleanup)? {
                            return Ok(pid);
                        }
                    }
                    Wake::Exited(i) => self.on_exit(i, dir)?,
                }
            }
        }
    }

    fn poll(&self) -> Result<Vec<Wake>, RuntimeError> {
        let mut fds = Vec::new();
        let mut what = Vec::new();
        let ev = PollFlags::POLLIN;
        fds.push(PollFd::new(self.err.as_fd(), ev));
        what.push(Wake::Err);
        if let Some(b) = &self.boot {
            fds.push(PollFd::new(b.as_fd(), ev));
            what.push(Wake::Boot);
        }
        fds.push(PollFd::new(self.init.as_fd(), ev));
        what.push(Wake::Init);
        for (i, w) in self.stages.iter().enumerate() {
            if let Some(p) = &w.pidfd {
                fds.push(PollFd::new(p.as_fd(), ev));
                what.push(Wake::Exited(i));
            }
        }
        loop {
            match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => break,
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(RuntimeError::sys("poll", e)),
            }
        }
        Ok(fds
            .iter()
            .zip(what)
            .filter(|(f, _)| f.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, w)| w)
            .collect())
    }

    fn on_boot(
        &mut self,
        em: &mut Emitter,
        dir: &StateDir,
        state: &mut ContainerState,
        cleanup: &mut Cleanup,
    ) -> Result<(), RuntimeError> {
        let boot = self.boot.as_ref().expect("polled only while open");
        match boot.recv(em, "STAGE_PIDS") {
            Ok((SyncMsg::StagePids, Some(d))) => {
                let get = |k: &str| d[k].as_i64().map(|p| Pid::from_raw(p as i32));
                let (Some(p1), Some(p2)) = (get("stage1_pid"), get("stage2_pid")) else {
                    return Err(StageFailure::new(
                        em.stage(),
                        "sync_recv",
                        "STAGE_PIDS without pids",
                    )
                    .into());
                };
                for (pid, stage) in [(p1, Stage::Child), (p2, Stage::Init)] {
                    cleanup.pids.push(pid);
                    self.stages.push(Watched::new(pid, stage)?);
                }
                self.init_pid = Some(p2);
                if !self.exec {
                    state.init_pid = p2.as_raw();
                    state.init_start_time = status::proc_stat(p2).map(|s| s.0).unwrap_or(0);
                    dir.save(state)?;
                }
                Ok(())
            }
            Ok((other, _)) => Err(StageFailure::new(
                em.stage(),
                "sync_recv",
                format!("unexpected {} from [0:PARENT]", other.name()),
            )
            .into()),
            Err(e) => {
                // The parent closes its end when it exits; fine once it sent the pids.
                self.boot = None;
                if self.init_pid.is_some() {
                    Ok(())
                } else {
                    let f = e.into_failure(em.stage());
                    Err(self.explain(f, dir).into())
                }
            }
        }
    }

    /// Handle a message from init; `Some(pid)` once it is ready.
    fn on_init(
        &mut self,
        em: &mut Emitter,
        dir: &StateDir,
        state: &mut ContainerState,
        cleanup: &mut Cleanup,
    ) -> Result<Option<Pid>, RuntimeError> {
        // STAGE_PIDS is always sent before init can speak; read it first if both are due.
        if self.init_pid.is_none() && self.boot.is_some() {
            self.on_boot(em, dir, state, cleanup)?;
        }
        match self.init.recv(em, "procHooks, procSeccomp or procReady") {
            Ok((SyncMsg::ProcHooks, _)) => {
                // prestart, then createRuntime: here, in the runtime's namespaces, with the
                // bundle as cwd, while init waits in the container's (state: creating).
                em.pause_point("hooks");
                if !self.exec {
                    let hooks = state.config.hooks().clone();
                    let st = state.spec_state();
                    for kind in [HookKind::Prestart, HookKind::CreateRuntime] {
                        lifecycle_hooks::run(kind, hooks.as_ref(), &st, Some(&state.bundle), em)?;
                    }
                }
                let me = em.stage();
                self.init
                    .send(em, SyncMsg::ProcResume, None)
                    .map_err(|e| e.into_failure(me))?;
                Ok(None)
            }
            Ok((SyncMsg::ProcSeccomp, data)) => {
                self.hand_to_agent(data, state)?;
                let me = em.stage();
                self.init
                    .send(em, SyncMsg::ProcSeccompDone, None)
                    .map_err(|e| e.into_failure(me))?;
                Ok(None)
            }
            Ok((SyncMsg::ProcReady, _)) => Ok(self.init_pid.or_else(|| {
                // STAGE_PIDS always precedes procReady; be safe anyway.
                self.stages
                    .iter()
                    .find(|w| w.stage == Stage::Init)
                    .map(|w| w.pid)
            })),
            Ok((SyncMsg::ProcError, data)) => {
                let f = data
                    .and_then(|d| serde_json::from_value::<StageFailure>(d).ok())
                    .unwrap_or_else(|| {
                        StageFailure::new(Stage::Init, "init", "init reported an unreadable error")
                    });
                Err(self.explain(f, dir).into())
            }
            Ok((other, _)) => Err(StageFailure::new(
                em.stage(),
                "sync_recv",
                format!("unexpected {} from [2:INIT]", other.name()),
            )
            .into()),
            Err(e) => {
                let f = e.into_failure(em.stage());
                Err(self.explain(f, dir).into())
            }
        }
    }

    /// procSeccomp: copy the listener fd out of init by its number and send it, with the
    /// container process state, to the agent at listenerPath.
    fn hand_to_agent(
        &self,
        data: Option<serde_json::Value>,
        state: &ContainerState,
    ) -> Result<(), RuntimeError> {
        let bad = |m: &str| StageFailure::new(Stage::Init, "seccomp", m);
        let fd = data
            .as_ref()
            .and_then(|d| d["fd"].as_i64())
            .ok_or_else(|| bad("procSeccomp without an fd number"))?;
        let pid = self
            .init_pid
            .ok_or_else(|| bad("procSeccomp before STAGE_PIDS"))?;
        let agent = self.agent.as_ref().ok_or_else(|| {
            bad("init has a seccomp listener fd but linux.seccomp.listenerPath is not set")
        })?;
        let listener = notify::take_fd_from(pid.as_raw(), fd as i32)?;
        let mut st = state.spec_state();
        st.set_status(if state.creating {
            oci_spec::runtime::ContainerState::Creating
        } else {
            oci_spec::runtime::ContainerState::Running
        });
        let json = notify::process_state_json(pid.as_raw(), agent.metadata.as_deref(), &st);
        notify::send_to_listener(&agent.path, &listener, &json)?;
        Ok(())
    }

    /// A watched stage exited: normal for parent and child after their last message,
    /// a failure otherwise.
    fn on_exit(&mut self, i: usize, dir: &StateDir) -> Result<(), RuntimeError> {
        let pid = self.stages[i].pid;
        let stage = self.stages[i].stage;
        self.stages[i].pidfd = None;
        let st = waitpid(pid, Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG))
            .unwrap_or(WaitStatus::StillAlive);
        match st {
            WaitStatus::Exited(_, 0) if stage != Stage::Init => Ok(()),
            WaitStatus::Exited(_, code) => {
                // A stage that fails reports first, then exits: prefer its own words.
                if let Some(f) = failure::drain(&self.err).into_iter().next() {
                    return Err(self.explain(f, dir).into());
                }
                let last = last_step(dir, pid);
                self.deaths.push(Death {
                    stage,
                    pid,
                    signal: None,
                    status: Some(code),
                    last_step: last.clone(),
                });
                Err(StageFailure::new(
                    stage,
                    &last,
                    format!("exited with status {code} (last step: {last})"),
                )
                .into())
            }
            WaitStatus::Signaled(_, sig, _) => Err(self.died(stage, sig as i32, dir, pid).into()),
            _ => Ok(()),
        }
    }

    /// A failure that only says "my peer went away" is explained by the peer's death.
    fn explain(&mut self, f: StageFailure, dir: &StateDir) -> StageFailure {
        if !f.peer_gone {
            return f;
        }
        // The peer has closed its files, so it is exiting: give it a moment to be a zombie.
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(200);
        loop {
            for w in &self.stages {
                if let Ok(WaitStatus::Signaled(_, sig, _)) =
                    waitpid(w.pid, Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG))
                {
                    let (stage, pid) = (w.stage, w.pid);
                    return self.died(stage, sig as i32, dir, pid);
                }
            }
            // Stages whose pid create never learned (killed before STAGE_PIDS).
            if let Ok(WaitStatus::Signaled(pid, sig, _)) = waitpid(
                None::<Pid>,
                Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG),
            ) {
                let stage = stage_of(dir, pid).unwrap_or(Stage::Unknown);
                return self.died(stage, sig as i32, dir, pid);
            }
            if let Some(other) = failure::drain(&self.err).into_iter().find(|g| !g.peer_gone) {
                return other;
            }
            if std::time::Instant::now() > deadline {
                return f;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

impl Watch {
    /// "killed by SIGKILL (last step: …)" for `stage`, remembered for `stage_died`.
    fn died(&mut self, stage: Stage, sig: i32, dir: &StateDir, pid: Pid) -> StageFailure {
        let last = last_step(dir, pid);
        self.deaths.push(Death {
            stage,
            pid,
            signal: Some(sig),
            status: None,
            last_step: last.clone(),
        });
        died(stage, sig, last, pid)
    }
}

fn died(stage: Stage, sig: i32, last: String, pid: Pid) -> StageFailure {
    StageFailure {
        stage,
        step: last.clone(),
        errno: None,
        message: format!(
            "killed by {} (pid {pid}, last step: {last})",
            signal_name(sig)
        ),
        peer_gone: false,
    }
}

/// The events `pid` wrote to events.jsonl.
fn events_of(dir: &StateDir, pid: Pid) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.events_file()).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["pid"].as_i64() == Some(pid.as_raw() as i64))
        .collect()
}

/// The last step `pid` reported, e.g. `sync_recv SYNC_GRANDCHILD`, `unshare` or
/// `paused at init:before-rootfs`.
pub(crate) fn last_step(dir: &StateDir, pid: Pid) -> String {
    match events_of(dir, pid).last() {
        Some(v) => {
            let kind = v["kind"].as_str().unwrap_or("?");
            match (v["msg"].as_str(), v["step"].as_str()) {
                (Some(m), _) => format!("{kind} {m}"),
                // Held by INITSCOPE_PAUSE_AT: name where (`paused at child:before-unshare`).
                (None, Some(step)) if kind == "paused" => format!("paused at {step}"),
                _ => kind.to_string(),
            }
        }
        None => "before its first event".to_string(),
    }
}

/// Which stage `pid` was, from its `stage_start` event.
fn stage_of(dir: &StateDir, pid: Pid) -> Option<Stage> {
    events_of(dir, pid)
        .first()
        .and_then(|v| serde_json::from_value(v["stage"].clone()).ok())
}
