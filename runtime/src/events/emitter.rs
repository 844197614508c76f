//! One [`Emitter`] per process: it stamps each [`EventKind`] with the envelope and writes
//! it, as one line, to the container's `events.jsonl` and to the live [`Sink`].
//!
//! The emitter is created by `create` before the first fork; its descriptors (all
//! `O_CLOEXEC`) are inherited by every stage, which only changes the role it reports
//! ([`Emitter::become_stage`]). Emitting never blocks and never fails: a line that cannot be
//! written is counted in `dropped`, reported by `stage_exit`.

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use serde_json::Value;

use super::schema::{EventKind, RuntimeEvent, RuntimeSource, Stage, SCHEMA_VERSION};
use super::sink::Sink;
use crate::sys::monotonic_ns;

/// The largest line written, newline included: one atomic write to a pipe (`PIPE_BUF`).
pub const MAX_LINE: usize = 4096;

/// The environment variable that makes a stage stop itself at a named step.
pub const PAUSE_ENV: &str = "INITSCOPE_PAUSE_AT";

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

    /// After a fork/clone: this process now speaks as `stage` with host pid `pid`.
    pub fn become_stage(&mut self, stage: Stage, pid: i32) {
        self.stage = stage;
        self.pid = pid;
        self.dropped = 0;
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
        let mut line = fit_line(&ev);
        line.push('\n');
        if let Some(log) = &self.log {
            if !matches!(nix::unistd::write(log, line.as_bytes()), Ok(n) if n == line.len()) {
                self.dropped += 1;
            }
        }
        if let Some(sink) = &mut self.sink {
            if !sink.send(line.as_bytes()) {
                self.dropped += 1;
            }
        }
    }

    /// An `error` event for a failed step.
    pub fn error(&mut self, step: &str, errno: Option<i32>, message: &str) {
        self.emit(EventKind::Error {
            step: step.to_string(),
            errno,
            message: message.to_string(),
        });
    }

    /// `stage_exit` with the dropped count; the last event of a stage that exits.
    pub fn exit(&mut self, status: i32) {
        // Count this very event too if it cannot be streamed: emit, then report.
        let dropped = self.dropped;
        self.emit(EventKind::StageExit { status, dropped });
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
            hold_until_continued();
        }
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

/// Serialize `ev` to at most `MAX_LINE - 1` bytes, shortening its longest strings and
/// arrays (never splitting the line) when it is too long.
pub fn fit_line(ev: &RuntimeEvent) -> String {
    let line = ev.to_json();
    if line.len() < MAX_LINE {
        return line;
    }
    let Ok(mut v) = serde_json::to_value(ev) else {
        return line;
    };
    for _ in 0..64 {
        let s = v.to_string();
        if s.len() < MAX_LINE {
            return s;
        }
        let excess = s.len() + 1 - MAX_LINE;
        if !shorten_largest(&mut v, excess) {
            break;
        }
    }
    // Nothing left to shorten (should not happen with bounded envelopes): keep the
    // envelope and say so rather than write a split line.
    serde_json::json!({
        "v": ev.v, "ts_ns": ev.ts_ns, "source": "runtime", "container": truncate(&ev.container, 256),
        "stage": ev.stage.as_str(), "pid": ev.pid, "kind": ev.kind.name(), "truncated": true,
    })
    .to_string()
}

/// Shorten the biggest string or array inside `v` by at least `excess` bytes (if it can).
fn shorten_largest(v: &mut Value, excess: usize) -> bool {
    fn size(v: &Value) -> usize {
        match v {
            Value::String(s) => s.len(),
            Value::Array(a) => a.iter().map(size).sum::<usize>() + a.len(),
            Value::Object(o) => o.iter().map(|(k, v)| k.len() + size(v)).sum(),
            _ => 8,
        }
    }
    fn largest(v: &mut Value) -> Option<&mut Value> {
        let mut best: Option<&mut Value> = None;
        let mut best_size = 0;
        let children: Vec<&mut Value> = match v {
            Value::Array(a) => a.iter_mut().collect(),
            Value::Object(o) => o.values_mut().collect(),
            _ => return None,
        };
        for c in children {
            let s = size(c);
            if matches!(c, Value::String(_) | Value::Array(_)) && s > best_size {
                best_size = s;
                best = Some(c);
            } else if let Value::Object(_) = c {
                if s > best_size {
                    best_size = s;
                    best = Some(c);
                }
            }
        }
        let b = best?;
        if let Value::Object(_) = b {
            return largest(b);
        }
        Some(b)
    }
    let Some(target) = largest(v) else {
        return false;
    };
    match target {
        Value::String(s) if s.len() > 16 => {
            let keep = s.len().saturating_sub(excess + 16).max(16);
            *s = format!("{}…", truncate(s, keep));
            true
        }
        Value::Array(a) if a.len() > 1 => {
            let total = a.len();
            let keep = (total / 2).max(1);
            a.truncate(keep);
            a.push(Value::String(format!("…(+{} more)", total - keep)));
            true
        }
        Value::Array(a) if a.len() == 1 => shorten_largest(&mut a[0], excess),
        _ => false,
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind) -> RuntimeEvent {
        RuntimeEvent {
            v: SCHEMA_VERSION,
            ts_ns: 1,
            source: RuntimeSource::Runtime,
            container: "c".into(),
            exec_id: None,
            stage: Stage::Init,
            pid: 7,
            kind,
        }
    }

    #[test]
    fn long_args_are_shortened_into_one_valid_line() {
        let args: Vec<String> = (0..2000).map(|i| format!("argument-{i}")).collect();
        let line = fit_line(&ev(EventKind::Exec {
            path: "/bin/echo".into(),
            args,
        }));
        assert!(line.len() < MAX_LINE, "{}", line.len());
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["kind"], "exec");
        assert_eq!(v["path"], "/bin/echo");
        assert!(v["args"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .contains("more"));
    }

    #[test]
    fn one_huge_string_is_cut_on_a_char_boundary() {
        let message = "é".repeat(5000);
        let line = fit_line(&ev(EventKind::Error {
            step: "mount".into(),
            errno: Some(13),
            message,
        }));
        assert!(line.len() < MAX_LINE);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["step"], "mount");
        assert_eq!(v["errno"], 13);
    }

    #[test]
    fn emitter_writes_log_lines_and_counts_nothing_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.jsonl");
        let mut em = Emitter::new("c9", Stage::Create);
        em.open_log(&p).unwrap();
        em.emit(EventKind::State {
            status: "creating".into(),
        });
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
        assert_eq!(em.dropped(), 2);
    }
}
