//! `[2:INIT]` of an `exec` (runc's `linuxSetnsInit`): the process that joins a running
//! container. `[1:CHILD]` joined every namespace of the container by setns — none is
//! unshared — and cloned this process; because setns(CLONE_NEWPID) only applies to
//! children, this one is the first to be *inside* the container's pid namespace, under
//! whatever pid that namespace gives it (never 1: the container's init has it). Joining
//! the mount namespace already put its root and cwd at the container's root, so there is
//! no rootfs work: the console (a pty from the container's /dev/ptmx, not bound over
//! /dev/console), rlimits, session keyring, then the process settings exactly as for a
//! container's init (seccomp, user, capabilities, cwd, noNewPrivileges), and execve. Its
//! channel to the `exec` command stays open until the exec: EOF is success, procError
//! a failure.

use std::os::fd::OwnedFd;
use std::path::Path;

use super::channel::Channel;
use super::failure::StageFailure;
use super::init::{self, Outcome};
use super::sync::SyncMsg;
use super::{InitEnds, Shared, COMM_INIT};
use crate::console::{self, ConsoleSetup};
use crate::events::schema::Stage;
use crate::process::exec::Program;

/// Run stage 2 of an exec. Never returns: it execs the process or exits.
pub fn run(mut sh: Shared, to_parent: Channel, ends: InitEnds) -> ! {
    // Its pid in the container's pid namespace: stage_start's ns_pid shows it is not 1.
    let ns_pid = nix::unistd::getpid().as_raw();
    sh.begin_stage(Stage::Init, COMM_INIT, Some(ns_pid));
    let InitEnds {
        create, console, ..
    } = ends;
    if let Err(f) = init::finish_nsexec(&mut sh, &to_parent) {
        init::report(&mut sh, &create, f);
    }
    drop(to_parent);
    let program = match prepare(&mut sh, &create, console) {
        Ok(p) => p,
        Err(f) => init::report(&mut sh, &create, f),
    };
    // A detached exec's command exits right after this: the process must outlive it.
    let _ = nix::sys::prctl::set_pdeathsig(None);
    if let Err(e) = create.send(&mut sh.em, SyncMsg::ProcReady, None) {
        let f = e.into_failure(Stage::Init);
        f.emit(&mut sh.em);
        sh.exit(1);
    }
    crate::sys::reset_signals();
    init::exec_program(&mut sh, &program, Outcome::Channel(&create))
}

fn prepare(
    sh: &mut Shared,
    create: &Channel,
    console: Option<OwnedFd>,
) -> Result<Program, StageFailure> {
    let Some(p) = sh.plan.process.clone() else {
        return Err(StageFailure::new(
            Stage::Init,
            "exec",
            "exec without a process",
        ));
    };
    if let Some(socket) = console {
        // runc's setns init: a pty from the container's devpts; /dev/console stays the
        // container init's.
        console::setup_console(
            ConsoleSetup {
                socket,
                ptmx: Path::new("/dev/ptmx"),
                console: None,
                size: p.console_size,
            },
            &mut |k| sh.em.emit(k),
        )
        .map_err(init::console_failure)?;
    }
    for r in &p.rlimits {
        r.apply(&mut sh.em)?;
    }
    init::join_keyring(sh)?;
    init::finalize_process(sh, create, &p)
}
