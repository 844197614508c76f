//! Names and argument shapes of the syscalls a blocked bootstrap sits in, for the
//! machine's architecture (`/proc/PID/syscall` gives only the number).

/// What the first arguments of a blocking syscall mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Args {
    /// arg0 is an fd (read, write, recvmsg, accept4, …).
    Fd,
    /// openat(dirfd, path, …): arg1 is a path in the process's memory.
    OpenAt,
    /// open(path, …).
    Open,
    /// poll/ppoll(fds, nfds, …): an array of `struct pollfd`.
    Poll,
    /// select/pselect6(nfds, readfds, writefds, exceptfds, …): `fd_set` bitmaps
    /// (crun's container process waits for `start` this way on exec.fifo).
    Select,
    /// wait4/waitid: waits for a child.
    Wait,
    /// rt_sigtimedwait(set, …): waits for one of the signals in `set`.
    SigWait,
    /// Anything else.
    Other,
}

#[cfg(target_arch = "x86_64")]
const TABLE: &[(i64, &str, Args)] = &[
    (0, "read", Args::Fd),
    (1, "write", Args::Fd),
    (2, "open", Args::Open),
    (7, "poll", Args::Poll),
    (17, "pread64", Args::Fd),
    (19, "readv", Args::Fd),
    (20, "writev", Args::Fd),
    (23, "select", Args::Select),
    (34, "pause", Args::Other),
    (35, "nanosleep", Args::Other),
    (42, "connect", Args::Fd),
    (43, "accept", Args::Fd),
    (44, "sendto", Args::Fd),
    (45, "recvfrom", Args::Fd),
    (46, "sendmsg", Args::Fd),
    (47, "recvmsg", Args::Fd),
    (56, "clone", Args::Other),
    (59, "execve", Args::Other),
    (61, "wait4", Args::Wait),
    (62, "kill", Args::Other),
    (72, "fcntl", Args::Fd),
    (73, "flock", Args::Fd),
    (128, "rt_sigtimedwait", Args::SigWait),
    (130, "rt_sigsuspend", Args::Other),
    (155, "pivot_root", Args::Other),
    (165, "mount", Args::Other),
    (202, "futex", Args::Other),
    (230, "clock_nanosleep", Args::Other),
    (234, "tgkill", Args::Other),
    (232, "epoll_wait", Args::Fd),
    (247, "waitid", Args::Wait),
    (257, "openat", Args::OpenAt),
    (270, "pselect6", Args::Select),
    (271, "ppoll", Args::Poll),
    (272, "unshare", Args::Other),
    (281, "epoll_pwait", Args::Fd),
    (288, "accept4", Args::Fd),
    (299, "recvmmsg", Args::Fd),
    (308, "setns", Args::Fd),
    (435, "clone3", Args::Other),
    (437, "openat2", Args::OpenAt),
    (441, "epoll_pwait2", Args::Fd),
];

#[cfg(target_arch = "aarch64")]
const TABLE: &[(i64, &str, Args)] = &[
    (22, "epoll_pwait", Args::Fd),
    (25, "fcntl", Args::Fd),
    (32, "flock", Args::Fd),
    (40, "mount", Args::Other),
    (41, "pivot_root", Args::Other),
    (56, "openat", Args::OpenAt),
    (63, "read", Args::Fd),
    (64, "write", Args::Fd),
    (65, "readv", Args::Fd),
    (66, "writev", Args::Fd),
    (67, "pread64", Args::Fd),
    (72, "pselect6", Args::Select),
    (73, "ppoll", Args::Poll),
    (95, "waitid", Args::Wait),
    (97, "unshare", Args::Other),
    (98, "futex", Args::Other),
    (101, "nanosleep", Args::Other),
    (115, "clock_nanosleep", Args::Other),
    (129, "kill", Args::Other),
    (131, "tgkill", Args::Other),
    (133, "rt_sigsuspend", Args::Other),
    (137, "rt_sigtimedwait", Args::SigWait),
    (202, "accept", Args::Fd),
    (203, "connect", Args::Fd),
    (206, "sendto", Args::Fd),
    (207, "recvfrom", Args::Fd),
    (211, "sendmsg", Args::Fd),
    (212, "recvmsg", Args::Fd),
    (220, "clone", Args::Other),
    (221, "execve", Args::Other),
    (242, "accept4", Args::Fd),
    (243, "recvmmsg", Args::Fd),
    (260, "wait4", Args::Wait),
    (268, "setns", Args::Fd),
    (435, "clone3", Args::Other),
    (437, "openat2", Args::OpenAt),
    (441, "epoll_pwait2", Args::Fd),
];

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const TABLE: &[(i64, &str, Args)] = &[];

/// `257` → `("openat", OpenAt)` on x86_64.
pub fn lookup(nr: i64) -> Option<(&'static str, Args)> {
    TABLE
        .iter()
        .find(|(n, _, _)| *n == nr)
        .map(|&(_, name, a)| (name, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn knows_the_blocking_calls_of_a_bootstrap() {
        assert_eq!(lookup(257), Some(("openat", Args::OpenAt)));
        assert_eq!(lookup(0), Some(("read", Args::Fd)));
        assert_eq!(lookup(61), Some(("wait4", Args::Wait)));
        assert_eq!(lookup(270), Some(("pselect6", Args::Select)));
        assert_eq!(lookup(100_000), None);
    }
}
