//! `[2:INIT]` (runc's stage 2, then runc's Go `init`): PID 1 of the new pid namespace.
//!
//! It finishes the nsexec part with the parent (SYNC_GRANDCHILD → setsid, become root →
//! SYNC_CHILD_FINISH), then prepares the container, talking to `create` on its own
//! channel with runc's procSync names: rootfs → procHooks/procResume (create runs
//! prestart, createRuntime) → createContainer hooks → pivot_root, hostname, domainname,
//! sysctl, console → finalize → rlimits, keyring, seccomp (without noNewPrivileges), user,
//! capabilities, cwd, noNewPrivileges, executable lookup, seccomp (with it; a notify fd
//! goes to create as procSeccomp) → procReady. Then it blocks opening exec.fifo until
//! `start`, runs the startContainer hooks and execs the program; until the exec its end of
//! the fifo stays open, so `start` learns whether that worked.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};

use super::channel::{Channel, ChannelError};
use super::failure::StageFailure;
use super::lifecycle_hooks;
use super::plan::ProcessPlan;
use super::sync::SyncMsg;
use super::{InitEnds, Shared, COMM_INIT};
use crate::console::{self, ConsoleSetup};
use crate::events::schema::{EventKind, Stage};
use crate::hooks::HookKind;
use crate::process::exec::Program;
use crate::process::user::{switch_to, Identity};
use crate::rootfs;

/// Run stage 2. Never returns: it execs the container's program or exits.
pub fn run(mut sh: Shared, to_parent: Channel, ends: InitEnds) -> ! {
    let ns_pid = nix::unistd::getpid().as_raw();
    sh.begin_stage(Stage::Init, COMM_INIT, Some(ns_pid));
    let InitEnds {
        create,
        fifo,
        console,
        idmapped,
    } = ends;
    if let Err(f) = finish_nsexec(&mut sh, &to_parent) {
        report(&mut sh, &create, f);
    }
    drop(to_parent);
    let program = match prepare(&mut sh, &create, console, idmapped) {
        Ok(p) => p,
        Err(f) => report(&mut sh, &create, f),
    };
    // From here on create may exit at any time: it must not take init with it.
    let _ = nix::sys::prctl::set_pdeathsig(None);
    if let Err(e) = create.send(&mut sh.em, SyncMsg::ProcReady, None) {
        let f = e.into_failure(Stage::Init);
        f.emit(&mut sh.em);
        sh.exit(1);
    }
    drop(create);
    let Some((fifo, fifo_path)) = fifo else {
        late_failure(
            &mut sh,
            StageFailure::new(Stage::Init, "wait_start", "init has no exec.fifo"),
        )
    };
    let started = wait_start(&mut sh, fifo, fifo_path);

    crate::sys::reset_signals();
    let Some(program) = program else {
        started_failure(
            &mut sh,
            &started,
            StageFailure::new(
                Stage::Init,
                "exec",
                "config.json has no process to run (the OCI spec requires one for start)",
            ),
        )
    };
    let state = crate::state::spec_state(
        &sh.plan.id,
        sh.em.pid(),
        &sh.plan.bundle,
        &annotations(&sh.plan),
    );
    // In the container, as the process's user, in its cwd (runc's place for them).
    let hooks = sh.plan.hooks.clone();
    if let Err(e) = lifecycle_hooks::run(
        HookKind::StartContainer,
        hooks.as_ref(),
        &state,
        None,
        &mut sh.em,
    ) {
        started_failure(&mut sh, &started, hook_failure(e));
    }
    exec_program(&mut sh, &program, Outcome::Fifo(&started))
}

