//! `process.terminal` with `--console-socket`, as runc does it.
//!
//! - `create` connects to the `--console-socket` path ([`connect_console_socket`]) in the
//!   runtime's namespaces, before the clones; init inherits the socket.
//! - `[2:INIT]`, after pivot_root and before the root is made read-only, calls
//!   [`setup_console`]: a pty pair from the container's own `/dev/ptmx` (its devpts
//!   instance), `process.consoleSize` applied, the slave bind-mounted over `/dev/console`,
//!   the master sent over the socket (one `SCM_RIGHTS` message, runc's protocol: the data
//!   is the master's path, `/dev/ptmx`), the slave made stdin/stdout/stderr and the
//!   controlling terminal (init is a session leader already: `setsid` in the nsexec part).
//! - The client side (conmon, containerd's shim, `initscope run`, tests):
//!   [`recv_console_fd`] on the listening socket.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::Process;

use crate::events::schema::EventKind;
use crate::fdpass::{self, FdPassError};

/// Terminal size in character cells (`process.consoleSize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WinSize {
    pub rows: u16,
    pub cols: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("--console-socket {path}: {source}")]
    Socket {
        path: String,
        #[source]
        source: FdPassError,
    },
    #[error("console: open {path}: {errno}")]
    Open { path: String, errno: nix::Error },
    #[error("console: {op}: {errno}")]
    Sys { op: &'static str, errno: nix::Error },
    #[error("console: bind the pty over {path}: {errno}")]
    Mount { path: String, errno: nix::Error },
    #[error("console: send the pty master over --console-socket: {0}")]
    Send(#[source] FdPassError),
}

impl ConsoleError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            ConsoleError::Open { errno, .. }
            | ConsoleError::Sys { errno, .. }
            | ConsoleError::Mount { errno, .. } => Some(*errno as i32),
            ConsoleError::Socket { source, .. } | ConsoleError::Send(source) => source.errno(),
            ConsoleError::Invalid { .. } => None,
        }
    }
}

/// `process.consoleSize` as a [`WinSize`]: `None` unless both sides are non-zero (runc
/// resizes only then); too large a side is an error naming it.
pub fn console_size(process: &Process) -> Result<Option<WinSize>, ConsoleError> {
    let Some(b) = process.console_size() else {
        return Ok(None);
    };
    let side = |v: u64, field| {
        u16::try_from(v).map_err(|_| ConsoleError::Invalid {
            field,
            reason: format!("{v} is larger than a terminal can be (65535)"),
        })
    };
    let rows = side(b.height(), "process.consoleSize.height")?;
    let cols = side(b.width(), "process.consoleSize.width")?;
    Ok((rows != 0 && cols != 0).then_some(WinSize { rows, cols }))
}

/// Connect to the `--console-socket` path (in `create`, where the path resolves).
pub fn connect_console_socket(path: &Path) -> Result<OwnedFd, ConsoleError> {
    fdpass::connect_unix(path).map_err(|source| ConsoleError::Socket {
        path: path.display().to_string(),
        source,
    })
}

/// What [`setup_console`] needs; in a container: `ptmx` `/dev/ptmx`, `console`
/// `Some("/dev/console")`.
pub struct ConsoleSetup<'a> {
    /// The connected `--console-socket` (closed when setup is done).
    pub socket: OwnedFd,
    /// The ptmx of the container's devpts instance.
    pub ptmx: &'a Path,
    /// Where to bind the slave (created as an empty file when missing); `None`: nowhere.
    pub console: Option<&'a Path>,
    /// `process.consoleSize`, from [`console_size`].
    pub size: Option<WinSize>,
}

/// Make the pty, hand its master to the console socket and become its slave. Emits the
/// `console` event. Returns the slave's name as the container sees it (`/dev/pts/0`).
pub fn setup_console(
    setup: ConsoleSetup<'_>,
    emit: &mut dyn FnMut(EventKind),
) -> Result<String, ConsoleError> {
    let ptmx_path = setup.ptmx.display().to_string();
    let master = open(
        setup.ptmx,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| ConsoleError::Open {
        path: ptmx_path.clone(),
        errno,
    })?;
    unlockpt(master.as_fd())?;
    let name = format!("/dev/pts/{}", ptsnum(master.as_fd())?);
    // The slave straight from the master: no path lookup that a mount could redirect.
    let slave = peer(master.as_fd())?;
    if let Some(size) = setup.size {
        set_winsize(master.as_fd(), size)?;
    }
    if let Some(console) = setup.console {
        bind_over(slave.as_fd(), console)?;
    }
    fdpass::send_fd(&setup.socket, master.as_fd(), ptmx_path.as_bytes())
        .map_err(ConsoleError::Send)?;
    drop(master);
    drop(setup.socket);
    let stdio = [
        nix::unistd::dup2_stdin(&slave),
        nix::unistd::dup2_stdout(&slave),
        nix::unistd::dup2_stderr(&slave),
    ];
    if let Some(Err(errno)) = stdio.into_iter().find(Result::is_err) {
        return Err(ConsoleError::Sys {
            op: "dup2 the pty onto stdio",
            errno,
        });
    }
    drop(slave);
    // SAFETY: TIOCSCTTY on fd 0 takes an int argument (0: do not steal from another session).
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(ConsoleError::Sys {
            op: "ioctl TIOCSCTTY (make the pty the controlling terminal)",
            errno: nix::Error::last(),
        });
    }
    emit(EventKind::Console {
        pty: name.clone(),
        rows: setup.size.map(|s| s.rows),
        cols: setup.size.map(|s| s.cols),
    });
    Ok(name)
}

