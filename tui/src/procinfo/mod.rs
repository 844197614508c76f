//! What /proc says about a live process: state letter, wchan, kernel stack, the syscall it
//! is in with its arguments decoded, the fd it waits on and who holds the other end,
//! its cgroups and freezer state. Shared by the viewer's details pane and `diagnose`.

pub mod fds;
pub mod syscalls;
pub mod unix_diag;

use std::fs;
use std::os::unix::fs::FileExt;

pub use fds::{FdInfo, FdKind, Holder};
use syscalls::Args;

/// The syscall a process is in (`/proc/PID/syscall`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscall {
    pub nr: i64,
    pub name: String,
    pub args: [u64; 6],
    /// The arguments in words: `openat(AT_FDCWD, "/run/…/exec.fifo")`, `read(fd 5)`.
    pub decoded: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcInfo {
    pub pid: i32,
    pub comm: String,
    /// R, S, D, T, t, Z, X, I.
    pub state: char,
    pub wchan: Option<String>,
    pub stack: Vec<String>,
    /// `None` while running in user space.
    pub syscall: Option<Syscall>,
    /// The fd (or FIFO path) the syscall waits on, with the other end.
    pub waits_on: Option<FdInfo>,
    /// A child it waits for (wait4/waitid).
    pub waits_for_child: Option<i32>,
    /// `/proc/PID/cgroup` lines.
    pub cgroups: Vec<String>,
    /// `THAWED`, `FREEZING`, `FROZEN` (v1) or `frozen`/`thawed` (v2).
    pub freezer: Option<String>,
    /// Pid in each nested pid namespace (`NSpid`).
    pub nspid: Vec<i32>,
    /// Seconds since the process started.
    pub age_s: Option<f64>,
}

impl ProcInfo {
    pub fn state_name(&self) -> &'static str {
        match self.state {
            'R' => "running",
            'S' => "sleeping",
            'D' => "uninterruptible (D)",
            'T' => "stopped",
            't' => "traced",
            'Z' => "zombie",
            'X' => "dead",
            'I' => "idle",
            _ => "?",
        }
    }
}

/// Read everything about `pid`; `None` when it no longer exists.
pub fn inspect(pid: i32) -> Option<ProcInfo> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may hold spaces and parentheses: the state follows the last ')'.
    let close = stat.rfind(')')?;
    let comm = stat[stat.find('(')? + 1..close].to_string();
    let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
    let state = rest.first()?.chars().next()?;
    let start_ticks: f64 = rest.get(19).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let mut info = ProcInfo {
        pid,
        comm,
        state,
        ..ProcInfo::default()
    };
    info.age_s = uptime().map(|up| up - start_ticks / clock_ticks());
    info.wchan = fs::read_to_string(format!("/proc/{pid}/wchan"))
        .ok()
        .filter(|w| !w.is_empty() && w != "0");
    info.stack = fs::read_to_string(format!("/proc/{pid}/stack"))
        .map(|s| {
            s.lines()
                .map(|l| l.split_whitespace().nth(1).unwrap_or(l).to_string())
                .collect()
        })
        .unwrap_or_default();
    info.nspid = fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("NSpid:")).map(|v| {
                v.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
        })
        .unwrap_or_default();
    info.cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default();
    info.freezer = freezer_state(&info.cgroups);
    if let Some(sc) = read_syscall(pid) {
        let (waits_on, child) = blocked_on(pid, &sc);
        info.waits_on = waits_on;
        info.waits_for_child = child;
        info.syscall = Some(sc);
    }
    Some(info)
}

fn uptime() -> Option<f64> {
    fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn clock_ticks() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64
}

