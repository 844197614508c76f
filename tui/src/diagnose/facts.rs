//! What the events say about each process of a bootstrap, read off the model (the same
//! fold the viewer draws from): its stage, when it last reported, what it waits for by
//! the protocol, the last sync message it sent and received, the hook it runs, how it
//! failed or died. /proc is not read here.

use initscope_runtime::bootstrap::sync::SyncMsg;
use initscope_runtime::events::schema::{EventKind, Stage};
use serde::Serialize;

use crate::event::Event;
use crate::model::roles::{stage_from_comm, stage_title, RuntimeKind};
use crate::model::{BootId, LaneId, RowKind, Seq, Status};
use crate::session::Session;

/// A sync message as one side saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncFact {
    pub msg: String,
    /// The other stage (`[0:PARENT]`).
    pub peer: String,
    /// CLOCK_MONOTONIC ns.
    pub ts_ns: u64,
}

/// A hook process a stage started.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HookFact {
    pub hook: String,
    pub path: String,
    pub args: Vec<String>,
    pub pid: i32,
    pub start_ns: u64,
}

/// What the events say a stage waits for now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expect {
    /// Nothing known (running, or a process without events).
    Nothing,
    /// A sync message from a peer stage.
    Message { msg: String, peer: Stage },
    /// Init blocks opening exec.fifo until `start`.
    Start,
    /// The hook it started.
    Hook,
    /// Held by INITSCOPE_PAUSE_AT.
    Paused { step: String },
}

/// How it ended, if it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExitFact {
    pub code: Option<i32>,
    pub signal: Option<String>,
    pub ts_ns: u64,
    /// Reported by `create` (`stage_died`) or seen by the kernel, not by the stage itself.
    pub observed: bool,
}

/// Everything the events say about one process.
#[derive(Debug, Clone, PartialEq)]
pub struct StageFacts {
    pub lane: Option<LaneId>,
    /// `[1:CHILD]`, `create`, `hook prestart`, `runc init`.
    pub label: String,
    pub role: Option<Stage>,
    pub runtime: RuntimeKind,
    pub pid: i32,
    pub ns_pid: Option<i32>,
    /// Time of its first and last event (CLOCK_MONOTONIC ns).
    pub first_ns: Option<u64>,
    pub last_ns: Option<u64>,
    /// Its last event in words (`sync_send SYNC_USERMAP_PLS → parent`).
    pub last_event: Option<String>,
    pub expect: Expect,
    pub last_sent: Option<SyncFact>,
    pub last_recv: Option<SyncFact>,
    pub hook: Option<HookFact>,
    /// The step that failed and the stage's own words.
    pub error: Option<(String, String)>,
    pub exit: Option<ExitFact>,
    /// The program it exec'd: the bootstrap is over for this process.
    pub execd: Option<String>,
}

impl StageFacts {
    /// A process known only from /proc (a foreign runtime's, or one without events yet).
    pub fn from_comm(pid: i32, comm: &str, cmdline: &[String]) -> StageFacts {
        let (runtime, role) = match stage_from_comm(comm) {
            Some((r, s)) => (r, Some(s)),
            None => (
                crate::model::roles::runtime_from_comm(comm).unwrap_or(RuntimeKind::Other),
                None,
            ),
        };
        let label = match role {
            Some(s) => stage_title(s).to_string(),
            None => command_label(comm, cmdline),
        };
        StageFacts {
            lane: None,
            label,
            role,
            runtime,
            pid,
            ns_pid: None,
            first_ns: None,
            last_ns: None,
            last_event: None,
            expect: Expect::Nothing,
            last_sent: None,
            last_recv: None,
            hook: None,
            error: None,
            exit: None,
            execd: None,
        }
    }
}

/// `runc init`, `runc create`, `crun`: the program and its subcommand.
fn command_label(comm: &str, cmdline: &[String]) -> String {
    let prog = cmdline
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| comm.to_string());
    let sub = cmdline.iter().skip(1).find(|a| {
        matches!(
            a.as_str(),
            "init" | "create" | "run" | "start" | "exec" | "delete" | "kill"
        )
    });
    match sub {
        Some(s) => format!("{prog} {s}"),
        None => prog,
    }
}

/// The facts of every process of bootstrap `boot`, in the order they appeared.
pub fn boot_facts(s: &Session, boot: BootId) -> Vec<StageFacts> {
    let m = &s.model;
    let mut lanes: Vec<LaneId> = (0..m.lanes.len() as LaneId)
        .filter(|&l| m.lane(l).boot == Some(boot))
        .collect();
    lanes.sort_by_key(|&l| (m.lane(l).start_ts, m.lane(l).start_seq));
    lanes.into_iter().map(|l| lane_facts(s, l)).collect()
}

