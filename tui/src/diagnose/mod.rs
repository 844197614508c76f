//! `initscope diagnose ID|PID`: which stage of a bootstrap waits for what, who holds the
//! other end, since when, and what to do about it.
//!
//! For initscope-runtime the stages' own events (`<root>/<id>/events.jsonl`, or a log
//! given with `--events`) are folded by the viewer's model ([`facts`]); for runc, crun and
//! youki the processes are found from their state directories, `/proc` and their names
//! ([`locate`]). Each live process is then read from `/proc` ([`crate::procinfo`]) and
//! judged ([`verdict`]); the viewer runs the same judgement on its lanes ([`live`]).

pub mod argv;
pub mod facts;
pub mod live;
pub mod locate;
pub mod report;
pub mod summary;
pub mod text;
pub mod verdict;
mod words;

use std::path::{Path, PathBuf};
use std::time::Duration;

use initscope_runtime::events::schema::Stage;

use self::facts::StageFacts;
use self::locate::Found;
use self::report::Report;
use self::verdict::Ctx;
use crate::model::roles::RuntimeKind;
use crate::procinfo::{self, ProcInfo};
use crate::session::Session;

/// Why there is nothing to diagnose: one line each.
#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error("no container {id:?} (looked in {looked}); pass --root DIR, --runtime initscope|runc|crun|youki, or --events FILE for a bootstrap that is gone")]
    UnknownId { id: String, looked: String },
    #[error("no process {0}")]
    NoProcess(i32),
    #[error("pid {pid} ({comm}) belongs to no container found in {looked}; pass --root DIR or --runtime initscope|runc|crun|youki")]
    UnknownPid {
        pid: i32,
        comm: String,
        looked: String,
    },
    #[error("{0}")]
    Events(#[from] crate::store::StoreError),
    #[error("{path} has no event of container or pid {target:?}")]
    NotInEvents { path: String, target: String },
}

/// What to diagnose and how.
#[derive(Debug, Clone)]
pub struct Opts {
    /// A container id or a pid.
    pub target: String,
    pub runtime: Option<RuntimeKind>,
    pub root: Option<PathBuf>,
    /// A JSONL log to read instead of the state directory's (the runtime's `--events`
    /// file, or a recording): a failed create leaves no state directory behind.
    pub events: Option<PathBuf>,
    /// No progress for longer than this is "stuck".
    pub stuck_after: Duration,
}

/// CLOCK_MONOTONIC now, in ns (the events' clock).
pub fn now_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// Diagnose the bootstrap `o.target` names.
pub fn diagnose(o: &Opts) -> Result<Report, DiagnoseError> {
    if let Some(log) = &o.events {
        return from_log(o, log);
    }
    let pid: Option<i32> = o.target.parse().ok().filter(|&p| p > 0);
    let found = match pid {
        Some(p) => match locate::by_id(&o.target, o.runtime, o.root.as_deref()) {
            // A container may be named by digits: a state dir of that name wins.
            Ok(f) if f.root.join(&o.target).is_dir() => f,
            _ => locate::by_pid(p, o.runtime, o.root.as_deref())?,
        },
        None => locate::by_id(&o.target, o.runtime, o.root.as_deref())?,
    };
    match found.runtime {
        RuntimeKind::Initscope | RuntimeKind::Other => ours(o, &found),
        _ => Ok(foreign(o, &found)),
    }
}

/// initscope-runtime: the state directory and its events.jsonl.
fn ours(o: &Opts, f: &Found) -> Result<Report, DiagnoseError> {
    let dir = initscope_runtime::state::StateDir::new(&f.root, &f.id);
    let log = dir.events_file();
    let session = if log.is_file() {
        Session::load(&log)?
    } else {
        Session::from_events(&[])
    };
    let status = dir
        .load()
        .map(|st| st.status(&dir).as_str().to_string())
        .unwrap_or_else(|_| "creating".into());
    Ok(build(o, f, &session, Some(&log), status, None))
}