/// Who learns that the last steps before the program failed: `start` through exec.fifo,
/// or the `exec` command through its channel (procError). Both see EOF when the exec
/// succeeds (the descriptors are close-on-exec).
pub(super) enum Outcome<'a> {
    Fifo(&'a OwnedFd),
    Channel(&'a Channel),
}

/// Mark every runtime fd close-on-exec (only stdio and --preserve-fds reach the process:
/// CVE-2024-21626) and exec. On failure the error goes to the [`Outcome`] reader.
pub(super) fn exec_program(sh: &mut Shared, program: &Program, outcome: Outcome<'_>) -> ! {
    let keep = crate::fds::preserved(sh.plan.opts.preserve_fds);
    if let Err(crate::fds::FdsError::Sys { op, errno }) = crate::fds::sanitize_fds(&keep) {
        let f = StageFailure::sys(Stage::Init, "exec", op, errno);
        match outcome {
            Outcome::Fifo(w) => started_failure(sh, w, f),
            Outcome::Channel(c) => report(sh, c, f),
        }
    }
    sh.em.pause_point("before-exec");
    sh.em.emit(EventKind::Exec {
        path: program.path.display().to_string(),
        args: program.args.clone(),
    });
    // `start` looks for this event once the fifo closes.
    sh.em.flush();
    let err = program.exec();
    let f = StageFailure::sys(
        Stage::Init,
        "exec",
        format!("exec {}", program.path.display()),
        err,
    );
    let status = if err == nix::Error::ENOENT { 127 } else { 126 };
    f.emit(&mut sh.em);
    sh.em.flush();
    match outcome {
        Outcome::Fifo(w) => write_failure(w, &f),
        Outcome::Channel(c) => {
            let payload = serde_json::to_value(&f).ok();
            if c.send(&mut sh.em, SyncMsg::ProcError, payload).is_err() {
                eprintln!("initscope-runtime: {f}");
            }
        }
    }
    sh.exit(status)
}

/// Block opening exec.fifo for writing until `start` opens its read side, and write the
/// byte `start` waits for. The write end stays open (close-on-exec) until the exec: `start`
/// reads EOF when the program runs, or the error text if a step after this one fails.
fn wait_start(sh: &mut Shared, fifo: OwnedFd, fifo_path: String) -> OwnedFd {
    sh.em.emit(EventKind::WaitStart { fifo: fifo_path });
    sh.em.pause_point("before-wait-start");
    sh.em.flush();
    // Reopen the O_PATH fifo for writing through the host's /proc (the container's may not
    // have one); this blocks until `start` opens the read side.
    let path = format!("self/fd/{}", fifo.as_raw_fd());
    let opened = loop {
        match openat(
            &sh.host_proc,
            path.as_str(),
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Err(nix::Error::EINTR) => continue,
            r => break r,
        }
    };
    let w = match opened {
        Ok(w) => w,
        Err(e) => late_failure(
            sh,
            StageFailure::sys(Stage::Init, "wait_start", "open exec.fifo", e),
        ),
    };
    drop(fifo);
    // Above the --preserve-fds range, so sanitize_fds can never keep it across the exec.
    let min = 3 + sh.plan.opts.preserve_fds as i32;
    let w = match nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(min)) {
        // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nobody else owns.
        Ok(fd) => unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) },
        Err(e) => late_failure(
            sh,
            StageFailure::sys(Stage::Init, "wait_start", "dup exec.fifo", e),
        ),
    };
    if let Err(e) = nix::unistd::write(&w, b"0") {
        late_failure(
            sh,
            StageFailure::sys(Stage::Init, "wait_start", "write exec.fifo", e),
        );
    }
    w
}

/// A step between `start` and the exec failed: tell `start` through the fifo, and exit.
fn started_failure(sh: &mut Shared, started: &OwnedFd, f: StageFailure) -> ! {
    f.emit(&mut sh.em);
    sh.em.flush();
    write_failure(started, &f);
    sh.exit(1)
}

fn write_failure(started: &OwnedFd, f: &StageFailure) {
    let mut text = f.to_string();
    text.truncate(libc::PIPE_BUF - 1);
    if nix::unistd::write(started, text.as_bytes()).is_err() {
        eprintln!("initscope-runtime: {f}");
    }
}

