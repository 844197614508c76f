//! Folding kernel events (what the probe saw) into the model. Runtime and kernel events
//! about the same step (a clone, an unshare, an exec, an exit) land on the same row.

use initscope_probe::schema::{KernelEvent, KernelKind};
use initscope_runtime::events::schema::Stage;

use super::lane::{Exit, Status};
use super::roles::{runtime_from_comm, stage_from_comm};
use super::row::{Row, RowKind};
use super::strings::Sym;
use super::{LaneId, Model, RowId, Seq};

impl Model {
    pub(super) fn apply_kernel(
        &mut self,
        seq: Seq,
        e: &KernelEvent,
    ) -> (Option<LaneId>, Option<RowId>) {
        let ts = e.ts_ns;
        if let KernelKind::Lost { count } = e.kind {
            self.add_lost(seq, count, 0);
            let row = self.add_row(Row {
                ts,
                seq,
                lane: None,
                kind: RowKind::Lost { count },
                rt: None,
                k: Some(seq),
            });
            return (None, Some(row));
        }
        let lane = self.lane_for(e.tgid, ts, seq, false);
        {
            let comm = self.strings.intern(&e.comm);
            let l = &mut self.lanes[lane as usize];
            l.seen_kernel = true;
            l.ns_pid = Some(e.ns_pid);
            // The parent at birth (a later ppid of 1 only says the creator has exited).
            if e.ppid > 0 && l.kernel_parent.is_none() {
                l.kernel_parent = Some(e.ppid);
            }
            // The envelope's comm is current; a rename event records the change itself.
            if l.names.is_empty() && !matches!(e.kind, KernelKind::Rename { .. }) {
                l.names.push((seq, comm));
            }
            if l.runtime.is_none() {
                l.runtime = runtime_from_comm(&e.comm);
            }
        }
        if self.lanes[lane as usize].role.is_none() {
            self.recognise(lane, &e.comm);
        }

        let row = match &e.kind {
            KernelKind::Fork {
                child_tgid,
                parent_tgid,
                syscall,
                flags_raw,
                child_ns,
                child_ns_pid,
                ..
            } => {
                let child = self.fork_child(*child_tgid, ts, seq);
                let comm = self.strings.intern(&e.comm);
                {
                    let c = &mut self.lanes[child as usize];
                    c.seen_kernel = true;
                    c.creator = Some(lane);
                    c.kernel_parent = Some(*parent_tgid);
                    if *child_ns_pid > 0 {
                        c.ns_pid = Some(*child_ns_pid);
                    }
                    if c.names.is_empty() {
                        c.names.push((seq, comm));
                    }
                    if let Some(ns) = child_ns {
                        c.ns.push((seq, *ns));
                    }
                }
                let boot = self.lanes[lane as usize].boot;
                let runtime = self.lanes[lane as usize].runtime;
                let c = &mut self.lanes[child as usize];
                if c.boot.is_none() {
                    c.boot = boot;
                }
                if c.runtime.is_none() {
                    c.runtime = runtime;
                }
                self.recognise_init(lane, child, *flags_raw, *child_ns_pid);
                let kp = (*parent_tgid != e.tgid).then_some(*parent_tgid);
                let sc = self.strings.intern(syscall);
                Some(self.clone_row(seq, ts, lane, child, *flags_raw, kp, sc, false))
            }
            KernelKind::CloneExit {
                ret,
                errno,
                syscall,
                ..
            } if *ret < 0 => {
                let step = format!("{syscall}: {}", errno.as_deref().unwrap_or("failed"));
                let step = self.strings.intern(&step);
                Some(self.add_kernel_row(seq, ts, lane, RowKind::Error { step }))
            }
            KernelKind::Unshare {
                flags_raw, ret, ns, ..
            } => {
                if let Some(ns) = ns {
                    self.lanes[lane as usize].ns.push((seq, *ns));
                }
                let bits = *flags_raw;
                let found = self.find_recent_row(lane, ts, |r| {
                    r.k.is_none()
                        && matches!(r.kind, RowKind::Unshare { flags, .. } if flags == bits)
                });
                let r = self.join_or_add(
                    found,
                    seq,
                    ts,
                    lane,
                    RowKind::Unshare {
                        flags: bits,
                        failed: *ret < 0,
                    },
                    false,
                );
                if let RowKind::Unshare { failed, .. } = &mut self.rows[r as usize].kind {
                    *failed = *ret < 0;
                }
                Some(r)
            }
            KernelKind::Setns {
                nstype_raw,
                ret,
                ns,
                ..
            } => {
                if let Some(ns) = ns {
                    self.lanes[lane as usize].ns.push((seq, *ns));
                }
                let bits = *nstype_raw;
                let found = self.find_recent_row(lane, ts, |r| {
                    r.k.is_none()
                        && matches!(r.kind, RowKind::Setns { nstype, .. } if nstype == bits || nstype == 0 || bits == 0)
                });
                let r = self.join_or_add(
                    found,
                    seq,
                    ts,
                    lane,
                    RowKind::Setns {
                        nstype: bits,
                        path: Sym::NONE,
                        failed: *ret < 0,
                    },
                    false,
                );
                if let RowKind::Setns { failed, nstype, .. } = &mut self.rows[r as usize].kind {
                    *failed = *ret < 0;
                    if *nstype == 0 {
                        *nstype = bits;
                    }
                }
                Some(r)
            }
            KernelKind::Exec {
                filename,
                ret,
                ns,
                errno,
                ..
            } => {
                if *ret < 0 && errno.as_deref() == Some("ENOENT") {
                    // A shell searching PATH tries each directory: one row for the search.
                    if let Some(prev) = self.row_before(ts, seq) {
                        let row = &mut self.rows[prev as usize];
                        if row.lane == Some(lane) {
                            if let RowKind::ExecMisses { count } = &mut row.kind {
                                *count += 1;
                                return (Some(lane), Some(prev));
                            }
                        }
                    }
                    let row = self.add_kernel_row(seq, ts, lane, RowKind::ExecMisses { count: 1 });
                    return (Some(lane), Some(row));
                }
                if *ret < 0 {
                    let step = format!(
                        "execve {filename}: {}",
                        errno.as_deref().unwrap_or("failed")
                    );
                    let step = self.strings.intern(&step);
                    return (
                        Some(lane),
                        Some(self.add_kernel_row(seq, ts, lane, RowKind::Error { step })),
                    );
                }
                let path = self.strings.intern(filename);
                let comm = self.strings.intern(&e.comm);
                {
                    let l = &mut self.lanes[lane as usize];
                    if let Some(ns) = ns {
                        l.ns.push((seq, *ns));
                    }
                    l.exec.push((seq, path));
                    if l.names.last().map(|n| n.1) != Some(comm) {
                        l.names.push((seq, comm));
                    }
                    if matches!(l.status.last(), Some((_, Status::WaitingFifo))) {
                        l.set_status(seq, Status::Running);
                    }
                }
                let found = self.find_recent_row(lane, ts, |r| {
                    r.k.is_none() && matches!(r.kind, RowKind::Exec { .. })
                });
                let r = self.join_or_add(
                    found,
                    seq,
                    ts,
                    lane,
                    RowKind::Exec {
                        path,
                        failed: false,
                    },
                    false,
                );
                if let RowKind::Exec { path: p, .. } = &mut self.rows[r as usize].kind {
                    *p = path;
                }
                Some(r)
            }
            KernelKind::Exit { code, signal, .. } => {
                let signal = self.strings.intern(signal.as_deref().unwrap_or(""));
                let l = &mut self.lanes[lane as usize];
                let x = Exit {
                    ts,
                    seq,
                    code: *code,
                    signal,
                    by_kernel: true,
                };
                l.exit = Some(match l.exit {
                    // The kernel's word on how it ended wins; the earlier report's time stays.
                    Some(prev) if (prev.ts, prev.seq) < (ts, seq) => Exit {
                        code: code.or(prev.code),
                        ts: prev.ts,
                        seq: prev.seq,
                        ..x
                    },
                    Some(prev) => Exit {
                        code: code.or(prev.code),
                        ..x
                    },
                    None => x,
                });
                l.set_status(
                    seq,
                    Status::Exited {
                        code: *code,
                        signal,
                    },
                );
                self.lane_exited(lane);
                let found = self.find_recent_row(lane, ts, |r| {
                    r.k.is_none() && matches!(r.kind, RowKind::Exit { .. })
                });
                let r = self.join_or_add(
                    found,
                    seq,
                    ts,
                    lane,
                    RowKind::Exit {
                        code: *code,
                        signal,
                    },
                    false,
                );
                if let RowKind::Exit { code: c, signal: s } = &mut self.rows[r as usize].kind {
                    *c = code.or(*c);
                    *s = signal;
                }
                Some(r)
            }
            KernelKind::Rename { new_comm, .. } => {
                let name = self.strings.intern(new_comm);
                self.lanes[lane as usize].names.push((seq, name));
                self.recognise(lane, new_comm);
                let kind = self.strings.intern("rename");
                let text = self.strings.intern(&format!("names itself {new_comm}"));
                Some(self.add_kernel_row(seq, ts, lane, RowKind::Note { kind, text }))
            }
            KernelKind::Namespaces { ns } => {
                self.lanes[lane as usize].ns.push((seq, *ns));
                None
            }
            KernelKind::CloneExit { .. } | KernelKind::Lost { .. } | KernelKind::Other => None,
        };
        (Some(lane), row)
    }

