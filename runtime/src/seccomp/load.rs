//! Loading a compiled [`Filter`]: one `seccomp(2)` call, nothing allocated on success, so it
//! can run as the very last step before `execve`.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::{Filter, SeccompError};

impl Filter {
    /// Install the filter on the calling process (one thread: init has no others).
    ///
    /// Needs `no_new_privs` or `CAP_SYS_ADMIN`: call it right before `execve` when
    /// `process.noNewPrivileges` is set, and before dropping capabilities otherwise (runc's
    /// order). Returns the listener fd when a rule uses `SCMP_ACT_NOTIFY`.
    pub fn load(&self) -> Result<Option<OwnedFd>, SeccompError> {
        let r = match set_mode_filter(&self.program, self.flags) {
            // SPEC_ALLOW was only our default (as runc's): a kernel without it loads without.
            Err(libc::EINVAL) if self.spec_allow_default => set_mode_filter(
                &self.program,
                self.flags & !libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            ),
            r => r,
        };
        match r {
            Ok(fd) if self.flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 => {
                // SAFETY: with NEW_LISTENER the kernel returns a fresh fd that nobody else owns.
                Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
            }
            Ok(_) => Ok(None),
            Err(errno) => Err(SeccompError::Load {
                errno,
                message: load_error_text(errno, &self.summary.flags),
            }),
        }
    }
}

fn load_error_text(errno: i32, flags: &[String]) -> String {
    let e = nix::errno::Errno::from_raw(errno);
    match errno {
        libc::EACCES => format!(
            "{e}: a filter needs noNewPrivileges or CAP_SYS_ADMIN (set process.noNewPrivileges, or load it before capabilities are dropped)"
        ),
        libc::EINVAL if !flags.is_empty() => format!(
            "{e}: the kernel refused the program or one of the flags {}",
            flags.join(", ")
        ),
        libc::ENOMEM => format!("{e}: the program is too large for the kernel"),
        _ => format!("{e}"),
    }
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`: the fd (with NEW_LISTENER) or 0, or
/// the errno.
fn set_mode_filter(program: &[libc::sock_filter], flags: libc::c_ulong) -> Result<RawFd, i32> {
    let Ok(len) = libc::c_ushort::try_from(program.len()) else {
        return Err(libc::ENOMEM);
    };
    let prog = libc::sock_fprog {
        len,
        // The kernel only reads the program; the cast to *mut is what the C struct asks for.
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `len` valid instructions that outlive the call; the kernel
    // copies them and writes nothing back.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(nix::errno::Errno::last_raw());
    }
    Ok(r as RawFd)
}
