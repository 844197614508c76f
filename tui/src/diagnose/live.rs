//! The verdict, live in the viewer: every half second the lanes that made no progress
//! for longer than `--stuck-after` (and stages that died mid-way) are handed, as plain
//! facts, to a worker thread that reads /proc and judges them with the same code as
//! `initscope diagnose`; the answers come back as data and are set on the model with
//! [`Model::set_diagnosis`]. The model stays a fold of events, and drawing never waits
//! for /proc.

use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use initscope_runtime::events::schema::Stage;

use super::facts::{self, StageFacts};
use super::verdict::{self, Ctx, Kind};
use super::{argv, live_info};
use crate::model::roles::RuntimeKind;
use crate::model::{Diagnosis, LaneId, Model};
use crate::session::Session;

/// How often the lanes are looked at.
pub const EVERY: Duration = Duration::from_millis(500);

/// The processes of one bootstrap to judge.
pub struct Batch {
    pub container: String,
    pub runtime: RuntimeKind,
    /// The runtime command that started it, as the events saw it exec (foreign
    /// runtimes: their stages' own command lines say only `runc init`).
    pub command: Option<argv::RuntimeArgs>,
    pub members: Vec<(i32, String)>,
    pub stuck_after_ns: u64,
    pub items: Vec<StageFacts>,
}

/// A verdict for a lane, and the lane's last event time it was made for.
pub struct Done {
    pub lane: LaneId,
    pub last_ns: u64,
    pub diagnosis: Option<Diagnosis>,
}

pub struct Monitor {
    tx: Sender<Vec<Batch>>,
    rx: Receiver<Vec<Done>>,
    busy: bool,
    last: Option<Instant>,
}

impl Default for Monitor {
    fn default() -> Self {
        Self::new()
    }
}

