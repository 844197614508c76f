//! What an fd is and who holds the other end: pipes and FIFOs by inode over /proc/*/fd,
//! unix sockets through their peer's inode (sock_diag), pidfds by the pid in their fdinfo,
//! epoll instances by what they watch; files by the filesystem they are on.

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
    /// A pidfd: waits for that process to exit.
    Pidfd(i32),
    /// An epoll instance and the fds it watches.
    Epoll(Vec<i32>),
    Other(String),
}

impl FdKind {
    /// One word for what it is: `pipe`, `socket`, `FIFO`, `file`, `pidfd`, `epoll`.
    pub fn word(&self) -> &'static str {
        match self {
            FdKind::Pipe(_) => "pipe",
            FdKind::Socket(_) => "socket",
            FdKind::Fifo(_) => "FIFO",
            FdKind::File(_) => "file",
            FdKind::Pidfd(_) => "pidfd",
            FdKind::Epoll(_) => "epoll",
            FdKind::Other(_) => "other",
        }
    }
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
    /// Files and FIFOs: the filesystem they are on (`ext4 /dev/vda on /`).
    pub mount: Option<String>,
    /// Unix sockets: the path the peer is bound to (a notify or console socket).
    pub peer_name: Option<String>,
}

/// Describe fd `fd` of `pid`, and find the processes on the other end.
pub fn describe(pid: i32, fd: i32) -> Option<FdInfo> {
    let target = fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .ok()?
        .to_string_lossy()
        .into_owned();
    let kind = classify(pid, fd, &target);
    let mut peer_name = None;
    let others = match &kind {
        FdKind::Pipe(ino) => holders(|t, _| t == format!("pipe:[{ino}]"), pid),
        FdKind::Socket(ino) => match unix_diag::unix_sockets()
            .ok()
            .and_then(|m| m.get(ino).and_then(|s| s.peer).map(|p| (p, m)))
        {
            Some((peer, all)) => {
                peer_name = all.get(&peer).and_then(|s| s.name.clone());
                holders(|t, _| t == format!("socket:[{peer}]"), 0)
            }
            None => Vec::new(),
        },
        FdKind::Fifo(path) => fifo_holders(path, pid),
        FdKind::Pidfd(target) => vec![Holder {
            pid: *target,
            comm: comm(*target),
            fd: -1,
            mode: "",
        }],
        _ => Vec::new(),
    };
    let mount = match kind {
        FdKind::File(_) | FdKind::Fifo(_) => fdinfo_field(pid, fd, "mnt_id:")
            .and_then(|id| id.parse().ok())
            .and_then(|id| mount_by_id(pid, id)),
        _ => None,
    };
    Some(FdInfo {
        fd,
        target,
        kind,
        others,
        mount,
        peer_name,
    })
}

/// Describe several fds (a poll's or an epoll's), at most 16.
pub fn describe_all(pid: i32, fds: &[i32]) -> Vec<FdInfo> {
    fds.iter()
        .take(16)
        .filter_map(|&fd| describe(pid, fd))
        .collect()
}

/// Of several fds a process waits on (poll, epoll), the one that says most: a pipe,
/// socket or FIFO with another process on its other end, then a pidfd, else the first.
pub fn most_telling(pid: i32, all: &[FdInfo]) -> Option<FdInfo> {
    let rank = |f: &FdInfo| match (&f.kind, f.others.iter().any(|h| h.pid != pid)) {
        (FdKind::Pipe(_) | FdKind::Socket(_) | FdKind::Fifo(_), true) => 0,
        (FdKind::Pidfd(_), _) => 1,
        (FdKind::Pipe(_) | FdKind::Socket(_) | FdKind::Fifo(_), false) => 2,
        _ => 3,
    };
    all.iter().min_by_key(|f| rank(f)).cloned()
}

/// A field of /proc/PID/fdinfo/FD (`mnt_id:`, `Pid:`).
fn fdinfo_field(pid: i32, fd: i32, key: &str) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
}

/// `ext4 /dev/vda on /` for the mount with this id, as the process sees its mounts.
fn mount_by_id(pid: i32, id: u64) -> Option<String> {
    mount_where(pid, |f| {
        f.first().and_then(|x| x.parse::<u64>().ok()) == Some(id)
    })
}

/// The mount a device number belongs to, as the process sees its mounts.
pub fn mount_of_dev(pid: i32, dev: u64) -> Option<String> {
    let want = format!("{}:{}", libc::major(dev), libc::minor(dev));
    mount_where(pid, |f| f.get(2) == Some(&want.as_str()))
}

fn mount_where(pid: i32, pick: impl Fn(&[&str]) -> bool) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/mountinfo")).ok()?;
    // id parent major:minor root mountpoint options [optional…] - fstype source super
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        if !pick(&f) {
            return None;
        }
        let dash = f.iter().position(|x| *x == "-")?;
        Some(format!(
            "{} {} on {}",
            f.get(dash + 1)?,
            f.get(dash + 2)?,
            f.get(4)?
        ))
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
    if target == "anon_inode:[pidfd]" || target.starts_with("pidfd:") {
        if let Some(p) = fdinfo_field(pid, fd, "Pid:").and_then(|p| p.parse().ok()) {
            return FdKind::Pidfd(p);
        }
    }
    if target == "anon_inode:[eventpoll]" {
        let text = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
        let watched = text
            .lines()
            .filter_map(|l| l.strip_prefix("tfd:"))
            .filter_map(|v| v.split_whitespace().next()?.parse().ok())
            .collect();
        return FdKind::Epoll(watched);
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
