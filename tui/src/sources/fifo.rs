//! The runtime's events through a FIFO the viewer makes and holds open. demo/run use it
//! rather than a datagram socket: a socket queues only `net.unix.max_dgram_qlen` (10)
//! datagrams, so a stage's burst of events at start-up overflows it before the viewer is
//! scheduled; a FIFO buffers 64 KiB, and writes up to PIPE_BUF (each event line) are atomic.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::RawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::Source;

pub struct FifoSource {
    file: File,
    path: PathBuf,
    partial: Vec<u8>,
    buf: Vec<u8>,
}

impl FifoSource {
    /// Make the FIFO at `path` (0600) and open it. Opened read-write, so it never reports
    /// end-of-file when the writers (each runtime process) come and go.
    pub fn create(path: &Path) -> io::Result<FifoSource> {
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)?;
        Ok(FifoSource {
            file,
            path: path.to_path_buf(),
            partial: Vec::new(),
            buf: vec![0; 64 * 1024],
        })
    }
}

impl Source for FifoSource {
    fn fd(&self) -> Option<RawFd> {
        // Drained every frame tick, not woken for each write: a writer that wakes a
        // sleeping reader pays for the wakeup, and 64 KiB hold a bootstrap's events.
        None
    }

    fn drain(&mut self, out: &mut Vec<String>) -> io::Result<bool> {
        loop {
            match self.file.read(&mut self.buf) {
                Ok(0) => return Ok(true),
                Ok(n) => {
                    self.partial.extend_from_slice(&self.buf[..n]);
                    while let Some(i) = self.partial.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = self.partial.drain(..=i).collect();
                        let text = String::from_utf8_lossy(&line[..i]);
                        if !text.trim().is_empty() {
                            out.push(text.into_owned());
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn describe(&self) -> String {
        format!("runtime: fifo {}", self.path.display())
    }
}

impl Drop for FifoSource {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_burst_of_lines_from_several_writers_arrives_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.fifo");
        let mut src = FifoSource::create(&p).unwrap();
        // Two writers, as two stages: each opens, writes lines, closes.
        for w in 0..2 {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&p)
                .unwrap();
            for i in 0..200 {
                f.write_all(format!("{{\"w\":{w},\"i\":{i}}}\n").as_bytes())
                    .unwrap();
            }
        }
        let mut out = Vec::new();
        assert!(src.drain(&mut out).unwrap());
        assert_eq!(
            out.len(),
            400,
            "a burst a datagram socket would have dropped"
        );
        assert_eq!(out[0], "{\"w\":0,\"i\":0}");
        assert_eq!(out[399], "{\"w\":1,\"i\":199}");
        // Writers gone: no end-of-file, just nothing to read.
        assert!(src.drain(&mut out).unwrap());
        drop(src);
        assert!(!p.exists());
    }
}
