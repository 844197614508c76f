//! One hook process: fork+exec (std's `Command`, which starts no thread), then a single
//! `poll` loop over its pidfd and its stdout/stderr (kept up to a few KiB for the error
//! message) until it exits or its timeout expires.
//!
//! The state JSON is its stdin as a sealed memfd, read from offset 0: to the hook it reads
//! like runc's pipe (all the bytes, then EOF), but the runtime never blocks on a hook that
//! does not read, and never gets SIGPIPE from one that closed stdin early (init resets
//! SIGPIPE to its default before the startContainer hooks).

use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::Hook;

use super::{HookError, HookKind};
use crate::events::schema::EventKind;

/// How much of each output stream is kept for the error message.
const KEEP: usize = 4096;

/// Run one hook to completion (or to its timeout), emitting `hook_start` once it runs and
/// `hook` when it is gone. Errors name `hooks.<kind>[<index>]` and the hook's path.
pub fn run_hook(
    kind: HookKind,
    index: usize,
    hook: &Hook,
    state_json: &str,
    emit: &mut dyn FnMut(EventKind),
) -> Result<(), HookError> {
    let path = hook.path().display().to_string();
    let args = hook.args().clone().unwrap_or_default();
    let sys = |op, errno| HookError::Sys {
        kind,
        index,
        path: path.clone(),
        op,
        errno,
    };

    let mut cmd = Command::new(hook.path());
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear();
    for e in hook.env().as_deref().unwrap_or_default() {
        // `KEY=VALUE`; an entry without '=' cannot be passed through std and is dropped.
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    // Only stdio crosses into the hook: no fd of the runtime (a host directory, a channel,
    // --preserve-fds) leaks into a process that may run in the container (CVE-2024-21626).
    // SAFETY: the closure runs between fork and exec and makes one raw syscall, which is
    // async-signal-safe; it touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
    let stdin = state_memfd(state_json).map_err(|e| sys("memfd_create", e))?;
    // Its own process group, so a timeout kills what it started too.
    cmd.process_group(0)
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|source| HookError::Spawn {
        kind,
        index,
        path: path.clone(),
        source,
    })?;
    let pid = Pid::from_raw(child.id() as i32);
    // The child is unreaped until we wait for it, so its pid cannot be reused before this.
    let pidfd = match pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) => {
            kill_group(pid, None);
            let _ = child.wait();
            return Err(sys("pidfd_open", e));
        }
    };
    emit(EventKind::HookStart {
        hook: kind.as_str().to_string(),
        path: path.clone(),
        args: args.clone(),
        hook_pid: pid.as_raw(),
    });

    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| started + Duration::from_secs(t as u64));
    let mut io = Streams::new(&mut child).map_err(|e| sys("fcntl", e))?;
    let timed_out = match io.pump_until_exit(&pidfd, deadline) {
        Ok(t) => t,
        Err(e) => {
            kill_group(pid, Some(&pidfd));
            let _ = child.wait();
            return Err(sys("poll", e));
        }
    };
    if timed_out {
        kill_group(pid, Some(&pidfd));
    }
    io.drain();
    let status = child.wait().map_err(|e| {
        sys(
            "wait",
            nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })?;
    if timed_out {
        reap_group(pid);
    }
    let signal = status.signal().map(signal_name);
    emit(EventKind::Hook {
        hook: kind.as_str().to_string(),
        path: path.clone(),
        status: status.code(),
        signal: signal.clone(),
        duration_ns: started.elapsed().as_nanos() as u64,
    });

    if timed_out {
        return Err(HookError::Timeout {
            kind,
            index,
            path,
            timeout: hook.timeout().unwrap_or_default(),
        });
    }
    if status.success() {
        return Ok(());
    }
    Err(HookError::Failed {
        kind,
        index,
        path,
        status: match (status.code(), signal) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!("killed by {s}"),
            (None, None) => status.to_string(),
        },
        output: io.first_line(),
    })
}

/// The hook's output pipes, non-blocking.
struct Streams {
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    out: Vec<u8>,
    err: Vec<u8>,
}

impl Streams {
    fn new(child: &mut Child) -> nix::Result<Self> {
        let s = Streams {
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
            out: Vec::new(),
            err: Vec::new(),
        };
        if let Some(p) = &s.stdout {
            nonblocking(p)?;
        }
        if let Some(p) = &s.stderr {
            nonblocking(p)?;
        }
        Ok(s)
    }

