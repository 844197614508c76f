//! A row of the sequence diagram: one step on a lane, or an arrow between two lanes.

use super::strings::Sym;
use super::{LaneId, Seq};

/// Which `/proc/PID/*_map` the parent wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    Uid,
    Gid,
}

/// Kinds of rootfs preparation steps, folded into one row while they follow each other.
pub const GROUP_KINDS: [&str; 8] = [
    "mount",
    "device",
    "symlink",
    "mask_path",
    "readonly_path",
    "sysctl",
    "rlimit",
    "cgroup_set",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// `clone`: an arrow from the creator's lane to the new process.
    Clone {
        child: LaneId,
        flags: u64,
        /// The kernel's parent when it is not the creator (CLONE_PARENT).
        kernel_parent: Option<i32>,
        syscall: Sym,
    },
    /// A sync message from this row's lane to `to`.
    Sync {
        to: Option<LaneId>,
        msg: Sym,
        send: Option<Seq>,
        recv: Option<Seq>,
    },
    Unshare {
        flags: u64,
        failed: bool,
    },
    Setns {
        nstype: u64,
        path: Sym,
        failed: bool,
    },
    /// The parent writes the child's uid_map / gid_map.
    IdMap {
        target: Option<LaneId>,
        map: MapKind,
    },
    /// Consecutive rootfs steps (mounts, devices, …) on one lane; counts by `GROUP_KINDS`.
    Group {
        last: Seq,
        counts: [u32; GROUP_KINDS.len()],
    },
    Exec {
        path: Sym,
        failed: bool,
    },
    Exit {
        code: Option<i32>,
        signal: Sym,
    },
    /// A failed step (`error` event, or a failed syscall the kernel saw).
    Error {
        step: Sym,
    },
    /// Anything else worth a line: `kind` is the event kind, `text` its short label.
    Note {
        kind: Sym,
        text: Sym,
    },
    /// execve attempts that found no file, one after another (a shell searching PATH).
    ExecMisses {
        count: u32,
    },
    /// Events lost by a source (no lane).
    Lost {
        count: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// (ts, seq) of the earliest event in the row: rows are ordered by this.
    pub ts: u64,
    pub seq: Seq,
    /// The acting lane (`None` for a lost-events marker).
    pub lane: Option<LaneId>,
    pub kind: RowKind,
    /// The runtime's and the kernel's event for this step, when both reported it.
    pub rt: Option<Seq>,
    pub k: Option<Seq>,
}

impl Row {
    pub fn key(&self) -> (u64, Seq) {
        (self.ts, self.seq)
    }

    /// Lanes this row touches (for arrows, both ends).
    pub fn target(&self) -> Option<LaneId> {
        match self.kind {
            RowKind::Clone { child, .. } => Some(child),
            RowKind::Sync { to, .. } => to,
            RowKind::IdMap { target, .. } => target,
            _ => None,
        }
    }
}
