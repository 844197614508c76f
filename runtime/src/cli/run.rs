//! `run`: create + start, and without `--detach` wait for the container's process,
//! forwarding the signals the runtime receives to it (as runc does), then delete the
//! container and exit with its status (128+N for a signal).

use std::os::fd::{AsFd, OwnedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::lifecycle::{command_emitter, continue_as, destroy_cgroup, release_init, run_poststop};
use super::tty;
use super::Cli;
use crate::bootstrap::create::{create, CreateRequest, Created};
use crate::error::RuntimeError;
use crate::events::emitter::Emitter;
use crate::events::flags::signal_name;
use crate::events::schema::{EventKind, Stage};
use crate::sys::{kill_raw, pidfd_open};

/// Signals `run` passes on to the container's process.
const FORWARDED: [Signal; 9] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGWINCH,
    Signal::SIGPWR,
];

pub fn run(cli: &Cli, req: &CreateRequest, detach: bool) -> Result<i32, RuntimeError> {
    let mask = if detach {
        SigSet::empty()
    } else {
        block_forwarded()?
    };
    let mut created = create(req)?;
    created.em.exit(0);
    // The terminal we proxy: its master was queued on our end during create.
    let master = match created.console.take() {
        Some(ours) => match tty::master_from(&ours) {
            Ok(m) => Some(m),
            Err(e) => {
                remove(cli, &created);
                return Err(e);
            }
        },
        None => None,
    };
    continue_as(&mut created.em, Stage::Start);
    if let Err(e) = release_init(&created.dir, &created.state, &mut created.em) {
        created.em.error("start", None, &e.to_string());
        created.em.exit(1);
        remove(cli, &created);
        return Err(e);
    }
    created.em.exit(0);
    if detach {
        return Ok(0);
    }
    let status = wait(&mut created, &mask, master.as_ref())?;
    remove(cli, &created);
    Ok(status)
}

/// Wait for init, forwarding signals; its exit status as a shell would report it.
fn wait(c: &mut Created, mask: &SigSet, master: Option<&OwnedFd>) -> Result<i32, RuntimeError> {
    continue_as(&mut c.em, Stage::Manage);
    let code = wait_forwarding(c.init_pid, mask, &mut c.em, master)?;
    c.em.emit(EventKind::State {
        status: "stopped".into(),
    });
    c.em.exit(0);
    Ok(code)
}

/// Block the signals `run` and a foreground `exec` pass on (before the stages exist, so
/// none is lost; the container's process starts with a clean mask: init unblocks them).
pub fn block_forwarded() -> Result<SigSet, RuntimeError> {
    let mut mask = SigSet::empty();
    for s in FORWARDED {
        mask.add(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .map_err(|e| RuntimeError::sys("sigprocmask", e))?;
    Ok(mask)
}

/// Wait for our child `pid`, passing the signals of `mask` (blocked) on to it; its exit
/// status as a shell reports it (128+N when killed by signal N). With `tty` (the pty
/// master of a proxied terminal) our stdin goes to it and its output to our stdout, our
/// terminal is raw meanwhile, and SIGWINCH resizes the pty instead of being forwarded.
pub fn wait_forwarding(
    pid: Pid,
    mask: &SigSet,
    em: &mut Emitter,
    tty: Option<&OwnedFd>,
) -> Result<i32, RuntimeError> {
    let sfd = SignalFd::with_flags(mask, SfdFlags::SFD_CLOEXEC)
        .map_err(|e| RuntimeError::sys("signalfd", e))?;
    let pidfd = pidfd_open(pid).map_err(|e| RuntimeError::io(format!("pidfd_open {pid}"), e))?;
    let _raw = tty.map(|m| {
        tty::copy_window_size(m.as_fd());
        tty::RawMode::enter()
    });
    let stdin = std::io::stdin();
    let mut stdin_open = tty.is_some();
    let mut master_open = tty.is_some();
    loop {
        let mut fds = vec![
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        if let (Some(m), true) = (tty, master_open) {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        em.flush();
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(RuntimeError::sys("poll", e)),
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            if let Ok(Some(info)) = sfd.read_signal() {
                let sig = info.ssi_signo as i32;
                match tty {
                    // The kernel signals the pty's foreground group itself on a resize.
                    Some(m) if sig == libc::SIGWINCH => tty::copy_window_size(m.as_fd()),
                    _ => {
                        if kill_raw(pid, sig).is_ok() {
                            em.emit(EventKind::Signal {
                                signal: signal_name(sig),
                                target_pid: pid.as_raw(),
                            });
                        }
                    }
                }
            }
        }
        let mut i = 2;
        if let (Some(m), true) = (tty, master_open) {
            if ready[i] {
                master_open = tty::pump(m.as_fd(), &mut std::io::stdout());
            }
            i += 1;
        }
        if stdin_open && ready[i] {
            if let Some(m) = tty {
                stdin_open = tty::pump(stdin.as_fd(), &mut tty::FdWriter(m.as_fd()));
            }
        }
        if ready[1] {
            let code = match waitpid(pid, Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(_, code)) => code,
                Ok(WaitStatus::Signaled(_, sig, _)) => 128 + sig as i32,
                Ok(_) => continue,
                Err(e) => return Err(RuntimeError::sys(format!("waitpid {pid}"), e)),
            };
            if let Some(m) = tty {
                tty::drain(m);
            }
            return Ok(code);
        }
    }
}

/// Tear the container down after `run`: whatever is left in its cgroup, the cgroup, the
/// state directory; then the poststop hooks.
fn remove(cli: &Cli, c: &Created) {
    let _ = kill_raw(c.init_pid, libc::SIGKILL);
    let _ = waitpid(c.init_pid, Some(WaitPidFlag::__WALL));
    if let Some(cg) = &c.state.cgroup {
        for pid in cg.pids().unwrap_or_default() {
            let _ = kill_raw(pid, libc::SIGKILL);
        }
        if let Err(e) = destroy_cgroup(cg) {
            eprintln!("initscope-runtime: warning: {e}");
        }
    }
    if let Err(e) = c.dir.remove() {
        eprintln!("initscope-runtime: warning: {e}");
    }
    if c.state.config.hooks().is_some() {
        let mut em = command_emitter(cli, &c.dir, Stage::Delete, false);
        run_poststop(&c.state, &mut em);
        em.exit(0);
    }
}