/// `/proc/PID/syscall`: "nr a0 … a5 sp pc", or "running", or "-1 …" (not in a syscall).
fn read_syscall(pid: i32) -> Option<Syscall> {
    let text = fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
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
        Args::Wait => format!(
            "{name}(pid {})",
            if name == "waitid" {
                a[1] as i32
            } else {
                a[0] as i32
            }
        ),
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

/// A NUL-terminated string from the process's memory (root, or the same user).
fn read_cstr(pid: i32, addr: u64) -> Option<String> {
    let mem = fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    let mut buf = vec![0u8; 512];
    let n = mem.read_at(&mut buf, addr).ok()?;
    let end = buf[..n].iter().position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

fn read_pollfds(pid: i32, addr: u64, n: u64) -> Vec<i32> {
    let n = n.min(64) as usize;
    let Ok(mem) = fs::File::open(format!("/proc/{pid}/mem")) else {
        return Vec::new();
    };
    let mut buf = vec![0u8; n * 8];
    if mem.read_exact_at(&mut buf, addr).is_err() {
        return Vec::new();
    }
    buf.chunks(8)
        .map(|c| i32::from_ne_bytes(c[..4].try_into().unwrap()))
        .collect()
}

/// The fd a blocked syscall waits on (or the FIFO it is opening), and a waited-for child.
fn blocked_on(pid: i32, sc: &Syscall) -> (Option<FdInfo>, Option<i32>) {
    match syscalls::lookup(sc.nr).map(|x| x.1) {
        Some(Args::Fd) => (fds::describe(pid, sc.args[0] as i32), None),
        Some(Args::Poll) => {
            let fds = read_pollfds(pid, sc.args[0], sc.args[1]);
            (fds.first().and_then(|&fd| fds::describe(pid, fd)), None)
        }
        Some(Args::OpenAt) | Some(Args::Open) => {
            let addr = if sc.name.starts_with("openat") {
                sc.args[1]
            } else {
                sc.args[0]
            };
            let path = read_cstr(pid, addr).unwrap_or_default();
            if path.is_empty() {
                return (None, None);
            }
            // The path as this process sees it, reachable from here.
            let seen = host_path(pid, &path);
            let is_fifo = fs::metadata(&seen)
                .map(|m| std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()))
                .unwrap_or(false);
            // Reopening an fd (runc: /proc/self/fd/N of exec.fifo): name the file behind it.
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
            (
                Some(FdInfo {
                    fd: -1,
                    target: path,
                    kind,
                    others,
                }),
                None,
            )
        }
        Some(Args::Wait) => {
            let p = if sc.name == "waitid" {
                sc.args[1] as i32
            } else {
                sc.args[0] as i32
            };
            (None, Some(p))
        }
        _ => (None, None),
    }
}

/// Where `path`, as process `pid` sees it, is reachable from here: `/proc/self` is
/// that process's, an absolute path is under its root, a relative one under its cwd.
fn host_path(pid: i32, path: &str) -> String {
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

/// v1: `N:freezer:/path` → freezer.state; v2: `0::/path` → cgroup.events `frozen`.
fn freezer_state(cgroups: &[String]) -> Option<String> {
    for line in cgroups {
        let mut parts = line.splitn(3, ':');
        let (_, ctrl, path) = (parts.next()?, parts.next()?, parts.next()?);
        if ctrl.split(',').any(|c| c == "freezer") {
            if let Ok(s) = fs::read_to_string(format!("/sys/fs/cgroup/freezer{path}/freezer.state"))
            {
                return Some(s.trim().to_string());
            }
        }
    }
    for line in cgroups {
        if let Some(path) = line.strip_prefix("0::") {
            for root in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
                if let Ok(ev) = fs::read_to_string(format!("{root}{path}/cgroup.events")) {
                    let frozen = ev.lines().any(|l| l == "frozen 1");
                    return Some(if frozen { "frozen" } else { "thawed" }.to_string());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn a_child_blocked_reading_a_pipe_shows_the_writer() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        // `cat` reads stdin (the pipe); we keep the write end.
        let mut child = Command::new("cat")
            .stdin(Stdio::from(r))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let mut info = None;
        for _ in 0..100 {
            let i = inspect(pid).unwrap();
            if i.state == 'S' && i.syscall.as_ref().is_some_and(|s| s.name == "read") {
                info = Some(i);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let info = info.expect("cat blocks in read");
        assert_eq!(info.comm, "cat");
        assert_eq!(info.syscall.as_ref().unwrap().decoded, "read(fd 0)");
        let on = info.waits_on.as_ref().unwrap();
        assert!(matches!(on.kind, FdKind::Pipe(_)));
        let me = std::process::id() as i32;
        use std::os::fd::AsRawFd;
        assert!(
            on.others
                .iter()
                .any(|h| h.pid == me && h.fd == w.as_raw_fd() && h.mode == "w"),
            "{on:?}"
        );
        assert!(!info.cgroups.is_empty());
        assert!(info.age_s.unwrap() >= 0.0);
        drop(w);
        child.wait().unwrap();
        assert!(inspect(pid).is_none());
    }

    #[test]
    fn a_process_blocked_opening_a_fifo_waits_for_a_reader() {
        // As init does with exec.fifo until `start` opens the other end.
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("exec.fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("echo 0 > {}", fifo.display()))
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let mut info = None;
        for _ in 0..100 {
            let i = inspect(pid).unwrap();
            if i.waits_on.is_some() {
                info = Some(i);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let info = info.expect("sh blocks opening the FIFO");
        let on = info.waits_on.unwrap();
        assert_eq!(on.kind, FdKind::Fifo(fifo.display().to_string()));
        assert!(on.others.is_empty(), "nobody has the read end yet: {on:?}");
        assert!(info.syscall.unwrap().decoded.contains("O_WRONLY"));
        // `start`: open the read end, the writer goes on and exits.
        let mut r = std::fs::File::open(&fifo).unwrap();
        let mut buf = String::new();
        std::io::Read::read_to_string(&mut r, &mut buf).unwrap();
        assert_eq!(buf, "0\n");
        child.wait().unwrap();
        assert_eq!(host_path(42, "/proc/self/fd/5"), "/proc/42/fd/5");
        assert_eq!(host_path(42, "/run/x"), "/proc/42/root/run/x");
    }
}
