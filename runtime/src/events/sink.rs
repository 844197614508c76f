//! Where live events go besides the container's own `events.jsonl`.
//!
//! The sink is chosen by what the path is: a unix socket gets one datagram per event
//! (`SOCK_DGRAM`, `MSG_DONTWAIT`); a FIFO is opened `O_WRONLY|O_NONBLOCK` (no reader means
//! the event is dropped); anything else is a file opened `O_APPEND|O_CREAT`. Writing never
//! blocks and never fails a bootstrap: a refused write is a dropped event, counted.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::socket::{
    connect, sendto, socket, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr,
};
use nix::sys::stat::Mode;

/// The environment variable naming a sink when `--events` is not given.
pub const EVENTS_ENV: &str = "INITSCOPE_EVENTS";
/// The well-known socket `initscope watch` listens on (as root).
pub const WELL_KNOWN_SOCKET: &str = "/run/initscope/events.sock";

/// A live event destination.
#[derive(Debug)]
pub enum Sink {
    /// A unix datagram socket. `connected` is false while nobody listens yet; then each
    /// event is sent to the path (which works until the root is switched).
    Socket {
        fd: OwnedFd,
        path: PathBuf,
        connected: bool,
    },
    /// A FIFO; `fd` is `None` until a reader exists.
    Fifo { path: PathBuf, fd: Option<OwnedFd> },
    /// A regular file (or a path that did not exist), appended to.
    File { fd: OwnedFd },
}

/// The sink to use: `--events PATH`, else `$INITSCOPE_EVENTS`, else the well-known socket
/// when it exists (that is how a viewer sees containers started by podman).
pub fn choose_path(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os(EVENTS_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let well_known = well_known_socket();
    let is_socket = std::fs::metadata(&well_known)
        .map(|m| m.file_type().is_socket())
        .unwrap_or(false);
    is_socket.then_some(well_known)
}

/// `/run/initscope/events.sock` as root, `$XDG_RUNTIME_DIR/initscope/events.sock` otherwise.
pub fn well_known_socket() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from(WELL_KNOWN_SOCKET);
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) => Path::new(&dir).join("initscope/events.sock"),
        None => PathBuf::from(WELL_KNOWN_SOCKET),
    }
}

impl Sink {
    /// Open the sink at `path`, choosing the kind by the file's type.
    pub fn open(path: &Path) -> io::Result<Sink> {
        let ft = std::fs::metadata(path).map(|m| m.file_type());
        match ft {
            Ok(ft) if ft.is_socket() => {
                let fd = socket(
                    AddressFamily::Unix,
                    SockType::Datagram,
                    SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
                    None,
                )?;
                let addr = UnixAddr::new(path)?;
                // Connecting once lets the stages keep sending after the root switch.
                let connected = connect(fd.as_raw_fd(), &addr).is_ok();
                Ok(Sink::Socket {
                    fd,
                    path: path.to_path_buf(),
                    connected,
                })
            }
            Ok(ft) if ft.is_fifo() => Ok(Sink::Fifo {
                path: path.to_path_buf(),
                fd: open_fifo(path),
            }),
            _ => {
                let fd = open(
                    path,
                    OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o644),
                )?;
                Ok(Sink::File { fd })
            }
        }
    }

    /// Write one event line (already ≤ PIPE_BUF, newline included). `false` = dropped.
    pub fn send(&mut self, line: &[u8]) -> bool {
        match self {
            Sink::Socket {
                fd,
                path,
                connected,
            } => {
                let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
                if *connected {
                    return nix::sys::socket::send(fd.as_raw_fd(), line, flags).is_ok();
                }
                let Ok(addr) = UnixAddr::new(path.as_path()) else {
                    return false;
                };
                let sent = sendto(fd.as_raw_fd(), line, &addr, flags).is_ok();
                if sent && connect(fd.as_raw_fd(), &addr).is_ok() {
                    *connected = true;
                }
                sent
            }
            Sink::Fifo { path, fd } => {
                if fd.is_none() {
                    *fd = open_fifo(path);
                }
                let Some(f) = fd else { return false };
                match nix::unistd::write(&*f, line) {
                    Ok(n) => n == line.len(),
                    Err(Errno::EPIPE) => {
                        // The reader went away; a new one may come.
                        *fd = None;
                        false
                    }
                    Err(_) => false,
                }
            }
            Sink::File { fd } => matches!(nix::unistd::write(&*fd, line), Ok(n) if n == line.len()),
        }
    }
}

/// Open a FIFO for writing without blocking; `None` (ENXIO) while no reader has it open.
fn open_fifo(path: &Path) -> Option<OwnedFd> {
    open(
        path,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn file_sink_appends_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ev.jsonl");
        let mut s = Sink::open(&p).unwrap();
        assert!(matches!(s, Sink::File { .. }));
        assert!(s.send(b"{\"a\":1}\n"));
        assert!(s.send(b"{\"a\":2}\n"));
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n"
        );
    }

    #[test]
    fn fifo_without_reader_drops_then_delivers_once_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ev.fifo");
        nix::unistd::mkfifo(&p, Mode::from_bits_truncate(0o600)).unwrap();
        let mut s = Sink::open(&p).unwrap();
        assert!(!s.send(b"lost\n"), "no reader: dropped, not blocked");
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags_nonblock()
            .open(&p)
            .unwrap();
        assert!(s.send(b"seen\n"));
        let mut buf = String::new();
        reader.read_to_string(&mut buf).ok();
        assert_eq!(buf, "seen\n");
    }

    #[test]
    fn socket_sink_sends_datagrams_and_drops_without_listener() {
        use std::os::unix::net::UnixDatagram;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ev.sock");
        let listener = UnixDatagram::bind(&p).unwrap();
        let mut s = Sink::open(&p).unwrap();
        assert!(s.send(b"{\"x\":1}\n"));
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"{\"x\":1}\n");
        drop(listener);
        assert!(!s.send(b"{\"x\":2}\n"), "listener gone: dropped");
    }

    trait NonBlock {
        fn custom_flags_nonblock(&mut self) -> &mut Self;
    }
    impl NonBlock for std::fs::OpenOptions {
        fn custom_flags_nonblock(&mut self) -> &mut Self {
            use std::os::unix::fs::OpenOptionsExt;
            self.custom_flags(libc::O_NONBLOCK)
        }
    }
}
