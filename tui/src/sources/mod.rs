//! Live event sources: lines of JSON arriving from the runtime (a datagram socket, a FIFO,
//! a growing file) or from the kernel probe. Each can be polled by fd.

pub mod fifo;
pub mod probe;
pub mod socket;
pub mod stdio;

use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// One source of event lines.
pub trait Source {
    /// An fd to wait on (readable when lines may be there), if any.
    fn fd(&self) -> Option<RawFd>;
    /// Move every line available now into `out`; `Ok(false)` when the source has ended.
    fn drain(&mut self, out: &mut Vec<String>) -> std::io::Result<bool>;
    /// One line for the status bar / title ("runtime: socket /run/…").
    fn describe(&self) -> String;
}

/// The fds of the sources still open, after `extra` (e.g. the terminal's stdin).
pub fn open_fds(extra: Option<RawFd>, sources: &[Box<dyn Source>], open: &[bool]) -> Vec<RawFd> {
    extra
        .into_iter()
        .chain(
            sources
                .iter()
                .zip(open)
                .filter(|(_, o)| **o)
                .filter_map(|(s, _)| s.fd()),
        )
        .collect()
}

/// Wait until one of `fds` is readable, or `wait` passes; each fd's returned events.
pub fn wait_readable(fds: &[RawFd], wait: Duration) -> Vec<PollFlags> {
    // SAFETY: the caller's fds stay open for the duration of this call.
    let borrowed: Vec<BorrowedFd> = fds
        .iter()
        .map(|&fd| unsafe { BorrowedFd::borrow_raw(fd) })
        .collect();
    let mut polled: Vec<PollFd> = borrowed
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    let ms = wait.as_millis().min(i32::MAX as u128) as i32;
    let _ = poll(
        &mut polled,
        PollTimeout::try_from(ms).unwrap_or(PollTimeout::ZERO),
    );
    polled
        .iter()
        .map(|p| p.revents().unwrap_or(PollFlags::empty()))
        .collect()
}
