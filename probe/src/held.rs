//! A command started *held*: forked, waiting on a pipe before it execs, so the probe can
//! track its pid before it does anything worth seeing.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, pipe2, ForkResult, Pid};

/// What can go wrong starting a held command.
#[derive(Debug, thiserror::Error)]
pub enum HeldError {
    #[error("no command given")]
    Empty,
    #[error("{0}: command not found in PATH")]
    NotFound(String),
    #[error("{0}: argument contains a NUL byte")]
    Nul(String),
    #[error("starting {cmd}: {what}: {err}")]
    Sys {
        cmd: String,
        what: &'static str,
        err: nix::errno::Errno,
    },
    #[error("{cmd}: exec failed: {err}")]
    Exec { cmd: String, err: nix::errno::Errno },
}

/// How a command ended, as a shell would report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// The shell's `$?`: the code, or 128 + the signal.
    pub fn status(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

/// A forked child that execs `argv` only once [`HeldChild::release`] is called.
/// Dropped unreleased, it is killed and reaped.
pub struct HeldChild {
    pid: Pid,
    cmd: String,
    release: Option<File>,
    exec_error: Option<File>,
    /// Set once reaped: later waits return it (a second waitpid would find nothing, and
    /// `wait` would spin).
    exit: Option<Exit>,
}

impl HeldChild {
    /// Fork a child that waits, then execs `argv[0]` (searched in `PATH`) with `argv`.
    pub fn spawn(argv: &[String]) -> Result<HeldChild, HeldError> {
        let first = argv.first().ok_or(HeldError::Empty)?;
        let path = resolve(first).ok_or_else(|| HeldError::NotFound(first.clone()))?;
        // Everything the child needs is allocated before fork: after it, only
        // async-signal-safe calls (read, execv, write, _exit).
        let cpath =
            CString::new(path.as_os_str().as_bytes()).map_err(|_| HeldError::Nul(first.clone()))?;
        let cargs = argv
            .iter()
            .map(|a| CString::new(a.as_bytes()).map_err(|_| HeldError::Nul(a.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        let sys = |what, err| HeldError::Sys {
            cmd: first.clone(),
            what,
            err,
        };
        let (go_r, go_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| sys("pipe", e))?;
        let (err_r, err_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| sys("pipe", e))?;

        // SAFETY: the child only calls async-signal-safe functions before exec or _exit.
        match unsafe { fork() }.map_err(|e| sys("fork", e))? {
            ForkResult::Child => child(go_r, go_w, err_r, err_w, &cpath, &cargs),
            ForkResult::Parent { child } => {
                drop(go_r);
                drop(err_w);
                Ok(HeldChild {
                    pid: child,
                    cmd: first.clone(),
                    release: Some(File::from(go_w)),
                    exec_error: Some(File::from(err_r)),
                    exit: None,
                })
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// Let the child exec; returns once it has (or with the reason it could not).
    pub fn release(&mut self) -> Result<(), HeldError> {
        if let Some(mut w) = self.release.take() {
            let _ = w.write_all(&[1]);
        }
        let Some(mut r) = self.exec_error.take() else {
            return Ok(());
        };
        let mut buf = [0u8; 4];
        // EOF (0 bytes): the pipe closed on exec, so the exec succeeded.
        match r.read(&mut buf) {
            Ok(4) => Err(HeldError::Exec {
                cmd: self.cmd.clone(),
                err: nix::errno::Errno::from_raw(i32::from_ne_bytes(buf)),
            }),
            _ => Ok(()),
        }
    }

    /// Has it exited? Reaps it if so; once reaped, its exit every time (as std's Child).
    pub fn try_wait(&mut self) -> Result<Option<Exit>, HeldError> {
        self.wait_flags(Some(WaitPidFlag::WNOHANG))
    }

    /// Wait for it to exit and reap it.
    pub fn wait(&mut self) -> Result<Exit, HeldError> {
        loop {
            if let Some(e) = self.wait_flags(None)? {
                return Ok(e);
            }
        }
    }

    /// Send a signal (ignored once it is reaped).
    pub fn signal(&self, sig: Signal) {
        if self.exit.is_none() {
            let _ = kill(self.pid, sig);
        }
    }

    fn wait_flags(&mut self, flags: Option<WaitPidFlag>) -> Result<Option<Exit>, HeldError> {
        if self.exit.is_some() {
            return Ok(self.exit);
        }
        match waitpid(self.pid, flags) {
            Ok(WaitStatus::Exited(_, code)) => {
                self.exit = Some(Exit::Code(code));
                Ok(self.exit)
            }
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                self.exit = Some(Exit::Signal(sig as i32));
                Ok(self.exit)
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(None),
            Err(e) => Err(HeldError::Sys {
                cmd: self.cmd.clone(),
                what: "waitpid",
                err: e,
            }),
        }
    }
}

impl Drop for HeldChild {
    fn drop(&mut self) {
        if self.release.is_some() {
            // never released: it must not run the command
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        } else if self.exit.is_none() {
            // released and maybe still running: left to run; reaped if it has ended
            let _ = waitpid(self.pid, Some(WaitPidFlag::WNOHANG));
        }
    }
}

/// In the child: wait for the go byte, then exec. Never returns.
fn child(
    go_r: OwnedFd,
    go_w: OwnedFd,
    err_r: OwnedFd,
    err_w: OwnedFd,
    path: &CString,
    args: &[CString],
) -> ! {
    drop(go_w);
    drop(err_r);
    let mut byte = [0u8; 1];
    // 1 byte: go. EOF: the parent went away without releasing us, so do nothing.
    if !matches!(nix::unistd::read(&go_r, &mut byte), Ok(1)) {
        // SAFETY: _exit is async-signal-safe and skips the parent's atexit handlers.
        unsafe { libc::_exit(127) };
    }
    let err = match nix::unistd::execv(path, args) {
        Err(e) => e as i32,
        Ok(never) => match never {},
    };
    let _ = nix::unistd::write(&err_w, &err.to_ne_bytes());
    // SAFETY: as above.
    unsafe { libc::_exit(127) }
}

/// `cmd` as given when it holds a `/`, else the first executable in `PATH`.
fn resolve(cmd: &str) -> Option<PathBuf> {
    if cmd.contains('/') {
        return Some(PathBuf::from(cmd));
    }
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(OsStr::new(cmd)))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_until_released_then_reports_exit() {
        let mut c = HeldChild::spawn(&["sh".into(), "-c".into(), "exit 7".into()]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(c.try_wait().unwrap(), None, "ran before release");
        c.release().unwrap();
        assert_eq!(c.wait().unwrap(), Exit::Code(7));
    }

    #[test]
    fn missing_command_and_exec_failure_are_clear() {
        let e = HeldChild::spawn(&["no-such-command-xyz".into()])
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "no-such-command-xyz: command not found in PATH"
        );
        let mut c = HeldChild::spawn(&["/proc/self/status".into()]).unwrap();
        let e = c.release().unwrap_err().to_string();
        assert!(e.contains("exec failed"), "{e}");
        assert_eq!(c.wait().unwrap(), Exit::Code(127));
    }

    #[test]
    fn waiting_again_after_it_was_reaped_returns_its_exit() {
        let mut c = HeldChild::spawn(&["sh".into(), "-c".into(), "exit 3".into()]).unwrap();
        c.release().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while c.try_wait().unwrap().is_none() {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Both used to find nothing to reap: try_wait said None, wait spun forever.
        assert_eq!(c.try_wait().unwrap(), Some(Exit::Code(3)));
        assert_eq!(c.wait().unwrap(), Exit::Code(3));
    }

    #[test]
    fn dropped_unreleased_is_killed_and_reaped() {
        let c = HeldChild::spawn(&["true".into()]).unwrap();
        let pid = c.pid();
        drop(c);
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }
}
