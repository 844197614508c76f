//! What a test could leave on the host, counted before and after: state directories,
//! cgroups, mounts, processes, zombies and this process's own file descriptors.
//!
//! Everything is scoped to what the test made — ids starting with its tag, its private
//! `--root` and temp dirs, its descendants — so other people's containers on the same
//! machine neither show up nor disturb the count. A snapshot lists names, not only
//! numbers, so a failure says what was left.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Tests that count processes and fds of this test binary must not run beside each
/// other: hold this for the whole test.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// What to look for.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Every container id the test uses starts with this.
    pub tag: String,
    /// The private `--root`.
    pub root: PathBuf,
    /// Directories the test owns (temp dirs, bundles): mounts below them are ours.
    pub paths: Vec<PathBuf>,
}

/// One count of everything in a [`Scope`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub state_dirs: BTreeSet<String>,
    pub cgroups: BTreeSet<String>,
    pub mounts: BTreeSet<String>,
    /// `pid comm state` of live processes that are ours.
    pub processes: BTreeSet<String>,
    pub zombies: BTreeSet<String>,
    /// Open fds of this test process.
    pub fds: usize,
}

impl Snapshot {
    pub fn take(scope: &Scope) -> Snapshot {
        let mut s = Snapshot {
            state_dirs: state_dirs(&scope.root),
            cgroups: cgroups_tagged(&scope.tag),
            mounts: mounts_in(scope),
            fds: open_fds(),
            ..Default::default()
        };
        for p in processes_of(scope) {
            let line = format!("{} {} {}", p.pid, p.comm, p.state);
            if p.state == 'Z' {
                s.zombies.insert(line);
            } else {
                s.processes.insert(line);
            }
        }
        s
    }

    /// What `after` has that `self` had not (and an fd count that grew), one line each.
    pub fn leaked_since(&self, after: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        let new =
            |what: &str, a: &BTreeSet<String>, b: &BTreeSet<String>, out: &mut Vec<String>| {
                for x in b.difference(a) {
                    out.push(format!("{what}: {x}"));
                }
            };
        new("state dir", &self.state_dirs, &after.state_dirs, &mut out);
        new("cgroup", &self.cgroups, &after.cgroups, &mut out);
        new("mount", &self.mounts, &after.mounts, &mut out);
        new("process", &self.processes, &after.processes, &mut out);
        new("zombie", &self.zombies, &after.zombies, &mut out);
        if after.fds > self.fds {
            out.push(format!(
                "fds of the test process: {} → {}",
                self.fds, after.fds
            ));
        }
        out
    }

    /// Numbers for a report line: `state 0 cgroups 0 mounts 0 procs 0 zombies 0 fds 7`.
    pub fn counts(&self) -> String {
        format!(
            "state {} cgroups {} mounts {} procs {} zombies {} fds {}",
            self.state_dirs.len(),
            self.cgroups.len(),
            self.mounts.len(),
            self.processes.len(),
            self.zombies.len(),
            self.fds
        )
    }
}

fn state_dirs(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Cgroup directories, on every hierarchy, whose name starts with `tag`: at the default
/// place (`/initscope/ID`) and one level below any top-level directory (custom paths).
pub fn cgroups_tagged(tag: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut look = |dir: &Path| {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let name = e.file_name();
                if name.to_string_lossy().starts_with(tag) && e.path().is_dir() {
                    out.insert(e.path().display().to_string());
                }
            }
        }
    };
    let base = Path::new("/sys/fs/cgroup");
    look(base);
    look(&base.join("initscope"));
    if let Ok(rd) = std::fs::read_dir(base) {
        for h in rd.flatten() {
            let h = h.path();
            if h.is_dir() {
                look(&h);
                look(&h.join("initscope"));
            }
        }
    }
    out
}

/// Mount points (of this mount namespace) at or below the scope's paths or its root, or
/// naming its tag.
fn mounts_in(scope: &Scope) -> BTreeSet<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|mp| {
            let p = Path::new(mp);
            p.starts_with(&scope.root)
                || scope.paths.iter().any(|d| p.starts_with(d))
                || mp.contains(&scope.tag)
        })
        .map(String::from)
        .collect()
}

/// The number of fds this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|rd| rd.count().saturating_sub(1)) // the directory's own fd
        .unwrap_or(0)
}

/// A process as /proc shows it.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub comm: String,
    pub state: char,
}

/// `/proc/PID/stat`'s pid, comm, state and ppid.
pub fn proc_stat(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let mut f = stat[close + 1..].split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some(Proc {
        pid,
        ppid,
        comm: stat[open + 1..close].to_string(),
        state,
    })
}

/// Every process on the host.
pub fn all_processes() -> Vec<Proc> {
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter_map(proc_stat)
                .collect()
        })
        .unwrap_or_default()
}

/// Processes that are ours: descendants of this test process, processes whose command
/// line names the scope's `--root` (the runtime's commands and its stages, which are
/// forks without exec), and processes in one of the scope's cgroups.
pub fn processes_of(scope: &Scope) -> Vec<Proc> {
    let me = std::process::id() as i32;
    let all = all_processes();
    let parent: BTreeMap<i32, i32> = all.iter().map(|p| (p.pid, p.ppid)).collect();
    let descends = |mut pid: i32| {
        for _ in 0..64 {
            match parent.get(&pid) {
                Some(&pp) if pp == me => return true,
                Some(&pp) if pp > 1 => pid = pp,
                _ => return false,
            }
        }
        false
    };
    let root = scope.root.display().to_string();
    all.into_iter()
        .filter(|p| p.pid != me)
        .filter(|p| {
            descends(p.pid)
                || std::fs::read(format!("/proc/{}/cmdline", p.pid))
                    .map(|c| String::from_utf8_lossy(&c).contains(&root))
                    .unwrap_or(false)
                || std::fs::read_to_string(format!("/proc/{}/cgroup", p.pid))
                    .map(|c| c.contains(&format!("/{}", scope.tag)))
                    .unwrap_or(false)
        })
        .collect()
}

impl Scope {
    /// The scope of a [`crate::Runtime`]: its `--root`, its temp dir and `extra` paths,
    /// container ids starting with `tag`.
    pub fn of(rt: &crate::Runtime, tag: &str, extra: &[&Path]) -> Scope {
        let mut paths: Vec<PathBuf> = extra.iter().map(|p| p.to_path_buf()).collect();
        if let Some(dir) = rt.root.parent() {
            paths.push(dir.to_path_buf());
        }
        Scope {
            tag: tag.to_string(),
            root: rt.root.clone(),
            paths,
        }
    }
}

/// Reap zombie children of ours whose comm starts with `prefix` (a daemon the test
/// started, like tmux's server, that was orphaned to us: we are a subreaper).
pub fn reap_children_named(prefix: &str) {
    let me = std::process::id() as i32;
    for p in all_processes() {
        if p.ppid == me && p.state == 'Z' && p.comm.starts_with(prefix) {
            let mut st = 0;
            // SAFETY: waitpid on one zombie child of ours, writing into a local.
            unsafe { libc::waitpid(p.pid, &mut st, libc::WNOHANG) };
        }
    }
}