    /// Collect output until the pidfd says the hook exited (false) or the deadline passed
    /// (true). Output held open by the hook's own children does not keep
    /// us waiting: the hook's exit ends the loop.
    fn pump_until_exit(&mut self, pidfd: &OwnedFd, deadline: Option<Instant>) -> nix::Result<bool> {
        loop {
            let timeout = match deadline {
                None => PollTimeout::NONE,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(true);
                    }
                    // Round up so we do not spin on a sub-millisecond remainder.
                    let ms = left.as_millis().saturating_add(1).min(i32::MAX as u128);
                    PollTimeout::try_from(ms as i32).unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
            if let Some(p) = &self.stdout {
                fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
            }
            if let Some(p) = &self.stderr {
                fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e),
                Ok(0) => continue, // the deadline check above decides
                Ok(_) => {}
            }
            let exited = fds[0].any().unwrap_or(false);
            drop(fds);
            self.collect();
            if exited {
                return Ok(false);
            }
        }
    }

    /// Read what is there now; a closed stream stops being polled.
    fn collect(&mut self) {
        read_some(&mut self.stdout, &mut self.out);
        read_some(&mut self.stderr, &mut self.err);
    }

    /// After the exit: what the hook wrote last, without waiting for its children.
    fn drain(&mut self) {
        self.collect();
        self.stdout = None;
        self.stderr = None;
    }

    fn first_line(&self) -> String {
        let pick = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
        };
        match (pick(&self.err), pick(&self.out)) {
            (Some(e), _) => e,
            (None, Some(o)) => format!("(stdout) {o}"),
            (None, None) => String::new(),
        }
    }
}

fn read_some<R: Read>(pipe: &mut Option<R>, keep: &mut Vec<u8>) {
    let Some(p) = pipe.as_mut() else { return };
    let mut buf = [0u8; 4096];
    loop {
        match p.read(&mut buf) {
            Ok(0) => {
                *pipe = None;
                return;
            }
            Ok(n) => {
                let room = KEEP.saturating_sub(keep.len());
                keep.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(_) => {
                *pipe = None;
                return;
            }
        }
    }
}

/// The state JSON in a memfd sealed against any change, positioned at its start.
fn state_memfd(state_json: &str) -> nix::Result<OwnedFd> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let fd = memfd_create(
        c"initscope-hook-state",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )?;
    let mut f = std::fs::File::from(fd);
    f.write_all(state_json.as_bytes())
        .and_then(|_| f.seek(SeekFrom::Start(0)).map(|_| ()))
        .map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK;
    fcntl(
        &f,
        FcntlArg::F_ADD_SEALS(nix::fcntl::SealFlag::from_bits_retain(seals)),
    )?;
    Ok(OwnedFd::from(f))
}

fn nonblocking(fd: &impl AsFd) -> nix::Result<()> {
    let fl = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(fl | OFlag::O_NONBLOCK)).map(|_| ())
}

/// SIGKILL the hook (through its pidfd: no pid reuse possible) and its process group.
fn kill_group(pid: Pid, pidfd: Option<&OwnedFd>) {
    if let Some(fd) = pidfd {
        // SAFETY: pidfd_send_signal takes an fd we own, a signal number and no siginfo.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }
    // The group is the hook's pid (process_group(0)); ESRCH when it is already gone.
    let _ = nix::sys::signal::killpg(pid, Signal::SIGKILL);
}

/// Processes of the killed group that were re-parented to us (when we are a subreaper or
/// pid 1, as `[2:INIT]` is) are reaped here, so none is left a zombie.
fn reap_group(pgid: Pid) {
    let until = Instant::now() + Duration::from_millis(200);
    loop {
        match waitpid(Pid::from_raw(-pgid.as_raw()), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Ok(WaitStatus::StillAlive) => return,
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(_) => return, // ECHILD: none of them is ours
        }
    }
}

/// `pidfd_open(2)`: readable when `pid` exits.
fn pidfd_open(pid: Pid) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: the kernel just gave us this fd (close-on-exec); nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn signal_name(sig: i32) -> String {
    Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {sig}"))
}
