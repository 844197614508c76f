//! The sync protocol between the stages: one enum for every message any two stages pass.
//!
//! The `SYNC_*` bytes are runc's (`libcontainer/nsenter/nsexec.c`); the `proc*` names are
//! runc's init ↔ create messages (`libcontainer/sync.go`). Keeping runc's names means what
//! a student sees in initscope is what happens in runc.

/// A message on one of the stage channels. The discriminant is the byte on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SyncMsg {
    // ---- [1:CHILD] / [2:INIT] ↔ [0:PARENT] (nsexec.c values) ----
    /// child → parent: "I unshared CLONE_NEWUSER, write my uid_map/gid_map".
    UsermapPls = 0x40,
    /// parent → child: maps written.
    UsermapAck = 0x41,
    /// child → parent: "here is the pid of init (stage 2)".
    RecvpidPls = 0x42,
    /// parent → child: pid received.
    RecvpidAck = 0x43,
    /// parent → init: "go on" (init may start once the parent has forwarded the pids).
    Grandchild = 0x44,
    /// child/init → parent: "I am done with you".
    ChildFinish = 0x45,
    /// child → parent: "write my time namespace offsets".
    TimeoffsetsPls = 0x46,
    /// parent → child: offsets written.
    TimeoffsetsAck = 0x47,

    // ---- create ↔ [0:PARENT] ----
    /// create → parent: the bootstrap data (runc sends it as netlink attributes) — sent
    /// after the cgroup is joined, so every later stage is born inside it.
    Bootstrap = 0x50,
    /// parent → create: pids of stage 1 and stage 2 (runc writes
    /// `{"stage1_pid":…,"stage2_pid":…}` on the same pipe).
    StagePids = 0x51,

    // ---- [2:INIT] ↔ create (runc's procSync types) ----
    /// init → create: the container's environment exists; run prestart/createRuntime hooks.
    ProcHooks = 0x60,
    /// create → init: hooks done, carry on.
    ProcResume = 0x61,
    /// init → create: ready; waiting for `start` on exec.fifo.
    ProcReady = 0x62,
    /// init → create: a step failed (payload: the error).
    ProcError = 0x63,
    /// init → create: here is the seccomp notify fd.
    ProcSeccomp = 0x64,
    /// create → init: seccomp fd handled.
    ProcSeccompDone = 0x65,
}

impl SyncMsg {
    /// All messages, for decoding and for tests.
    pub const ALL: [SyncMsg; 16] = [
        SyncMsg::UsermapPls,
        SyncMsg::UsermapAck,
        SyncMsg::RecvpidPls,
        SyncMsg::RecvpidAck,
        SyncMsg::Grandchild,
        SyncMsg::ChildFinish,
        SyncMsg::TimeoffsetsPls,
        SyncMsg::TimeoffsetsAck,
        SyncMsg::Bootstrap,
        SyncMsg::StagePids,
        SyncMsg::ProcHooks,
        SyncMsg::ProcResume,
        SyncMsg::ProcReady,
        SyncMsg::ProcError,
        SyncMsg::ProcSeccomp,
        SyncMsg::ProcSeccompDone,
    ];

    /// The name used in events: runc's own spelling.
    pub fn name(self) -> &'static str {
        match self {
            SyncMsg::UsermapPls => "SYNC_USERMAP_PLS",
            SyncMsg::UsermapAck => "SYNC_USERMAP_ACK",
            SyncMsg::RecvpidPls => "SYNC_RECVPID_PLS",
            SyncMsg::RecvpidAck => "SYNC_RECVPID_ACK",
            SyncMsg::Grandchild => "SYNC_GRANDCHILD",
            SyncMsg::ChildFinish => "SYNC_CHILD_FINISH",
            SyncMsg::TimeoffsetsPls => "SYNC_TIMEOFFSETS_PLS",
            SyncMsg::TimeoffsetsAck => "SYNC_TIMEOFFSETS_ACK",
            SyncMsg::Bootstrap => "BOOTSTRAP_DATA",
            SyncMsg::StagePids => "STAGE_PIDS",
            SyncMsg::ProcHooks => "procHooks",
            SyncMsg::ProcResume => "procResume",
            SyncMsg::ProcReady => "procReady",
            SyncMsg::ProcError => "procError",
            SyncMsg::ProcSeccomp => "procSeccomp",
            SyncMsg::ProcSeccompDone => "procSeccompDone",
        }
    }

    pub fn from_byte(b: u8) -> Option<SyncMsg> {
        SyncMsg::ALL.into_iter().find(|m| *m as u8 == b)
    }

    pub fn from_name(name: &str) -> Option<SyncMsg> {
        SyncMsg::ALL.into_iter().find(|m| m.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_match_runc_nsexec() {
        assert_eq!(SyncMsg::UsermapPls as u8, 0x40);
        assert_eq!(SyncMsg::ChildFinish as u8, 0x45);
        assert_eq!(SyncMsg::TimeoffsetsAck as u8, 0x47);
    }

    #[test]
    fn bytes_and_names_are_unique_and_decode() {
        for m in SyncMsg::ALL {
            assert_eq!(SyncMsg::from_byte(m as u8), Some(m));
            assert_eq!(SyncMsg::from_name(m.name()), Some(m));
        }
        assert_eq!(SyncMsg::from_byte(0x00), None);
    }
}
