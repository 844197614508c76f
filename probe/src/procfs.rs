//! What the probe reads from /proc: a process's tgid, its namespaces when tracking starts,
//! its descendants, and processes whose comm matches a prefix (to attach to what runs).

use std::collections::HashMap;
use std::fs;

use crate::schema::{KernelEvent, KernelKind, KernelSource, Namespaces, SCHEMA_VERSION};

/// Fields of /proc/PID/status we use.
struct Status {
    tgid: i32,
    ppid: i32,
    uid: u32,
    ns_pids: Vec<i32>,
}

fn status(pid: i32) -> Option<Status> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut st = Status {
        tgid: pid,
        ppid: 0,
        uid: 0,
        ns_pids: Vec::new(),
    };
    for line in text.lines() {
        let (key, val) = line.split_once(':')?;
        let mut words = val.split_whitespace();
        match key {
            "Tgid" => st.tgid = words.next()?.parse().ok()?,
            "PPid" => st.ppid = words.next()?.parse().ok()?,
            "Uid" => st.uid = words.next()?.parse().ok()?,
            "NSpid" => st.ns_pids = words.filter_map(|w| w.parse().ok()).collect(),
            _ => {}
        }
    }
    Some(st)
}

/// The process (thread group) a pid belongs to; `None` when it does not exist.
pub(crate) fn tgid_of(pid: i32) -> Option<i32> {
    status(pid).map(|s| s.tgid)
}

/// `/proc/PID/ns/<name>` → inode number, 0 where unknown.
fn ns_inode(pid: i32, name: &str) -> u64 {
    fs::read_link(format!("/proc/{pid}/ns/{name}"))
        .ok()
        .and_then(|t| {
            let t = t.to_string_lossy().into_owned();
            let start = t.find('[')? + 1;
            let end = t.find(']')?;
            t.get(start..end)?.parse().ok()
        })
        .unwrap_or(0)
}

pub(crate) fn namespaces(pid: i32) -> Namespaces {
    Namespaces {
        pid: ns_inode(pid, "pid"),
        pid_for_children: ns_inode(pid, "pid_for_children"),
        mnt: ns_inode(pid, "mnt"),
        net: ns_inode(pid, "net"),
        uts: ns_inode(pid, "uts"),
        ipc: ns_inode(pid, "ipc"),
        cgroup: ns_inode(pid, "cgroup"),
        user: ns_inode(pid, "user"),
        time: ns_inode(pid, "time"),
    }
}

pub(crate) fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end_matches('\n').to_string())
        .unwrap_or_default()
}

/// CLOCK_MONOTONIC now, the clock `bpf_ktime_get_ns` reads.
pub(crate) fn monotonic_ns() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always readable");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

/// A `namespaces` event for a process that starts being tracked: where it stands before
/// the kernel reports anything about it.
pub(crate) fn snapshot(pid: i32) -> Option<KernelEvent> {
    let st = status(pid)?;
    Some(KernelEvent {
        v: SCHEMA_VERSION,
        ts_ns: monotonic_ns(),
        source: KernelSource::Kernel,
        pid,
        tgid: st.tgid,
        ppid: st.ppid,
        comm: comm(pid),
        uid: st.uid,
        cgroup_id: 0,
        ns_pid: st.ns_pids.last().copied().unwrap_or(pid),
        ns_level: st.ns_pids.len().saturating_sub(1) as u32,
        kind: KernelKind::Namespaces {
            ns: namespaces(pid),
        },
    })
}

/// Every process: (pid, ppid, comm) from /proc/PID/stat.
fn all_processes() -> Vec<(i32, i32, String)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|ent| {
        let pid: i32 = ent.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "PID (comm) S PPID ..." — comm may hold spaces and parentheses: split at the last ')'
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let comm = stat.get(open + 1..close)?.to_string();
        let ppid = stat
            .get(close + 2..)?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some((pid, ppid, comm))
    })
    .collect()
}

/// The processes below `root` (not `root` itself), found by walking parent links.
pub(crate) fn descendants(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (pid, ppid, _) in all_processes() {
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        if let Some(kids) = children.get(&p) {
            for &k in kids {
                out.push(k);
                stack.push(k);
            }
        }
    }
    out
}

/// Running processes whose comm starts with one of `prefixes`.
pub(crate) fn with_comm_prefix(prefixes: &[String]) -> Vec<i32> {
    all_processes()
        .into_iter()
        .filter(|(_, _, comm)| prefixes.iter().any(|p| comm.starts_with(p.as_str())))
        .map(|(pid, _, _)| pid)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id() as i32;
        assert_eq!(tgid_of(me), Some(me));
        let snap = snapshot(me).unwrap();
        assert_eq!(snap.tgid, me);
        match snap.kind {
            KernelKind::Namespaces { ns } => {
                assert_ne!(ns.pid, 0);
                assert_ne!(ns.mnt, 0);
                assert_ne!(ns.user, 0);
            }
            k => panic!("{k:?}"),
        }
        assert_eq!(tgid_of(i32::MAX), None);
    }

    #[test]
    fn finds_a_child_and_a_comm() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let me = std::process::id() as i32;
        assert!(descendants(me).contains(&pid));
        assert!(with_comm_prefix(&["slee".to_string()]).contains(&pid));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
