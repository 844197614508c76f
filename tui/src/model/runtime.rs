//! Folding runtime events (what each stage says it did) into the model.

use initscope_runtime::bootstrap::sync::SyncMsg;
use initscope_runtime::events::flags::CLONE_FLAGS;
use initscope_runtime::events::schema::{EventKind, RuntimeEvent, Stage};

use super::lane::{Exit, NsNote, Status};
use super::roles::RuntimeKind;
use super::row::{MapKind, Row, RowKind, GROUP_KINDS};
use super::strings::Sym;
use super::{LaneId, Model, RowId, Seq};

/// The label of `start` releasing init through exec.fifo.
pub const FIFO_MSG: &str = "exec.fifo → running";

/// The answer a stage waits for after sending a request (runc's protocol).
pub fn reply_to(msg: &str) -> Option<SyncMsg> {
    Some(match SyncMsg::from_name(msg)? {
        SyncMsg::UsermapPls => SyncMsg::UsermapAck,
        SyncMsg::RecvpidPls => SyncMsg::RecvpidAck,
        SyncMsg::TimeoffsetsPls => SyncMsg::TimeoffsetsAck,
        SyncMsg::Bootstrap => SyncMsg::StagePids,
        SyncMsg::ProcHooks => SyncMsg::ProcResume,
        SyncMsg::ProcSeccomp => SyncMsg::ProcSeccompDone,
        _ => return None,
    })
}

/// `CLONE_NEWNET` → its bit.
pub fn flag_bits(names: &[String]) -> u64 {
    names
        .iter()
        .filter_map(|n| CLONE_FLAGS.iter().find(|(_, f)| f == n).map(|(b, _)| *b))
        .fold(0, |a, b| a | b)
}

