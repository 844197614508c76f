//! Helpers shared by the seccomp tests: compile a profile, run a closure in a forked child
//! and read how it ended.
#![allow(dead_code)] // each test file uses a different part

use std::ffi::CString;
use std::path::Path;

use initscope_runtime::seccomp::{compile, Filter};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use oci_spec::runtime::LinuxSeccomp;

pub fn filter(v: serde_json::Value) -> Filter {
    let cfg: LinuxSeccomp = serde_json::from_value(v).expect("profile parses");
    compile(&cfg).expect("profile compiles")
}

/// Run `f` in a forked child and return how it ended. The child exits with `f`'s value; a
/// panic is exit 101.
pub fn in_child(f: impl FnOnce() -> i32) -> WaitStatus {
    // SAFETY: the child only makes syscalls and leaves with _exit; it never returns into
    // the test harness (whose other threads do not exist in it).
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => waitpid(child, None).expect("waitpid"),
    }
}

pub fn load_or_exit(f: &Filter) {
    if f.load().is_err() {
        // SAFETY: leaving the child; 200 marks "the load itself failed".
        unsafe { libc::_exit(200) }
    }
}

/// The errno of the last failed call, as an exit code.
pub fn errno() -> i32 {
    nix::errno::Errno::last_raw()
}

pub fn exited(s: WaitStatus) -> i32 {
    match s {
        WaitStatus::Exited(_, c) => c,
        other => panic!("child did not exit normally: {other:?}"),
    }
}

pub fn mkdir(path: &Path) -> i32 {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path that outlives the call.
    if unsafe { libc::mkdir(c.as_ptr(), 0o755) } == 0 {
        0
    } else {
        errno()
    }
}

pub const BUSYBOX: &str = "/bin/busybox";

pub const MKDIR_NAMES: [&str; 2] = ["mkdir", "mkdirat"];
