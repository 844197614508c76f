//! The syscall a process sits in (`/proc/PID/syscall`), its arguments in words, and what
//! it blocks on: the fd (or the FIFO it is opening), a child it waits for, the signals it
//! waits for.

use std::fs;
use std::os::unix::fs::FileExt;

use super::fds::{self, FdInfo, FdKind};
use super::syscalls::{self, Args};
use super::Syscall;

/// What a blocked syscall waits on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Blocked {
    pub fd: Option<FdInfo>,
    /// Every fd a poll/epoll waits on, described (the most telling one is `fd`).
    pub polled: Vec<FdInfo>,
    pub child: Option<i32>,
    /// `rt_sigtimedwait`'s set (`SIGCONT`).
    pub signals: Vec<String>,
}

/// `/proc/PID/task/TID/syscall`: "nr a0 … a5 sp pc", or "running", or "-1 …" (not in a
/// syscall). `tid` is `pid` for the main thread.
pub fn read_syscall(pid: i32, tid: i32) -> Option<Syscall> {
    let text = fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall")).ok()?;
    let mut it = text.split_whitespace();
    let nr: i64 = it.next()?.parse().ok()?;
    if nr < 0 {
        return None;
    }
    let mut args = [0u64; 6];
    for a in &mut args {
        *a = u64::from_str_radix(it.next()?.trim_start_matches("0x"), 16).ok()?;
    }
    let (name, shape) = syscalls::lookup(nr).unwrap_or(("?", Args::Other));
    let name = if name == "?" {
        format!("syscall {nr}")
    } else {
        name.to_string()
    };
    let decoded = decode(pid, &name, shape, &args);
    Some(Syscall {
        nr,
        name,
        args,
        decoded,
    })
}

fn decode(pid: i32, name: &str, shape: Args, a: &[u64; 6]) -> String {
    match shape {
        Args::Fd => format!("{name}(fd {})", a[0] as i32),
        Args::OpenAt => {
            let dir = if a[0] as i32 == libc::AT_FDCWD {
                "AT_FDCWD".to_string()
            } else {
                format!("fd {}", a[0] as i32)
            };
            format!(
                "{name}({dir}, {:?}, {})",
                read_cstr(pid, a[1]).unwrap_or_default(),
                open_flags(a[2])
            )
        }
        Args::Open => format!(
            "{name}({:?}, {})",
            read_cstr(pid, a[0]).unwrap_or_default(),
            open_flags(a[1])
        ),
        Args::Poll => {
            let fds = read_pollfds(pid, a[0], a[1]);
            format!("{name}(fds {:?})", fds)
        }
        Args::Select => format!("{name}(fds {:?})", read_fd_sets(pid, a)),
        Args::Wait => format!(
            "{name}(pid {})",
            if name == "waitid" {
                a[1] as i32
            } else {
                a[0] as i32
            }
        ),
        Args::SigWait => format!("{name}([{}])", read_sigset(pid, a[0]).join(", ")),
        Args::Other => name.to_string(),
    }
}

fn open_flags(f: u64) -> &'static str {
    match f as i32 & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        _ => "O_RDWR",
    }
}

/// Read `buf.len()` bytes at `addr` of the process's memory (root, or the same user).
fn read_mem(pid: i32, addr: u64, buf: &mut [u8]) -> Option<usize> {
    let mem = fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    mem.read_at(buf, addr).ok()
}

