//! Keeping a traced command's output off the screen: while it is started, stdin comes
//! from /dev/null and stdout/stderr go to a log file; our own fds are put back after.

use std::fs::File;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout};

/// Run `f` (which starts a child) with fds 0, 1, 2 redirected; restores them after.
pub fn with_redirected<T>(log: &Path, f: impl FnOnce() -> T) -> std::io::Result<T> {
    let null = File::open("/dev/null")?;
    let out = File::options().create(true).append(true).open(log)?;
    let saved: Vec<OwnedFd> = (0..3)
        .map(|fd| {
            // SAFETY: 0, 1 and 2 are open for the whole life of the process.
            unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()
        })
        .collect::<Result<_, _>>()?;
    dup2_stdin(&null)?;
    dup2_stdout(&out)?;
    dup2_stderr(&out)?;
    let r = f();
    let _ = dup2_stdin(&saved[0]);
    let _ = dup2_stdout(&saved[1]);
    let _ = dup2_stderr(&saved[2]);
    Ok(r)
}

/// Run `f` (which starts a child) with fd 1 pointing at our stderr, so the child's stdout
/// does not mix with what we print there; restores fd 1 after.
pub fn with_stdout_on_stderr<T>(f: impl FnOnce() -> T) -> std::io::Result<T> {
    // SAFETY: 1 and 2 are open for the whole life of the process.
    let saved = unsafe { BorrowedFd::borrow_raw(1) }.try_clone_to_owned()?;
    // SAFETY: as above.
    dup2_stdout(unsafe { BorrowedFd::borrow_raw(2) })?;
    let r = f();
    dup2_stdout(&saved)?;
    Ok(r)
}
