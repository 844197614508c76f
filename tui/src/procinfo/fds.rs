//! What an fd is and who holds the other end: pipes and FIFOs by inode over /proc/*/fd,
//! unix sockets through their peer's inode (sock_diag).

use std::fs;
use std::os::unix::fs::MetadataExt;

use super::unix_diag;

/// The kind of object an fd refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdKind {
    Pipe(u64),
    Socket(u64),
    /// A named pipe (exec.fifo is one).
    Fifo(String),
    File(String),
    Other(String),
}

/// A process holding an fd on the same object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: i32,
    pub comm: String,
    pub fd: i32,
    /// `r`, `w` or `rw` (from fdinfo flags).
    pub mode: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdInfo {
    pub fd: i32,
    /// `readlink /proc/PID/fd/N`.
    pub target: String,
    pub kind: FdKind,
    /// Who else holds it (pipes, FIFOs) or its peer (sockets); the process itself excluded.
    pub others: Vec<Holder>,
}

/// Describe fd `fd` of `pid`, and find the processes on the other end.
pub fn describe(pid: i32, fd: i32) -> Option<FdInfo> {
    let target = fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .ok()?
        .to_string_lossy()
        .into_owned();
    let kind = classify(pid, fd, &target);
    let others = match &kind {
        FdKind::Pipe(ino) => holders(|t, _| t == format!("pipe:[{ino}]"), pid),
        FdKind::Socket(ino) => match unix_diag::unix_peers()
            .ok()
            .and_then(|p| p.get(ino).copied())
        {
            Some(peer) => holders(|t, _| t == format!("socket:[{peer}]"), 0),
            None => Vec::new(),
        },
        FdKind::Fifo(path) => fifo_holders(path, pid),
        _ => Vec::new(),
    };
    Some(FdInfo {
        fd,
        target,
        kind,
        others,
    })
}

/// Processes that have `path` (a FIFO) open, or are blocked opening it: a blocked open
/// holds no fd yet, so `open_waiters` finds those through /proc/PID/syscall.
pub fn fifo_holders(path: &str, except: i32) -> Vec<Holder> {
    holders(|t, _| t == path, except)
}

fn classify(pid: i32, fd: i32, target: &str) -> FdKind {
    if let Some(ino) = bracket(target, "pipe:[") {
        // A FIFO opened by path also reads back as its path, not pipe:[…].
        return FdKind::Pipe(ino);
    }
    if let Some(ino) = bracket(target, "socket:[") {
        return FdKind::Socket(ino);
    }
    if target.starts_with('/') {
        let fifo = fs::metadata(format!("/proc/{pid}/fd/{fd}"))
            .map(|m| m.mode() & libc::S_IFMT == libc::S_IFIFO)
            .unwrap_or(false);
        return if fifo {
            FdKind::Fifo(target.to_string())
        } else {
            FdKind::File(target.to_string())
        };
    }
    FdKind::Other(target.to_string())
}

fn bracket(s: &str, prefix: &str) -> Option<u64> {
    s.strip_prefix(prefix)?.strip_suffix(']')?.parse().ok()
}

/// Every (pid, fd) on the host whose link matches, except in process `except`.
fn holders(matches: impl Fn(&str, i32) -> bool, except: i32) -> Vec<Holder> {
    let mut out = Vec::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == except {
            continue;
        }
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for f in fds.flatten() {
            let Some(fd) = f.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(t) = fs::read_link(f.path()) else {
                continue;
            };
            if matches(&t.to_string_lossy(), pid) {
                out.push(Holder {
                    pid,
                    comm: comm(pid),
                    fd,
                    mode: fd_mode(pid, fd),
                });
            }
        }
    }
    out
}

pub fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

/// `r`/`w`/`rw` from the `flags:` line of /proc/PID/fdinfo/N.
fn fd_mode(pid: i32, fd: i32) -> &'static str {
    let text = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
    let flags = text
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| i32::from_str_radix(v.trim(), 8).ok())
        .unwrap_or(0);
    match flags & libc::O_ACCMODE {
        libc::O_RDONLY => "r",
        libc::O_WRONLY => "w",
        _ => "rw",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_pipe_and_a_socketpair_name_their_other_end() {
        // The write end goes to a child, as between two bootstrap stages.
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdout(std::process::Stdio::from(w))
            .spawn()
            .unwrap();
        let me = std::process::id() as i32;
        let info = describe(me, r.as_raw_fd()).unwrap();
        assert!(matches!(info.kind, FdKind::Pipe(_)));
        let held = info.others.iter().find(|h| h.pid == child.id() as i32);
        assert_eq!(
            held.map(|h| (h.fd, h.mode, h.comm.as_str())),
            Some((1, "w", "sleep")),
            "{info:?}"
        );
        child.kill().unwrap();
        child.wait().unwrap();

        // A socket's peer is found through sock_diag (here we hold both ends).
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let info = describe(me, a.as_raw_fd()).unwrap();
        assert!(matches!(info.kind, FdKind::Socket(_)));
        assert!(
            info.others
                .iter()
                .any(|h| h.pid == me && h.fd == b.as_raw_fd()),
            "{info:?}"
        );
    }
}
