//! Live event sources: lines of JSON arriving from the runtime (a datagram socket, a FIFO,
//! a growing file) or from the kernel probe. Each can be polled by fd.

pub mod fifo;
pub mod probe;
pub mod socket;
pub mod stdio;

use std::os::fd::RawFd;

/// One source of event lines.
pub trait Source {
    /// An fd to wait on (readable when lines may be there), if any.
    fn fd(&self) -> Option<RawFd>;
    /// Move every line available now into `out`; `Ok(false)` when the source has ended.
    fn drain(&mut self, out: &mut Vec<String>) -> std::io::Result<bool>;
    /// One line for the status bar / title ("runtime: socket /run/…").
    fn describe(&self) -> String;
}
