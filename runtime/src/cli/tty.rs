//! A terminal for a foreground `run` or `exec -t` without `--console-socket`, as runc
//! gives one: the stage that makes the pty gets one end of a socketpair as its console
//! socket, the runtime receives the master on the other and copies between its own
//! stdin/stdout and the master until the process exits — with its own terminal in raw
//! mode (restored afterwards) and window size changes passed on to the pty.

use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::error::RuntimeError;

/// The pty master sent on our end of the console socketpair
/// ([`crate::bootstrap::create::console_pair`]).
pub fn master_from(ours: &OwnedFd) -> Result<OwnedFd, RuntimeError> {
    crate::fdpass::recv_fd(ours)
        .map(|(fd, _)| fd)
        .map_err(|e| RuntimeError::Usage(format!("terminal: receiving the pty master: {e}")))
}

/// `Write` on a borrowed fd (the pty master).
pub struct FdWriter<'a>(pub BorrowedFd<'a>);

impl Write for FdWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        nix::unistd::write(self.0, buf).map_err(std::io::Error::from)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Our stdin in raw mode while it lives (when stdin is a terminal).
pub struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd()).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            cfmakeraw(&mut raw);
            let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        }
        RawMode { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, t);
        }
    }
}

/// Give the pty our terminal's size (no-op when stdout is not a terminal).
pub fn copy_window_size(master: BorrowedFd<'_>) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into our local; TIOCSWINSZ reads it.
    unsafe {
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row > 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Copy what is readable on `from` to `to`; false at EOF or error (EIO: the slave's last
/// holder is gone).
pub fn pump(from: BorrowedFd<'_>, to: &mut dyn Write) -> bool {
    let mut buf = [0u8; 4096];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => to.write_all(&buf[..n]).and_then(|()| to.flush()).is_ok(),
    }
}

/// Read whatever the pty still holds, without blocking (after the process exited).
pub fn drain(master: &OwnedFd) {
    let _ = nix::fcntl::fcntl(
        master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    let mut out = std::io::stdout();
    while pump(master.as_fd(), &mut out) {}
}
