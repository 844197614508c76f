//! The runtime event schema, version 1: one JSON object per line (JSONL).
//!
//! Every line carries the envelope ([`RuntimeEvent`]) and one `kind` with its own fields
//! ([`EventKind`]). Time is `CLOCK_MONOTONIC` nanoseconds, the clock `bpf_ktime_get_ns`
//! uses, so these lines interleave exactly with the probe's kernel events.
//!
//! Compatibility rules: fields are only ever added; readers ignore fields they do not
//! know and map kinds they do not know to [`EventKind::Other`].

use serde::{Deserialize, Serialize};

/// Schema version written in every line's `v`.
pub const SCHEMA_VERSION: u32 = 1;

/// The marker in `source`: always `"runtime"` for these events (`"kernel"` for the probe's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeSource {
    #[default]
    Runtime,
}

/// Which process role emitted the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The CLI process of `create`/`run`/`exec`: sets up the cgroup, starts stage 0,
    /// waits for init to be ready, writes the state.
    Create,
    /// `[0:PARENT]`: writes id maps for the child, forwards pids, releases init.
    Parent,
    /// `[1:CHILD]`: joins/unshares namespaces, clones init.
    Child,
    /// `[2:INIT]`: PID 1 of the container; prepares it and execs the user process.
    Init,
    /// The `start` command (opens exec.fifo).
    Start,
    /// The `exec` command: plays create's role for a process joining an existing
    /// container (its events carry `exec_id`).
    Exec,
    /// The `delete` command.
    Delete,
    /// The `kill` command.
    Kill,
    /// `pause`/`resume`/`update` and other commands acting on an existing container.
    Manage,
    /// A hook process.
    Hook,
    /// Any stage this reader does not know.
    #[serde(other)]
    Unknown,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Create => "create",
            Stage::Parent => "parent",
            Stage::Child => "child",
            Stage::Init => "init",
            Stage::Start => "start",
            Stage::Exec => "exec",
            Stage::Delete => "delete",
            Stage::Kill => "kill",
            Stage::Manage => "manage",
            Stage::Hook => "hook",
            Stage::Unknown => "unknown",
        }
    }
}