fn annotations(plan: &super::plan::Plan) -> BTreeMap<String, String> {
    plan.spec
        .annotations()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// A hook that failed inside init.
fn hook_failure(e: crate::hooks::HookError) -> StageFailure {
    StageFailure {
        stage: Stage::Init,
        step: "hook".into(),
        errno: e.errno(),
        message: e.to_string(),
        peer_gone: false,
    }
}

/// After procReady nobody waits on init's channel: say it on stderr (the container's)
/// and in the events, and exit.
fn late_failure(sh: &mut Shared, f: StageFailure) -> ! {
    f.emit(&mut sh.em);
    eprintln!("initscope-runtime: {f}");
    sh.exit(1)
}

/// Send `f` to `create` as procError (or on the error pipe if the channel is gone), exit.
pub(super) fn report(sh: &mut Shared, create: &Channel, f: StageFailure) -> ! {
    // In the log before create hears of it.
    f.emit(&mut sh.em);
    sh.em.flush();
    let payload = serde_json::to_value(&f).ok();
    if create
        .send(&mut sh.em, SyncMsg::ProcError, payload)
        .is_err()
    {
        f.send(&sh.err_pipe);
    }
    sh.exit(1)
}

/// The end of runc's nsexec for stage 2.
pub(super) fn finish_nsexec(sh: &mut Shared, to_parent: &Channel) -> Result<(), StageFailure> {
    let fail = |e: ChannelError| e.into_failure(Stage::Init);
    to_parent
        .expect(&mut sh.em, SyncMsg::Grandchild)
        .map_err(fail)?;
    nix::unistd::setsid().map_err(|e| StageFailure::sys(Stage::Init, "setsid", "setsid", e))?;
    nix::unistd::setgid(Gid::from_raw(0))
        .map_err(|e| StageFailure::sys(Stage::Init, "setgid", "setgid 0", e))?;
    nix::unistd::setuid(Uid::from_raw(0))
        .map_err(|e| StageFailure::sys(Stage::Init, "setuid", "setuid 0", e))?;
    if !sh.plan.setgroups_deny {
        nix::unistd::setgroups(&[])
            .map_err(|e| StageFailure::sys(Stage::Init, "setgroups", "setgroups []", e))?;
    }
    to_parent
        .send(&mut sh.em, SyncMsg::ChildFinish, None)
        .map_err(fail)?;
    Ok(())
}

fn rootfs_failure(e: rootfs::RootfsError) -> StageFailure {
    StageFailure {
        stage: Stage::Init,
        step: e.step().into(),
        errno: e.errno(),
        message: e.to_string(),
        peer_gone: false,
    }
}

/// Everything between the nsexec part and procReady; returns the resolved program (none
/// when the config has no `process`).
fn prepare(
    sh: &mut Shared,
    create: &Channel,
    console: Option<OwnedFd>,
    idmapped: rootfs::Detached,
) -> Result<Option<Program>, StageFailure> {
    let fail = |e: ChannelError| e.into_failure(Stage::Init);
    sh.em.pause_point("before-rootfs");
    // Relative bind-mount sources are relative to the bundle (runc chdirs there too).
    nix::unistd::chdir(&sh.plan.bundle).map_err(|e| {
        StageFailure::sys(
            Stage::Init,
            "chdir",
            format!("chdir to the bundle {}", sh.plan.bundle.display()),
            e,
        )
    })?;
    rootfs::prepare_with(&sh.plan.spec, &sh.plan.rootfs, idmapped, &mut |k| {
        sh.em.emit(k)
    })
    .map_err(rootfs_failure)?;

    // create runs the prestart and createRuntime hooks between these two messages.
    create
        .send(&mut sh.em, SyncMsg::ProcHooks, None)
        .map_err(fail)?;
    create
        .expect(&mut sh.em, SyncMsg::ProcResume)
        .map_err(fail)?;
    // createContainer: in the container's namespaces, before pivot_root, cwd the bundle.
    let hooks = sh.plan.hooks.clone();
    if hooks.is_some() {
        let state = crate::state::spec_state(
            &sh.plan.id,
            sh.em.pid(),
            &sh.plan.bundle,
            &annotations(&sh.plan),
        );
        lifecycle_hooks::run(
            HookKind::CreateContainer,
            hooks.as_ref(),
            &state,
            None,
            &mut sh.em,
        )
        .map_err(hook_failure)?;
    }

    sh.em.pause_point("before-pivot");
    rootfs::pivot(&sh.plan.rootfs, sh.plan.opts.no_pivot, &mut |k| {
        sh.em.emit(k)
    })
    .map_err(rootfs_failure)?;
    if let Some(h) = sh.plan.hostname.clone() {
        nix::unistd::sethostname(&h).map_err(|e| {
            StageFailure::sys(Stage::Init, "hostname", format!("sethostname {h:?}"), e)
        })?;
        sh.em.emit(EventKind::Hostname { hostname: h });
    }
    if let Some(d) = sh.plan.domainname.clone() {
        crate::sys::set_domainname(&d).map_err(|e| {
            StageFailure::sys(Stage::Init, "domainname", format!("setdomainname {d:?}"), e)
        })?;
        sh.em.emit(EventKind::Domainname { domainname: d });
    }
    // linux.sysctl: after the root switch, before finalize makes /proc/sys read-only.
    crate::sysctl::apply(&sh.plan.sysctl, &mut sh.em)?;
    // The console: after the mounts (the container's own /dev/ptmx), before finalize
    // makes /dev read-only (runc's place). setsid was done in the nsexec part.
    if let Some(socket) = console {
        let size = sh.plan.process.as_ref().and_then(|p| p.console_size);
        console::setup_console(
            ConsoleSetup {
                socket,
                ptmx: Path::new("/dev/ptmx"),
                console: Some(Path::new("/dev/console")),
                size,
            },
            &mut |k| sh.em.emit(k),
        )
        .map_err(console_failure)?;
    }
    rootfs::finalize(&sh.plan.spec, &mut |k| sh.em.emit(k)).map_err(rootfs_failure)?;

    let Some(p) = sh.plan.process.clone() else {
        // No process (allowed until start): nothing of the user's to apply.
        return Ok(None);
    };
    for r in &p.rlimits {
        r.apply(&mut sh.em)?;
    }
    join_keyring(sh)?;
    finalize_process(sh, create, &p).map(Some)
}

/// A new session keyring `_ses.<id>`, unless --no-new-keyring (runc's).
pub(super) fn join_keyring(sh: &mut Shared) -> Result<(), StageFailure> {
    if sh.plan.opts.no_new_keyring {
        return Ok(());
    }
    let name = format!("_ses.{}", sh.plan.id);
    match crate::sys::join_session_keyring(&name) {
        // No keyrings in this kernel (or not allowed here): runc carries on too.
        Ok(()) | Err(nix::Error::ENOSYS) => Ok(()),
        Err(e) => Err(StageFailure::sys(
            Stage::Init,
            "keyring",
            format!("join session keyring {name}"),
            e,
        )),
    }
}

pub(super) fn console_failure(e: crate::console::ConsoleError) -> StageFailure {
    StageFailure {
        stage: Stage::Init,
        step: "console".into(),
        errno: e.errno(),
        message: e.to_string(),
        peer_gone: false,
    }
}

/// runc's finalizeNamespace and what follows it: stdio to the user (terminal), seccomp
/// without noNewPrivileges (it needs the capabilities about to be dropped), bounding set,
/// user, capabilities, cwd, noNewPrivileges, the program looked up as that user, then
/// seccomp with noNewPrivileges — as late as possible, so the profile has to allow as
/// little of the runtime's own work as possible.
pub(super) fn finalize_process(
    sh: &mut Shared,
    create: &Channel,
    p: &ProcessPlan,
) -> Result<Program, StageFailure> {
    if p.terminal {
        crate::console::chown_stdio(p.uid).map_err(console_failure)?;
    }
    if !p.no_new_privs {
        load_seccomp(sh, create)?;
    }
    if let Some(caps) = &p.caps {
        caps.drop_bounding(&mut sh.em)?;
    }
    sh.em.pause_point("before-user");
    nix::sys::prctl::set_keepcaps(true)
        .map_err(|e| StageFailure::sys(Stage::Init, "caps", "prctl PR_SET_KEEPCAPS", e))?;
    switch_to(
        Identity {
            uid: p.uid,
            gid: p.gid,
            additional_gids: &p.additional_gids,
            umask: p.umask,
            setgroups_allowed: !sh.plan.setgroups_deny,
        },
        &mut sh.em,
    )?;
    nix::sys::prctl::set_keepcaps(false)
        .map_err(|e| StageFailure::sys(Stage::Init, "caps", "prctl PR_SET_KEEPCAPS", e))?;
    if let Some(caps) = &p.caps {
        caps.apply(&mut sh.em)?;
    }
    enter_cwd(&p.cwd)?;
    if p.no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(|e| {
            StageFailure::sys(Stage::Init, "no_new_privs", "prctl PR_SET_NO_NEW_PRIVS", e)
        })?;
        sh.em.emit(EventKind::NoNewPrivs {});
    }
    let program = Program::prepare(&p.args, &p.env, p.uid)?;
    if p.no_new_privs {
        load_seccomp(sh, create)?;
    }
    Ok(program)
}

