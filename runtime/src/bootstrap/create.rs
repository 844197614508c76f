//! `create`: the CLI process. It validates the bundle, makes the state directory, the
//! cgroup and the channels, forks `[0:PARENT]` into the cgroup (born in cgroup2 with
//! CLONE_INTO_CGROUP; the parent joins the v1 hierarchies itself before it clones
//! anything, see [`super::cgroup_join`]), sends BOOTSTRAP_DATA, then follows the bootstrap —
//! STAGE_PIDS from the parent, procHooks/procReady from init — watching every stage's
//! pidfd and the error pipe so that a failure or a death is noticed at once. On failure
//! it prints one line, kills and reaps every stage, removes the cgroup and the state dir.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::cgroup_join::JoinPlan;
use super::channel::Channel;
use super::clone::{clone_stage, clone_stage_into_cgroup, Cloned, EXIT_SIGCHLD};
use super::failure::{self, StageFailure};
use super::plan::{self, CreateOptions, Plan};
use super::sync::SyncMsg;
use super::{parent, InitEnds, Shared};
use crate::cgroups::Cgroup;
use crate::error::RuntimeError;
use crate::events::emitter::Emitter;
use crate::events::flags::signal_name;
use crate::events::schema::{EventKind, Stage};
use crate::events::sink::{self, Sink};
use crate::state::{status, validate_id, ContainerState, StateDir, OCI_VERSION};
use crate::sys::pidfd_open;

/// What `create` (and `run`) was asked for.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub opts: CreateOptions,
    /// `--events PATH`.
    pub events: Option<PathBuf>,
}

/// A container whose init is ready and waits on exec.fifo.
pub struct Created {
    pub dir: StateDir,
    pub state: ContainerState,
    pub init_pid: Pid,
    /// create's emitter, for `run` to keep reporting.
    pub em: Emitter,
}

/// The live sink for a command: `--events`, `$INITSCOPE_EVENTS` or the well-known socket.
pub fn open_sink(explicit: Option<&Path>) -> Option<Sink> {
    sink::choose_path(explicit).and_then(|p| Sink::open(&p).ok())
}

/// Create the container. Reaps the stages it made; call it from a process whose other
/// children it may not confuse with them (the CLI).
pub fn create(req: &CreateRequest) -> Result<Created, RuntimeError> {
    validate_id(&req.id)?;
    let mut em = Emitter::new(&req.id, Stage::Create);
    em.set_sink(open_sink(req.events.as_deref()));
    let plan = match load_plan(req) {
        Ok(p) => p,
        Err(e) => {
            // No state dir yet: the error is only streamed live.
            em.error("config", None, &e.to_string());
            em.exit(1);
            return Err(e);
        }
    };
    let dir = StateDir::new(&req.root, &req.id);
    dir.create()?;
    let mut cleanup = Cleanup {
        dir: dir.clone(),
        cgroup: None,
        pids: Vec::new(),
    };
    if let Err(e) = em.open_log(&dir.events_file()) {
        cleanup.run(&mut em);
        return Err(RuntimeError::io(
            format!("open {}", dir.events_file().display()),
            e,
        ));
    }
    em.emit(EventKind::StageStart {
        comm: comm_of_self(),
        ppid: nix::unistd::getppid().as_raw(),
        ns_pid: None,
    });
    match bootstrap(&mut em, plan, &dir, &mut cleanup) {
        Ok((state, init_pid)) => Ok(Created {
            dir,
            state,
            init_pid,
            em,
        }),
        Err(e) => {
            match &e {
                RuntimeError::Stage(_) => {} // the stage already emitted its error
                other => em.error("create", None, &other.to_string()),
            }
            cleanup.run(&mut em);
            em.exit(1);
            Err(e)
        }
    }
}

fn load_plan(req: &CreateRequest) -> Result<Plan, RuntimeError> {
    let bundle = std::path::absolute(&req.bundle)
        .map_err(|e| RuntimeError::io(format!("bundle {}", req.bundle.display()), e))?;
    let spec = plan::load_spec(&bundle)?;
    let euid_root = nix::unistd::geteuid().is_root();
    let plan = Plan::from_spec(&req.id, &bundle, spec, req.opts.clone(), euid_root)?;
    plan.check_host()?;
    Ok(plan)
}