/// The facts of one lane.
pub fn lane_facts(s: &Session, lane: LaneId) -> StageFacts {
    let m = &s.model;
    let l = m.lane(lane);
    let at = m.len() as Seq;
    let mut label = m.lane_title(lane, at);
    let status = l.status_at(at);
    let mut facts = StageFacts {
        lane: Some(lane),
        label: String::new(),
        role: l.role,
        runtime: l.runtime.unwrap_or(RuntimeKind::Other),
        pid: l.pid,
        ns_pid: l.ns_pid,
        first_ns: Some(l.start_ts),
        last_ns: Some(l.last_ts),
        last_event: last_event(s, lane),
        expect: Expect::Nothing,
        last_sent: None,
        last_recv: None,
        hook: None,
        error: None,
        exit: l.exit.map(|x| ExitFact {
            code: x.code,
            signal: Some(m.str(x.signal).to_string()).filter(|s| !s.is_empty()),
            ts_ns: x.ts,
            observed: x.by_kernel || !m.str(x.signal).is_empty(),
        }),
        execd: l.exec_at(at).map(|p| m.str(p).to_string()),
    };
    // The lane's runtime events, newest first, from the event store.
    let own = own_events(s, lane);
    let paused_last = matches!(own.first(), Some(Event::Runtime(r)) if matches!(r.kind, EventKind::Paused { .. }));
    if let Some(Event::Runtime(r)) = own.first() {
        if let EventKind::Exec { path, .. } = &r.kind {
            facts.execd.get_or_insert_with(|| path.clone());
        }
    }
    for ev in &own {
        let Event::Runtime(r) = ev else { continue };
        let peer_label = |p: &Stage| stage_title(*p).to_string();
        match &r.kind {
            EventKind::SyncSend { msg, peer, .. } if facts.last_sent.is_none() => {
                facts.last_sent = Some(SyncFact {
                    msg: msg.clone(),
                    peer: peer_label(peer),
                    ts_ns: r.ts_ns,
                })
            }
            EventKind::SyncRecv { msg, peer, .. } if facts.last_recv.is_none() => {
                facts.last_recv = Some(SyncFact {
                    msg: msg.clone(),
                    peer: peer_label(peer),
                    ts_ns: r.ts_ns,
                })
            }
            EventKind::HookStart {
                hook,
                path,
                args,
                hook_pid,
            } if facts.hook.is_none() => {
                facts.hook = Some(HookFact {
                    hook: hook.clone(),
                    path: path.clone(),
                    args: args.clone(),
                    pid: *hook_pid,
                    start_ns: r.ts_ns,
                })
            }
            EventKind::Error { step, message, .. } if facts.error.is_none() => {
                facts.error = Some((step.clone(), message.clone()))
            }
            _ => {}
        }
    }
    if l.role == Some(Stage::Hook) {
        // A hook lane: its own start event is on the lane that ran it.
        if let Some(h) = hook_started_as(s, l.pid) {
            label = format!("hook {}", h.hook);
            facts.first_ns = Some(h.start_ns);
            facts.hook = Some(h);
        }
    }
    facts.label = label;
    facts.expect = match status {
        Status::WaitingSync { msg, peer } => Expect::Message {
            msg: m.str(msg).to_string(),
            peer,
        },
        Status::WaitingFifo => Expect::Start,
        Status::WaitingHook { .. } => Expect::Hook,
        // Held until its next event: once it reported something else it was continued.
        Status::Paused { step } if paused_last => Expect::Paused {
            step: m.str(step).to_string(),
        },
        Status::Paused { .. } if l.exit.is_none() => protocol_next(&facts),
        Status::Running if l.exit.is_none() => protocol_next(&facts),
        _ => Expect::Nothing,
    };
    // A hook that finished is not waited for any more.
    if !matches!(facts.expect, Expect::Hook) && l.role != Some(Stage::Hook) {
        facts.hook = None;
    }
    facts
}

