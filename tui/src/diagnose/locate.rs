//! Finding a bootstrap: the container an id or a pid belongs to, in the state directories
//! of initscope-runtime (`<root>/<id>/state.json`, `events.jsonl`), runc
//! (`/run/runc/<id>/state.json`), crun (`/run/crun/<id>/status`) and youki
//! (`/run/youki/<id>/state.json`), and the processes that are part of it.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::argv::{self, RuntimeArgs};
use super::DiagnoseError;
use crate::model::roles::RuntimeKind;

/// Where a container lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub runtime: RuntimeKind,
    pub root: PathBuf,
    pub id: String,
}

/// The runtime's default state root.
pub fn default_root(rt: RuntimeKind) -> PathBuf {
    match rt {
        RuntimeKind::Initscope | RuntimeKind::Other => initscope_runtime::state::default_root(),
        RuntimeKind::Runc => PathBuf::from("/run/runc"),
        RuntimeKind::Crun => PathBuf::from("/run/crun"),
        RuntimeKind::Youki => PathBuf::from("/run/youki"),
    }
}

const ALL: [RuntimeKind; 4] = [
    RuntimeKind::Initscope,
    RuntimeKind::Runc,
    RuntimeKind::Crun,
    RuntimeKind::Youki,
];

/// The (root, runtime) pairs to look in: the runtimes' default roots, then the roots the
/// clients give them.
fn places(rt: Option<RuntimeKind>, root: Option<&Path>) -> Vec<(PathBuf, Option<RuntimeKind>)> {
    let mut out = match (rt, root) {
        (_, Some(r)) => return vec![(r.to_path_buf(), rt)],
        (Some(rt), None) => vec![(default_root(rt), Some(rt))],
        (None, None) => ALL.iter().map(|&r| (default_root(r), Some(r))).collect(),
    };
    // Which runtime a client ran there is told by the layout of the state it left.
    out.extend(client_roots(Path::new("/run")).into_iter().map(|r| (r, rt)));
    out
}

/// The `--root`s clients pass to a runc-compatible runtime (ours, when it is registered
/// as theirs), under `run` (`/run`): containerd's runc shim,
/// `containerd/runc/<namespace>` (`ctr`, `k8s.io`), and docker's,
/// `docker/runtime-<name>/<namespace>` (`runtime-runc/moby`). podman keeps each
/// runtime's default root.
pub fn client_roots(run: &Path) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    let subdirs = |dir: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    roots.extend(subdirs(&run.join("containerd/runc")));
    for rt in subdirs(&run.join("docker")) {
        if rt
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("runtime-"))
        {
            roots.extend(subdirs(&rt));
        }
    }
    roots
}