/// chdir to `process.cwd`, then make sure the result is inside the container's root: a
/// directory reached through an inherited fd would be outside it, and getcwd says so
/// (CVE-2024-21626).
fn enter_cwd(cwd: &Path) -> Result<(), StageFailure> {
    nix::unistd::chdir(cwd).map_err(|e| {
        StageFailure::sys(
            Stage::Init,
            "cwd",
            format!("chdir to process.cwd {}", cwd.display()),
            e,
        )
    })?;
    nix::unistd::getcwd().map_err(|_| {
        StageFailure::new(
            Stage::Init,
            "cwd",
            format!(
                "process.cwd {} is outside the container's root: refused (CVE-2024-21626)",
                cwd.display()
            ),
        )
    })?;
    Ok(())
}

/// Load `linux.seccomp`, if any: the `seccomp` event first (after the load the profile may
/// forbid the write that carries it), then one seccomp(2). A notify listener fd is handed
/// to `create` by number (procSeccomp); create copies it out with pidfd_getfd, gives it
/// to the agent and answers procSeccompDone.
fn load_seccomp(sh: &mut Shared, create: &Channel) -> Result<(), StageFailure> {
    let Some(sc) = sh.plan.seccomp.clone() else {
        return Ok(());
    };
    sh.em.emit(sc.filter.event());
    sh.em.flush();
    let fd = sc.filter.load().map_err(|e| StageFailure {
        stage: Stage::Init,
        step: "seccomp".into(),
        errno: e.errno(),
        message: e.to_string(),
        peer_gone: false,
    })?;
    if let Some(fd) = fd {
        let fail = |e: ChannelError| e.into_failure(Stage::Init);
        create
            .send(
                &mut sh.em,
                SyncMsg::ProcSeccomp,
                Some(serde_json::json!({"fd": fd.as_raw_fd()})),
            )
            .map_err(fail)?;
        create
            .expect(&mut sh.em, SyncMsg::ProcSeccompDone)
            .map_err(fail)?;
    }
    Ok(())
}
