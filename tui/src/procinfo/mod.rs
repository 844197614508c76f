//! What /proc says about a live process: state letter, wchan, kernel stack, the syscall it
//! is in with its arguments decoded, the fd it waits on and who holds the other end,
//! its cgroups and freezer state. Shared by the viewer's details pane and `diagnose`.

pub mod blocked;
pub mod fds;
pub mod syscalls;
pub mod unix_diag;

use std::fs;

pub use fds::{FdInfo, FdKind, Holder};

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
    /// The kernel's parent.
    pub ppid: i32,
    /// R, S, D, T, t, Z, X, I.
    pub state: char,
    pub wchan: Option<String>,
    pub stack: Vec<String>,
    /// `None` while running in user space.
    pub syscall: Option<Syscall>,
    /// The thread whose syscall is shown when it is not the main one (a Go program's
    /// main thread parks in futex while another waits on the pipe that matters).
    pub thread: Option<i32>,
    /// The fd (or FIFO path) the syscall waits on, with the other end.
    pub waits_on: Option<FdInfo>,
    /// For poll/epoll: every fd it waits on (`waits_on` is the most telling one).
    pub polled: Vec<FdInfo>,
    /// A child it waits for (wait4/waitid).
    pub waits_for_child: Option<i32>,
    /// The signals it waits for (rt_sigtimedwait): `SIGCONT` for a held init.
    pub waits_for_signals: Vec<String>,
    /// `/proc/PID/cgroup` lines.
    pub cgroups: Vec<String>,
    /// `THAWED`, `FREEZING`, `FROZEN` (v1) or `frozen`/`thawed` (v2).
    pub freezer: Option<String>,
    /// Where the freezer state was read (`/sys/fs/cgroup/freezer/…/freezer.state`).
    pub freezer_file: Option<String>,
    /// Pid in each nested pid namespace (`NSpid`).
    pub nspid: Vec<i32>,
    /// Seconds since the process started.
    pub age_s: Option<f64>,
    /// A zombie's wait status (`/proc/PID/stat` exit_code): signal in the low 7 bits.
    pub exit_code: Option<i32>,
    /// The process tracing it (`TracerPid`), if any.
    pub tracer: Option<i32>,
    pub threads: u32,
    /// argv (`/proc/PID/cmdline`).
    pub cmdline: Vec<String>,
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

    /// In the cgroup freezer (frozen, or being frozen).
    pub fn frozen(&self) -> bool {
        self.freezer
            .as_deref()
            .is_some_and(|f| matches!(f, "FROZEN" | "FREEZING" | "frozen"))
            || self.stack.iter().any(|f| f == "__refrigerator")
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
        ppid: rest.get(1).and_then(|s| s.parse().ok()).unwrap_or(0),
        ..ProcInfo::default()
    };
    if state == 'Z' {
        info.exit_code = rest.get(49).and_then(|s| s.trim().parse().ok());
    }
    info.age_s = uptime().map(|up| up - start_ticks / clock_ticks());
    info.wchan = fs::read_to_string(format!("/proc/{pid}/wchan"))
        .ok()
        .filter(|w| !w.is_empty() && w != "0");
    info.stack = kernel_stack(pid, pid);
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(str::trim)
    };
    info.nspid = field("NSpid:")
        .map(|v| {
            v.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    info.tracer = field("TracerPid:")
        .and_then(|v| v.parse().ok())
        .filter(|&t| t != 0);
    info.threads = field("Threads:").and_then(|v| v.parse().ok()).unwrap_or(1);
    info.cmdline = fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default();
    info.cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default();
    if let Some((st, file)) = freezer_state(&info.cgroups) {
        info.freezer = Some(st);
        info.freezer_file = Some(file);
    }
    let mut sc = blocked::read_syscall(pid, pid);
    if info.threads > 1 && sc.as_ref().is_none_or(|s| s.name == "futex") {
        // Look for the thread that waits on something that says more.
        if let Some((tid, other)) = telling_thread(pid) {
            info.thread = Some(tid);
            info.wchan = fs::read_to_string(format!("/proc/{pid}/task/{tid}/wchan"))
                .ok()
                .filter(|w| !w.is_empty() && w != "0")
                .or(info.wchan);
            info.stack = kernel_stack(pid, tid);
            sc = Some(other);
        }
    }
    if let Some(sc) = sc {
        let b = blocked::blocked_on(pid, &sc);
        info.waits_on = b.fd;
        info.polled = b.polled;
        info.waits_for_child = b.child;
        info.waits_for_signals = b.signals;
        info.syscall = Some(sc);
    }
    Some(info)
}

fn kernel_stack(pid: i32, tid: i32) -> Vec<String> {
    fs::read_to_string(format!("/proc/{pid}/task/{tid}/stack"))
        .map(|s| {
            s.lines()
                .map(|l| {
                    let f = l.split_whitespace().nth(1).unwrap_or(l);
                    // `wait_for_partner+0x5c/0x100` → `wait_for_partner`
                    f.split('+').next().unwrap_or(f).to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A thread of `pid` blocked in a syscall about an fd or a child (not futex).
fn telling_thread(pid: i32) -> Option<(i32, Syscall)> {
    let rd = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut tids: Vec<i32> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&t| t != pid)
        .collect();
    tids.sort();
    tids.into_iter().take(64).find_map(|tid| {
        let sc = blocked::read_syscall(pid, tid)?;
        let shape = syscalls::lookup(sc.nr)?.1;
        (shape != syscalls::Args::Other).then_some((tid, sc))
    })
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

/// v1: `N:freezer:/path` → freezer.state; v2: `0::/path` → cgroup.events `frozen`.
/// Returns the state and the file it was read from.
fn freezer_state(cgroups: &[String]) -> Option<(String, String)> {
    for line in cgroups {
        let mut parts = line.splitn(3, ':');
        let (_, ctrl, path) = (parts.next()?, parts.next()?, parts.next()?);
        if ctrl.split(',').any(|c| c == "freezer") {
            let file = format!("/sys/fs/cgroup/freezer{path}/freezer.state");
            if let Ok(s) = fs::read_to_string(&file) {
                return Some((s.trim().to_string(), file));
            }
        }
    }
    for line in cgroups {
        if let Some(path) = line.strip_prefix("0::") {
            for root in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
                let file = format!("{root}{path}/cgroup.events");
                if let Ok(ev) = fs::read_to_string(&file) {
                    let frozen = ev.lines().any(|l| l == "frozen 1");
                    let st = if frozen { "frozen" } else { "thawed" };
                    return Some((st.to_string(), file));
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
    }
}
