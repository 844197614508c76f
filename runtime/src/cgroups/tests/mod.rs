//! Real cgroups, as root: each test makes a uniquely named cgroup under a test-only parent
//! (`/initscope-test-<pid>-<n>`), puts real processes in it and reads what the kernel shows.
//! A [`Fixture`] thaws, kills and removes everything it made when dropped, even after a
//! failed assertion. The v2 code runs on this hybrid host's `/sys/fs/cgroup/unified`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use super::mode::Hierarchies;
use super::*;

mod errors;
mod hybrid;
mod lifecycle;
mod mapping;
mod rootless;
mod v2;

static NEXT: AtomicU32 = AtomicU32::new(0);

struct Fixture {
    parent: String,
    children: Vec<Child>,
}

impl Fixture {
    /// `None` when not root or the host has no cgroups (the test is then skipped loudly).
    fn new() -> Option<Fixture> {
        if !nix::unistd::geteuid().is_root() || Hierarchies::host().is_err() {
            eprintln!("skipping: needs root and mounted cgroups");
            return None;
        }
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        Some(Fixture {
            parent: format!("/initscope-test-{}-{n}", std::process::id()),
            children: Vec::new(),
        })
    }

    fn path(&self, leaf: &str) -> String {
        format!("{}/{leaf}", self.parent)
    }

    fn cgroup(&self, leaf: &str, mode: Mode) -> Cgroup {
        let h = Hierarchies::host().unwrap();
        Cgroup::resolve_on(h, mode, Some(&self.path(leaf)), "unused", false).unwrap()
    }

    /// Every hierarchy's copy of the test parent.
    fn parent_dirs(&self) -> Vec<PathBuf> {
        let h = Hierarchies::host().unwrap();
        h.v1.iter()
            .chain(h.unified.iter())
            .map(|m| m.mountpoint.join(&self.parent[1..]))
            .collect()
    }

    fn spawn(&mut self, script: &str) -> Pid {
        let child = Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let pid = Pid::from_raw(child.id() as i32);
        self.children.push(child);
        pid
    }

    fn child(&mut self, pid: Pid) -> &mut Child {
        self.children
            .iter_mut()
            .find(|c| c.id() as i32 == pid.as_raw())
            .expect("our child")
    }

    /// Wait (bounded) for a child to exit; its signal, if it was killed.
    fn wait_signal(&mut self, pid: Pid) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child(pid).try_wait().unwrap() {
                return status.signal();
            }
            assert!(Instant::now() < deadline, "pid {pid} did not exit");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let dirs = self.parent_dirs();
        // A v1-frozen task cannot die: thaw everything first.
        for d in &dirs {
            for_each_dir(d, &mut |p| {
                let _ = std::fs::write(p.join("freezer.state"), "THAWED");
                let _ = std::fs::write(p.join("cgroup.freeze"), "0");
            });
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Grandchildren (a shell's `sleep`) outlive their parent: kill whatever is still in
        // the test's cgroups — only processes the test put there.
        let deadline = Instant::now() + Duration::from_secs(3);
        while dirs.iter().any(|d| d.exists()) && Instant::now() < deadline {
            for d in &dirs {
                for_each_dir(d, &mut |p| {
                    let procs = std::fs::read_to_string(p.join("cgroup.procs")).unwrap_or_default();
                    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                        let _ = nix::sys::signal::kill(
                            Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                });
                remove_tree(d);
            }
            if dirs.iter().any(|d| d.exists()) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn for_each_dir(dir: &Path, f: &mut dyn FnMut(&Path)) {
    if !dir.is_dir() {
        return;
    }
    f(dir);
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            for_each_dir(&e.path(), f);
        }
    }
}

fn remove_tree(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

fn res(json: serde_json::Value) -> LinuxResources {
    serde_json::from_value(json).expect("valid LinuxResources")
}

fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p.as_ref())
        .unwrap_or_else(|e| panic!("read {}: {e}", p.as_ref().display()))
        .trim()
        .to_string()
}

fn v1_dir(cg: &Cgroup, controller: &str) -> PathBuf {
    cg.v1_path(controller).expect("v1 hierarchy")
}

/// Third field of /proc/PID/stat: R, S, D, …
fn proc_state(pid: Pid) -> char {
    let stat = read(format!("/proc/{pid}/stat"));
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.chars().next().unwrap()
}

fn wait_state(pid: Pid, want: impl Fn(char) -> bool) -> char {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let s = proc_state(pid);
        if want(s) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn create(cg: &Cgroup, r: Option<&LinuxResources>) -> Result<Vec<(String, String)>, CgroupError> {
    let mut sets = Vec::new();
    cg.create(r, &mut |e| {
        if let EventKind::CgroupSet { file, value } = e {
            sets.push((file, value));
        }
    })?;
    Ok(sets)
}