    fn add_kernel_row(&mut self, seq: Seq, ts: u64, lane: LaneId, kind: RowKind) -> RowId {
        self.add_row(Row {
            ts,
            seq,
            lane: Some(lane),
            kind,
            rt: None,
            k: Some(seq),
        })
    }

    /// The lane for a new process: a fresh one unless the runtime already announced it.
    fn fork_child(&mut self, pid: i32, ts: u64, seq: Seq) -> LaneId {
        if let Some(id) = self.lane_of_pid(pid) {
            let l = &self.lanes[id as usize];
            let announced = l.exit.is_none() && !l.seen_kernel;
            if announced {
                return self.lane_for(pid, ts, seq, false);
            }
            if l.exit.is_none() {
                // We never saw the old process exit (lost event): start over.
                return self.new_lane(pid, ts, seq);
            }
        }
        self.lane_for(pid, ts, seq, true)
    }

    /// A process born as pid 1 of a new PID namespace by a clone with CLONE_NEW* flags is
    /// a container's init, even when the runtime names nothing (crun clones it straight
    /// into its namespaces); whoever made it is the runtime's `create`.
    fn recognise_init(&mut self, creator: LaneId, child: LaneId, flags: u64, child_ns_pid: i32) {
        const NEW_NS: u64 = 0x7e02_0080;
        if child_ns_pid != 1 || flags & NEW_NS == 0 || self.lanes[child as usize].role.is_some() {
            return;
        }
        let runtime = self.lanes[creator as usize]
            .runtime
            .unwrap_or(super::RuntimeKind::Other);
        self.set_role(child, Stage::Init, runtime);
        if self.lanes[creator as usize].role.is_none() {
            self.set_role(creator, Stage::Create, runtime);
        }
    }

    /// Learn a stage from a process name (`runc:[1:CHILD]`). The process that made a
    /// `[0:PARENT]` is the runtime's `create`.
    fn recognise(&mut self, lane: LaneId, comm: &str) {
        let Some((runtime, stage)) = stage_from_comm(comm) else {
            return;
        };
        let l = &mut self.lanes[lane as usize];
        if l.role.is_some() && l.seen_runtime {
            return;
        }
        l.runtime = Some(runtime);
        self.set_role(lane, stage, runtime);
        if stage == Stage::Parent {
            if let Some(c) = self.lanes[lane as usize].creator {
                if self.lanes[c as usize].role.is_none() {
                    self.set_role(c, Stage::Create, runtime);
                }
            }
        }
    }
}