impl Model {
    pub(super) fn apply_runtime(
        &mut self,
        seq: Seq,
        e: &RuntimeEvent,
    ) -> (Option<LaneId>, Option<RowId>) {
        let ts = e.ts_ns;
        let birth = matches!(e.kind, EventKind::StageStart { .. });
        let lane = self.lane_for(e.pid, ts, seq, birth);
        let boot = self.boot_for(&e.container, e.exec_id.as_deref());
        {
            let l = &mut self.lanes[lane as usize];
            l.seen_runtime = true;
            l.boot.get_or_insert(boot);
        }
        self.set_role(lane, e.stage, RuntimeKind::Initscope);

        let row = match &e.kind {
            EventKind::StageStart { comm, ppid, ns_pid } => {
                let name = self.strings.intern(comm);
                let l = &mut self.lanes[lane as usize];
                l.names.push((seq, name));
                l.kernel_parent.get_or_insert(*ppid);
                if ns_pid.is_some() {
                    l.ns_pid = *ns_pid;
                }
                None
            }
            EventKind::Clone {
                flags,
                flags_raw,
                child_pid,
                child_stage,
            } => {
                let bits = if *flags_raw != 0 {
                    *flags_raw
                } else {
                    flag_bits(flags)
                };
                let child = self.lane_for(*child_pid, ts, seq, false);
                self.lanes[child as usize].boot.get_or_insert(boot);
                self.lanes[child as usize].creator = Some(lane);
                self.set_role(child, *child_stage, RuntimeKind::Initscope);
                Some(self.clone_row(seq, ts, lane, child, bits, None, Sym::NONE, true))
            }
            EventKind::Unshare { flags, flags_raw } => {
                let bits = if *flags_raw != 0 {
                    *flags_raw
                } else {
                    flag_bits(flags)
                };
                self.lanes[lane as usize]
                    .ns_notes
                    .push((seq, NsNote::New(bits)));
                let found = self.find_recent_row(lane, ts, |r| {
                    r.rt.is_none()
                        && matches!(r.kind, RowKind::Unshare { flags, .. } if flags == bits)
                });
                Some(self.join_or_add(
                    found,
                    seq,
                    ts,
                    lane,
                    RowKind::Unshare {
                        flags: bits,
                        failed: false,
                    },
                    true,
                ))
            }
            EventKind::Setns { path, nstype } => {
                let bits = flag_bits(std::slice::from_ref(nstype));
                self.lanes[lane as usize]
                    .ns_notes
                    .push((seq, NsNote::Joined(bits)));
                let path = self.strings.intern(path);
                let found = self.find_recent_row(lane, ts, |r| {
                    r.rt.is_none()
                        && matches!(r.kind, RowKind::Setns { nstype, .. } if nstype == bits || nstype == 0 || bits == 0)
                });
                if let Some(r) = found {
                    if let RowKind::Setns {
                        path: p, nstype, ..
                    } = &mut self.rows[r as usize].kind
                    {
                        *p = path;
                        if *nstype == 0 {
                            *nstype = bits;
                        }
                    }
                }
                Some(self.join_or_add(
                    found,
                    seq,
                    ts,
                    lane,
                    RowKind::Setns {
                        nstype: bits,
                        path,
                        failed: false,
                    },
                    true,
                ))
            }
            EventKind::SyncSend { msg, peer, .. } => {
                if let Some(reply) = reply_to(msg) {
                    let msg = self.strings.intern(reply.name());
                    self.lanes[lane as usize]
                        .set_status(seq, Status::WaitingSync { msg, peer: *peer });
                }
                Some(self.sync_half(seq, ts, boot, lane, e.stage, *peer, msg, true))
            }
            EventKind::SyncRecv { msg, peer, .. } => {
                self.lanes[lane as usize].set_status(seq, Status::Running);
                Some(self.sync_half(seq, ts, boot, lane, *peer, e.stage, msg, false))
            }
            EventKind::UidMap { target_pid, .. } | EventKind::GidMap { target_pid, .. } => {
                let map = if matches!(e.kind, EventKind::UidMap { .. }) {
                    MapKind::Uid
                } else {
                    MapKind::Gid
                };
                let target = self.by_pid_alive(*target_pid);
                Some(self.add_simple(seq, ts, lane, RowKind::IdMap { target, map }))
            }
            EventKind::Mount { .. }
            | EventKind::Device { .. }
            | EventKind::Symlink { .. }
            | EventKind::MaskPath { .. }
            | EventKind::ReadonlyPath { .. }
            | EventKind::Sysctl { .. }
            | EventKind::Rlimit { .. }
            | EventKind::CgroupSet { .. } => Some(self.group_row(seq, ts, lane, e.kind.name())),
            EventKind::HookStart { hook, hook_pid, .. } => {
                let hook = self.strings.intern(hook);
                let h = self.lane_for(*hook_pid, ts, seq, false);
                let hl = &mut self.lanes[h as usize];
                hl.creator.get_or_insert(lane);
                hl.boot.get_or_insert(boot);
                if hl.role.is_none() {
                    hl.role = Some(Stage::Hook);
                }
                self.lanes[lane as usize].set_status(
                    seq,
                    Status::WaitingHook {
                        hook,
                        pid: *hook_pid,
                    },
                );
                Some(self.note(seq, ts, lane, e))
            }
            EventKind::Hook { .. } => {
                self.lanes[lane as usize].set_status(seq, Status::Running);
                Some(self.note(seq, ts, lane, e))
            }
            EventKind::WaitStart { .. } => {
                self.lanes[lane as usize].set_status(seq, Status::WaitingFifo);
                Some(self.note(seq, ts, lane, e))
            }
            EventKind::Paused { step } => {
                let step = self.strings.intern(step);
                self.lanes[lane as usize].set_status(seq, Status::Paused { step });
                Some(self.note(seq, ts, lane, e))
            }
            EventKind::State { status } => {
                let s = self.strings.intern(status);
                self.boots[boot as usize].state.push((seq, s));
                let init = self.boots[boot as usize]
                    .by_stage
                    .get(&Stage::Init)
                    .copied();
                match init {
                    // `start` says "running" once it read init's byte from exec.fifo: the
                    // FIFO is what passes between them, so draw it as a message.
                    Some(init) if e.stage == Stage::Start && status == "running" => {
                        let msg = self.strings.intern(FIFO_MSG);
                        let row = self.add_simple(
                            seq,
                            ts,
                            lane,
                            RowKind::Sync {
                                to: Some(init),
                                msg,
                                send: Some(seq),
                                recv: Some(seq),
                            },
                        );
                        // `start` says so only after init has exec'd: drawn at its own
                        // time, the arrow would follow what the released init did. It goes
                        // just above init's first step after the wait (1 ns earlier, with
                        // that step's seq: rows stay a prefix of `order` in replay).
                        if let Some((t, s)) = self.released_at(init) {
                            self.move_row_earlier(row, t.saturating_sub(1), s);
                        }
                        Some(row)
                    }
                    _ => Some(self.note(seq, ts, lane, e)),
                }
            }
            EventKind::Exec { path, .. } => {
                let path = self.strings.intern(path);
                self.lanes[lane as usize].set_status(seq, Status::Running);
                let found = self.find_recent_row(lane, ts, |r| {
                    r.rt.is_none() && matches!(r.kind, RowKind::Exec { .. })
                });
                Some(self.join_or_add(
                    found,
                    seq,
                    ts,
                    lane,
                    RowKind::Exec {
                        path,
                        failed: false,
                    },
                    true,
                ))
            }
            EventKind::StageExit { status, dropped } => {
                if *dropped > 0 {
                    self.add_lost(seq, 0, *dropped);
                }
                let l = &mut self.lanes[lane as usize];
                match &mut l.exit {
                    Some(x) => {
                        x.code = x.code.or(Some(*status));
                        if (ts, seq) < (x.ts, x.seq) {
                            x.ts = ts;
                            x.seq = seq;
                        }
                    }
                    None => {
                        l.exit = Some(Exit {
                            ts,
                            seq,
                            code: Some(*status),
                            signal: Sym::NONE,
                            by_kernel: false,
                        })
                    }
                }
                let x = l.exit.unwrap();
                l.set_status(
                    seq,
                    Status::Exited {
                        code: x.code,
                        signal: x.signal,
                    },
                );
                self.lane_exited(lane);
                let found = self.find_recent_row(lane, ts, |r| {
                    r.rt.is_none() && matches!(r.kind, RowKind::Exit { .. })
                });
                Some(self.join_or_add(
                    found,
                    seq,
                    ts,
                    lane,
                    RowKind::Exit {
                        code: Some(*status),
                        signal: Sym::NONE,
                    },
                    true,
                ))
            }
            EventKind::StageDied {
                dead_pid,
                signal,
                exit_status,
                ..
            } => {
                // create saw a stage die that could not say so itself: end its lane here,
                // unless the kernel already reported the exit.
                let signal = self.strings.intern(signal.as_deref().unwrap_or(""));
                let dead = self
                    .lane_of_pid(*dead_pid)
                    .filter(|&d| self.lanes[d as usize].exit.is_none());
                match dead {
                    Some(d) => {
                        let l = &mut self.lanes[d as usize];
                        l.exit = Some(Exit {
                            ts,
                            seq,
                            code: *exit_status,
                            signal,
                            by_kernel: false,
                        });
                        l.set_status(
                            seq,
                            Status::Exited {
                                code: *exit_status,
                                signal,
                            },
                        );
                        self.lane_exited(d);
                        Some(self.add_simple(
                            seq,
                            ts,
                            d,
                            RowKind::Exit {
                                code: *exit_status,
                                signal,
                            },
                        ))
                    }
                    None => Some(self.note(seq, ts, lane, e)),
                }
            }
            EventKind::Error { step, .. } => {
                let step = self.strings.intern(step);
                self.lanes[lane as usize].set_status(seq, Status::Failed { step });
                Some(self.add_simple(seq, ts, lane, RowKind::Error { step }))
            }
            // A rootfs step in a shape this reader does not know still belongs in its group.
            EventKind::Other if GROUP_KINDS.contains(&self.str(self.events[seq as usize].kind)) => {
                let kind = self.str(self.events[seq as usize].kind).to_string();
                Some(self.group_row(seq, ts, lane, &kind))
            }
            // A rootfs step in a shape this reader does not know still belongs in its group.
            EventKind::Other if GROUP_KINDS.contains(&self.str(self.events[seq as usize].kind)) => {
                let kind = self.str(self.events[seq as usize].kind).to_string();
                Some(self.group_row(seq, ts, lane, &kind))
            }
            _ => Some(self.note(seq, ts, lane, e)),
        };
        (Some(lane), row)
    }