/// runc's fixStdioPermissions: give stdio (the pty) to the user the process will run as,
/// so it can use its terminal. `/dev/null` and what the kernel refuses are left alone.
pub fn chown_stdio(uid: u32) -> Result<(), ConsoleError> {
    let null = nix::sys::stat::stat("/dev/null").ok().map(|s| s.st_rdev);
    for fd in 0..=2 {
        // SAFETY: fds 0-2 are borrowed for the two calls below only.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let Ok(st) = nix::sys::stat::fstat(fd) else {
            continue;
        };
        if st.st_uid == uid || Some(st.st_rdev) == null {
            continue;
        }
        match nix::unistd::fchown(fd, Some(nix::unistd::Uid::from_raw(uid)), None) {
            Ok(()) | Err(nix::Error::EINVAL | nix::Error::EPERM | nix::Error::EROFS) => {}
            Err(errno) => {
                return Err(ConsoleError::Sys {
                    op: "fchown stdio",
                    errno,
                })
            }
        }
    }
    Ok(())
}

/// Accept one connection on the console socket and receive the pty master and its name.
pub fn recv_console_fd(listener: &UnixListener) -> Result<(OwnedFd, String), ConsoleError> {
    let sock_err = |source| ConsoleError::Socket {
        path: listener
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
            .unwrap_or_default(),
        source,
    };
    let (conn, _) = listener.accept().map_err(|e| {
        sock_err(FdPassError::Sys {
            op: "accept",
            errno: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })
    })?;
    let (fd, name) = fdpass::recv_fd(&conn).map_err(sock_err)?;
    Ok((fd, String::from_utf8_lossy(&name).into_owned()))
}

fn ioctl_err(op: &'static str) -> ConsoleError {
    ConsoleError::Sys {
        op,
        errno: nix::Error::last(),
    }
}

fn unlockpt(master: BorrowedFd<'_>) -> Result<(), ConsoleError> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the pointer, which outlives the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(ioctl_err("ioctl TIOCSPTLCK (unlock the pty)"));
    }
    Ok(())
}

fn ptsnum(master: BorrowedFd<'_>) -> Result<u32, ConsoleError> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int to the pointer, which outlives the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) } < 0 {
        return Err(ioctl_err("ioctl TIOCGPTN (pty number)"));
    }
    Ok(n)
}

fn peer(master: BorrowedFd<'_>) -> Result<OwnedFd, ConsoleError> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags by value and returns a new fd.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    if fd < 0 {
        return Err(ioctl_err("ioctl TIOCGPTPEER (open the pty slave)"));
    }
    // SAFETY: the kernel just returned this fd; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn set_winsize(master: BorrowedFd<'_>, size: WinSize) -> Result<(), ConsoleError> {
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which outlives the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(ioctl_err("ioctl TIOCSWINSZ (process.consoleSize)"));
    }
    Ok(())
}

/// Bind the slave over `target` with the new mount API: the source is the fd itself, so
/// neither `/proc` nor the slave's path is needed, and a symlink at `target` is not
/// followed.
fn bind_over(slave: BorrowedFd<'_>, target: &Path) -> Result<(), ConsoleError> {
    let path = target.display().to_string();
    let mount_err = |errno| ConsoleError::Mount {
        path: path.clone(),
        errno,
    };
    // runc creates /dev/console as an empty 0666 file when it is not there.
    match open(
        target,
        OFlag::O_CREAT | OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o666),
    ) {
        Ok(_) => {}
        // ELOOP: a symlink; ENXIO etc.: an existing device node is fine to mount over.
        Err(nix::Error::ELOOP) => {
            return Err(ConsoleError::Mount {
                path: path.clone(),
                errno: nix::Error::ELOOP,
            })
        }
        Err(nix::Error::ENXIO | nix::Error::ENODEV | nix::Error::EACCES) => {}
        Err(errno) => return Err(mount_err(errno)),
    }
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    let empty = c"";
    // SAFETY: open_tree reads the NUL-terminated empty path and returns a new fd.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            slave.as_raw_fd(),
            empty.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_EMPTY_PATH as libc::c_uint,
        )
    };
    if tree < 0 {
        return Err(mount_err(nix::Error::last()));
    }
    // SAFETY: the kernel just returned this fd; nobody else owns it.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as RawFd) };
    let to = CString::new(target.as_os_str().as_encoded_bytes())
        .map_err(|_| mount_err(nix::Error::EINVAL))?;
    // SAFETY: both paths are NUL-terminated and outlive the call; the fds are ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(mount_err(nix::Error::last()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(v: serde_json::Value) -> Process {
        let mut p = serde_json::json!({"cwd": "/", "user": {"uid": 0, "gid": 0}});
        p.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(p).unwrap()
    }

    #[test]
    fn console_size_needs_both_sides_and_fits_a_terminal() {
        assert_eq!(console_size(&process(serde_json::json!({}))).unwrap(), None);
        assert_eq!(
            console_size(&process(
                serde_json::json!({"consoleSize": {"height": 0, "width": 80}})
            ))
            .unwrap(),
            None
        );
        assert_eq!(
            console_size(&process(
                serde_json::json!({"consoleSize": {"height": 40, "width": 120}})
            ))
            .unwrap(),
            Some(WinSize {
                rows: 40,
                cols: 120
            })
        );
        let e = console_size(&process(
            serde_json::json!({"consoleSize": {"height": 70000, "width": 1}}),
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "process.consoleSize.height: 70000 is larger than a terminal can be (65535)"
        );
    }

    #[test]
    fn a_missing_console_socket_names_the_flag_and_path() {
        let e = connect_console_socket(Path::new("/nonexistent/console.sock")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--console-socket /nonexistent/console.sock: connect"),
            "{e}"
        );
    }
}