impl Monitor {
    /// Start the worker thread (it ends when the monitor is dropped).
    pub fn new() -> Monitor {
        let (tx, jobs) = channel::<Vec<Batch>>();
        let (done, rx) = channel::<Vec<Done>>();
        std::thread::Builder::new()
            .name("diagnose".into())
            .spawn(move || {
                while let Ok(batches) = jobs.recv() {
                    let out = batches.iter().flat_map(judge_batch).collect();
                    if done.send(out).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn the diagnose thread");
        Monitor {
            tx,
            rx,
            busy: false,
            last: None,
        }
    }

    /// Take finished verdicts, drop verdicts that progress made stale, and hand the
    /// lanes to look at to the worker. Returns true when a diagnosis changed.
    pub fn refresh(&mut self, s: &mut Session, stuck_after: Duration, now_ns: u64) -> bool {
        let mut changed = false;
        match self.rx.try_recv() {
            Ok(done) => {
                self.busy = false;
                for d in done {
                    changed |= apply(&mut s.model, d);
                }
            }
            Err(TryRecvError::Disconnected) => self.busy = false,
            Err(TryRecvError::Empty) => {}
        }
        changed |= drop_stale(&mut s.model);
        if self.busy || self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return changed;
        }
        self.last = Some(Instant::now());
        let batches = batches(s, stuck_after.as_nanos() as u64, now_ns);
        // Lanes no longer in question lose their verdict.
        let asked: Vec<LaneId> = batches
            .iter()
            .flat_map(|b| b.items.iter().filter_map(|f| f.lane))
            .collect();
        for lane in 0..s.model.lanes.len() as LaneId {
            if s.model.lane(lane).diagnosis.is_some() && !asked.contains(&lane) {
                s.model.set_diagnosis(lane, None);
                changed = true;
            }
        }
        if !batches.is_empty() && self.tx.send(batches).is_ok() {
            self.busy = true;
        }
        changed
    }
}

/// Set a verdict, unless the lane made progress since it was asked for.
fn apply(m: &mut Model, d: Done) -> bool {
    let Some(l) = m.lanes.get(d.lane as usize) else {
        return false;
    };
    if l.last_ts != d.last_ns && l.exit.is_none() {
        return false;
    }
    if l.diagnosis == d.diagnosis {
        return false;
    }
    m.set_diagnosis(d.lane, d.diagnosis);
    true
}

/// A lane that reported something after its verdict was made is no longer stuck there.
fn drop_stale(m: &mut Model) -> bool {
    let stale: Vec<LaneId> = m
        .stuck
        .iter()
        .copied()
        .filter(|&l| {
            let lane = m.lane(l);
            lane.exit.is_none()
                && lane
                    .diagnosis
                    .as_ref()
                    .is_some_and(|d| lane.last_ts > d.since_ns)
        })
        .collect();
    for &l in &stale {
        m.set_diagnosis(l, None);
    }
    !stale.is_empty()
}

/// A bootstrap stage (not a command like `start`, not the container's program).
fn is_stage(role: Option<Stage>) -> bool {
    matches!(
        role,
        Some(Stage::Create | Stage::Parent | Stage::Child | Stage::Init | Stage::Hook)
    )
}

/// How many of the most recent stages killed mid-way stay marked.
const KILLED_KEPT: usize = 32;

/// The lanes to judge, grouped by bootstrap: alive and silent for longer than the
/// threshold, or killed mid-way. Cheap tests first: only candidates cost a look at the
/// event store.
pub fn batches(s: &Session, stuck_after_ns: u64, now_ns: u64) -> Vec<Batch> {
    let m = &s.model;
    let at = m.len() as u32;
    let mut out: Vec<(Option<u32>, Batch)> = Vec::new();
    let mut over: Option<std::collections::HashSet<LaneId>> = None;
    let mut killed_seen = 0;
    for id in (0..m.lanes.len() as LaneId).rev() {
        let l = m.lane(id);
        let killed = l.exit.is_some_and(|x| !m.str(x.signal).is_empty());
        let silent = l.exit.is_none() && now_ns.saturating_sub(l.last_ts) > stuck_after_ns;
        if !(silent || killed && killed_seen < KILLED_KEPT) {
            continue;
        }
        let execd = l.exec_at(at).is_some();
        if !is_stage(l.role) && (l.role.is_some() || !execd) {
            continue;
        }
        // What it exec'd, if anything: the runtime itself (`runc create`, `runc init`)
        // keeps it a stage; another program means the bootstrap is over for it.
        let ran = if execd { exec_args(s, id) } else { None };
        if execd && ran.is_none() {
            continue;
        }
        // A foreign runtime's `runc init` before it names itself is a stage too.
        let init_cmd = ran
            .clone()
            .filter(|a| a.command == "init" && l.role.is_none());
        if l.role.is_none() && init_cmd.is_none() {
            continue;
        }
        if over.get_or_insert_with(|| finished(s)).contains(&id) {
            continue;
        }
        if killed {
            killed_seen += 1;
        }
        let mut f = facts::lane_facts(s, id);
        if let Some(a) = &ran {
            // It exec'd the runtime: still bootstrapping.
            f.execd = None;
            f.runtime = a.runtime;
        }
        if let Some(a) = &init_cmd {
            f.label = format!("{} init", a.runtime.as_str());
        }
        if f.execd.is_some() {
            continue;
        }
        let runtime = l.runtime.or(ran.as_ref().map(|a| a.runtime));
        let batch = match out.iter_mut().find(|(b, _)| *b == l.boot) {
            Some((_, b)) => b,
            None => {
                // Its bootstrap's live processes (a foreign runtime's: the live lanes of
                // that runtime), to name who holds the other end.
                let members: Vec<(i32, String)> = (0..m.lanes.len() as LaneId)
                    .filter(|&o| {
                        let lo = m.lane(o);
                        o == id
                            || lo.exit.is_none()
                                && match l.boot {
                                    Some(_) => lo.boot == l.boot,
                                    None => {
                                        lo.boot.is_none()
                                            && lo.runtime.is_some()
                                            && lo.runtime == runtime
                                    }
                                }
                    })
                    .map(|o| (m.lane(o).pid, m.lane_title(o, at)))
                    .collect();
                out.push((
                    l.boot,
                    Batch {
                        container: l
                            .boot
                            .map(|b| m.str(m.boots[b as usize].container).to_string())
                            .unwrap_or_default(),
                        runtime: runtime.unwrap_or(RuntimeKind::Other),
                        command: command_of(s, id),
                        members,
                        stuck_after_ns,
                        items: Vec::new(),
                    },
                ));
                &mut out.last_mut().unwrap().1
            }
        };
        batch.items.push(f);
    }
    out.into_iter().map(|(_, b)| b).collect()
}

/// Lanes whose bootstrap is over: init exec'd the container's program and runs, so the
/// runtime command that made it (`runc run` in the foreground, `initscope-runtime run`)
/// and the stages before it wait as they should — found up the creator chain of each such
/// live init — and our runtime's bootstraps in state `running`/`stopped`.
fn finished(s: &Session) -> std::collections::HashSet<LaneId> {
    let m = &s.model;
    let at = m.len() as u32;
    let mut out = std::collections::HashSet::new();
    let over: Vec<bool> = m
        .boots
        .iter()
        .map(|b| {
            b.state
                .last()
                .is_some_and(|(_, st)| matches!(m.str(*st), "running" | "stopped"))
        })
        .collect();
    for id in 0..m.lanes.len() as LaneId {
        let l = m.lane(id);
        if l.boot.is_some_and(|b| over[b as usize]) {
            out.insert(id);
        }
        let program = l.exit.is_none()
            && l.role == Some(Stage::Init)
            && l.exec_at(at).is_some()
            && exec_args(s, id).is_none();
        if program {
            let mut cur = Some(id);
            for _ in 0..8 {
                let Some(c) = cur else { break };
                out.insert(c);
                cur = m.lane(c).creator;
            }
        }
    }
    out
}

/// The runtime command (`runc --root R create ID`) a lane descends from, from the exec
/// events of it and its creators.
fn command_of(s: &Session, lane: LaneId) -> Option<argv::RuntimeArgs> {
    let mut cur = Some(lane);
    for _ in 0..8 {
        let l = cur?;
        if let Some(a) = exec_args(s, l).filter(|x| x.id.is_some()) {
            return Some(a);
        }
        cur = s.model.lane(l).creator;
    }
    None
}

/// The runtime command line a lane exec'd last, as the kernel saw it.
fn exec_args(s: &Session, lane: LaneId) -> Option<argv::RuntimeArgs> {
    let m = &s.model;
    m.lane(lane).rows.iter().rev().find_map(|&r| {
        let row = m.row(r);
        if !matches!(row.kind, crate::model::RowKind::Exec { .. }) {
            return None;
        }
        let Some(crate::event::Event::Kernel(k)) = row.k.and_then(|q| s.event(q)) else {
            return None;
        };
        match &k.kind {
            initscope_probe::schema::KernelKind::Exec { argv: a, .. } => argv::parse(a),
            _ => None,
        }
    })
}

/// Judge one bootstrap's lanes (reads /proc: runs on the worker).
pub fn judge_batch(b: &Batch) -> Vec<Done> {
    // The root and id to name in commands: the runtime's own command line says them (our
    // stages carry create's argv; runc's, the `runc create` the events saw exec).
    let parsed = b.command.clone().or_else(|| {
        b.members
            .iter()
            .find_map(|(pid, _)| argv::parse(&argv::cmdline(*pid)).filter(|a| a.id.is_some()))
    });
    let runtime = parsed.as_ref().map_or(b.runtime, |a| a.runtime);
    let root: Option<PathBuf> = parsed.as_ref().and_then(|a| a.root.clone());
    let container = if b.container.is_empty() {
        parsed.and_then(|a| a.id).unwrap_or_default()
    } else {
        b.container.clone()
    };
    let ctx = Ctx {
        container: &container,
        runtime,
        root: root.as_deref(),
        members: &b.members,
        now_ns: super::now_ns(),
        stuck_after_ns: b.stuck_after_ns,
    };
    b.items
        .iter()
        .filter_map(|f| {
            let lane = f.lane?;
            let info = live_info(f);
            let x = verdict::judge(f, info.as_ref(), &ctx);
            let stuck = x.stuck || matches!(x.kind, Kind::Killed);
            Some(Done {
                lane,
                last_ns: f.last_ns.unwrap_or(0),
                diagnosis: stuck.then(|| diagnosis(f, &x)),
            })
        })
        .collect()
}

/// The model's compact verdict from a finding.
pub fn diagnosis(f: &StageFacts, x: &verdict::Finding) -> Diagnosis {
    Diagnosis {
        stuck: true,
        since_ns: f.exit.as_ref().map(|e| e.ts_ns).or(f.last_ns).unwrap_or(0),
        waits_on: x.waits_on.clone(),
        verdict: x.verdict.clone(),
        other_end: x.other_end.clone(),
        next: x.next.clone(),
        blocked_by: x.blocked_by,
    }
}