    /// The live lane of a pid, if known (does not create one).
    pub(super) fn by_pid_alive(&self, pid: i32) -> Option<LaneId> {
        self.lane_of_pid(pid)
    }

    pub(super) fn add_simple(&mut self, seq: Seq, ts: u64, lane: LaneId, kind: RowKind) -> RowId {
        self.add_row(Row {
            ts,
            seq,
            lane: Some(lane),
            kind,
            rt: Some(seq),
            k: None,
        })
    }

    /// Put the event on `found` (a row the other source already made) or on a new row.
    pub(super) fn join_or_add(
        &mut self,
        found: Option<RowId>,
        seq: Seq,
        ts: u64,
        lane: LaneId,
        kind: RowKind,
        runtime: bool,
    ) -> RowId {
        match found {
            Some(r) => {
                let row = &mut self.rows[r as usize];
                if runtime {
                    row.rt = Some(seq);
                } else {
                    row.k = Some(seq);
                }
                self.move_row_earlier(r, ts, seq);
                r
            }
            None => self.add_row(Row {
                ts,
                seq,
                lane: Some(lane),
                kind,
                rt: runtime.then_some(seq),
                k: (!runtime).then_some(seq),
            }),
        }
    }

    /// The clone arrow to `child`, shared by the runtime's clone and the kernel's fork.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn clone_row(
        &mut self,
        seq: Seq,
        ts: u64,
        creator: LaneId,
        child: LaneId,
        flags: u64,
        kernel_parent: Option<i32>,
        syscall: Sym,
        runtime: bool,
    ) -> RowId {
        // The child may have spoken before its creator reported the clone: the arrow
        // goes where the child's lane begins.
        let (cts, cseq) = {
            let c = &self.lanes[child as usize];
            (c.start_ts, c.start_seq)
        };
        let (ts0, seq0) = if (cts, cseq) < (ts, seq) {
            (cts, cseq)
        } else {
            (ts, seq)
        };
        if let Some(r) = self.lanes[child as usize].clone_row {
            let row = &mut self.rows[r as usize];
            if let RowKind::Clone {
                flags: f,
                kernel_parent: kp,
                syscall: sc,
                ..
            } = &mut row.kind
            {
                if !runtime {
                    *f = flags;
                    *kp = kernel_parent;
                    *sc = syscall;
                } else if *f == 0 {
                    *f = flags;
                }
            }
            if runtime {
                row.rt = Some(seq);
            } else {
                row.k = Some(seq);
            }
            self.move_row_earlier(r, ts0, seq0);
            return r;
        }
        let id = self.add_row(Row {
            ts: ts0,
            seq: seq0,
            lane: Some(creator),
            kind: RowKind::Clone {
                child,
                flags,
                kernel_parent,
                syscall,
            },
            rt: runtime.then_some(seq),
            k: (!runtime).then_some(seq),
        });
        self.lanes[child as usize].clone_row = Some(id);
        id
    }

    /// One half of a sync message; pairs a send with its receive, whichever comes first.
    #[allow(clippy::too_many_arguments)]
    fn sync_half(
        &mut self,
        seq: Seq,
        ts: u64,
        boot: u32,
        lane: LaneId,
        from: Stage,
        to: Stage,
        msg: &str,
        send: bool,
    ) -> RowId {
        let msg = self.strings.intern(msg);
        let key = (boot, from, to, msg);
        let waiting = self.pending_sync.get_mut(&key).and_then(|q| {
            let pos = q.iter().position(|&r| {
                matches!(self.rows[r as usize].kind, RowKind::Sync { send: s, recv: rv, .. }
                    if if send { s.is_none() } else { rv.is_none() })
            })?;
            q.remove(pos)
        });
        if self.pending_sync.get(&key).is_some_and(|q| q.is_empty()) {
            self.pending_sync.remove(&key);
        }
        if let Some(r) = waiting {
            let row = &mut self.rows[r as usize];
            if let RowKind::Sync {
                send: s,
                recv: rv,
                to: t,
                ..
            } = &mut row.kind
            {
                if send {
                    *s = Some(seq);
                } else {
                    *rv = Some(seq);
                    *t = Some(lane);
                }
            }
            if send {
                // The arrow belongs to the sender's lane, at the time it was sent.
                let old = row.lane;
                row.lane = Some(lane);
                row.rt = Some(seq);
                if old != Some(lane) {
                    if let Some(o) = old {
                        self.lanes[o as usize].rows.retain(|&x| x != r);
                    }
                    self.lanes[lane as usize].rows.push(r);
                }
                self.move_row_earlier(r, ts, seq);
            }
            return r;
        }
        let boot_lanes = &self.boots[boot as usize].by_stage;
        let (acting, other) = if send {
            (lane, boot_lanes.get(&to).copied())
        } else {
            // Only the receiver is known: draw from the sender's lane if there is one.
            (boot_lanes.get(&from).copied().unwrap_or(lane), Some(lane))
        };
        let id = self.add_row(Row {
            ts,
            seq,
            lane: Some(acting),
            kind: RowKind::Sync {
                to: other,
                msg,
                send: send.then_some(seq),
                recv: (!send).then_some(seq),
            },
            rt: Some(seq),
            k: None,
        });
        self.pending_sync.entry(key).or_default().push_back(id);
        id
    }

    /// Rootfs steps that follow each other on one lane share one row.
    fn group_row(&mut self, seq: Seq, ts: u64, lane: LaneId, kind: &str) -> RowId {
        let idx = GROUP_KINDS.iter().position(|k| *k == kind).unwrap_or(0);
        // Only when nothing else happened in between: the row just above is this lane's group.
        if let Some(prev) = self.row_before(ts, seq) {
            let row = &mut self.rows[prev as usize];
            if row.lane == Some(lane) {
                if let RowKind::Group { last, counts } = &mut row.kind {
                    counts[idx] += 1;
                    *last = (*last).max(seq);
                    return prev;
                }
            }
        }
        let mut counts = [0; GROUP_KINDS.len()];
        counts[idx] = 1;
        self.add_simple(seq, ts, lane, RowKind::Group { last: seq, counts })
    }

    /// A one-line step: the label is made now and interned.
    /// The key of init's first row after it began waiting on exec.fifo: when `start` let
    /// it go.
    fn released_at(&self, init: LaneId) -> Option<(u64, Seq)> {
        let rows = &self.lanes[init as usize].rows;
        let wait = rows
            .iter()
            .map(|&r| &self.rows[r as usize])
            .filter(
                |r| matches!(r.kind, RowKind::Note { kind, .. } if self.str(kind) == "wait_start"),
            )
            .map(|r| r.key())
            .max()?;
        rows.iter()
            .map(|&r| self.rows[r as usize].key())
            .filter(|&k| k > wait)
            .min()
    }

    fn note(&mut self, seq: Seq, ts: u64, lane: LaneId, e: &RuntimeEvent) -> RowId {
        let text = match e.kind {
            // A kind this reader does not know: its name as the line carried it.
            EventKind::Other => self.str(self.events[seq as usize].kind).replace('_', " "),
            _ => crate::labels::runtime_note(e),
        };
        let kind = self.events[seq as usize].kind;
        let text = self.strings.intern(&text);
        self.add_simple(seq, ts, lane, RowKind::Note { kind, text })
    }
}