/// Which message a stage waits for next when its last step was not a request (runc's
/// order: create waits for procHooks/procReady after STAGE_PIDS, the parent for the
/// child's next request, init for SYNC_GRANDCHILD before anything else).
fn protocol_next(f: &StageFacts) -> Expect {
    let sent = f.last_sent.as_ref().map(|s| s.msg.as_str());
    let recv = f.last_recv.as_ref().map(|s| s.msg.as_str());
    let msg = |m: &str, peer| Expect::Message {
        msg: m.to_string(),
        peer,
    };
    match f.role {
        Some(Stage::Create) => match (sent, recv) {
            (_, Some("STAGE_PIDS")) => msg("procHooks or procReady", Stage::Init),
            (Some("procResume"), _) => msg("procReady", Stage::Init),
            _ => Expect::Nothing,
        },
        Some(Stage::Parent) => match sent {
            Some("SYNC_GRANDCHILD") => msg(SyncMsg::ChildFinish.name(), Stage::Init),
            Some("STAGE_PIDS") => msg(SyncMsg::ChildFinish.name(), Stage::Child),
            _ if recv == Some("BOOTSTRAP_DATA") || sent == Some("SYNC_USERMAP_ACK") => msg(
                "SYNC_USERMAP_PLS, SYNC_RECVPID_PLS or SYNC_CHILD_FINISH",
                Stage::Child,
            ),
            _ => Expect::Nothing,
        },
        Some(Stage::Init) if recv.is_none() && sent.is_none() => {
            msg(SyncMsg::Grandchild.name(), Stage::Parent)
        }
        _ => Expect::Nothing,
    }
}

/// The runtime events of a lane, newest first (at most 256).
fn own_events(s: &Session, lane: LaneId) -> Vec<Event> {
    let m = &s.model;
    let l = m.lane(lane);
    // Events are found through the time index: those at or before the lane's last event.
    let end = m
        .by_time
        .partition_point(|&q| m.events[q as usize].ts <= l.last_ts);
    let mut out = Vec::new();
    for &seq in m.by_time[..end].iter().rev() {
        let e = &m.events[seq as usize];
        if e.ts < l.start_ts || out.len() >= 256 {
            break;
        }
        if e.lane == Some(lane) && e.source == crate::model::Source::Runtime {
            if let Some(ev) = s.event(seq) {
                out.push(ev);
            }
        }
    }
    out
}

/// The lane's last event, in words.
fn last_event(s: &Session, lane: LaneId) -> Option<String> {
    let m = &s.model;
    let l = m.lane(lane);
    let end = m
        .by_time
        .partition_point(|&q| m.events[q as usize].ts <= l.last_ts);
    let seq = m.by_time[..end]
        .iter()
        .rev()
        .take(4096)
        .copied()
        .find(|&q| m.events[q as usize].lane == Some(lane))?;
    let ev = s.event(seq)?;
    Some(describe(&ev))
}

/// `sync_send SYNC_USERMAP_PLS → parent`, `paused child:before-unshare`.
pub fn describe(ev: &Event) -> String {
    let kind = match ev {
        Event::Runtime(r) => r.kind.name(),
        Event::Kernel(k) => k.kind.name(),
    };
    let text = crate::labels::event_summary(ev);
    if text.starts_with(kind) || text.replace(' ', "_").starts_with(kind) {
        text
    } else {
        format!("{kind}: {text}")
    }
}

/// The `hook_start` event that started process `pid`.
fn hook_started_as(s: &Session, pid: i32) -> Option<HookFact> {
    let m = &s.model;
    m.rows.iter().rev().find_map(|row| {
        let RowKind::Note { kind, .. } = row.kind else {
            return None;
        };
        if m.str(kind) != "hook_start" {
            return None;
        }
        let Some(Event::Runtime(r)) = s.event(row.rt?) else {
            return None;
        };
        match r.kind {
            EventKind::HookStart {
                hook,
                path,
                args,
                hook_pid,
            } if hook_pid == pid => Some(HookFact {
                hook,
                path,
                args,
                pid,
                start_ns: r.ts_ns,
            }),
            _ => None,
        }
    })
}

/// Stage labels of the bootstrap's processes, by pid (for naming the other end).
pub fn labels_by_pid(facts: &[StageFacts]) -> Vec<(i32, String)> {
    facts.iter().map(|f| (f.pid, f.label.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_processes_without_events() {
        let f = StageFacts::from_comm(7, "runc:[2:INIT]", &[]);
        assert_eq!((f.label.as_str(), f.role), ("[2:INIT]", Some(Stage::Init)));
        assert_eq!(f.runtime, RuntimeKind::Runc);
        let args: Vec<String> = ["/usr/sbin/runc", "init"].map(String::from).into();
        assert_eq!(StageFacts::from_comm(8, "runc", &args).label, "runc init");
        let args: Vec<String> = ["runc", "--root", "/r", "create", "-b", "b", "x"]
            .map(String::from)
            .into();
        let f = StageFacts::from_comm(9, "runc", &args);
        assert_eq!(
            (f.label.as_str(), f.runtime),
            ("runc create", RuntimeKind::Runc)
        );
    }
}
