//! The runtime's events on a unix datagram socket the viewer binds (one datagram holds
//! one or more JSON lines). `initscope watch` binds the well-known
//! `/run/initscope/events.sock`; demo/run bind a private one and pass it with `--events`.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use super::Source;

/// Where initscope-runtime sends events when nothing else is configured (as root).
pub const WELL_KNOWN: &str = "/run/initscope/events.sock";

/// The runtime's rule: the well-known socket as root, `$XDG_RUNTIME_DIR/initscope/…`
/// for other users (who cannot bind in /run).
pub fn well_known() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from(WELL_KNOWN);
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) => Path::new(&dir).join("initscope/events.sock"),
        None => PathBuf::from(WELL_KNOWN),
    }
}

pub struct SocketSource {
    sock: UnixDatagram,
    path: PathBuf,
    buf: Vec<u8>,
    /// The socket queues [`LONG_QUEUE`] datagrams: drain it on the frame tick instead of
    /// waking for each one (see [`Source::fd`] below).
    long_queue: bool,
}

impl SocketSource {
    /// Bind `path`. A socket file nobody listens on (left by a crash) is replaced; one
    /// that is in use is an error.
    pub fn bind(path: &Path) -> io::Result<SocketSource> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let (sock, long_queue) = match with_long_queue(|| UnixDatagram::bind(path)) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                let probe = UnixDatagram::unbound()?;
                if probe.connect(path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("{} is in use (another `initscope watch`?)", path.display()),
                    ));
                }
                std::fs::remove_file(path)?;
                with_long_queue(|| UnixDatagram::bind(path))?
            }
            Err(e) => return Err(e),
        };
        sock.set_nonblocking(true)?;
        // Room for bursts: a bootstrap sends ~100 datagrams within milliseconds.
        let _ = nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBuf, &(4 << 20));
        Ok(SocketSource {
            long_queue,
            sock,
            path: path.to_path_buf(),
            buf: vec![0; 64 * 1024],
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

const QLEN: &str = "/proc/sys/net/unix/max_dgram_qlen";
/// Datagrams our socket may queue: a bootstrap sends about a hundred in milliseconds.
const LONG_QUEUE: u32 = 4096;

/// Make a socket with a long datagram queue. A unix socket takes its queue length from
/// `net.unix.max_dgram_qlen` (10 by default) when it is made, so as root the value is
/// raised for that moment and put back at once; otherwise the default stays.
/// Also says whether the long queue is in effect.
fn with_long_queue<T>(make: impl FnOnce() -> io::Result<T>) -> io::Result<(T, bool)> {
    let old = std::fs::read_to_string(QLEN)
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok());
    let raised = match old {
        Some(v) if v < LONG_QUEUE && nix::unistd::geteuid().is_root() => {
            std::fs::write(QLEN, LONG_QUEUE.to_string()).is_ok()
        }
        _ => false,
    };
    let r = make();
    if let (true, Some(v)) = (raised, old) {
        let _ = std::fs::write(QLEN, v.to_string());
    }
    let long = raised || old.is_some_and(|v| v >= LONG_QUEUE);
    r.map(|t| (t, long))
}

impl Source for SocketSource {
    fn fd(&self) -> Option<RawFd> {
        // With room for thousands of datagrams, the app drains the socket every frame
        // tick rather than waking for each datagram: a sender that wakes a sleeping
        // reader pays for the wakeup (measured with scripts/bench: +15 % wall time, +9 %
        // CPU for a bootstrap streaming to a polling reader, +0.3 % and +2.4 % to one
        // draining on a 33 ms tick). With the default queue of 10 it must keep up.
        (!self.long_queue).then(|| self.sock.as_raw_fd())
    }

    fn drain(&mut self, out: &mut Vec<String>) -> io::Result<bool> {
        loop {
            match self.sock.recv(&mut self.buf) {
                Ok(n) => {
                    let text = String::from_utf8_lossy(&self.buf[..n]);
                    out.extend(
                        text.lines()
                            .filter(|l| !l.trim().is_empty())
                            .map(str::to_string),
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn describe(&self) -> String {
        format!("runtime: socket {}", self.path.display())
    }
}

impl Drop for SocketSource {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bootstraps_burst_of_datagrams_is_queued_not_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("burst.sock");
        let before = std::fs::read_to_string(QLEN).unwrap();
        let mut s = SocketSource::bind(&p).unwrap();
        assert_eq!(
            std::fs::read_to_string(QLEN).unwrap(),
            before,
            "the sysctl is put back"
        );
        let tx = UnixDatagram::unbound().unwrap();
        tx.set_nonblocking(true).unwrap();
        // ~200: one bootstrap's events (the sender's own buffer caps a burst near 270).
        let sent = (0..200)
            .take_while(|i| tx.send_to(format!("{{\"i\":{i}}}").as_bytes(), &p).is_ok())
            .count();
        if nix::unistd::geteuid().is_root() {
            assert_eq!(
                sent, 200,
                "with the default queue of 10, the runtime's sends would be dropped"
            );
        }
        let mut out = Vec::new();
        s.drain(&mut out).unwrap();
        assert_eq!(out.len(), sent);
    }

    #[test]
    fn receives_lines_and_replaces_a_stale_socket_but_not_a_live_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/events.sock");
        let mut s = SocketSource::bind(&p).unwrap();
        let tx = UnixDatagram::unbound().unwrap();
        tx.send_to(b"{\"a\":1}\n", &p).unwrap();
        tx.send_to(b"{\"b\":2}\n{\"c\":3}\n", &p).unwrap();
        let mut out = Vec::new();
        assert!(s.drain(&mut out).unwrap());
        assert_eq!(out, ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]);
        // A second watcher may not steal the socket.
        let err = SocketSource::bind(&p).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(s);
        assert!(!p.exists(), "socket file removed on drop");
        // A stale file (bound, then its owner vanished without cleanup) is replaced.
        let stale = UnixDatagram::bind(&p).unwrap();
        drop(stale);
        assert!(p.exists());
        let _s = SocketSource::bind(&p).unwrap();
    }
}
