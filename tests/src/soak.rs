//! Helpers for the soak and the benchmark: run a command and get what `wait4` says about
//! it (status, max RSS, CPU time) and its wall time; the viewer's binary; a process's RSS
//! and fd count from /proc.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// What one command cost.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// `WEXITSTATUS`, or 128+N when killed by signal N.
    pub code: i32,
    pub wall: Duration,
    /// `ru_maxrss` in KiB: the largest RSS of the command (and of the children it reaped).
    pub max_rss_kb: i64,
    /// User + system CPU time of the command and the children it reaped.
    pub cpu: Duration,
}

/// Run `cmd` (stdio to /dev/null unless set) and reap it with `wait4`.
pub fn run_measured(cmd: &mut Command) -> Measured {
    run_measured_within(cmd, None).expect("no timeout")
}

/// [`run_measured`], but a command still running after `timeout` is killed (SIGKILL)
/// and reaped, and `None` returned. The wait is a `poll` on a pidfd: no polling loop to
/// add jitter to the measurement.
pub fn run_measured_within(cmd: &mut Command, timeout: Option<Duration>) -> Option<Measured> {
    cmd.stdin(Stdio::null());
    let t0 = Instant::now();
    let child = cmd.spawn().expect("spawn");
    let pid = child.id() as i32;
    // The Child handle is not waited on: wait4 below reaps the process.
    std::mem::forget(child);
    let mut hung = false;
    if let Some(limit) = timeout {
        // SAFETY: pidfd_open takes integers and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
        if fd >= 0 {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd on our stack; then we close the fd we opened.
            let n = unsafe { libc::poll(&mut p, 1, limit.as_millis() as i32) };
            // SAFETY: as above.
            unsafe { libc::close(fd) };
            if n == 0 {
                hung = true;
                // SAFETY: kill with integers, on our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 on our own child, writing into locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EINTR),
            "wait4 {pid}"
        );
    }
    let wall = t0.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (!hung).then_some(Measured {
        code,
        wall,
        max_rss_kb: ru.ru_maxrss,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
    })
}

static BUILD_VIEWER: Once = Once::new();

/// The `initscope` binary beside this test's runtime build (built once if missing).
pub fn viewer_bin() -> PathBuf {
    let rt = crate::runtime_bin();
    let bin = rt.with_file_name("initscope");
    BUILD_VIEWER.call_once(|| {
        if bin.exists() {
            return;
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "--quiet", "-p", "initscope", "--bin", "initscope"])
            .current_dir(workspace)
            .status()
            .expect("run cargo build for initscope");
        assert!(st.success(), "building initscope failed");
    });
    bin
}

/// `VmRSS` of `pid` in KiB.
pub fn rss_kb(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// How many fds `pid` has open.
pub fn fd_count(pid: i32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|rd| rd.count())
}

/// The median of `v` (sorted in place).
pub fn median<T: Copy + Ord>(v: &mut [T]) -> T {
    v.sort();
    v[v.len() / 2]
}
