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
}

impl SocketSource {
    /// Bind `path`. A socket file nobody listens on (left by a crash) is replaced; one
    /// that is in use is an error.
    pub fn bind(path: &Path) -> io::Result<SocketSource> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let sock = match UnixDatagram::bind(path) {
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
                UnixDatagram::bind(path)?
            }
            Err(e) => return Err(e),
        };
        sock.set_nonblocking(true)?;
        // Room for bursts: a bootstrap sends ~100 datagrams within milliseconds.
        let _ = nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBuf, &(4 << 20));
        Ok(SocketSource {
            sock,
            path: path.to_path_buf(),
            buf: vec![0; 64 * 1024],
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Source for SocketSource {
    fn fd(&self) -> Option<RawFd> {
        Some(self.sock.as_raw_fd())
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
