//! A lane: one process of the bootstrap, with its history (names, status, namespaces)
//! kept as `(seq, value)` logs so that any earlier moment can be shown without a rebuild.

use initscope_probe::schema::Namespaces;
use initscope_runtime::events::schema::Stage;

use super::roles::{stage_title, RuntimeKind};
use super::strings::Sym;
use super::{BootId, LaneId, RowId, Seq};

/// What a process is doing, as far as the events tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    /// Sent a request and waits for the peer's answer (`SYNC_USERMAP_PLS` → `_ACK`).
    WaitingSync {
        msg: Sym,
        peer: Stage,
    },
    /// Init blocks opening exec.fifo until `start` opens the other end.
    WaitingFifo,
    /// A hook process runs and this stage waits for it.
    WaitingHook {
        hook: Sym,
        pid: i32,
    },
    /// Stopped itself at a named step (`INITSCOPE_PAUSE_AT`).
    Paused {
        step: Sym,
    },
    /// A step failed (the process may still be running its error path).
    Failed {
        step: Sym,
    },
    /// Gone: exit code, or the signal that killed it.
    Exited {
        code: Option<i32>,
        signal: Sym,
    },
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub ts: u64,
    pub seq: Seq,
    pub code: Option<i32>,
    pub signal: Sym,
    /// The kernel saw it go (not only the runtime's `stage_exit`).
    pub by_kernel: bool,
}

/// A namespace change the runtime reported (for streams without kernel inode numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsNote {
    /// `unshare(flags)`: these namespaces are new.
    New(u64),
    /// `setns` into an existing namespace of this type.
    Joined(u64),
}

/// A verdict about a process that made no progress (filled by `diagnose`, not by events).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnosis {
    pub stuck: bool,
    /// CLOCK_MONOTONIC ns since which nothing happened.
    pub since_ns: u64,
    /// What it waits on ("exec.fifo", "SYNC_USERMAP_ACK from [0:PARENT]", …).
    pub waits_on: String,
    /// Plain words.
    pub verdict: String,
    /// Who holds the other end of what it waits on.
    pub other_end: Option<String>,
    /// What to do next (a command).
    pub next: Option<String>,
    /// The process of the bootstrap it waits for, if any (it is not the cause then).
    pub blocked_by: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct Lane {
    pub pid: i32,
    pub ns_pid: Option<i32>,
    pub role: Option<Stage>,
    pub runtime: Option<RuntimeKind>,
    pub boot: Option<BootId>,
    /// comm over time (rename, exec).
    pub names: Vec<(Seq, Sym)>,
    /// The lane that called clone for it.
    pub creator: Option<LaneId>,
    /// The kernel's parent (differs from the creator under CLONE_PARENT).
    pub kernel_parent: Option<i32>,
    /// (ts, seq) of the earliest event that shows this process.
    pub start_ts: u64,
    pub start_seq: Seq,
    pub last_ts: u64,
    pub exit: Option<Exit>,
    pub status: Vec<(Seq, Status)>,
    /// Namespace inodes as the kernel reported them over time.
    pub ns: Vec<(Seq, Namespaces)>,
    pub ns_notes: Vec<(Seq, NsNote)>,
    /// Rows this lane acts on, in creation order.
    pub rows: Vec<RowId>,
    pub clone_row: Option<RowId>,
    /// Path of the program it exec'd, if it did.
    pub exec: Vec<(Seq, Sym)>,
    pub seen_runtime: bool,
    pub seen_kernel: bool,
    pub diagnosis: Option<Diagnosis>,
}

impl Lane {
    pub fn new(pid: i32, ts: u64, seq: Seq) -> Lane {
        Lane {
            pid,
            ns_pid: None,
            role: None,
            runtime: None,
            boot: None,
            names: Vec::new(),
            creator: None,
            kernel_parent: None,
            start_ts: ts,
            start_seq: seq,
            last_ts: ts,
            exit: None,
            status: vec![(seq, Status::Running)],
            ns: Vec::new(),
            ns_notes: Vec::new(),
            rows: Vec::new(),
            clone_row: None,
            exec: Vec::new(),
            seen_runtime: false,
            seen_kernel: false,
            diagnosis: None,
        }
    }

    /// Does this lane exist once `at` events are shown?
    pub fn visible_at(&self, at: Seq) -> bool {
        self.start_seq < at
    }

    pub fn exit_at(&self, at: Seq) -> Option<&Exit> {
        self.exit.as_ref().filter(|e| e.seq < at)
    }

    pub fn status_at(&self, at: Seq) -> Status {
        last_before(&self.status, at)
            .copied()
            .unwrap_or(Status::Running)
    }

    pub fn ns_at(&self, at: Seq) -> Option<&Namespaces> {
        last_before(&self.ns, at)
    }

    pub fn name_at(&self, at: Seq) -> Sym {
        last_before(&self.names, at).copied().unwrap_or_default()
    }

    pub fn exec_at(&self, at: Seq) -> Option<Sym> {
        last_before(&self.exec, at).copied()
    }

    /// The lane title: the stage in runc's spelling, else the process name.
    pub fn title(&self, name: &str) -> String {
        match self.role {
            Some(Stage::Unknown) | None if !name.is_empty() => name.to_string(),
            Some(stage) => stage_title(stage).to_string(),
            None => format!("pid {}", self.pid),
        }
    }

    pub(crate) fn set_status(&mut self, seq: Seq, status: Status) {
        if matches!(self.status.last(), Some((_, s)) if *s == status) {
            return;
        }
        // Logs stay sorted by seq even when an event arrives late.
        let pos = self.status.partition_point(|(s, _)| *s <= seq);
        self.status.insert(pos, (seq, status));
    }
}

/// The last value logged before `at` (logs are sorted by seq).
pub fn last_before<T>(log: &[(Seq, T)], at: Seq) -> Option<&T> {
    let n = log.partition_point(|(s, _)| *s < at);
    n.checked_sub(1).map(|i| &log[i].1)
}
