//! One [`Emitter`] per process: it stamps each [`EventKind`] with the envelope and writes
//! it, as one line, to the container's `events.jsonl` and to the live [`Sink`].
//!
//! The emitter is created by `create` before the first fork; its descriptors (all
//! `O_CLOEXEC`) are inherited by every stage, which only changes the role it reports
//! ([`Emitter::become_stage`]). Emitting never blocks and never fails: a line that cannot be
//! written is counted in `dropped`, reported by `stage_exit`.
//!
//! Lines are batched: a process's lines go out together, one `write` to the log and one
//! datagram to the sink per batch (at most `PIPE_BUF` bytes of whole lines, so still atomic),
//! instead of two syscalls per event. A batch is written when full and whenever the process
//! is about to wait, clone, exec or exit, so a viewer (and `diagnose`) always sees the last
//! step before a stage blocks: [`Emitter::flush`] there. [`Channel::recv`], `clone_stage`,
//! [`Emitter::pause_point`], [`Emitter::exit`] and drop flush by themselves.
//!
//! [`Channel::recv`]: crate::bootstrap::channel::Channel::recv

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

pub use super::fit::{fit_line, MAX_LINE};
use super::schema::{EventKind, RuntimeEvent, RuntimeSource, Stage, SCHEMA_VERSION};
use super::sink::Sink;
use crate::sys::monotonic_ns;

/// The environment variable that makes a stage stop itself at a named step.
pub const PAUSE_ENV: &str = "INITSCOPE_PAUSE_AT";

/// The largest batch: whole lines, written atomically to a pipe or FIFO (`PIPE_BUF`).
const MAX_BATCH: usize = MAX_LINE;

#[derive(Debug)]
pub struct Emitter {
    container: String,
    exec_id: Option<String>,
    stage: Stage,
    pid: i32,
    /// `<root>/<id>/events.jsonl`, `O_APPEND`.
    log: Option<OwnedFd>,
    sink: Option<Sink>,
    dropped: u64,
    /// `stage:step` names at which to SIGSTOP (from [`PAUSE_ENV`], comma separated).
    pause_at: Vec<String>,
    /// Whole lines not written yet (see the module doc), and how many.
    pending: Vec<u8>,
    pending_lines: u64,
}

impl Emitter {
    /// An emitter for `stage` of `container`, with no destination yet.
    pub fn new(container: &str, stage: Stage) -> Emitter {
        let pause_at = std::env::var(PAUSE_ENV)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        Emitter {
            container: container.to_string(),
            exec_id: None,
            stage,
            pid: std::process::id() as i32,
            log: None,
            sink: None,
            dropped: 0,
            pause_at,
            pending: Vec::with_capacity(MAX_BATCH),
            pending_lines: 0,
        }
    }

    /// Also append every event to `path` (the container's `events.jsonl`).
    pub fn open_log(&mut self, path: &Path) -> std::io::Result<()> {
        let fd = open(
            path,
            OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )?;
        self.log = Some(fd);
        Ok(())
    }

    /// Stream events live to `sink` too.
    pub fn set_sink(&mut self, sink: Option<Sink>) {
        self.sink = sink;
    }

    pub fn set_exec_id(&mut self, exec_id: Option<String>) {
        self.exec_id = exec_id;
    }

    /// After a fork/clone: this process now speaks as `stage` with host pid `pid`. What
    /// the creator had not written is its own (it flushed before the clone).
    pub fn become_stage(&mut self, stage: Stage, pid: i32) {
        self.stage = stage;
        self.pid = pid;
        self.dropped = 0;
        self.pending.clear();
        self.pending_lines = 0;
    }

    pub fn stage(&self) -> Stage {
        self.stage
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn container(&self) -> &str {
        &self.container
    }

    /// Events this process could not write to the live sink (or the log).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Emit `kind`, stamped now.
    pub fn emit(&mut self, kind: EventKind) {
        self.emit_at(monotonic_ns(), kind);
    }

    /// Emit `kind` stamped with `ts_ns` — taken just before a syscall whose result the
    /// event reports (a send or a clone), so the peer's reaction sorts after it.
    pub fn emit_at(&mut self, ts_ns: u64, kind: EventKind) {
        let ev = RuntimeEvent {
            v: SCHEMA_VERSION,
            ts_ns,
            source: RuntimeSource::Runtime,
            container: self.container.clone(),
            exec_id: self.exec_id.clone(),
            stage: self.stage,
            pid: self.pid,
            kind,
        };
        if self.log.is_none() && self.sink.is_none() {
            return;
        }
        let line = fit_line(&ev);
        if self.pending.len() + line.len() + 1 > MAX_BATCH {
            self.flush();
        }
        self.pending.extend_from_slice(line.as_bytes());
        self.pending.push(b'\n');
        self.pending_lines += 1;
    }

    /// Write the pending lines: one write to the log, one send to the sink. Call before
    /// anything that blocks, clones, execs or exits (see the module doc).
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let batch = &self.pending[..];
        if let Some(log) = &self.log {
            if !matches!(nix::unistd::write(log, batch), Ok(n) if n == batch.len()) {
                self.dropped += self.pending_lines;
            }
        }
        if let Some(sink) = &mut self.sink {
            if !sink.send(batch) {
                self.dropped += self.pending_lines;
            }
        }
        self.pending.clear();
        self.pending_lines = 0;
    }

