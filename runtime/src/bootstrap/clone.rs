//! The one way the runtime makes a process: a raw `clone(2)` with a NULL stack, which
//! behaves like `fork` (the child runs on a copy-on-write copy of our stack) but takes
//! flags — `CLONE_PARENT` makes the new stage a sibling, so every stage is a child of
//! `create`, as in runc.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::events::emitter::Emitter;
use crate::events::flags::clone_flag_names;
use crate::events::schema::{EventKind, Stage};
use crate::sys::monotonic_ns;

/// `CLONE_PARENT` as a raw flag word.
pub const CLONE_PARENT: u64 = libc::CLONE_PARENT as u64;
/// The exit signal in the low byte: the new process reports its death with SIGCHLD.
pub const EXIT_SIGCHLD: u64 = libc::SIGCHLD as u64;

/// Which side of the clone we are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloned {
    /// The new process.
    Child,
    /// The caller; the new process has this (host) pid.
    Parent(Pid),
}

/// `clone(flags)` like `fork`. Only safe to call while the process has a single thread
/// (the runtime never starts threads before the clones).
pub fn clone_process(flags: u64) -> Result<Cloned, Errno> {
    // SAFETY: with a NULL stack the kernel gives the child a copy of our address space and
    // stack, exactly as fork(2) does; no tid pointers or TLS are passed, so the kernel
    // writes to no memory of ours. The caller is single-threaded, so no lock can be held by
    // a thread that does not exist in the child.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match r {
        -1 => Err(Errno::last()),
        0 => Ok(Cloned::Child),
        pid => Ok(Cloned::Parent(Pid::from_raw(pid as i32))),
    }
}

/// `CLONE_INTO_CGROUP` (clone3 only).
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` of clone3(2), the kernel's stable ABI (version with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `clone3(CLONE_INTO_CGROUP)` like `fork`: the new process is born in the cgroup2
/// directory `cgroup` (opened `O_RDONLY|O_DIRECTORY`), without the global lock a write to
/// `cgroup.procs` takes (which costs a full RCU grace period). Single-threaded callers only.
pub fn clone_into_cgroup(cgroup: BorrowedFd<'_>) -> Result<Cloned, Errno> {
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: EXIT_SIGCHLD,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 reads `args` (size given) during the call; stack 0 means the child
    // runs on a copy-on-write copy of our stack, as with fork(2), and no tid/pidfd
    // pointers are set, so the kernel writes to no memory of ours. The caller is
    // single-threaded.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match r {
        -1 => Err(Errno::last()),
        0 => Ok(Cloned::Child),
        pid => Ok(Cloned::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Like [`clone_stage`], born in the cgroup2 directory `cgroup`.
pub fn clone_stage_into_cgroup(
    em: &mut Emitter,
    cgroup: BorrowedFd<'_>,
    child_stage: Stage,
) -> Result<Cloned, Errno> {
    // The new process must not inherit (and write again) our pending events.
    em.flush();
    let ts = monotonic_ns();
    let r = clone_into_cgroup(cgroup)?;
    if let Cloned::Parent(pid) = r {
        let flags = CLONE_INTO_CGROUP | EXIT_SIGCHLD;
        em.emit_at(
            ts,
            EventKind::Clone {
                flags: clone_flag_names(flags),
                flags_raw: flags,
                child_pid: pid.as_raw(),
                child_stage,
            },
        );
    }
    Ok(r)
}

/// Clone a new stage (our pending events written first) and, on the caller's side, emit
/// `clone` (stamped before the syscall, so the new stage's `stage_start` sorts after it).
pub fn clone_stage(em: &mut Emitter, flags: u64, child_stage: Stage) -> Result<Cloned, Errno> {
    // The new process must not inherit (and write again) our pending events.
    em.flush();
    let ts = monotonic_ns();
    let r = clone_process(flags)?;
    if let Cloned::Parent(pid) = r {
        em.emit_at(
            ts,
            EventKind::Clone {
                flags: clone_flag_names(flags),
                flags_raw: flags,
                child_pid: pid.as_raw(),
                child_stage,
            },
        );
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};

    #[test]
    fn clone_without_flags_is_a_fork() {
        match clone_process(EXIT_SIGCHLD).unwrap() {
            Cloned::Child => crate::sys::exit_now(7),
            Cloned::Parent(pid) => {
                assert_eq!(waitpid(pid, None).unwrap(), WaitStatus::Exited(pid, 7));
            }
        }
    }
}