/// A log file: the runtime's `--events` file or a recording, for a bootstrap that may be
/// gone (a failed create removes its state directory).
fn from_log(o: &Opts, log: &Path) -> Result<Report, DiagnoseError> {
    let session = Session::load(log)?;
    let m = &session.model;
    let pid: Option<i32> = o.target.parse().ok();
    // The container of that name, else the one whose processes include that pid.
    let boot = m
        .boots
        .iter()
        .rposition(|b| m.str(b.container) == o.target && m.str(b.exec_id).is_empty())
        .or_else(|| {
            let lane = m.lanes.iter().rposition(|l| Some(l.pid) == pid)?;
            m.lanes[lane].boot.map(|b| b as usize)
        })
        .ok_or_else(|| DiagnoseError::NotInEvents {
            path: log.display().to_string(),
            target: o.target.clone(),
        })?;
    let id = m.str(m.boots[boot].container).to_string();
    let root = o
        .root
        .clone()
        .unwrap_or_else(|| locate::default_root(RuntimeKind::Initscope));
    let found = Found {
        runtime: RuntimeKind::Initscope,
        root: root.clone(),
        id: id.clone(),
    };
    let dir = initscope_runtime::state::StateDir::new(&root, &id);
    let last_state = m.boots[boot]
        .state
        .last()
        .map(|(_, s)| m.str(*s).to_string());
    let status = match dir.load() {
        Ok(st) => st.status(&dir).as_str().to_string(),
        // Gone: a create that failed, or a container deleted since.
        Err(_) => match last_state.as_deref() {
            Some("creating") | None => "failed".to_string(),
            Some(s) => format!("{s} (state directory gone)"),
        },
    };
    Ok(build(
        o,
        &found,
        &session,
        Some(log),
        status,
        Some(boot as u32),
    ))
}

/// Judge every process of the bootstrap and put the report together.
fn build(
    o: &Opts,
    f: &Found,
    session: &Session,
    log: Option<&Path>,
    status: String,
    boot: Option<u32>,
) -> Report {
    let m = &session.model;
    let boot = boot.or_else(|| {
        m.boots
            .iter()
            .rposition(|b| m.str(b.container) == f.id && m.str(b.exec_id).is_empty())
            .map(|b| b as u32)
    });
    let mut all = boot
        .map(|b| facts::boot_facts(session, b))
        .unwrap_or_default();
    // A log holding several runs of this id: only the latest create and what followed.
    if let Some(t0) = all
        .iter()
        .filter(|s| s.role == Some(Stage::Create))
        .filter_map(|s| s.first_ns)
        .max()
    {
        all.retain(|s| s.first_ns.is_none_or(|t| t >= t0));
    }
    let infos: Vec<Option<ProcInfo>> = all.iter().map(live_info).collect();
    let root = explicit_root(f, o.root.as_deref());
    let members = facts::labels_by_pid(&all);
    let ctx = Ctx {
        container: &f.id,
        runtime: f.runtime,
        root: root.as_deref(),
        members: &members,
        now_ns: now_ns(),
        stuck_after_ns: o.stuck_after.as_nanos() as u64,
    };
    judge_all(&ctx, f, &all, &infos, status, log, m.len())
}

fn judge_all(
    ctx: &Ctx,
    f: &Found,
    all: &[StageFacts],
    infos: &[Option<ProcInfo>],
    status: String,
    log: Option<&Path>,
    events: usize,
) -> Report {
    let found: Vec<verdict::Finding> = all
        .iter()
        .zip(infos)
        .map(|(s, i)| verdict::judge(s, i.as_ref(), ctx))
        .collect();
    let summary = summary::summarize(all, &found);
    let processes = all
        .iter()
        .zip(infos)
        .zip(&found)
        .map(|((s, i), x)| report::process(s, i.as_ref(), x, ctx))
        .collect();
    report::assemble(
        &f.id,
        f.runtime.as_str(),
        &f.root,
        status,
        summary,
        processes,
        log,
        events,
    )
}

/// The root to repeat in suggested commands: none when it is the runtime's default.
fn explicit_root(f: &Found, given: Option<&Path>) -> Option<PathBuf> {
    let root = given
        .map(Path::to_path_buf)
        .unwrap_or_else(|| f.root.clone());
    (root != locate::default_root(f.runtime)).then_some(root)
}