/// One event line: the envelope plus its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeEvent {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub v: u32,
    /// `CLOCK_MONOTONIC` nanoseconds when the step finished.
    pub ts_ns: u64,
    /// Always `"runtime"`.
    #[serde(default)]
    pub source: RuntimeSource,
    /// Container id.
    pub container: String,
    /// Set when the stages run for `exec` into an existing container (its exec id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_id: Option<String>,
    /// Role of the emitter.
    pub stage: Stage,
    /// Host pid of the emitter.
    pub pid: i32,
    /// The kind and its fields.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Serialized as `"kind": "<snake_case name>"` beside its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A stage began running (first thing it does).
    StageStart {
        /// The process name the stage gave itself (`isc:[1:CHILD]`).
        comm: String,
        /// Host pid of its parent (under CLONE_PARENT this is `create`, not the cloner).
        ppid: i32,
        /// Its pid as seen inside its own pid namespace (1 for init in a new pid ns).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ns_pid: Option<i32>,
    },
    /// A stage created another process.
    Clone {
        flags: Vec<String>,
        flags_raw: u64,
        child_pid: i32,
        child_stage: Stage,
    },
    /// A namespace joined by path.
    Setns {
        path: String,
        /// `CLONE_NEWNET` etc.
        nstype: String,
    },
    /// New namespaces created.
    Unshare {
        flags: Vec<String>,
        flags_raw: u64,
    },
    /// A sync message sent to `peer`. `msg` uses runc's names (`SYNC_USERMAP_PLS`, `procReady`).
    SyncSend {
        msg: String,
        peer: Stage,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<serde_json::Value>,
    },
    /// A sync message received from `peer`.
    SyncRecv {
        msg: String,
        peer: Stage,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<serde_json::Value>,
    },
    /// `/proc/<target_pid>/uid_map` written (by the parent, for the child).
    UidMap {
        target_pid: i32,
        lines: Vec<String>,
    },
    /// `/proc/<target_pid>/gid_map` written; `setgroups` is what was written first, if anything.
    GidMap {
        target_pid: i32,
        lines: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        setgroups: Option<String>,
    },
    /// `/proc/<target_pid>/timens_offsets` written (by the parent, for the child's new time
    /// namespace, before init enters it): `monotonic 86400 0`.
    TimeOffsets {
        target_pid: i32,
        lines: Vec<String>,
    },
    /// A process was put into the container's cgroup.
    CgroupJoin {
        /// The cgroup path relative to each hierarchy's root (`/initscope/ID`).
        path: String,
        /// The process moved (`target_pid` on the wire: `pid` is the envelope's).
        #[serde(rename = "target_pid")]
        pid: i32,
        /// `v1`, `v2` or `hybrid`.
        mode: String,
    },
    /// A cgroup resource file written.
    CgroupSet {
        file: String,
        value: String,
    },
    /// A mount made (or remounted) in the container's mount namespace.
    Mount {
        /// The mount's source (`mount_source` on the wire: `source` is the envelope's).
        #[serde(rename = "mount_source")]
        source: String,
        destination: String,
        fstype: String,
        flags: Vec<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        data: String,
    },
    /// A device node created or bind-mounted.
    Device {
        path: String,
        /// `c`, `b`, `p` or `u`.
        dev_type: String,
        major: i64,
        minor: i64,
        #[serde(default)]
        bind: bool,
    },
    /// A `/dev` symlink made (`/dev/fd` → `/proc/self/fd`, …).
    Symlink {
        path: String,
        target: String,
    },
    /// A masked path hidden (`/dev/null` bound over a file, tmpfs over a directory).
    MaskPath {
        path: String,
    },
    /// A path remounted read-only.
    ReadonlyPath {
        path: String,
    },
    /// The root switched: `method` is `pivot_root` or `move_chroot` (`--no-pivot`).
    PivotRoot {
        rootfs: String,
        method: String,
    },
    Hostname {
        hostname: String,
    },
    Domainname {
        domainname: String,
    },
    Sysctl {
        key: String,
        value: String,
    },
    /// The identity the process will exec with.
    User {
        uid: u32,
        gid: u32,
        additional_gids: Vec<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        umask: Option<u32>,
    },
    /// Capability sets applied (names like `CAP_CHOWN`).
    Caps {
        bounding: Vec<String>,
        effective: Vec<String>,
        inheritable: Vec<String>,
        permitted: Vec<String>,
        ambient: Vec<String>,
    },
    Rlimit {
        resource: String,
        soft: u64,
        hard: u64,
    },
    NoNewPrivs {},
    OomScoreAdj {
        value: i32,
    },
    /// Seccomp filter loaded.
    Seccomp {
        default_action: String,
        syscalls: usize,
        /// Architectures added besides the native one (`SCMP_ARCH_X86`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        architectures: Vec<String>,
        /// `SECCOMP_FILTER_FLAG_*` passed to `seccomp(2)`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        flags: Vec<String>,
        /// Syscall names this kernel does not know, skipped (as runc does).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        skipped: Vec<String>,
        /// A rule uses `SCMP_ACT_NOTIFY`: a listener fd goes to the agent.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        notify: bool,
    },
    /// A hook process started.
    HookStart {
        hook: String,
        path: String,
        args: Vec<String>,
        hook_pid: i32,
    },
    /// A hook process finished (`status` is its exit code, `signal` if killed).
    Hook {
        hook: String,
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<String>,
        duration_ns: u64,
    },
    /// `process.terminal`: a pty made from the container's `/dev/ptmx`, its master sent to
    /// `--console-socket`, its slave made stdio, controlling terminal and `/dev/console`.
    Console {
        /// The slave as the container sees it (`/dev/pts/0`).
        pty: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rows: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cols: Option<u16>,
    },
    /// Init blocked opening exec.fifo, waiting for `start`.
    WaitStart {
        fifo: String,
    },
    /// About to execve the user process (the last step of init; the probe sees the result).
    Exec {
        path: String,
        args: Vec<String>,
    },
    /// The container's lifecycle status changed (`creating`, `created`, `running`, `stopped`).
    State {
        status: String,
    },
    /// A signal sent to a container process.
    Signal {
        signal: String,
        target_pid: i32,
    },
    /// A stage stopped itself at a named step (`INITSCOPE_PAUSE_AT`).
    Paused {
        step: String,
    },
    /// `create` saw a stage die (or exit non-zero) without reporting why itself: which
    /// one, how, and its last step (from events.jsonl). Emitted before create's cleanup,
    /// so the live stream keeps the cause after the state directory is gone.
    StageDied {
        dead_stage: Stage,
        dead_pid: i32,
        /// `SIGKILL`, when a signal killed it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<String>,
        /// Its exit status, when it exited.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_status: Option<i32>,
        /// Its last reported step (`paused`, `sync_recv SYNC_GRANDCHILD`).
        last_step: String,
    },
    /// The stage is exiting; `dropped` counts events this process could not stream live.
    StageExit {
        status: i32,
        #[serde(default)]
        dropped: u64,
    },
    /// A step failed.
    Error {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        errno: Option<i32>,
        message: String,
    },
    /// A kind this reader does not know (written by a newer runtime).
    #[serde(other)]
    Other,
}

