//! What file descriptors the container's process gets: stdio, the `--preserve-fds` ones
//! (3 … 3+N-1), and nothing else (CVE-2024-21626: a leaked runtime fd to a host directory
//! let the process escape through `/proc/self/fd/N`).
//!
//! [`sanitize_fds`] runs in `[2:INIT]` right before `execve`: it only sets close-on-exec
//! (it closes nothing), so the runtime's own fds keep working until the exec.

use std::os::fd::RawFd;

#[derive(Debug, thiserror::Error)]
pub enum FdsError {
    #[error("preserve fds: {op}: {errno}")]
    Sys { op: &'static str, errno: nix::Error },
}

/// The fds `--preserve-fds N` keeps: 3, 4, …, 3+N-1.
pub fn preserved(n: u32) -> Vec<RawFd> {
    (0..n).map(|i| 3 + i as RawFd).collect()
}

/// Mark every fd from 3 up close-on-exec except those in `keep`, whose close-on-exec is
/// cleared (they must survive the exec whatever flags they were opened with). A `keep` fd
/// that is not open is skipped. Fds 0–2 are not touched.
pub fn sanitize_fds(keep: &[RawFd]) -> Result<(), FdsError> {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&fd| fd >= 3).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut from: RawFd = 3;
    for &fd in &keep {
        if fd > from {
            cloexec_range(from as u32, (fd - 1) as u32)?;
        }
        match nix::fcntl::fcntl(
            // SAFETY: the fd is borrowed for this one fcntl call.
            unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        ) {
            Ok(_) | Err(nix::Error::EBADF) => {}
            Err(errno) => {
                return Err(FdsError::Sys {
                    op: "clear FD_CLOEXEC",
                    errno,
                })
            }
        }
        from = fd + 1;
    }
    cloexec_range(from as u32, u32::MAX)
}

/// `close_range(first, last, CLOSE_RANGE_CLOEXEC)`, or one `fcntl` per open fd listed in
/// `/proc/self/fd` on kernels before 5.11.
fn cloexec_range(first: u32, last: u32) -> Result<(), FdsError> {
    // SAFETY: close_range only changes the flags of this process's fds; no memory is passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            last,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return Ok(());
    }
    match nix::Error::last() {
        nix::Error::ENOSYS | nix::Error::EINVAL => cloexec_by_listing(first, last),
        errno => Err(FdsError::Sys {
            op: "close_range",
            errno,
        }),
    }
}

fn cloexec_by_listing(first: u32, last: u32) -> Result<(), FdsError> {
    let dir = std::fs::read_dir("/proc/self/fd").map_err(|e| FdsError::Sys {
        op: "read /proc/self/fd",
        errno: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    let fds: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= first && fd <= last)
        .collect();
    for fd in fds {
        // SAFETY: the fd is borrowed for this one fcntl call; EBADF (the listing's own fd,
        // closed since) is ignored.
        let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd as RawFd) };
        match nix::fcntl::fcntl(
            b,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        ) {
            Ok(_) | Err(nix::Error::EBADF) => {}
            Err(errno) => return Err(FdsError::Sys { op: "fcntl", errno }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preserve_fds_counts_from_three() {
        assert_eq!(preserved(0), Vec::<RawFd>::new());
        assert_eq!(preserved(3), vec![3, 4, 5]);
    }

    #[test]
    fn listing_fallback_marks_fds_close_on_exec() {
        // The fallback runs in this process: only touch an fd we own.
        let (r, _w) = nix::unistd::pipe().unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&r);
        nix::fcntl::fcntl(
            &r,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .unwrap();
        cloexec_by_listing(fd as u32, fd as u32).unwrap();
        let flags = nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_ne!(flags & libc::FD_CLOEXEC, 0);
    }
}
