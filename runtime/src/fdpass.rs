//! Passing one file descriptor over a unix socket with `SCM_RIGHTS`, as runc does for the
//! console (`--console-socket`) and the seccomp agent (`listenerPath`): one message whose
//! data is a name (the pty's path, or the container process state JSON) and whose control
//! message carries the fd.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::sys::socket::{
    connect, recvmsg, sendmsg, socket, AddressFamily, ControlMessage, ControlMessageOwned,
    MsgFlags, SockFlag, SockType, UnixAddr,
};

/// Largest payload [`recv_fd`] accepts (runc's container state JSON fits easily).
pub const MAX_PAYLOAD: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FdPassError {
    #[error("connect to {path}: {errno}")]
    Connect { path: String, errno: nix::Error },
    #[error("{op}: {errno}")]
    Sys { op: &'static str, errno: nix::Error },
    #[error("the peer closed the socket without sending a file descriptor")]
    Closed,
    #[error("the message carried no file descriptor")]
    NoFd,
    #[error("the message was truncated (more than {MAX_PAYLOAD} bytes or more than one fd)")]
    Truncated,
}

impl FdPassError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            FdPassError::Connect { errno, .. } | FdPassError::Sys { errno, .. } => {
                Some(*errno as i32)
            }
            _ => None,
        }
    }
}

/// Connect a `SOCK_STREAM` unix socket to `path` (close-on-exec).
pub fn connect_unix(path: &Path) -> Result<OwnedFd, FdPassError> {
    let conn = |errno| FdPassError::Connect {
        path: path.display().to_string(),
        errno,
    };
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|errno| FdPassError::Sys {
        op: "socket",
        errno,
    })?;
    let addr = UnixAddr::new(path).map_err(conn)?;
    connect(sock.as_raw_fd(), &addr).map_err(conn)?;
    Ok(sock)
}

/// Send `fd` with `payload` as the message data, in one `sendmsg`.
pub fn send_fd(sock: impl AsFd, fd: BorrowedFd<'_>, payload: &[u8]) -> Result<(), FdPassError> {
    let fds = [fd.as_raw_fd()];
    // A stream socket needs at least one data byte to carry the control message.
    let data: &[u8] = if payload.is_empty() { b"\0" } else { payload };
    let iov = [IoSlice::new(data)];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    loop {
        match sendmsg::<UnixAddr>(
            sock.as_fd().as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(nix::Error::EINTR) => continue,
            Err(errno) => {
                return Err(FdPassError::Sys {
                    op: "sendmsg",
                    errno,
                })
            }
            Ok(_) => return Ok(()),
        }
    }
}

/// Receive one fd (close-on-exec) and the message data sent with it.
pub fn recv_fd(sock: impl AsFd) -> Result<(OwnedFd, Vec<u8>), FdPassError> {
    let mut buf = vec![0u8; MAX_PAYLOAD];
    let mut cmsg_space = nix::cmsg_space!([RawFd; 1]);
    let (n, fd, truncated) = loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        match recvmsg::<UnixAddr>(
            sock.as_fd().as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::Error::EINTR) => continue,
            Err(errno) => {
                return Err(FdPassError::Sys {
                    op: "recvmsg",
                    errno,
                })
            }
            Ok(msg) => {
                let truncated = msg
                    .flags
                    .intersects(MsgFlags::MSG_CTRUNC | MsgFlags::MSG_TRUNC);
                let mut fd = None;
                for c in msg.cmsgs().map_err(|errno| FdPassError::Sys {
                    op: "recvmsg",
                    errno,
                })? {
                    if let ControlMessageOwned::ScmRights(fds) = c {
                        for raw in fds {
                            // SAFETY: SCM_RIGHTS just installed this fd in our table; we are
                            // its only owner (extra ones are closed by their OwnedFd).
                            let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                            if fd.is_none() {
                                fd = Some(owned);
                            }
                        }
                    }
                }
                break (msg.bytes, fd, truncated);
            }
        }
    };
    if truncated {
        return Err(FdPassError::Truncated);
    }
    match fd {
        Some(fd) => {
            buf.truncate(n);
            Ok((fd, buf))
        }
        None if n == 0 => Err(FdPassError::Closed),
        None => Err(FdPassError::NoFd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::socketpair;

    #[test]
    fn an_fd_and_its_name_cross_a_socketpair() {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        send_fd(&a, r.as_fd(), b"/dev/pts/7").unwrap();
        drop(r);
        let (got, name) = recv_fd(&b).unwrap();
        assert_eq!(name, b"/dev/pts/7");
        // The received fd is the pipe's read end: what we write comes out of it.
        nix::unistd::write(&w, b"ok").unwrap();
        let mut out = [0u8; 2];
        nix::unistd::read(&got, &mut out).unwrap();
        assert_eq!(&out, b"ok");
        let flags = nix::fcntl::fcntl(&got, nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_ne!(
            flags & libc::FD_CLOEXEC,
            0,
            "received fds are close-on-exec"
        );
    }

    #[test]
    fn a_closed_peer_or_a_message_without_fd_is_an_error() {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        nix::unistd::write(&a, b"x").unwrap();
        assert!(matches!(recv_fd(&b), Err(FdPassError::NoFd)));
        drop(a);
        assert!(matches!(recv_fd(&b), Err(FdPassError::Closed)));
    }

    #[test]
    fn connecting_to_a_missing_socket_names_it() {
        let e = connect_unix(Path::new("/nonexistent/initscope.sock")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "connect to /nonexistent/initscope.sock: ENOENT: No such file or directory"
        );
    }
}
