//! `create`: the CLI process. It validates the bundle, makes the state directory, the
//! cgroup and the channels, forks `[0:PARENT]` into the cgroup (born in cgroup2 with
//! CLONE_INTO_CGROUP; the parent joins the v1 hierarchies itself before it clones
//! anything, see [`super::cgroup_join`]), sends BOOTSTRAP_DATA, then follows the bootstrap —
//! STAGE_PIDS from the parent, procHooks/procReady from init — watching every stage's
//! pidfd and the error pipe so that a failure or a death is noticed at once. On failure
//! it prints one line, kills and reaps every stage, removes the cgroup and the state dir.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::cgroup_join::JoinPlan;
use super::launch::{self, Launch};
use super::plan::{self, CreateOptions, Plan};
use super::watch::SeccompAgent;
use crate::cgroups::Cgroup;
use crate::error::RuntimeError;
use crate::events::emitter::Emitter;
use crate::events::schema::{EventKind, Stage};
use crate::events::sink::{self, Sink};
use crate::state::{status, validate_id, ContainerState, StateDir, OCI_VERSION};

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
    /// With `tty_proxy`: our end of the console socketpair (the pty master is queued on it).
    pub console: Option<std::os::fd::OwnedFd>,
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
    // The console socket resolves here, in the runtime's namespaces; init inherits it.
    let (console, console_ours) = match connect_console(&plan) {
        Ok(c) => c,
        Err(e) => {
            em.error("console", e_errno(&e), &e.to_string());
            em.exit(1);
            return Err(e);
        }
    };
    let dir = StateDir::new(&req.root, &req.id);
    dir.create()?;
    let mut cleanup = Cleanup {
        dir: Some(dir.clone()),
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
    match bootstrap(&mut em, plan, console, &dir, &mut cleanup) {
        Ok((state, init_pid)) => Ok(Created {
            dir,
            state,
            init_pid,
            console: console_ours,
            em,
        }),
        Err(mut e) => {
            if let (RuntimeError::Stage(f), Some(cg)) = (&mut e, &cleanup.cgroup) {
                explain_oom(f, cg);
            }
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

/// A stage killed by SIGKILL in a cgroup whose OOM killer fired died of the memory
/// limit: say so, or the user is left guessing who sent the signal.
fn explain_oom(f: &mut crate::bootstrap::failure::StageFailure, cg: &Cgroup) {
    if !f.message.starts_with("killed by SIGKILL") {
        return;
    }
    let files = [
        cg.v1_path("memory").map(|p| p.join("memory.oom_control")),
        cg.v2_path().map(|p| p.join("memory.events")),
    ];
    let kills = files
        .into_iter()
        .flatten()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| {
            t.lines()
                .filter_map(|l| l.strip_prefix("oom_kill ")?.trim().parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .max()
        .unwrap_or(0);
    if kills > 0 {
        f.message.push_str(
            ": the kernel's OOM killer ended it (the container's memory limit is too low: raise linux.resources.memory.limit)",
        );
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

/// A connected pair standing in for `--console-socket` when the runtime proxies the
/// terminal itself: the first end goes to the stage that makes the pty, the master
/// arrives on the second.
pub fn console_pair() -> Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd), RuntimeError> {
    nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Stream,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| RuntimeError::sys("socketpair for the terminal", e))
}

type ConsoleEnds = (Option<std::os::fd::OwnedFd>, Option<std::os::fd::OwnedFd>);

/// runc's rule: a console socket only with a terminal, a terminal only with a socket
/// (create always detaches) or a foreground `run` that proxies it (a socketpair: init's
/// end, and ours).
fn connect_console(plan: &Plan) -> Result<ConsoleEnds, RuntimeError> {
    let terminal = plan.process.as_ref().is_some_and(|p| p.terminal);
    match (&plan.opts.console_socket, terminal) {
        (Some(path), true) => Ok((Some(crate::console::connect_console_socket(path)?), None)),
        (None, true) if plan.opts.tty_proxy => {
            let (theirs, ours) = console_pair()?;
            Ok((Some(theirs), Some(ours)))
        }
        (Some(path), false) => Err(RuntimeError::Usage(format!(
            "--console-socket {}: the config's process.terminal is false, so there is no terminal to send; set \"terminal\": true or drop --console-socket",
            path.display()
        ))),
        (None, _) => Ok((None, None)),
    }
}

fn e_errno(e: &RuntimeError) -> Option<i32> {
    match e {
        RuntimeError::Console(c) => c.errno(),
        _ => None,
    }
}

fn comm_of_self() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "initscope-runtime".into())
}

/// What must be undone if create (or exec) fails.
pub(super) struct Cleanup {
    /// The state dir create made (`None` for exec: the container's stays).
    pub dir: Option<StateDir>,
    pub cgroup: Option<Cgroup>,
    /// Stage pids known so far.
    pub pids: Vec<Pid>,
}

impl Cleanup {
    /// Kill and reap every stage, remove the cgroup and the state dir.
    pub fn run(&mut self, em: &mut Emitter) {
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
        if let Some(dir) = &self.dir {
            if let Err(e) = dir.remove() {
                eprintln!("initscope-runtime: warning: {e}");
            }
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
    console: Option<std::os::fd::OwnedFd>,
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

    let pid_file = plan.opts.pid_file.clone();
    let agent = SeccompAgent::of(&plan);
    let join = JoinPlan::of(&cgroup)?;
    // Id-mapped mounts are cloned and mapped here, on the host side, where the sources
    // are visible and we hold the privileges; init attaches them (runc's mount fds).
    let idmapped = crate::rootfs::open_idmapped(&plan.spec, &plan.bundle, &mut |k| em.emit(k))?;
    let launch = Launch {
        plan,
        join,
        fifo: Some((fifo, fifo_path.display().to_string())),
        console,
        idmapped,
        agent,
        exec: false,
    };
    let (init_pid, _watch) = launch::launch(em, launch, dir, &mut state, cleanup)?;
    if let Some(pf) = &pid_file {
        write_pid_file(pf, init_pid)?;
    }
    state.creating = false;
    dir.save(&state)?;
    em.emit(EventKind::State {
        status: "created".into(),
    });
    Ok((state, init_pid))
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
