//! The kernel event schema, version 1: what the probe saw, one JSON object per line.
//!
//! Same conventions as the runtime's schema (`initscope_runtime::events::schema`):
//! `v`, `ts_ns` (CLOCK_MONOTONIC — `bpf_ktime_get_ns`), `source` (here `"kernel"`), a
//! `kind` tag with its fields; fields are only added, unknown kinds read as `Other`.

use serde::{Deserialize, Serialize};

pub use initscope_runtime::events::schema::SCHEMA_VERSION;

/// The marker in `source`: always `"kernel"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KernelSource {
    #[default]
    Kernel,
}

/// Namespace inode numbers of a task (`/proc/PID/ns/*`); 0 = not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
pub struct Namespaces {
    pub pid: u64,
    pub pid_for_children: u64,
    pub mnt: u64,
    pub net: u64,
    pub uts: u64,
    pub ipc: u64,
    pub cgroup: u64,
    pub user: u64,
    pub time: u64,
}

/// One kernel event: the task that did it, and what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelEvent {
    pub v: u32,
    pub ts_ns: u64,
    #[serde(default)]
    pub source: KernelSource,
    /// Thread id (the kernel's `pid`).
    pub pid: i32,
    /// Process id (the kernel's `tgid`).
    pub tgid: i32,
    /// Parent's tgid (`real_parent`).
    pub ppid: i32,
    pub comm: String,
    pub uid: u32,
    /// cgroup v2 id of the task (`bpf_get_current_cgroup_id`; 0 where not known).
    pub cgroup_id: u64,
    /// The tgid as seen inside the task's own pid namespace.
    pub ns_pid: i32,
    /// Depth of that pid namespace (0 = the host's).
    pub ns_level: u32,
    #[serde(flatten)]
    pub kind: KernelKind,
}

/// What the kernel saw. Serialized as `"kind": "<snake_case name>"` beside its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KernelKind {
    /// A new process (not a thread) was created. Emitted in the creator's context, so the
    /// envelope's pid/tgid is *who called clone*; `parent_tgid` is who the kernel made its
    /// parent (differs under CLONE_PARENT).
    Fork {
        child_pid: i32,
        child_tgid: i32,
        parent_tgid: i32,
        /// `clone`, `clone3`, `fork`, `vfork`, or `unknown`.
        syscall: String,
        flags: Vec<String>,
        flags_raw: u64,
        /// The child's namespaces at birth.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        child_ns: Option<Namespaces>,
        /// The child's pid inside its own pid namespace.
        #[serde(default)]
        child_ns_pid: i32,
    },
    /// A clone-family syscall returned in the caller (ret is the child's pid, or -errno).
    CloneExit {
        syscall: String,
        flags: Vec<String>,
        flags_raw: u64,
        ret: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        errno: Option<String>,
    },
    /// `unshare(2)` returned.
    Unshare {
        flags: Vec<String>,
        flags_raw: u64,
        ret: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        errno: Option<String>,
        /// The caller's namespaces after the call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ns: Option<Namespaces>,
    },
    /// `setns(2)` returned.
    Setns {
        fd: i32,
        nstype: Vec<String>,
        nstype_raw: u64,
        ret: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        errno: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ns: Option<Namespaces>,
    },
    /// A successful exec (`sched_process_exec`), or a failed one (`ret` < 0).
    Exec {
        filename: String,
        argv: Vec<String>,
        #[serde(default)]
        ret: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        errno: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ns: Option<Namespaces>,
    },
    /// A process exited (the whole thread group).
    Exit {
        /// Exit code when it exited normally.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
        /// Signal name when killed by a signal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<String>,
        #[serde(default)]
        core_dumped: bool,
    },
    /// The task renamed itself (`prctl(PR_SET_NAME)` / write to comm).
    Rename { old_comm: String, new_comm: String },
    /// The task's namespaces, as a snapshot (e.g. when tracking starts).
    Namespaces { ns: Namespaces },
    /// Events the kernel could not put in the ring buffer since the last report.
    Lost { count: u64 },
    /// A kind this reader does not know.
    #[serde(other)]
    Other,
}

impl KernelKind {
    /// The `kind` string as it appears in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            KernelKind::Fork { .. } => "fork",
            KernelKind::CloneExit { .. } => "clone_exit",
            KernelKind::Unshare { .. } => "unshare",
            KernelKind::Setns { .. } => "setns",
            KernelKind::Exec { .. } => "exec",
            KernelKind::Exit { .. } => "exit",
            KernelKind::Rename { .. } => "rename",
            KernelKind::Namespaces { .. } => "namespaces",
            KernelKind::Lost { .. } => "lost",
            KernelKind::Other => "other",
        }
    }
}

impl KernelEvent {
    /// One JSON line, without the trailing newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("kernel event serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fork_round_trips_with_kind_and_source() {
        let e = KernelEvent {
            v: SCHEMA_VERSION,
            ts_ns: 1,
            source: KernelSource::Kernel,
            pid: 10,
            tgid: 10,
            ppid: 1,
            comm: "runc:[1:CHILD]".into(),
            uid: 0,
            cgroup_id: 7,
            ns_pid: 10,
            ns_level: 0,
            kind: KernelKind::Fork {
                child_pid: 11,
                child_tgid: 11,
                parent_tgid: 9,
                syscall: "clone".into(),
                flags: vec!["CLONE_PARENT".into()],
                flags_raw: 0x8011,
                child_ns: Some(Namespaces::default()),
                child_ns_pid: 1,
            },
        };
        let line = e.to_json();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["source"], "kernel");
        assert_eq!(v["kind"], "fork");
        assert_eq!(v["child_ns"]["pid"], 0);
        let back: KernelEvent = serde_json::from_str(&line).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn unknown_kind_reads_as_other() {
        let line = r#"{"v":1,"ts_ns":1,"source":"kernel","pid":1,"tgid":1,"ppid":0,"comm":"x","uid":0,"cgroup_id":0,"ns_pid":1,"ns_level":0,"kind":"future"}"#;
        let e: KernelEvent = serde_json::from_str(line).unwrap();
        assert_eq!(e.kind, KernelKind::Other);
    }
}
