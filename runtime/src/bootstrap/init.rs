//! `[2:INIT]` (runc's stage 2, then runc's Go `init`): PID 1 of the new pid namespace.
//!
//! It finishes the nsexec part with the parent (SYNC_GRANDCHILD → setsid, become root →
//! SYNC_CHILD_FINISH), then prepares the container, talking to `create` on its own
//! channel with runc's procSync names: rootfs → procHooks/procResume → pivot_root,
//! hostname, finalize → rlimits, user, capabilities, noNewPrivileges → executable lookup →
//! procReady. Then it blocks opening exec.fifo until `start`, and execs the program.

use std::os::fd::AsRawFd;

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};

use super::channel::{Channel, ChannelError};
use super::failure::StageFailure;
use super::sync::SyncMsg;
use super::{InitEnds, Shared, COMM_INIT};
use crate::events::schema::{EventKind, Stage};
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
        fifo_path,
    } = ends;
    if let Err(f) = finish_nsexec(&mut sh, &to_parent) {
        report(&mut sh, &create, f);
    }
    drop(to_parent);
    let program = match prepare(&mut sh, &create) {
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

    sh.em.emit(EventKind::WaitStart { fifo: fifo_path });
    sh.em.pause_point("before-wait-start");
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
            &mut sh,
            StageFailure::sys(Stage::Init, "wait_start", "open exec.fifo", e),
        ),
    };
    if let Err(e) = nix::unistd::write(&w, b"0") {
        late_failure(
            &mut sh,
            StageFailure::sys(Stage::Init, "wait_start", "write exec.fifo", e),
        );
    }
    drop(w);
    drop(fifo);

    crate::sys::reset_signals();
    // Nothing of the runtime's may reach the process: only stdio and --preserve-fds
    // (CVE-2024-21626). Everything else is marked close-on-exec.
    let keep = crate::fds::preserved(sh.plan.opts.preserve_fds);
    if let Err(crate::fds::FdsError::Sys { op, errno }) = crate::fds::sanitize_fds(&keep) {
        late_failure(&mut sh, StageFailure::sys(Stage::Init, "exec", op, errno));
    }
    sh.em.emit(EventKind::Exec {
        path: program.path.display().to_string(),
        args: program.args.clone(),
    });
    let err = program.exec();
    let f = StageFailure::sys(
        Stage::Init,
        "exec",
        format!("exec {}", program.path.display()),
        err,
    );
    let status = if err == nix::Error::ENOENT { 127 } else { 126 };
    f.emit(&mut sh.em);
    eprintln!("initscope-runtime: {f}");
    sh.exit(status)
}

/// After procReady nobody waits on init's channel: say it on stderr (the container's)
/// and in the events, and exit.
fn late_failure(sh: &mut Shared, f: StageFailure) -> ! {
    f.emit(&mut sh.em);
    eprintln!("initscope-runtime: {f}");
    sh.exit(1)
}

/// Send `f` to `create` as procError (or on the error pipe if the channel is gone), exit.
fn report(sh: &mut Shared, create: &Channel, f: StageFailure) -> ! {
    f.emit(&mut sh.em);
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
fn finish_nsexec(sh: &mut Shared, to_parent: &Channel) -> Result<(), StageFailure> {
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

/// Everything between the nsexec part and procReady; returns the resolved program.
fn prepare(sh: &mut Shared, create: &Channel) -> Result<Program, StageFailure> {
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
    rootfs::prepare(&sh.plan.spec, &sh.plan.rootfs, &mut |k| sh.em.emit(k))
        .map_err(rootfs_failure)?;

    // create runs the prestart and createRuntime hooks between these two messages.
    create
        .send(&mut sh.em, SyncMsg::ProcHooks, None)
        .map_err(fail)?;
    create
        .expect(&mut sh.em, SyncMsg::ProcResume)
        .map_err(fail)?;

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
    rootfs::finalize(&sh.plan.spec, &mut |k| sh.em.emit(k)).map_err(rootfs_failure)?;

    for r in sh.plan.process.rlimits.clone() {
        r.apply(&mut sh.em)?;
    }
    if !sh.plan.opts.no_new_keyring {
        let name = format!("_ses.{}", sh.plan.id);
        match crate::sys::join_session_keyring(&name) {
            // No keyrings in this kernel (or not allowed here): runc carries on too.
            Ok(()) | Err(nix::Error::ENOSYS) => {}
            Err(e) => {
                return Err(StageFailure::sys(
                    Stage::Init,
                    "keyring",
                    format!("join session keyring {name}"),
                    e,
                ))
            }
        }
    }
    finalize_process(sh)
}

/// runc's finalizeNamespace: bounding set, user, capabilities, cwd, noNewPrivileges; then
/// the program is looked up as the user it will run as.
fn finalize_process(sh: &mut Shared) -> Result<Program, StageFailure> {
    let p = sh.plan.process.clone();
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
    nix::unistd::chdir(&p.cwd).map_err(|e| {
        StageFailure::sys(
            Stage::Init,
            "cwd",
            format!("chdir to process.cwd {}", p.cwd.display()),
            e,
        )
    })?;
    if p.no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(|e| {
            StageFailure::sys(Stage::Init, "no_new_privs", "prctl PR_SET_NO_NEW_PRIVS", e)
        })?;
        sh.em.emit(EventKind::NoNewPrivs {});
    }
    // (seccomp — linux.seccomp — is loaded here, as late as possible.)
    Program::prepare(&p.args, &p.env, p.uid)
}