impl EventKind {
    /// The `kind` string as it appears in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::StageStart { .. } => "stage_start",
            EventKind::Clone { .. } => "clone",
            EventKind::Setns { .. } => "setns",
            EventKind::Unshare { .. } => "unshare",
            EventKind::SyncSend { .. } => "sync_send",
            EventKind::SyncRecv { .. } => "sync_recv",
            EventKind::UidMap { .. } => "uid_map",
            EventKind::GidMap { .. } => "gid_map",
            EventKind::TimeOffsets { .. } => "time_offsets",
            EventKind::CgroupJoin { .. } => "cgroup_join",
            EventKind::CgroupSet { .. } => "cgroup_set",
            EventKind::Mount { .. } => "mount",
            EventKind::Device { .. } => "device",
            EventKind::Symlink { .. } => "symlink",
            EventKind::MaskPath { .. } => "mask_path",
            EventKind::ReadonlyPath { .. } => "readonly_path",
            EventKind::PivotRoot { .. } => "pivot_root",
            EventKind::Hostname { .. } => "hostname",
            EventKind::Domainname { .. } => "domainname",
            EventKind::Sysctl { .. } => "sysctl",
            EventKind::User { .. } => "user",
            EventKind::Caps { .. } => "caps",
            EventKind::Rlimit { .. } => "rlimit",
            EventKind::NoNewPrivs {} => "no_new_privs",
            EventKind::OomScoreAdj { .. } => "oom_score_adj",
            EventKind::Seccomp { .. } => "seccomp",
            EventKind::HookStart { .. } => "hook_start",
            EventKind::Hook { .. } => "hook",
            EventKind::Console { .. } => "console",
            EventKind::WaitStart { .. } => "wait_start",
            EventKind::Exec { .. } => "exec",
            EventKind::State { .. } => "state",
            EventKind::Signal { .. } => "signal",
            EventKind::Paused { .. } => "paused",
            EventKind::StageDied { .. } => "stage_died",
            EventKind::StageExit { .. } => "stage_exit",
            EventKind::Error { .. } => "error",
            EventKind::Other => "other",
        }
    }
}

impl RuntimeEvent {
    /// One JSON line, without the trailing newline.
    pub fn to_json(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string(self).expect("runtime event serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind) -> RuntimeEvent {
        RuntimeEvent {
            v: SCHEMA_VERSION,
            ts_ns: 42,
            source: RuntimeSource::Runtime,
            container: "c1".into(),
            exec_id: None,
            stage: Stage::Child,
            pid: 100,
            kind,
        }
    }

    #[test]
    fn clone_event_serializes_flat_with_kind_tag() {
        let e = ev(EventKind::Clone {
            flags: vec!["CLONE_PARENT".into()],
            flags_raw: 0x8000,
            child_pid: 101,
            child_stage: Stage::Init,
        });
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["kind"], "clone");
        assert_eq!(v["source"], "runtime");
        assert_eq!(v["stage"], "child");
        assert_eq!(v["child_stage"], "init");
        assert_eq!(v["flags"][0], "CLONE_PARENT");
        assert!(v.get("exec_id").is_none());
    }

