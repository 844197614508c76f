//! `sanitize_fds` for real (the CVE-2024-21626 fix): a child opens fds the way a runtime
//! has them (a host directory, files, pipes, close-on-exec or not), keeps two as
//! `--preserve-fds 2`, and execs `busybox sleep`; the test lists `/proc/<pid>/fd` of the
//! exec'd program. Without the sanitizer the directory fd leaks: the check can fail.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::time::{Duration, Instant};

use initscope_runtime::fds::{preserved, sanitize_fds};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{fork, ForkResult, Pid};

/// Open what a runtime has open (none close-on-exec), put fds at 3 and 4 (3 with
/// close-on-exec set: preserving must clear it), optionally sanitize, exec sleep.
fn child(sanitize: bool) -> i32 {
    let dir = match open("/", OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()) {
        Ok(d) => d.into_raw_fd(),
        Err(_) => return 10,
    };
    let (r, w) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(_) => return 11,
    };
    // SAFETY: dup2 onto fixed numbers in this single-threaded child; the old fds there
    // (inherited from the harness) are replaced, which is the point.
    unsafe {
        libc::dup2(r.as_raw_fd(), 3);
        libc::dup2(w.as_raw_fd(), 4);
        libc::fcntl(3, libc::F_SETFD, libc::FD_CLOEXEC);
        // The leak of CVE-2024-21626: a host directory fd at a guessable number.
        libc::dup2(dir, 9);
    }
    let _null = open("/dev/null", OFlag::O_RDONLY, Mode::empty()).map(|f| f.into_raw_fd());
    std::mem::forget((r, w));
    if sanitize && sanitize_fds(&preserved(2)).is_err() {
        return 12;
    }
    let prog = CString::new("/bin/busybox").unwrap();
    let args = [CString::new("sleep").unwrap(), CString::new("5").unwrap()];
    let _ = nix::unistd::execv(&prog, &args);
    13
}

fn fds_after_exec(sanitize: bool) -> BTreeSet<RawFd> {
    // SAFETY: the child only makes syscalls, then execs or _exits.
    let pid = match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            let code = child(sanitize);
            // SAFETY: leaving the child.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    let until = Instant::now() + Duration::from_secs(5);
    let comm = |p: Pid| std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
    // comm is the executable's file name, whatever argv[0] says.
    while comm(pid).trim() != "busybox" {
        assert!(Instant::now() < until, "the child never exec'd sleep");
        std::thread::sleep(Duration::from_millis(5));
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
    fds
}

#[test]
fn only_stdio_and_preserved_fds_survive_the_exec() {
    let fds = fds_after_exec(true);
    assert_eq!(fds, BTreeSet::from([0, 1, 2, 3, 4]));
}

#[test]
fn without_the_sanitizer_the_directory_fd_leaks() {
    let fds = fds_after_exec(false);
    assert!(fds.contains(&9), "{fds:?}");
    assert!(!fds.contains(&3), "fd 3 was close-on-exec: {fds:?}");
}
