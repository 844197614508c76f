//! The syscall edge for the few calls `nix` does not wrap. Each function is small and
//! typed; every `unsafe` block of the runtime's own code lives here or in
//! `bootstrap/clone.rs`.

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::unistd::Pid;

/// `CLOCK_MONOTONIC` in nanoseconds: the clock of `bpf_ktime_get_ns`, so runtime and
/// kernel events line up.
pub fn monotonic_ns() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64,
        // CLOCK_MONOTONIC always exists on Linux; 0 marks an impossible failure.
        Err(_) => 0,
    }
}

/// `pidfd_open(2)`: a descriptor that becomes readable when `pid` exits.
pub fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us and nobody else owns it (it is O_CLOEXEC).
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Join a new session keyring named `name` (runc's `_ses.<id>`), so the container does not
/// share the host's. Returns the raw errno on failure.
pub fn join_session_keyring(name: &str) -> Result<(), nix::Error> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = CString::new(name).map_err(|_| nix::Error::EINVAL)?;
    // SAFETY: keyctl reads the NUL-terminated name, which outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if r < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// `setdomainname(2)`.
pub fn set_domainname(name: &str) -> Result<(), nix::Error> {
    let bytes = name.as_bytes();
    // SAFETY: the kernel reads exactly `len` bytes from the slice, which outlives the call.
    let r = unsafe { libc::setdomainname(bytes.as_ptr().cast(), bytes.len()) };
    if r < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// Reset the signal mask to empty and every signal's disposition to default, so the
/// container's process starts clean (Rust's runtime ignores SIGPIPE; `run` blocks the
/// signals it forwards).
pub fn reset_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: installing SIG_DFL has no handler code to be unsafe about.
        let _ = unsafe { sigaction(sig, &dfl) };
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&SigSet::empty()),
        None,
    );
}

/// Leave the process now, without exit handlers or stdio flushing: a stage is a copy of
/// `create`, and must not flush or clean up what belongs to `create`.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit ends the process; it touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// Send any signal number (real-time ones too, which `nix::sys::signal::Signal` lacks).
pub fn kill_raw(pid: Pid, sig: i32) -> Result<(), nix::Error> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    let r = unsafe { libc::kill(pid.as_raw(), sig) };
    if r < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// `setrlimit(resource, soft, hard)`.
pub fn setrlimit(resource: i32, soft: u64, hard: u64) -> Result<(), nix::Error> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct, which lives on our stack for the call.
    if unsafe { libc::setrlimit(resource as _, &lim) } != 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// `getrlimit(resource)` as (soft, hard).
pub fn getrlimit(resource: i32) -> Option<(u64, u64)> {
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct on our stack.
    (unsafe { libc::getrlimit(resource as _, &mut cur) } == 0)
        .then_some((cur.rlim_cur, cur.rlim_max))
}

/// `errno` as the lower-case words people expect in one-line errors
/// (`EACCES` → `permission denied`).
pub fn errno_text(errno: i32) -> String {
    let desc = nix::errno::Errno::from_raw(errno).desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => format!("errno {errno}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_words_are_lower_case() {
        assert_eq!(errno_text(libc::EACCES), "permission denied");
        assert_eq!(errno_text(libc::ENOENT), "no such file or directory");
    }

    #[test]
    fn monotonic_clock_advances() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(a > 0 && b >= a);
    }
}