/// /proc facts for a process the events name — if it is still that process: an exited
/// lane is gone, and a pid that started after the lane's first event was reused.
pub fn live_info(s: &StageFacts) -> Option<ProcInfo> {
    if s.exit.is_some() || s.pid <= 0 {
        return None;
    }
    if let (Some(first), Some(start)) = (s.first_ns, locate::start_ns(s.pid)) {
        // Clock ticks are coarse (10 ms): allow a second.
        if start > first + 1_000_000_000 {
            return None;
        }
    }
    procinfo::inspect(s.pid)
}

/// runc, crun, youki: the state file, the runtime commands for this id and their children.
fn foreign(o: &Opts, f: &Found) -> Report {
    let mut pids: Vec<i32> = Vec::new();
    let init = locate::foreign_init_pid(f);
    for (pid, a) in locate::runtime_commands() {
        if a.id.as_deref() == Some(f.id.as_str()) && a.runtime == f.runtime {
            let root_ok = a
                .root
                .clone()
                .unwrap_or_else(|| locate::default_root(a.runtime))
                == f.root;
            if root_ok {
                pids.push(pid);
                pids.extend(locate::children(pid));
            }
        }
    }
    if let Some(i) = init {
        pids.push(i);
    }
    pids.sort();
    pids.dedup();
    let infos: Vec<Option<ProcInfo>> = pids.iter().map(|&p| procinfo::inspect(p)).collect();
    let mut all: Vec<StageFacts> = pids
        .iter()
        .zip(&infos)
        .map(|(&p, i)| {
            let (comm, cmd) = i
                .as_ref()
                .map(|i| (i.comm.clone(), i.cmdline.clone()))
                .unwrap_or_default();
            let mut s = StageFacts::from_comm(p, &comm, &cmd);
            if Some(p) == init && s.role.is_none() {
                if s.runtime == RuntimeKind::Other {
                    // Init after its exec: the container's program.
                    s.label = "[2:INIT]".into();
                    s.role = Some(Stage::Init);
                    s.execd = Some(cmd.first().cloned().unwrap_or(comm));
                } else if !s.label.ends_with(" init") {
                    // A fork of the runtime's command that never renamed itself (crun's
                    // container process still reads `crun create` until it execs).
                    s.label = "[2:INIT]".into();
                    s.role = Some(Stage::Init);
                }
            }
            s
        })
        .collect();
    // The runtime command first, then its stages in pid order.
    let order = |s: &StageFacts| if s.role.is_none() { 0 } else { 1 };
    let mut paired: Vec<(StageFacts, Option<ProcInfo>)> = all.drain(..).zip(infos).collect();
    paired.sort_by_key(|(s, _)| (order(s), s.pid));
    let (all, infos): (Vec<_>, Vec<_>) = paired.into_iter().unzip();
    let status = foreign_status(f, init, &all);
    let root = explicit_root(f, o.root.as_deref());
    let members = facts::labels_by_pid(&all);
    let ctx = Ctx {
        container: &f.id,
        runtime: f.runtime,
        root: root.as_deref(),
        members: &members,
        now_ns: now_ns(),
        stuck_after_ns: o.stuck_after.as_nanos() as u64,
    };
    judge_all(&ctx, f, &all, &infos, status, None, 0)
}

/// runc's rule: created while exec.fifo exists and init lives; no state.json yet: creating.
fn foreign_status(f: &Found, init: Option<i32>, all: &[StageFacts]) -> String {
    let dir = f.root.join(&f.id);
    let alive = init.is_some_and(|p| procinfo::inspect(p).is_some_and(|i| i.state != 'Z'));
    let creating = all
        .iter()
        .any(|s| matches!(s.label.as_str(), l if l.ends_with(" create") || l.ends_with(" run")))
        && !alive;
    if creating || (init.is_none() && !all.is_empty()) {
        return "creating".into();
    }
    match (alive, dir.join("exec.fifo").exists()) {
        (true, true) => "created",
        (true, false) => "running",
        (false, _) => "stopped",
    }
    .into()
}

#[cfg(test)]
mod tests;
