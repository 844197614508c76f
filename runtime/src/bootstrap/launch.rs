//! The part of the bootstrap `create` and `exec` share: make the channels, fork
//! `[0:PARENT]` into the container's cgroup (born in cgroup2 with CLONE_INTO_CGROUP; the
//! parent joins the v1 hierarchies itself, see [`super::cgroup_join`]), send
//! BOOTSTRAP_DATA, and follow the stages until init's procReady ([`super::watch`]).

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

use super::cgroup_join::JoinPlan;
use super::channel::Channel;
use super::clone::{clone_stage, clone_stage_into_cgroup, Cloned, EXIT_SIGCHLD};
use super::create::Cleanup;
use super::plan::Plan;
use super::sync::SyncMsg;
use super::watch::{SeccompAgent, Watch, Watched};
use super::{parent, InitEnds, Shared};
use crate::error::RuntimeError;
use crate::events::emitter::Emitter;
use crate::events::schema::Stage;
use crate::state::{ContainerState, StateDir};

/// What one bootstrap needs besides the emitter and the state.
pub(super) struct Launch {
    pub plan: Plan,
    pub join: JoinPlan,
    /// exec.fifo (`O_PATH`) and its path; `None` for exec.
    pub fifo: Option<(OwnedFd, String)>,
    pub console: Option<OwnedFd>,
    /// Id-mapped mount trees for init (empty for exec).
    pub idmapped: crate::rootfs::Detached,
    pub agent: Option<SeccompAgent>,
    /// `exec`: no hooks at procHooks, the container's state is not rewritten.
    pub exec: bool,
}

impl SeccompAgent {
    /// The agent of `plan`'s seccomp profile, when it notifies.
    pub(super) fn of(plan: &Plan) -> Option<SeccompAgent> {
        let s = plan.seccomp.as_ref()?;
        let path = s.listener_path.clone()?;
        Some(SeccompAgent {
            path,
            metadata: s.listener_metadata.clone(),
        })
    }
}

/// Fork `[0:PARENT]` and follow the stages to procReady. Returns init's host pid and the
/// watch (its channel to init stays open: `exec` learns the exec's outcome from it).
/// Parent and child are reaped.
pub(super) fn launch(
    em: &mut Emitter,
    l: Launch,
    dir: &StateDir,
    state: &mut ContainerState,
    cleanup: &mut Cleanup,
) -> Result<(Pid, Watch), RuntimeError> {
    let me = em.stage();
    let sys = |what: &str| {
        let what = what.to_string();
        move |e| RuntimeError::sys(what, e)
    };
    let host_proc = open(
        "/proc",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys("open /proc"))?;
    let (boot_create, boot_parent) = Channel::pair(me, Stage::Parent).map_err(sys("socketpair"))?;
    let (init_create, init_init) = Channel::pair(me, Stage::Init).map_err(sys("socketpair"))?;
    let (err_r, err_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_DIRECT).map_err(sys("pipe2"))?;

    // The parent is born in the cgroup2 directory where it can be (CLONE_INTO_CGROUP) and
    // joins the v1 hierarchies itself: see cgroup_join for why not cgroup.procs.
    let Launch {
        plan,
        mut join,
        fifo,
        console,
        idmapped,
        agent,
        exec,
    } = l;
    let cgroup_path = join.path.clone();
    let creator = em.pid();
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
                creator,
            };
            let ends = InitEnds {
                create: init_init,
                fifo,
                console,
                idmapped,
            };
            run_stage(move || parent::run(sh, boot_parent, ends))
        }
        Ok(Cloned::Parent(pid)) => pid,
    };
    // The id-mapped trees go with them: only init's copies keep them alive now.
    drop((
        boot_parent,
        init_init,
        err_w,
        fifo,
        host_proc,
        console,
        idmapped,
    ));
    cleanup.pids.push(parent_pid);

    boot_create
        .send(
            em,
            SyncMsg::Bootstrap,
            Some(serde_json::json!({"cgroup": cgroup_path})),
        )
        .map_err(|e| e.into_failure(me))?;

    let mut watch = Watch {
        boot: Some(boot_create),
        init: init_create,
        err: err_r,
        stages: vec![Watched::new(parent_pid, Stage::Parent)?],
        init_pid: None,
        agent,
        exec,
        deaths: Vec::new(),
    };
    let init_pid = watch.follow(em, dir, state, cleanup)?;

    // Parent and child exit right after init's SYNC_CHILD_FINISH; reap them.
    for w in watch.stages.iter().filter(|w| w.stage != Stage::Init) {
        let _ = waitpid(w.pid, Some(WaitPidFlag::__WALL));
    }
    Ok((init_pid, watch))
}

/// Run a stage's body; a panic in it must not unwind into the command's frames (which
/// would run its cleanup in the wrong process).
fn run_stage(body: impl FnOnce() -> std::convert::Infallible) -> ! {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    match r {
        Ok(never) => match never {},
        Err(_) => crate::sys::exit_now(101),
    }
}
