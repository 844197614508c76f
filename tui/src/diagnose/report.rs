//! The report `initscope diagnose` prints: the bootstrap's verdict and, per process,
//! every fact it rests on. `--json` prints this structure as one document.

use std::path::Path;

use serde::Serialize;

use super::facts::{Expect, StageFacts};
use super::summary::Summary;
use super::verdict::{Ctx, Finding, Kind};
use crate::procinfo::ProcInfo;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub container: String,
    /// `initscope-runtime`, `runc`, `crun`, `youki`.
    pub runtime: String,
    pub root: String,
    /// `creating`, `created`, `running`, `stopped`, `paused`, `failed` (events only).
    pub status: String,
    /// The bootstrap's verdict: the process the others end up waiting for.
    pub verdict: String,
    pub next: Option<String>,
    pub culprit: Option<i32>,
    pub stuck: bool,
    /// The state is an expected one (created, waiting for `start`).
    pub normal: bool,
    /// Who waits for whom.
    pub chain: Vec<String>,
    /// The event log read (initscope-runtime), and how many events it held.
    pub events_file: Option<String>,
    pub events: usize,
    pub processes: Vec<ProcessReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcessReport {
    /// `[2:INIT]`, `create`, `hook prestart`, `runc init`.
    pub stage: String,
    pub pid: i32,
    pub ns_pid: Option<i32>,
    pub comm: Option<String>,
    pub alive: bool,
    /// R, S, D, T, t, Z.
    pub state: Option<String>,
    pub state_name: Option<String>,
    /// How long it has been like this, and since what (`its last event`, `it started`).
    pub for_s: Option<f64>,
    pub since: String,
    pub last_event: Option<String>,
    pub wchan: Option<String>,
    pub stack: Vec<String>,
    pub syscall: Option<SyscallReport>,
    /// What it waits on, short (`SYNC_USERMAP_ACK from [0:PARENT]`, `exec.fifo …`).
    pub waits_on: String,
    /// The fd it blocks on and everyone holding the other end.
    pub fd: Option<FdReport>,
    /// Who holds the other end, in words.
    pub other_end: Option<String>,
    /// The bootstrap process it waits for.
    pub blocked_by: Option<i32>,
    pub waits_for_child: Option<i32>,
    pub waits_for_signals: Vec<String>,
    pub cgroups: Vec<String>,
    pub freezer: Option<String>,
    pub last_sent: Option<SyncReport>,
    pub last_received: Option<SyncReport>,
    pub hook: Option<HookReport>,
    pub paused_at: Option<String>,
    pub exit: Option<ExitReport>,
    pub error: Option<ErrorReport>,
    pub kind: Kind,
    pub stuck: bool,
    pub normal: bool,
    pub verdict: String,
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyscallReport {
    pub nr: i64,
    pub name: String,
    pub decoded: String,
    /// Raw arguments, hex.
    pub args: Vec<String>,
    /// The thread it was read from, when not the main one.
    pub thread: Option<i32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FdReport {
    pub fd: i32,
    /// `pipe`, `socket`, `FIFO`, `file`, `pidfd`, `epoll`, `other`.
    pub kind: String,
    pub target: String,
    pub exec_fifo: bool,
    /// The filesystem of a file or FIFO.
    pub mount: Option<String>,
    /// The path a unix socket's peer is bound to.
    pub peer_name: Option<String>,
    pub other_end: Vec<HolderReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HolderReport {
    pub pid: i32,
    pub comm: String,
    /// Its stage, when it is part of this bootstrap.
    pub stage: Option<String>,
    pub fd: i32,
    pub mode: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub msg: String,
    pub peer: String,
    pub ago_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HookReport {
    pub hook: String,
    pub path: String,
    pub args: Vec<String>,
    pub pid: i32,
    pub age_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExitReport {
    pub code: Option<i32>,
    pub signal: Option<String>,
    pub ago_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    pub step: String,
    pub message: String,
}

fn secs(ns: u64) -> f64 {
    (ns as f64 / 1e6).round() / 1e3
}

/// One process's report from its facts, its /proc state and the verdict.
pub fn process(f: &StageFacts, info: Option<&ProcInfo>, x: &Finding, ctx: &Ctx) -> ProcessReport {
    let ago = |ts: u64| secs(ctx.now_ns.saturating_sub(ts));
    let label_of = |pid: i32| {
        ctx.members
            .iter()
            .find(|(p, _)| *p == pid)
            .map(|(_, l)| l.clone())
    };
    let alive = info.is_some_and(|p| p.state != 'Z' && p.state != 'X');
    ProcessReport {
        stage: f.label.clone(),
        pid: f.pid,
        ns_pid: f
            .ns_pid
            .or_else(|| info.and_then(|p| p.nspid.last().copied()))
            .filter(|&n| n != f.pid),
        comm: info.map(|p| p.comm.clone()),
        alive,
        state: info.map(|p| p.state.to_string()),
        state_name: info.map(|p| p.state_name().to_string()),
        for_s: x.for_ns.map(secs),
        since: x.since.to_string(),
        last_event: f.last_event.clone(),
        wchan: info.and_then(|p| p.wchan.clone()),
        stack: info.map(|p| p.stack.clone()).unwrap_or_default(),
        syscall: info.and_then(|p| {
            p.syscall.as_ref().map(|s| SyscallReport {
                nr: s.nr,
                name: s.name.clone(),
                decoded: s.decoded.clone(),
                args: s.args.iter().map(|a| format!("{a:#x}")).collect(),
                thread: p.thread,
            })
        }),
        waits_on: x.waits_on.clone(),
        fd: x.fd.as_ref().or(info.and_then(|p| p.waits_on.as_ref())).map(|w| FdReport {
            fd: w.fd,
            kind: w.kind.word().to_string(),
            target: w.target.clone(),
            exec_fifo: matches!(&w.kind, crate::procinfo::FdKind::Fifo(p) if p.ends_with("exec.fifo")),
            mount: w.mount.clone(),
            peer_name: w.peer_name.clone(),
            other_end: w
                .others
                .iter()
                .map(|h| HolderReport {
                    pid: h.pid,
                    comm: h.comm.clone(),
                    stage: label_of(h.pid),
                    fd: h.fd,
                    mode: h.mode.to_string(),
                })
                .collect(),
        }),
        other_end: x.other_end.clone(),
        blocked_by: x.blocked_by,
        waits_for_child: info.and_then(|p| p.waits_for_child),
        waits_for_signals: info.map(|p| p.waits_for_signals.clone()).unwrap_or_default(),
        cgroups: info.map(|p| p.cgroups.clone()).unwrap_or_default(),
        freezer: info.and_then(|p| p.freezer.clone()),
        last_sent: f.last_sent.as_ref().map(|s| SyncReport {
            msg: s.msg.clone(),
            peer: s.peer.clone(),
            ago_s: ago(s.ts_ns),
        }),
        last_received: f.last_recv.as_ref().map(|s| SyncReport {
            msg: s.msg.clone(),
            peer: s.peer.clone(),
            ago_s: ago(s.ts_ns),
        }),
        hook: f.hook.as_ref().map(|h| HookReport {
            hook: h.hook.clone(),
            path: h.path.clone(),
            args: h.args.clone(),
            pid: h.pid,
            age_s: ago(h.start_ns),
        }),
        paused_at: match &f.expect {
            Expect::Paused { step } => Some(step.clone()),
            _ => None,
        },
        exit: f.exit.as_ref().map(|e| ExitReport {
            code: e.code,
            signal: e.signal.clone(),
            ago_s: ago(e.ts_ns),
        }),
        error: f.error.as_ref().map(|(step, message)| ErrorReport {
            step: step.clone(),
            message: message.clone(),
        }),
        kind: x.kind,
        stuck: x.stuck,
        normal: x.normal,
        verdict: x.verdict.clone(),
        next: x.next.clone(),
    }
}

/// The whole report.
#[allow(clippy::too_many_arguments)]
pub fn assemble(
    container: &str,
    runtime: &str,
    root: &Path,
    status: String,
    summary: Summary,
    processes: Vec<ProcessReport>,
    events_file: Option<&Path>,
    events: usize,
) -> Report {
    Report {
        container: container.to_string(),
        runtime: runtime.to_string(),
        root: root.display().to_string(),
        status,
        verdict: summary.verdict,
        next: summary.next,
        culprit: summary.culprit,
        stuck: summary.stuck,
        normal: summary.normal,
        chain: summary.chain,
        events_file: events_file.map(|p| p.display().to_string()),
        events,
        processes,
    }
}