    /// An `error` event for a failed step.
    pub fn error(&mut self, step: &str, errno: Option<i32>, message: &str) {
        self.emit(EventKind::Error {
            step: step.to_string(),
            errno,
            message: message.to_string(),
        });
    }

    /// `stage_exit` with the dropped count; the last event of a stage that exits, written
    /// at once.
    pub fn exit(&mut self, status: i32) {
        // What is pending goes first, so that its losses are in the count; this very event
        // cannot count itself.
        self.flush();
        let dropped = self.dropped;
        self.emit(EventKind::StageExit { status, dropped });
        self.flush();
    }

    /// A named step where `INITSCOPE_PAUSE_AT=stage:step` stops this stage (SIGSTOP) for
    /// teaching and diagnosis; it emits `paused` first so a viewer can offer SIGCONT.
    pub fn pause_point(&mut self, step: &str) {
        if self.pause_at.is_empty() {
            return;
        }
        let name = format!("{}:{}", self.stage.as_str(), step);
        if self.pause_at.contains(&name) {
            self.emit(EventKind::Paused { step: name });
            self.flush();
            hold_until_continued();
        }
    }
}

impl Drop for Emitter {
    /// A command returning (or a stage unwinding from a panic) still writes its last lines.
    fn drop(&mut self) {
        self.flush();
    }
}

/// Stop until SIGCONT. A pid namespace's init cannot stop itself (the kernel ignores
/// signals it has no handler for), so there it waits for SIGCONT blocked-and-queued.
fn hold_until_continued() {
    use nix::sys::signal::{raise, sigprocmask, SigSet, SigmaskHow, Signal};
    if nix::unistd::getpid().as_raw() != 1 {
        let _ = raise(Signal::SIGSTOP);
        return;
    }
    let mut set = SigSet::empty();
    set.add(Signal::SIGCONT);
    let mut old = SigSet::empty();
    if sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old)).is_ok() {
        let _ = set.wait();
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn emitter_writes_log_lines_and_counts_nothing_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.jsonl");
        let mut em = Emitter::new("c9", Stage::Create);
        em.open_log(&p).unwrap();
        em.emit(EventKind::State {
            status: "creating".into(),
        });
        em.flush(); // as a clone does
        em.become_stage(Stage::Parent, 4242);
        em.exit(0);
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["stage"], "create");
        assert_eq!(lines[1]["stage"], "parent");
        assert_eq!(lines[1]["pid"], 4242);
        assert_eq!(lines[1]["kind"], "stage_exit");
        assert_eq!(lines[1]["dropped"], 0);
        assert!(lines[1]["ts_ns"].as_u64().unwrap() >= lines[0]["ts_ns"].as_u64().unwrap());
    }

    #[test]
    fn missing_sink_reader_counts_drops() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ev.sock");
        let listener = std::os::unix::net::UnixDatagram::bind(&p).unwrap();
        let mut em = Emitter::new("c", Stage::Create);
        em.set_sink(Some(Sink::open(&p).unwrap()));
        drop(listener);
        em.emit(EventKind::NoNewPrivs {});
        em.emit(EventKind::NoNewPrivs {});
        em.flush();
        assert_eq!(em.dropped(), 2);
    }

    #[test]
    fn events_wait_for_a_flush_and_go_out_in_whole_batches() {
        use std::os::unix::net::UnixDatagram;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("events.jsonl");
        let sock = dir.path().join("ev.sock");
        let listener = UnixDatagram::bind(&sock).unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut em = Emitter::new("c", Stage::Init);
        em.open_log(&log).unwrap();
        em.set_sink(Some(Sink::open(&sock).unwrap()));
        em.emit(EventKind::NoNewPrivs {});
        em.emit(EventKind::NoNewPrivs {});
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "",
            "not before a flush"
        );
        em.flush();
        assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 2);
        let mut buf = vec![0u8; 65536];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&buf[..n]).lines().count(),
            2,
            "one datagram"
        );
        // Many events: several datagrams, each of whole lines and at most PIPE_BUF bytes.
        for i in 0..200 {
            em.emit(EventKind::Hostname {
                hostname: format!("host-{i}"),
            });
        }
        em.exit(0);
        let mut lines = 0;
        while let Ok(n) = listener.recv(&mut buf) {
            assert!(n <= MAX_BATCH, "{n}");
            let text = std::str::from_utf8(&buf[..n]).unwrap();
            assert!(text.ends_with('\n'));
            for l in text.lines() {
                serde_json::from_str::<Value>(l).unwrap();
                lines += 1;
            }
        }
        assert_eq!(lines, 201);
        assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 203);
        assert_eq!(em.dropped(), 0);
    }

    #[test]
    fn a_lost_batch_counts_each_of_its_events() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ev.sock");
        let listener = std::os::unix::net::UnixDatagram::bind(&p).unwrap();
        let mut em = Emitter::new("c", Stage::Child);
        em.set_sink(Some(Sink::open(&p).unwrap()));
        drop(listener);
        for _ in 0..3 {
            em.emit(EventKind::NoNewPrivs {});
        }
        em.flush();
        assert_eq!(em.dropped(), 3);
    }
}
