//! `exec`: a new process in an existing container, through the same staged bootstrap as
//! `create` — runc's "join namespaces" path in earnest. The `exec` command plays create's
//! role: it opens the container init's namespaces (`/proc/<init>/ns/*`) and checks init is
//! still the same process, forks `[0:PARENT]` into the container's cgroup, and follows.
//! `[1:CHILD]` setns()es into every namespace (user first, mount last) and unshares none;
//! `[2:INIT]` (`exec_init`) applies the process settings and execs. Every event carries the
//! exec id and goes to the container's `events.jsonl` and the live sink.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use super::cgroup_join::JoinPlan;
use super::channel::ChannelError;
use super::create::{console_pair, open_sink, write_pid_file, Cleanup};
use super::failure::StageFailure;
use super::launch::{self, Launch};
use super::plan::{self, CreateOptions, JoinNs, NamespacePlan, Plan};
use super::sync::SyncMsg;
use super::watch::{SeccompAgent, Watch};
use crate::error::RuntimeError;
use crate::events::emitter::Emitter;
use crate::events::flags::ns_short_name;
use crate::events::schema::{EventKind, Stage};
use crate::namespaces;
use crate::state::{status, validate_id, ContainerState, StateDir, Status};

/// What `exec` was asked for (the process is already built from `--process` or the flags).
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub root: PathBuf,
    pub id: String,
    pub process: Process,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// A foreground exec without --console-socket proxies the terminal itself.
    pub tty_proxy: bool,
    pub preserve_fds: u32,
    /// runc's `--ignore-paused`: exec into a paused container (the process starts frozen).
    pub ignore_paused: bool,
    /// `--events PATH`.
    pub events: Option<PathBuf>,
}

/// A process that runs in the container.
pub struct Execed {
    /// Its host pid (a child of this command, thanks to CLONE_PARENT).
    pub pid: Pid,
    pub exec_id: String,
    pub dir: StateDir,
    /// The exec command's emitter, to keep reporting (and to emit `stage_exit`).
    pub em: Emitter,
    /// With `tty_proxy`: our end of the console socketpair (the pty master is queued on it).
    pub console: Option<OwnedFd>,
}

/// Run the bootstrap for `req`; returns once the process has exec'd (its channel closed).
pub fn exec(req: &ExecRequest) -> Result<Execed, RuntimeError> {
    validate_id(&req.id)?;
    let dir = StateDir::new(&req.root, &req.id);
    let st = dir.load()?;
    let status = st.status(&dir);
    match status {
        Status::Created | Status::Running => {}
        Status::Paused if req.ignore_paused => {}
        s => {
            return Err(RuntimeError::WrongStatus {
                id: req.id.clone(),
                status: s,
                what:
                    "exec needs a created or running container (a paused one with --ignore-paused)"
                        .into(),
            })
        }
    }
    let exec_id = format!("exec-{}", nix::unistd::getpid());
    let mut em = Emitter::new(&req.id, Stage::Exec);
    em.set_exec_id(Some(exec_id.clone()));
    em.set_sink(open_sink(req.events.as_deref()));
    let _ = em.open_log(&dir.events_file());
    em.emit(EventKind::StageStart {
        comm: "initscope-runtime".into(),
        ppid: nix::unistd::getppid().as_raw(),
        ns_pid: None,
    });
    match run(&mut em, &dir, &st, req, &exec_id) {
        Ok((pid, console)) => Ok(Execed {
            pid,
            exec_id,
            dir,
            em,
            console,
        }),
        Err(e) => {
            if !matches!(e, RuntimeError::Stage(_)) {
                em.error("exec", None, &e.to_string());
            }
            em.exit(1);
            Err(match e {
                // Not the container's init that failed: the exec'd process.
                RuntimeError::Stage(f) if f.stage == Stage::Init => {
                    RuntimeError::Usage(format!("exec failed: {}", f.message))
                }
                e => e,
            })
        }
    }
}