/// A NUL-terminated string from the process's memory.
fn read_cstr(pid: i32, addr: u64) -> Option<String> {
    let mut buf = vec![0u8; 512];
    let n = read_mem(pid, addr, &mut buf)?;
    let end = buf[..n].iter().position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

fn read_pollfds(pid: i32, addr: u64, n: u64) -> Vec<i32> {
    let n = n.min(64) as usize;
    let mut buf = vec![0u8; n * 8];
    if read_mem(pid, addr, &mut buf) != Some(buf.len()) {
        return Vec::new();
    }
    buf.chunks(8)
        .map(|c| i32::from_ne_bytes(c[..4].try_into().unwrap()))
        .collect()
}

/// The fds select/pselect6 wait on: the bits of its read, write and except `fd_set`s
/// (arguments 1–3, each `nfds` bits in 64-bit words; a null pointer is an empty set).
fn read_fd_sets(pid: i32, a: &[u64; 6]) -> Vec<i32> {
    let nfds = (a[0] as usize).min(4096);
    let words = nfds.div_ceil(64);
    let mut fds = Vec::new();
    for &addr in &a[1..4] {
        if addr == 0 || words == 0 {
            continue;
        }
        let mut buf = vec![0u8; words * 8];
        if read_mem(pid, addr, &mut buf) != Some(buf.len()) {
            continue;
        }
        for (w, chunk) in buf.chunks(8).enumerate() {
            let bits = u64::from_ne_bytes(chunk.try_into().unwrap());
            fds.extend(
                (0..64)
                    .filter(|b| bits & (1u64 << b) != 0)
                    .map(|b| (w * 64 + b) as i32)
                    .filter(|&fd| (fd as usize) < nfds),
            );
        }
    }
    fds.sort_unstable();
    fds.dedup();
    fds
}

/// The signal names in a kernel sigset (64 bits) in the process's memory.
fn read_sigset(pid: i32, addr: u64) -> Vec<String> {
    let mut buf = [0u8; 8];
    if read_mem(pid, addr, &mut buf) != Some(8) {
        return Vec::new();
    }
    let set = u64::from_ne_bytes(buf);
    (1..=64)
        .filter(|s| set & (1u64 << (s - 1)) != 0)
        .map(initscope_runtime::events::flags::signal_name)
        .collect()
}

/// What a blocked syscall waits on.
pub fn blocked_on(pid: i32, sc: &Syscall) -> Blocked {
    let mut out = Blocked::default();
    let Some((_, shape)) = syscalls::lookup(sc.nr) else {
        return out;
    };
    match shape {
        Args::Fd => out.fd = fds::describe(pid, sc.args[0] as i32),
        Args::Poll => {
            let list = read_pollfds(pid, sc.args[0], sc.args[1]);
            out.polled = fds::describe_all(pid, &list);
            out.fd = fds::most_telling(pid, &out.polled);
        }
        Args::Select => {
            let list = read_fd_sets(pid, &sc.args);
            out.polled = fds::describe_all(pid, &list);
            out.fd = fds::most_telling(pid, &out.polled);
        }
        Args::OpenAt | Args::Open => out.fd = opening(pid, sc),
        Args::Wait => {
            out.child = Some(if sc.name == "waitid" {
                sc.args[1] as i32
            } else {
                sc.args[0] as i32
            })
        }
        Args::SigWait => out.signals = read_sigset(pid, sc.args[0]),
        Args::Other => {}
    }
    // epoll_wait's fd is the epoll instance: what matters is what it watches.
    if let Some(FdInfo {
        kind: FdKind::Epoll(watched),
        ..
    }) = &out.fd
    {
        out.polled = fds::describe_all(pid, watched);
        if let Some(inner) = fds::most_telling(pid, &out.polled) {
            out.fd = Some(inner);
        }
    }
    out
}

/// The file an open/openat is opening (a FIFO blocks until the other end opens it).
fn opening(pid: i32, sc: &Syscall) -> Option<FdInfo> {
    let (dirfd, addr) = if sc.name.starts_with("openat") {
        (sc.args[0] as i32, sc.args[1])
    } else {
        (libc::AT_FDCWD, sc.args[0])
    };
    let path = read_cstr(pid, addr).unwrap_or_default();
    if path.is_empty() {
        return None;
    }
    // The path as this process sees it, reachable from here.
    let seen = host_path_at(pid, dirfd, &path);
    let meta = fs::metadata(&seen).ok();
    let is_fifo = meta
        .as_ref()
        .is_some_and(|m| std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()));
    // Reopening an fd (/proc/self/fd/N of exec.fifo, as runc and we do): the file behind it.
    let path = match fs::read_link(&seen) {
        Ok(t) if seen.starts_with("/proc/") => t.to_string_lossy().into_owned(),
        _ => path,
    };
    let kind = if is_fifo {
        FdKind::Fifo(path.clone())
    } else {
        FdKind::File(path.clone())
    };
    let others = if is_fifo {
        fds::fifo_holders(&path, pid)
    } else {
        Vec::new()
    };
    Some(FdInfo {
        fd: -1,
        target: path,
        kind,
        others,
        mount: meta.and_then(|m| {
            use std::os::unix::fs::MetadataExt;
            fds::mount_of_dev(pid, m.dev())
        }),
        peer_name: None,
    })
}

/// Where `path`, as process `pid` sees it relative to `dirfd`, is reachable from here:
/// `/proc/self` is that process's, an absolute path is under its root, a relative one
/// under its cwd or the directory `dirfd` names.
pub fn host_path_at(pid: i32, dirfd: i32, path: &str) -> String {
    if path.starts_with('/') || dirfd == libc::AT_FDCWD {
        return host_path(pid, path);
    }
    let dir = format!("/proc/{pid}/fd/{dirfd}");
    // A /proc opened before pivot_root (init keeps one): `self` there is that process.
    if fs::read_link(&dir).is_ok_and(|t| t == std::path::Path::new("/proc")) {
        for own in ["self/", "thread-self/"] {
            if let Some(rest) = path.strip_prefix(own) {
                return format!("/proc/{pid}/{rest}");
            }
        }
    }
    format!("{dir}/{path}")
}

/// [`host_path_at`] for a path relative to the cwd.
pub fn host_path(pid: i32, path: &str) -> String {
    for own in ["/proc/self/", "/proc/thread-self/"] {
        if let Some(rest) = path.strip_prefix(own) {
            return format!("/proc/{pid}/{rest}");
        }
    }
    if path.starts_with('/') {
        format!("/proc/{pid}/root{path}")
    } else {
        format!("/proc/{pid}/cwd/{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_as_the_process_sees_them() {
        assert_eq!(host_path(42, "/proc/self/fd/5"), "/proc/42/fd/5");
        assert_eq!(host_path(42, "/run/x"), "/proc/42/root/run/x");
        assert_eq!(host_path(42, "x"), "/proc/42/cwd/x");
        assert_eq!(
            host_path_at(42, libc::AT_FDCWD, "/proc/self/fd/4"),
            "/proc/42/fd/4"
        );
        assert_eq!(host_path_at(42, 7, "a/b"), "/proc/42/fd/7/a/b");
    }
}