/// Which runtime's layout a state directory has.
fn layout(dir: &Path) -> Option<RuntimeKind> {
    if let Some(v) = read_json(&dir.join("state.json")) {
        if v.get("create_pid").is_some() && v.get("init_pid").is_some() {
            return Some(RuntimeKind::Initscope);
        }
        if v.get("init_process_pid").is_some() {
            return Some(RuntimeKind::Runc);
        }
        if v.get("pid").is_some() {
            return Some(RuntimeKind::Youki);
        }
    }
    if dir.join("status").is_file() {
        return Some(RuntimeKind::Crun);
    }
    // initscope-runtime writes events.jsonl with the state; a bare directory with only
    // exec.fifo is a runc container still being created.
    if dir.join("events.jsonl").is_file() {
        return Some(RuntimeKind::Initscope);
    }
    dir.join("exec.fifo").exists().then_some(RuntimeKind::Runc)
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// The container named `id`.
pub fn by_id(
    id: &str,
    rt: Option<RuntimeKind>,
    root: Option<&Path>,
) -> Result<Found, DiagnoseError> {
    let places = places(rt, root);
    for (root, hint) in &places {
        let dir = root.join(id);
        if !dir.is_dir() {
            continue;
        }
        if let Some(kind) = layout(&dir).or(*hint) {
            return Ok(Found {
                runtime: kind,
                root: root.clone(),
                id: id.to_string(),
            });
        }
    }
    // A runtime command still running for this id (its state dir may not exist yet).
    for p in runtime_commands() {
        if p.1.id.as_deref() == Some(id) && rt.is_none_or(|r| r == p.1.runtime) {
            let root_of =
                p.1.root
                    .clone()
                    .unwrap_or_else(|| default_root(p.1.runtime));
            if root.is_none_or(|r| r == root_of) {
                return Ok(Found {
                    runtime: p.1.runtime,
                    root: root_of,
                    id: id.to_string(),
                });
            }
        }
    }
    Err(DiagnoseError::UnknownId {
        id: id.to_string(),
        looked: places
            .iter()
            .map(|(r, _)| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The container process `pid` belongs to.
pub fn by_pid(
    pid: i32,
    rt: Option<RuntimeKind>,
    root: Option<&Path>,
) -> Result<Found, DiagnoseError> {
    let comm = crate::procinfo::fds::comm(pid);
    if comm.is_empty() && !Path::new(&format!("/proc/{pid}")).exists() {
        return Err(DiagnoseError::NoProcess(pid));
    }
    // Its own command line, or an ancestor's (our stages carry create's; runc's stages
    // are children of `runc create`; a hook is a child of create).
    let mut p = pid;
    for _ in 0..8 {
        if let Some(a) = argv::parse(&argv::cmdline(p)) {
            if let Some(id) = a.id.clone().filter(|_| rt.is_none_or(|r| r == a.runtime)) {
                let r = root
                    .map(Path::to_path_buf)
                    .or(a.root.clone())
                    .unwrap_or_else(|| default_root(a.runtime));
                // Its state dir, or a create still making it.
                if r.join(&id).is_dir() || matches!(a.command.as_str(), "create" | "run") {
                    return Ok(Found {
                        runtime: a.runtime,
                        root: r,
                        id,
                    });
                }
            }
        }
        match ppid(p) {
            Some(q) if q > 1 => p = q,
            _ => break,
        }
    }
    // A state file that names it (init after its runtime command exited).
    for (r, hint) in places(rt, root) {
        let Ok(rd) = fs::read_dir(&r) else { continue };
        for e in rd.flatten() {
            let dir = e.path();
            let Some(kind) = layout(&dir).or(hint) else {
                continue;
            };
            if names_pid(&dir, kind, pid) {
                return Ok(Found {
                    runtime: kind,
                    root: r.clone(),
                    id: e.file_name().to_string_lossy().into_owned(),
                });
            }
        }
    }
    Err(DiagnoseError::UnknownPid {
        pid,
        comm,
        looked: places(rt, root)
            .iter()
            .map(|(r, _)| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Does the state in `dir` name `pid` (as init, create, or any stage in its events)?
fn names_pid(dir: &Path, kind: RuntimeKind, pid: i32) -> bool {
    let state = read_json(&dir.join("state.json")).unwrap_or(Value::Null);
    let n = pid as i64;
    match kind {
        RuntimeKind::Initscope | RuntimeKind::Other => {
            if state["init_pid"].as_i64() == Some(n) || state["create_pid"].as_i64() == Some(n) {
                return true;
            }
            let text = fs::read_to_string(dir.join("events.jsonl")).unwrap_or_default();
            text.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .any(|v| {
                    ["pid", "child_pid", "hook_pid"]
                        .iter()
                        .any(|k| v[*k].as_i64() == Some(n))
                })
        }
        RuntimeKind::Runc => state["init_process_pid"].as_i64() == Some(n),
        RuntimeKind::Youki => state["pid"].as_i64() == Some(n),
        RuntimeKind::Crun => {
            read_json(&dir.join("status")).is_some_and(|v| v["pid"].as_i64() == Some(n))
        }
    }
}

/// The init pid a foreign runtime's state records.
pub fn foreign_init_pid(f: &Found) -> Option<i32> {
    let dir = f.root.join(&f.id);
    let pid = match f.runtime {
        RuntimeKind::Runc => read_json(&dir.join("state.json"))?["init_process_pid"].as_i64(),
        RuntimeKind::Youki => read_json(&dir.join("state.json"))?["pid"].as_i64(),
        RuntimeKind::Crun => read_json(&dir.join("status"))?["pid"].as_i64(),
        _ => None,
    }?;
    (pid > 0).then_some(pid as i32)
}

/// Every live process running a runtime command (`runc create ID`, `initscope-runtime run`).
pub fn runtime_commands() -> Vec<(i32, RuntimeArgs)> {
    let mut out = Vec::new();
    for pid in all_pids() {
        if let Some(a) = argv::parse(&argv::cmdline(pid)) {
            out.push((pid, a));
        }
    }
    out
}

/// Processes whose parent is `pid`.
pub fn children(pid: i32) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|&p| ppid(p) == Some(pid))
        .collect()
}

pub fn all_pids() -> Vec<i32> {
    let mut v: Vec<i32> = fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn ppid(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].split(' ').nth(1)?.parse().ok()
}

/// Start time of `pid` in CLOCK_MONOTONIC-comparable ns (boot-relative; the same clock
/// in a VM that never suspends), to tell a process from a later one with its pid.
pub fn start_ns(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks: u64 = stat[stat.rfind(')')? + 2..]
        .split(' ')
        .nth(19)?
        .parse()
        .ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    Some(ticks * (1_000_000_000 / hz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_roots_are_found() {
        let run = tempfile::tempdir().unwrap();
        for d in [
            "containerd/runc/default",
            "containerd/runc/k8s.io",
            "docker/runtime-runc/moby",
            "docker/runtime-initscope/moby",
            "docker/plugins/x",
        ] {
            fs::create_dir_all(run.path().join(d)).unwrap();
        }
        fs::write(run.path().join("containerd/runc/not-a-dir"), "").unwrap();
        let got: Vec<String> = client_roots(run.path())
            .iter()
            .map(|p| p.strip_prefix(run.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(
            got,
            [
                "containerd/runc/default",
                "containerd/runc/k8s.io",
                "docker/runtime-initscope/moby",
                "docker/runtime-runc/moby"
            ]
        );
        assert!(client_roots(&run.path().join("missing")).is_empty());
    }

    fn write(dir: &Path, file: &str, v: serde_json::Value) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(file), v.to_string()).unwrap();
    }

    #[test]
    fn tells_the_runtimes_state_layouts_apart() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let me = std::process::id() as i64;
        write(
            &r.join("ours"),
            "state.json",
            serde_json::json!({"init_pid": 7, "create_pid": 6}),
        );
        write(
            &r.join("rc"),
            "state.json",
            serde_json::json!({"init_process_pid": me}),
        );
        write(
            &r.join("yk"),
            "state.json",
            serde_json::json!({"pid": 9, "status": "created"}),
        );
        write(&r.join("cr"), "status", serde_json::json!({"pid": 11}));
        let kind = |id: &str| by_id(id, None, Some(r)).unwrap().runtime;
        assert_eq!(kind("ours"), RuntimeKind::Initscope);
        assert_eq!(kind("rc"), RuntimeKind::Runc);
        assert_eq!(kind("yk"), RuntimeKind::Youki);
        assert_eq!(kind("cr"), RuntimeKind::Crun);
        let f = by_id("cr", None, Some(r)).unwrap();
        assert_eq!(foreign_init_pid(&f), Some(11));
        // A pid named as init in a state file finds its container.
        let f = by_pid(me as i32, None, Some(r)).unwrap();
        assert_eq!((f.id.as_str(), f.runtime), ("rc", RuntimeKind::Runc));
        // Unknown: one line naming what was searched.
        let e = by_id("nope", Some(RuntimeKind::Runc), Some(r)).unwrap_err();
        assert!(e.to_string().contains(&r.display().to_string()), "{e}");
    }
}