fn run(
    em: &mut Emitter,
    dir: &StateDir,
    st: &ContainerState,
    req: &ExecRequest,
    exec_id: &str,
) -> Result<(Pid, Option<OwnedFd>), RuntimeError> {
    let process = plan::process_plan_of(&req.process).map_err(|e| {
        RuntimeError::Usage(format!(
            "exec: {}",
            e.to_string().replace("config.json: ", "")
        ))
    })?;
    let mut ours = None;
    let console = match (&req.console_socket, process.terminal) {
        (Some(path), true) => Some(crate::console::connect_console_socket(path)?),
        (None, true) if req.tty_proxy => {
            let (theirs, mine) = console_pair()?;
            ours = Some(mine);
            Some(theirs)
        }
        (Some(path), false) => {
            return Err(RuntimeError::Usage(format!(
                "--console-socket {}: the process has no terminal: add --tty (or \"terminal\": true in --process)",
                path.display()
            )))
        }
        (None, true) => {
            return Err(RuntimeError::Usage(
                "--tty with --detach needs --console-socket SOCKET to send the terminal to"
                    .into(),
            ))
        }
        (None, false) => None,
    };
    // Opened here and checked against init's start time afterwards, so a pid reused
    // since `status` cannot slip another process's namespaces in.
    let (join, _ns_fds) = container_namespaces(st)?;
    let userns = join.iter().any(|j| j.flag == libc::CLONE_NEWUSER as u64);
    let setgroups_deny = userns
        && std::fs::read_to_string(format!("/proc/{}/setgroups", st.init_pid))
            .is_ok_and(|s| s.trim() == "deny");
    let mut spec = st.config.clone();
    spec.set_process(Some(req.process.clone()));
    let plan = Plan {
        id: st.id.clone(),
        bundle: st.bundle.clone(),
        rootfs: st.rootfs.clone(),
        spec,
        ns: NamespacePlan {
            join,
            new_user: false,
            unshare: 0,
        },
        uid_mappings: Vec::new(),
        gid_mappings: Vec::new(),
        setgroups_deny,
        hostname: None,
        domainname: None,
        sysctl: BTreeMap::new(),
        process: Some(process),
        hooks: None,
        // The container's profile applies to what is exec'd into it, as with runc.
        seccomp: Plan::seccomp_of(&st.config)?,
        time_offsets: Vec::new(),
        cgroups_path: None,
        opts: CreateOptions {
            preserve_fds: req.preserve_fds,
            console_socket: req.console_socket.clone(),
            pid_file: req.pid_file.clone(),
            ..CreateOptions::default()
        },
        exec: Some(exec_id.to_string()),
    };
    let join = match &st.cgroup {
        Some(cg) => JoinPlan::of(cg)?,
        None => JoinPlan {
            path: String::new(),
            mode: String::new(),
            v1_tasks: Vec::new(),
            v2_dir: None,
            born_in_v2: false,
        },
    };
    let agent = SeccompAgent::of(&plan);
    let mut cleanup = Cleanup {
        dir: None,
        cgroup: None,
        pids: Vec::new(),
    };
    let mut state = st.clone();
    let launch = Launch {
        plan,
        join,
        fifo: None,
        console,
        idmapped: crate::rootfs::Detached::default(),
        agent,
        exec: true,
    };
    let pid = match launch::launch(em, launch, dir, &mut state, &mut cleanup)
        .and_then(|(pid, watch)| outcome(em, &watch).map(|()| pid))
    {
        Ok(pid) => pid,
        Err(e) => {
            cleanup.run(em);
            return Err(e);
        }
    };
    if let Some(pf) = &req.pid_file {
        write_pid_file(pf, pid)?;
    }
    Ok((pid, ours))
}

/// After procReady, the exec'd process's channel either closes (the exec happened: it is
/// close-on-exec) or carries procError.
fn outcome(em: &mut Emitter, watch: &Watch) -> Result<(), RuntimeError> {
    match watch.init.recv(em, "the exec") {
        Err(ChannelError::PeerGone { .. }) => Ok(()),
        Ok((SyncMsg::ProcError, data)) => Err(data
            .and_then(|d| serde_json::from_value::<StageFailure>(d).ok())
            .unwrap_or_else(|| StageFailure::new(Stage::Init, "exec", "the exec failed"))
            .into()),
        Ok((other, _)) => Err(StageFailure::new(
            Stage::Exec,
            "sync_recv",
            format!("unexpected {} from [2:INIT]", other.name()),
        )
        .into()),
        Err(e) => Err(e.into_failure(Stage::Exec).into()),
    }
}

/// The namespaces of the container's init that differ from ours, opened, in join order
/// (user first, mount last). The fds must stay open until the stages are cloned.
fn container_namespaces(st: &ContainerState) -> Result<(Vec<JoinNs>, Vec<OwnedFd>), RuntimeError> {
    let types = st
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let mut join = Vec::new();
    let mut fds = Vec::new();
    for ns in types {
        let flag = namespaces::flag_of(ns.typ());
        let Some(name) = ns_short_name(flag) else {
            continue;
        };
        let path = PathBuf::from(format!("/proc/{}/ns/{name}", st.init_pid));
        let theirs = std::fs::metadata(&path).map_err(|e| {
            RuntimeError::io(format!("container {:?}: {}", st.id, path.display()), e)
        })?;
        // Already ours (shared with the host): nothing to join — and setns into one's own
        // user namespace is an error.
        if let Ok(mine) = std::fs::metadata(format!("/proc/self/ns/{name}")) {
            if mine.ino() == theirs.ino() && mine.dev() == theirs.dev() {
                continue;
            }
        }
        let fd = open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| RuntimeError::sys(format!("open {}", path.display()), e))?;
        join.push(JoinNs {
            flag,
            path,
            fd: Some(fd.as_raw_fd()),
        });
        fds.push(fd);
    }
    if !status::is_alive(st.init_pid, st.init_start_time) {
        return Err(RuntimeError::Usage(format!(
            "container {:?}: its init (pid {}) exited; nothing to exec into",
            st.id, st.init_pid
        )));
    }
    join.sort_by_key(|j| namespaces::join_rank(j.flag));
    Ok((join, fds))
}
