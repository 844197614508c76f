//! The event store: every event's JSON line, kept in a file (a replayed recording, the
//! `--record` file, or an unlinked temp file) or in memory, and found again by index.
//! The model keeps only fixed-size metadata per event; the store is where the details
//! pane, the event list and search read full events from, a few at a time.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::event::{Event, ParseError};

/// Why a recording could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}:{line}: not an initscope event ({err}); every line must be one JSON event with \"source\":\"runtime\" or \"kernel\"")]
    Parse {
        path: PathBuf,
        line: usize,
        err: ParseError,
    },
    #[error("{0}: no events in the file")]
    Empty(PathBuf),
}

enum Backing {
    Mem(Vec<u8>),
    File { file: File, len: u64 },
}

pub struct EventStore {
    backing: Backing,
    /// (offset, length) of each line, without its newline.
    lines: Vec<(u64, u32)>,
}

impl Default for EventStore {
    fn default() -> Self {
        EventStore::memory()
    }
}

impl EventStore {
    pub fn memory() -> EventStore {
        EventStore {
            backing: Backing::Mem(Vec::new()),
            lines: Vec::new(),
        }
    }

    /// A store that appends to `file` (a new recording, or an unlinked temp file); the
    /// file must be open for reading too (the details pane reads events back).
    pub fn file(file: File) -> EventStore {
        EventStore {
            backing: Backing::File { file, len: 0 },
            lines: Vec::new(),
        }
    }

    /// A new recording at `path` (truncated), kept open for reading back too.
    pub fn create(path: &Path) -> io::Result<EventStore> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(EventStore::file(file))
    }

    /// A store in an unlinked temp file, for live sessions without `--record`.
    pub fn temp() -> io::Result<EventStore> {
        Ok(EventStore::file(tempfile::tempfile()?))
    }

    /// Open a recording and parse every line once: returns the store and the events
    /// in file order (the caller decides the order to fold them in).
    pub fn open(
        path: &Path,
        mut each: impl FnMut(u32, Event, &str),
    ) -> Result<EventStore, StoreError> {
        let io_err = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let mut reader = BufReader::with_capacity(1 << 20, file.try_clone().map_err(io_err)?);
        let mut lines = Vec::new();
        let mut off = 0u64;
        let mut buf = Vec::new();
        let mut lineno = 0;
        loop {
            buf.clear();
            // Bytes, not read_line: a line that is not UTF-8 is a bad line to name, not
            // an I/O error without a line number.
            let n = reader.read_until(b'\n', &mut buf).map_err(io_err)?;
            if n == 0 {
                break;
            }
            lineno += 1;
            let text = std::str::from_utf8(&buf).map_err(|e| StoreError::Parse {
                path: path.to_path_buf(),
                line: lineno,
                err: ParseError::NotUtf8(e.valid_up_to()),
            })?;
            let text = text.trim_end_matches(['\n', '\r']);
            if !text.trim().is_empty() {
                let ev = Event::parse_line(text).map_err(|err| StoreError::Parse {
                    path: path.to_path_buf(),
                    line: lineno,
                    err,
                })?;
                each(lines.len() as u32, ev, text);
                lines.push((off, text.len() as u32));
            }
            off += n as u64;
        }
        if lines.is_empty() {
            return Err(StoreError::Empty(path.to_path_buf()));
        }
        Ok(EventStore {
            backing: Backing::File { file, len: off },
            lines,
        })
    }

    /// Append one line (without newline); returns its index.
    pub fn push(&mut self, line: &str) -> io::Result<u32> {
        let idx = self.lines.len() as u32;
        match &mut self.backing {
            Backing::Mem(buf) => {
                self.lines.push((buf.len() as u64, line.len() as u32));
                buf.extend_from_slice(line.as_bytes());
                buf.push(b'\n');
            }
            Backing::File { file, len } => {
                let mut rec = Vec::with_capacity(line.len() + 1);
                rec.extend_from_slice(line.as_bytes());
                rec.push(b'\n');
                // One write per line: a reader of the recording never sees half a line.
                file.write_all(&rec)?;
                self.lines.push((*len, line.len() as u32));
                *len += rec.len() as u64;
            }
        }
        Ok(idx)
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The raw JSON line.
    pub fn raw(&self, idx: u32) -> Option<String> {
        let &(off, len) = self.lines.get(idx as usize)?;
        match &self.backing {
            Backing::Mem(buf) => {
                let b = buf.get(off as usize..off as usize + len as usize)?;
                Some(String::from_utf8_lossy(b).into_owned())
            }
            Backing::File { file, .. } => {
                let mut b = vec![0; len as usize];
                file.read_exact_at(&mut b, off).ok()?;
                Some(String::from_utf8_lossy(&b).into_owned())
            }
        }
    }

    /// The event, parsed again from its line.
    pub fn get(&self, idx: u32) -> Option<Event> {
        Event::parse_line(&self.raw(idx)?).ok()
    }

    /// Copy every line to `out` (for saving a recording made into a temp file).
    pub fn copy_to(&self, out: &mut impl Write) -> io::Result<()> {
        match &self.backing {
            Backing::Mem(buf) => out.write_all(buf),
            Backing::File { file, len } => {
                let mut f = file.try_clone()?;
                io::Seek::seek(&mut f, io::SeekFrom::Start(0))?;
                io::copy(&mut f.take(*len), out)?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    #[test]
    fn memory_and_file_stores_give_back_what_was_pushed() {
        let evs = synth::initscope_bootstrap(synth::Options::default());
        let mut mem = EventStore::memory();
        let mut file = EventStore::temp().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut rec = EventStore::create(&dir.path().join("rec.jsonl")).unwrap();
        for e in &evs {
            mem.push(&e.to_json()).unwrap();
            file.push(&e.to_json()).unwrap();
            rec.push(&e.to_json()).unwrap();
        }
        for (i, e) in evs.iter().enumerate() {
            assert_eq!(mem.get(i as u32).as_ref(), Some(e));
            assert_eq!(file.get(i as u32).as_ref(), Some(e));
            assert_eq!(rec.get(i as u32).as_ref(), Some(e));
        }
        assert!(file.get(evs.len() as u32).is_none());
    }

    #[test]
    fn open_reads_a_recording_and_names_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rec.jsonl");
        let evs = synth::runc_run(100, 1);
        let text: String = evs.iter().map(|e| e.to_json() + "\n").collect();
        std::fs::write(&p, &text).unwrap();
        let mut seen = Vec::new();
        let s = EventStore::open(&p, |i, e, _| seen.push((i, e))).unwrap();
        assert_eq!(s.len(), evs.len());
        assert_eq!(seen.len(), evs.len());
        assert_eq!(s.get(3).as_ref(), Some(&evs[3]));

        std::fs::write(&p, format!("{text}{{\"oops\":1}}\n")).unwrap();
        let err = EventStore::open(&p, |_, _, _| {})
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(&format!("rec.jsonl:{}", evs.len() + 1)),
            "{err}"
        );
        std::fs::write(&p, "").unwrap();
        assert!(matches!(
            EventStore::open(&p, |_, _, _| {}),
            Err(StoreError::Empty(_))
        ));
    }
}