fn comm_of_self() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "initscope-runtime".into())
}

/// What must be undone if create fails.
struct Cleanup {
    dir: StateDir,
    cgroup: Option<Cgroup>,
    /// Stage pids known so far.
    pids: Vec<Pid>,
}

impl Cleanup {
    /// Kill and reap every stage, remove the cgroup and the state dir.
    fn run(&mut self, em: &mut Emitter) {
        for pid in &self.pids {
            let _ = kill(*pid, Signal::SIGKILL);
        }
        if let Some(cg) = &self.cgroup {
            for pid in cg.pids().unwrap_or_default() {
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
        reap_all(&self.pids, self.cgroup.as_ref());
        if let Some(cg) = &self.cgroup {
            if let Err(e) = cg.destroy() {
                em.error("cgroup", None, &e.to_string());
                eprintln!("initscope-runtime: warning: {e}");
            }
        }
        if let Err(e) = self.dir.remove() {
            eprintln!("initscope-runtime: warning: {e}");
        }
    }
}

/// Reap the stages (they are our children thanks to CLONE_PARENT), also any we did not
/// learn the pid of, for at most a few seconds.
fn reap_all(known: &[Pid], cgroup: Option<&Cgroup>) {
    for pid in known {
        let _ = waitpid(*pid, Some(WaitPidFlag::__WALL));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match waitpid(
            None::<Pid>,
            Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL),
        ) {
            Ok(WaitStatus::StillAlive) => {
                if std::time::Instant::now() > deadline {
                    break;
                }
                if let Some(cg) = cgroup {
                    for pid in cg.pids().unwrap_or_default() {
                        let _ = kill(pid, Signal::SIGKILL);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Ok(_) => continue,
            Err(_) => break, // ECHILD: nobody left
        }
    }
}

/// Everything after the state dir exists. Returns the state (written, not creating) and
/// init's pid.
fn bootstrap(
    em: &mut Emitter,
    plan: Plan,
    dir: &StateDir,
    cleanup: &mut Cleanup,
) -> Result<(ContainerState, Pid), RuntimeError> {
    let me = nix::unistd::getpid();
    let (create_start, _) = status::proc_stat(me).unwrap_or((0, 'R'));
    let mut state = ContainerState {
        oci_version: OCI_VERSION.to_string(),
        id: plan.id.clone(),
        init_pid: 0,
        init_start_time: 0,
        create_pid: me.as_raw(),
        create_start_time: create_start,
        creating: true,
        bundle: plan.bundle.clone(),
        rootfs: plan.rootfs.clone(),
        created: crate::timefmt::now_rfc3339(),
        owner: String::new(),
        annotations: plan
            .spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        cgroup: None,
        config: plan.spec.clone(),
    };

    let fifo_path = dir.fifo();
    nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o622))
        .map_err(|e| RuntimeError::sys(format!("mkfifo {}", fifo_path.display()), e))?;
    // Writable by anyone (init may be any uid in a user namespace); the umask must not
    // take that away.
    std::fs::set_permissions(&fifo_path, std::fs::Permissions::from_mode(0o622))
        .map_err(|e| RuntimeError::io(format!("chmod {}", fifo_path.display()), e))?;
    let fifo = open(&fifo_path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| RuntimeError::sys(format!("open {}", fifo_path.display()), e))?;
    let host_proc = open(
        "/proc",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| RuntimeError::sys("open /proc", e))?;

    // linux.devices also need their cgroup allow rules (as runc adds them).
    let linux = plan.spec.linux().clone().unwrap_or_default();
    let resources = crate::cgroups::devices::with_linux_devices(
        linux.resources().as_ref(),
        linux.devices().as_deref().unwrap_or(&[]),
    );
    let cgroup = Cgroup::resolve(
        plan.cgroups_path.as_deref(),
        &plan.id,
        plan.opts.systemd_cgroup,
    )?;
    cleanup.cgroup = Some(cgroup.clone());
    // Saved with the cgroup before it is made: a create killed from here on leaves a
    // state that `delete` can clean up completely.
    state.cgroup = Some(cgroup.clone());
    dir.save(&state)?;
    em.emit(EventKind::State {
        status: "creating".into(),
    });
    cgroup.create(Some(&resources), &mut |k| em.emit(k))?;

    let sys = |what: &str| {
        let what = what.to_string();
        move |e| RuntimeError::sys(what, e)
    };
    let (boot_create, boot_parent) =
        Channel::pair(Stage::Create, Stage::Parent).map_err(sys("socketpair"))?;
    let (init_create, init_init) =
        Channel::pair(Stage::Create, Stage::Init).map_err(sys("socketpair"))?;
    let (err_r, err_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_DIRECT).map_err(sys("pipe2"))?;

    // The parent is born in the cgroup2 directory where it can be (CLONE_INTO_CGROUP) and
    // joins the v1 hierarchies itself: see cgroup_join for why not cgroup.procs.
    let mut join = JoinPlan::of(&cgroup)?;
    let v2 = join.open_v2();
    em.pause_point("before-fork");
    let cloned = match &v2 {
        Some(fd) => match clone_stage_into_cgroup(em, fd.as_fd(), Stage::Parent) {
            Ok(c) => {
                join.born_in_v2 = true;
                Ok(c)
            }
            // A kernel without clone3/CLONE_INTO_CGROUP: fork, and join by writing.
            Err(nix::Error::ENOSYS | nix::Error::EINVAL | nix::Error::E2BIG) => {
                clone_stage(em, EXIT_SIGCHLD, Stage::Parent)
            }
            Err(e) => Err(e),
        },
        None => clone_stage(em, EXIT_SIGCHLD, Stage::Parent),
    };
    drop(v2);
    let parent_pid = match cloned {
        Err(e) => return Err(RuntimeError::sys("fork [0:PARENT]", e)),
        Ok(Cloned::Child) => {
            drop(boot_create);
            drop(init_create);
            drop(err_r);
            let sh = Shared {
                plan,
                join,
                em: std::mem::replace(em, Emitter::new("", Stage::Parent)),
                err_pipe: err_w,
                host_proc,
            };
            let ends = InitEnds {
                create: init_init,
                fifo,
                fifo_path: fifo_path.display().to_string(),
            };
            run_stage(move || parent::run(sh, boot_parent, ends))
        }
        Ok(Cloned::Parent(pid)) => pid,
    };
    drop((boot_parent, init_init, err_w, fifo, host_proc));
    cleanup.pids.push(parent_pid);

    boot_create
        .send(
            em,
            SyncMsg::Bootstrap,
            Some(serde_json::json!({"cgroup": cgroup.path})),
        )
        .map_err(|e| e.into_failure(Stage::Create))?;

    let mut watch = Watch {
        boot: Some(boot_create),
        init: init_create,
        err: err_r,
        stages: vec![Watched::new(parent_pid, Stage::Parent)?],
        init_pid: None,
    };
    let init_pid = watch.follow(em, dir, &mut state, cleanup)?;

    // Parent and child exit right after init's SYNC_CHILD_FINISH; reap them.
    for w in watch.stages.iter().filter(|w| w.stage != Stage::Init) {
        let _ = waitpid(w.pid, Some(WaitPidFlag::__WALL));
    }
    if let Some(pf) = &plan.opts.pid_file {
        write_pid_file(pf, init_pid)?;
    }
    state.creating = false;
    dir.save(&state)?;
    em.emit(EventKind::State {
        status: "created".into(),
    });
    Ok((state, init_pid))
}

/// Run a stage's body; a panic in it must not unwind into `create`'s frames (which would
/// run create's cleanup in the wrong process).
fn run_stage(body: impl FnOnce() -> std::convert::Infallible) -> ! {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    match r {
        Ok(never) => match never {},
        Err(_) => crate::sys::exit_now(101),
    }
}

/// Write the pid file atomically (temp file + rename), as clients read it at any time.
pub fn write_pid_file(path: &Path, pid: Pid) -> Result<(), RuntimeError> {
    let abs = std::path::absolute(path)
        .map_err(|e| RuntimeError::io(format!("pid file {}", path.display()), e))?;
    let tmp = abs.with_file_name(format!(
        ".{}.tmp",
        abs.file_name().and_then(|n| n.to_str()).unwrap_or("pid")
    ));
    std::fs::write(&tmp, pid.as_raw().to_string())
        .and_then(|()| std::fs::rename(&tmp, &abs))
        .map_err(|e| RuntimeError::io(format!("write pid file {}", abs.display()), e))
}

/// A stage create watches through its pidfd.
struct Watched {
    pid: Pid,
    stage: Stage,
    pidfd: Option<OwnedFd>,
}

impl Watched {
    fn new(pid: Pid, stage: Stage) -> Result<Watched, RuntimeError> {
        let pidfd =
            pidfd_open(pid).map_err(|e| RuntimeError::io(format!("pidfd_open {pid}"), e))?;
        Ok(Watched {
            pid,
            stage,
            pidfd: Some(pidfd),
        })
    }
}

/// create's view of the running bootstrap.
struct Watch {
    boot: Option<Channel>,
    init: Channel,
    err: OwnedFd,
    stages: Vec<Watched>,
    init_pid: Option<Pid>,
}

enum Wake {
    Boot,
    Init,
    Err,
    Exited(usize),
}

impl Watch {
    /// Follow the bootstrap until init's procReady; any failure or unexpected death is
    /// returned as the stage's failure.
    fn follow(
        &mut self,
        em: &mut Emitter,
        dir: &StateDir,
        state: &mut ContainerState,
        cleanup: &mut Cleanup,
    ) -> Result<Pid, RuntimeError> {
        loop {
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
                        if let Some(pid) = self.on_init(em, dir)? {
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
                        Stage::Create,
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
                state.init_pid = p2.as_raw();
                state.init_start_time = status::proc_stat(p2).map(|s| s.0).unwrap_or(0);
                dir.save(state)?;
                Ok(())
            }
            Ok((other, _)) => Err(StageFailure::new(
                Stage::Create,
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
                    let f = e.into_failure(Stage::Create);
                    Err(self.explain(f, dir).into())
                }
            }
        }
    }

    /// Handle a message from init; `Some(pid)` once it is ready.
    fn on_init(&mut self, em: &mut Emitter, dir: &StateDir) -> Result<Option<Pid>, RuntimeError> {
        match self.init.recv(em, "procHooks or procReady") {
            Ok((SyncMsg::ProcHooks, _)) => {
                // The prestart and createRuntime hooks run here, in the runtime's
                // namespaces, while init waits (not supported yet: refused by the plan).
                em.pause_point("hooks");
                self.init
                    .send(em, SyncMsg::ProcResume, None)
                    .map_err(|e| e.into_failure(Stage::Create))?;
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
                Stage::Create,
                "sync_recv",
                format!("unexpected {} from [2:INIT]", other.name()),
            )
            .into()),
            Err(e) => {
                let f = e.into_failure(Stage::Create);
                Err(self.explain(f, dir).into())
            }
        }
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
                Err(StageFailure::new(
                    stage,
                    &last,
                    format!("exited with status {code} (last step: {last})"),
                )
                .into())
            }
            WaitStatus::Signaled(_, sig, _) => Err(died(stage, sig as i32, dir, pid).into()),
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
                    return died(w.stage, sig as i32, dir, w.pid);
                }
            }
            // Stages whose pid create never learned (killed before STAGE_PIDS).
            if let Ok(WaitStatus::Signaled(pid, sig, _)) = waitpid(
                None::<Pid>,
                Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG),
            ) {
                let stage = stage_of(dir, pid).unwrap_or(Stage::Unknown);
                return died(stage, sig as i32, dir, pid);
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

/// "killed by SIGKILL (last step: …)" for `stage`.
fn died(stage: Stage, sig: i32, dir: &StateDir, pid: Pid) -> StageFailure {
    let last = last_step(dir, pid);
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

/// The last step `pid` reported, e.g. `sync_recv SYNC_GRANDCHILD` or `unshare`.
fn last_step(dir: &StateDir, pid: Pid) -> String {
    match events_of(dir, pid).last() {
        Some(v) => {
            let kind = v["kind"].as_str().unwrap_or("?");
            match v["msg"].as_str() {
                Some(m) => format!("{kind} {m}"),
                None => kind.to_string(),
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