    #[test]
    fn every_kind_round_trips_and_names_match_json() {
        let kinds = vec![
            EventKind::StageStart {
                comm: "isc:[2:INIT]".into(),
                ppid: 1,
                ns_pid: Some(1),
            },
            EventKind::SyncSend {
                msg: "SYNC_RECVPID_PLS".into(),
                peer: Stage::Parent,
                data: Some(serde_json::json!({"stage2_pid": 7})),
            },
            EventKind::NoNewPrivs {},
            EventKind::StageExit {
                status: 0,
                dropped: 3,
            },
            EventKind::Error {
                step: "mount".into(),
                errno: Some(1),
                message: "mount proc on /proc: EPERM".into(),
            },
        ];
        for k in kinds {
            let e = ev(k);
            let line = e.to_json();
            let back: RuntimeEvent = serde_json::from_str(&line).unwrap();
            assert_eq!(back, e);
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["kind"], e.kind.name());
        }
    }

    /// No kind may repeat an envelope key: a JSON object with a duplicate key cannot be
    /// read back (`RuntimeEvent` refuses it, jq keeps the last one).
    #[test]
    fn no_kind_repeats_an_envelope_key() {
        let kinds = vec![
            EventKind::Mount {
                source: "proc".into(),
                destination: "/proc".into(),
                fstype: "proc".into(),
                flags: vec!["MS_NOSUID".into()],
                data: "mode=755".into(),
            },
            EventKind::CgroupJoin {
                path: "/x".into(),
                pid: 7,
                mode: "v1".into(),
            },
            EventKind::HookStart {
                hook: "prestart".into(),
                path: "/bin/h".into(),
                args: vec![],
                hook_pid: 9,
            },
            EventKind::Signal {
                signal: "SIGKILL".into(),
                target_pid: 3,
            },
        ];
        for k in kinds {
            let line = ev(k).to_json();
            for key in [
                "v",
                "ts_ns",
                "source",
                "container",
                "exec_id",
                "stage",
                "pid",
                "kind",
            ] {
                assert!(
                    line.matches(&format!("\"{key}\":")).count() <= 1,
                    "{key}: {line}"
                );
            }
            let back: RuntimeEvent = serde_json::from_str(&line).unwrap();
            assert_eq!(back.to_json(), line);
        }
        let mount = ev(EventKind::Mount {
            source: "tmpfs".into(),
            destination: "/dev".into(),
            fstype: "tmpfs".into(),
            flags: vec![],
            data: String::new(),
        });
        let v: serde_json::Value = serde_json::from_str(&mount.to_json()).unwrap();
        assert_eq!(v["source"], "runtime");
        assert_eq!(v["mount_source"], "tmpfs");
    }

    #[test]
    fn cgroup_join_does_not_repeat_the_envelope_pid() {
        let e = ev(EventKind::CgroupJoin {
            path: "/initscope/c1".into(),
            pid: 101,
            mode: "hybrid".into(),
        });
        let line = e.to_json();
        assert_eq!(line.matches("\"pid\"").count(), 1, "{line}");
        let back: RuntimeEvent = serde_json::from_str(&line).unwrap();
        assert_eq!(back, e);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["pid"], 100);
        assert_eq!(v["target_pid"], 101);
    }

    #[test]
    fn unknown_kind_and_fields_are_tolerated() {
        let line = r#"{"v":1,"ts_ns":5,"source":"runtime","container":"x","stage":"warp","pid":3,"kind":"teleport","extra":1}"#;
        let e: RuntimeEvent = serde_json::from_str(line).unwrap();
        assert_eq!(e.kind, EventKind::Other);
        assert_eq!(e.stage, Stage::Unknown);
    }
}
