//! Real cgroups, as root: each test makes a uniquely named cgroup under a test-only parent
//! (`/initscope-test-<pid>-<n>`), puts real processes in it and reads what the kernel shows.
//! A [`Fixture`] thaws, kills and removes everything it made when dropped, even after a
//! failed assertion. The v2 code runs on this hybrid host's `/sys/fs/cgroup/unified`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use super::mode::Hierarchies;
use super::*;

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
        for d in &dirs {
            let deadline = Instant::now() + Duration::from_secs(3);
            while d.exists() && Instant::now() < deadline {
                remove_tree(d);
                if d.exists() {
                    std::thread::sleep(Duration::from_millis(10));
                }
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

#[test]
fn hybrid_create_writes_limits_joins_every_hierarchy_and_destroys() {
    let Some(mut fx) = Fixture::new() else { return };
    let cg = fx.cgroup("c", Mode::Hybrid);
    assert_eq!(
        cg.created_levels, 2,
        "both the test parent and the leaf are new"
    );
    let r = res(serde_json::json!({
        "memory": {"limit": 67108864, "swap": 134217728, "reservation": 33554432,
                   "swappiness": 10, "disableOOMKiller": true, "kernelTCP": 16777216},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 64}
    }));
    let sets = create(&cg, Some(&r)).unwrap();

    let mem = v1_dir(&cg, "memory");
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "67108864");
    assert_eq!(read(mem.join("memory.memsw.limit_in_bytes")), "134217728");
    assert_eq!(read(mem.join("memory.soft_limit_in_bytes")), "33554432");
    assert_eq!(read(mem.join("memory.swappiness")), "10");
    assert!(read(mem.join("memory.oom_control")).contains("oom_kill_disable 1"));
    let cpu = v1_dir(&cg, "cpu");
    assert_eq!(read(cpu.join("cpu.shares")), "512");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(v1_dir(&cg, "cpuset").join("cpuset.cpus")), "0");
    assert_eq!(read(v1_dir(&cg, "pids").join("pids.max")), "64");
    // Every write was reported, with its full path, cpuset first.
    let limit = mem.join("memory.limit_in_bytes").display().to_string();
    assert!(sets.contains(&(limit, "67108864".into())), "{sets:?}");
    assert!(sets[0].0.ends_with("cpuset.cpus"), "{sets:?}");
    // The parent level got the parent's cpuset too (a v1 cpuset cgroup needs one).
    let parent_cpus = v1_dir(&cg, "cpuset").parent().unwrap().join("cpuset.cpus");
    assert_eq!(read(parent_cpus), read("/sys/fs/cgroup/cpuset/cpuset.cpus"));

    let pid = fx.spawn("exec sleep 600");
    cg.apply(pid).unwrap();
    let own = read(format!("/proc/{pid}/cgroup"));
    for line in own.lines() {
        assert!(line.ends_with(&fx.path("c")), "not joined: {line}\n{own}");
    }
    assert!(
        own.lines().any(|l| l.starts_with("0::")),
        "hybrid joins the unified hierarchy"
    );
    assert_eq!(cg.pids().unwrap(), vec![pid]);

    nix::sys::signal::kill(pid, Signal::SIGKILL).unwrap();
    fx.wait_signal(pid);
    cg.destroy().unwrap();
    for d in fx.parent_dirs() {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn freezer_v1_freezes_and_thaws_a_running_process() {
    let Some(mut fx) = Fixture::new() else { return };
    let cg = fx.cgroup("f", Mode::Hybrid);
    create(&cg, None).unwrap();
    let pid = fx.spawn("while :; do :; done");
    cg.apply(pid).unwrap();
    assert_eq!(wait_state(pid, |s| s == 'R'), 'R');
    assert!(!cg.is_frozen().unwrap());

    cg.set_frozen(true).unwrap();
    assert!(cg.is_frozen().unwrap());
    assert_eq!(read(v1_dir(&cg, "freezer").join("freezer.state")), "FROZEN");
    assert_eq!(
        wait_state(pid, |s| s == 'D'),
        'D',
        "a v1-frozen task shows D"
    );

    cg.set_frozen(false).unwrap();
    assert!(!cg.is_frozen().unwrap());
    assert_eq!(read(v1_dir(&cg, "freezer").join("freezer.state")), "THAWED");
    assert_eq!(wait_state(pid, |s| s == 'R'), 'R');
}

#[test]
fn kill_all_signals_every_process_and_keeps_a_paused_container_paused() {
    let Some(mut fx) = Fixture::new() else { return };
    let cg = fx.cgroup("k", Mode::Hybrid);
    create(&cg, None).unwrap();
    let a = fx.spawn("exec sleep 600");
    let b = fx.spawn("exec sleep 600");
    cg.apply(a).unwrap();
    cg.apply(b).unwrap();

    // TERM on a paused container: delivered, but it stays paused until resumed.
    cg.set_frozen(true).unwrap();
    let hit = cg.kill_all(Signal::SIGTERM).unwrap();
    assert_eq!(hit, vec![a.min(b), a.max(b)]);
    assert!(cg.is_frozen().unwrap());
    assert!(
        fx.child(a).try_wait().unwrap().is_none(),
        "frozen: not dead yet"
    );
    cg.set_frozen(false).unwrap();
    assert_eq!(fx.wait_signal(a), Some(libc::SIGTERM));
    assert_eq!(fx.wait_signal(b), Some(libc::SIGTERM));
    assert!(cg.pids().unwrap().is_empty());

    // KILL (cgroup.kill on the unified directory), also on a paused container.
    let c = fx.spawn("exec sleep 600");
    cg.apply(c).unwrap();
    cg.set_frozen(true).unwrap();
    assert_eq!(cg.kill_all(Signal::SIGKILL).unwrap(), vec![c]);
    assert_eq!(fx.wait_signal(c), Some(libc::SIGKILL));
    assert!(
        !cg.is_frozen().unwrap(),
        "SIGKILL needs the thaw to take effect"
    );
    cg.destroy().unwrap();
}

#[test]
fn update_rewrites_limits_in_place() {
    let Some(mut fx) = Fixture::new() else { return };
    let cg = fx.cgroup("u", Mode::Hybrid);
    let r = res(
        serde_json::json!({"memory": {"limit": 67108864, "swap": 67108864},
                                   "pids": {"limit": 10}}),
    );
    create(&cg, Some(&r)).unwrap();
    let pid = fx.spawn("exec sleep 600");
    cg.apply(pid).unwrap();

    // Raising memory above the current memory+swap needs swap written first.
    let up = res(
        serde_json::json!({"memory": {"limit": 134217728, "swap": 268435456},
                                    "cpu": {"quota": 20000, "period": 100000},
                                    "pids": {"limit": 0}}),
    );
    let mut sets = Vec::new();
    cg.update(&up, &mut |e| sets.push(e)).unwrap();
    let mem = v1_dir(&cg, "memory");
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "134217728");
    assert_eq!(read(mem.join("memory.memsw.limit_in_bytes")), "268435456");
    assert_eq!(read(v1_dir(&cg, "cpu").join("cpu.cfs_quota_us")), "20000");
    assert_eq!(read(v1_dir(&cg, "pids").join("pids.max")), "max");
    assert_eq!(sets.len(), 5, "{sets:?}");
    // And back down: memory first this time.
    let down = res(serde_json::json!({"memory": {"limit": 33554432, "swap": 33554432}}));
    cg.update(&down, &mut |_| {}).unwrap();
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "33554432");
    assert_eq!(read(mem.join("memory.memsw.limit_in_bytes")), "33554432");
    // Device rules are not touched by update.
    let before = read(v1_dir(&cg, "devices").join("devices.list"));
    let devs = res(serde_json::json!({"devices": [{"allow": true, "access": "rwm"}]}));
    cg.update(&devs, &mut |_| {}).unwrap();
    assert_eq!(read(v1_dir(&cg, "devices").join("devices.list")), before);
}

#[test]
fn device_rules_apply_in_config_order_and_are_enforced() {
    let Some(mut fx) = Fixture::new() else { return };
    let cg = fx.cgroup("d", Mode::Hybrid);
    let r = res(serde_json::json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"},
        {"allow": true, "type": "b", "major": 8, "access": "r"},
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rw"},
        {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwm"}
    ]}));
    create(&cg, Some(&r)).unwrap();
    let list = read(v1_dir(&cg, "devices").join("devices.list"));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(
        lines,
        [
            "c 10:229 rw",
            "b 8:* r",
            "c *:* m",
            "b *:* m",
            "c 1:3 rwm",
            "c 1:8 rwm",
            "c 1:7 rwm",
            "c 5:0 rwm",
            "c 1:5 rwm",
            "c 1:9 rwm",
            "c 136:* rwm",
            "c 5:2 rwm"
        ],
        "the later deny of 1:11 removed the earlier allow"
    );
    // Enforced: /dev/null opens, /dev/kmsg (c 1:11) does not.
    let pid = fx.spawn("read go; echo x > /dev/null && echo null-ok >&2; cat /dev/kmsg");
    cg.apply(pid).unwrap();
    let child = fx.child(pid);
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = fx.children.pop().unwrap().wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("null-ok"), "{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(!out.status.success());
}

#[test]
fn hugetlb_lives_on_the_unified_hierarchy_of_a_hybrid_host() {
    let Some(fx) = Fixture::new() else { return };
    let h = Hierarchies::host().unwrap();
    if h.v1_for("hugetlb").is_some() || h.unified.is_none() {
        eprintln!("skipping: hugetlb is not on the unified side here");
        return;
    }
    let cg = fx.cgroup("h", Mode::Hybrid);
    let r = res(serde_json::json!({"hugepageLimits": [
        {"pageSize": "2MB", "limit": 4194304}, {"pageSize": "1GB", "limit": 0}
    ]}));
    let sets = create(&cg, Some(&r)).unwrap();
    let u = cg.v2_path().unwrap();
    assert_eq!(read(u.join("hugetlb.2MB.max")), "4194304");
    assert_eq!(read(u.join("hugetlb.1GB.max")), "0");
    let file = u.join("hugetlb.2MB.max").display().to_string();
    assert!(sets.contains(&(file, "4194304".into())), "{sets:?}");
    // An unknown page size names the file that is missing.
    let cg2 = fx.cgroup("h2", Mode::Hybrid);
    let bad = res(serde_json::json!({"hugepageLimits": [{"pageSize": "4MB", "limit": 1}]}));
    let e = create(&cg2, Some(&bad)).unwrap_err().to_string();
    assert!(
        e.contains("hugetlb.4MB.max") && e.contains("does not exist"),
        "{e}"
    );
    assert!(
        !cg2.v2_path().unwrap().exists(),
        "failed create left its cgroup"
    );
}

#[test]
fn refused_values_name_the_file_and_leave_nothing() {
    let Some(fx) = Fixture::new() else { return };
    let cases = [
        (
            serde_json::json!({"cpu": {"cpus": "99"}}),
            vec![
                "cpuset.cpus: write \"99\": ",
                "beyond what this machine has",
            ],
        ),
        (
            serde_json::json!({"cpu": {"cpus": "0-x"}}),
            vec![
                "cpuset.cpus: write \"0-x\": Invalid argument",
                "not a valid list",
            ],
        ),
        (
            serde_json::json!({"cpu": {"shares": 1}}),
            vec!["cpu.shares", "wrote \"1\" but the kernel set \"2\""],
        ),
        (
            serde_json::json!({"network": {"classID": 1048577}}),
            vec!["linux.resources.network.classID needs the net_cls controller"],
        ),
        (
            serde_json::json!({"network": {"priorities": [{"name": "eth0", "priority": 5}]}}),
            vec!["net_prio controller"],
        ),
        (
            serde_json::json!({"blockIO": {"leafWeight": 100}}),
            vec![
                "blkio.leaf_weight: does not exist",
                "linux.resources.blockIO.leafWeight",
            ],
        ),
        (
            serde_json::json!({"memory": {"limit": 67108864, "swap": 1048576}}),
            vec![
                "memory.memsw.limit_in_bytes: write \"1048576\"",
                "must be at least the memory limit",
            ],
        ),
        (
            serde_json::json!({"cpu": {"realtimeRuntime": 5000, "realtimePeriod": 100000}}),
            vec![
                "cpu.rt_runtime_us: write \"5000\": Invalid argument",
                "hierarchical",
            ],
        ),
        (
            serde_json::json!({"memory": {"swappiness": 150}}),
            vec!["linux.resources.memory.swappiness", "0..100"],
        ),
        (
            serde_json::json!({"unified": {"memory.high": "1G"}}),
            vec!["memory.high: does not exist"],
        ),
    ];
    for (i, (json, wants)) in cases.into_iter().enumerate() {
        let cg = fx.cgroup(&format!("e{i}"), Mode::Hybrid);
        let e = create(&cg, Some(&res(json))).unwrap_err().to_string();
        for w in wants {
            assert!(e.contains(w), "case {i}: {e:?} lacks {w:?}");
        }
        assert!(!e.contains("os error"), "{e}");
        for d in fx.parent_dirs() {
            assert!(!d.exists(), "case {i}: {} left behind", d.display());
        }
    }
}

#[test]
fn realtime_budget_works_when_the_parent_has_one() {
    let Some(fx) = Fixture::new() else { return };
    let parent_cpu = Hierarchies::host()
        .unwrap()
        .v1_for("cpu")
        .map(|m| m.mountpoint.join(&fx.parent[1..]));
    let Some(parent_cpu) =
        parent_cpu.filter(|_| Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists())
    else {
        return;
    };
    std::fs::create_dir(&parent_cpu).unwrap();
    std::fs::write(parent_cpu.join("cpu.rt_runtime_us"), "10000").unwrap();
    let cg = fx.cgroup("rt", Mode::Hybrid);
    let r = res(serde_json::json!({"cpu": {"realtimeRuntime": 5000, "realtimePeriod": 1000000}}));
    create(&cg, Some(&r)).unwrap();
    assert_eq!(read(v1_dir(&cg, "cpu").join("cpu.rt_runtime_us")), "5000");
    cg.destroy().unwrap();
    assert!(
        parent_cpu.exists(),
        "the parent existed before create: not ours to remove"
    );
}

#[test]
fn v2_code_paths_on_the_unified_hierarchy() {
    let Some(mut fx) = Fixture::new() else { return };
    if Hierarchies::host().unwrap().unified.is_none() {
        return;
    }
    let cg = fx.cgroup("v2", Mode::V2);
    assert_eq!(cg.mode, Mode::V2);
    // pids is bound to v1 here, so v2 cannot offer it: a clear error, nothing left.
    let e = create(&cg, Some(&res(serde_json::json!({"pids": {"limit": 5}}))))
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs the pids controller"), "{e}");
    assert!(!cg.v2_path().unwrap().exists());

    create(&cg, None).unwrap();
    let dir = cg.v2_path().unwrap();
    assert!(
        dir.starts_with("/sys/fs/cgroup/unified"),
        "{}",
        dir.display()
    );
    assert_eq!(cg.hierarchy_dirs().unwrap().len(), 1);
    let busy = fx.spawn("while :; do :; done");
    let idle = fx.spawn("exec sleep 600");
    cg.apply(busy).unwrap();
    cg.apply(idle).unwrap();
    assert_eq!(read(dir.join("cgroup.procs")).lines().count(), 2);
    assert_eq!(cg.pids().unwrap(), vec![busy.min(idle), busy.max(idle)]);

    assert_eq!(wait_state(busy, |s| s == 'R'), 'R');
    cg.set_frozen(true).unwrap();
    assert!(cg.is_frozen().unwrap());
    assert!(read(dir.join("cgroup.events")).contains("frozen 1"));
    assert_eq!(
        wait_state(busy, |s| s == 'S'),
        'S',
        "a v2-frozen task sleeps"
    );
    cg.set_frozen(false).unwrap();
    assert!(!cg.is_frozen().unwrap());
    assert_eq!(wait_state(busy, |s| s == 'R'), 'R');

    // TERM goes through freeze/signal/thaw; KILL through cgroup.kill.
    assert_eq!(cg.kill_all(Signal::SIGTERM).unwrap().len(), 2);
    assert_eq!(fx.wait_signal(idle), Some(libc::SIGTERM));
    assert_eq!(fx.wait_signal(busy), Some(libc::SIGTERM));
    let last = fx.spawn("exec sleep 600");
    cg.apply(last).unwrap();
    assert_eq!(cg.kill_all(Signal::SIGKILL).unwrap(), vec![last]);
    assert_eq!(fx.wait_signal(last), Some(libc::SIGKILL));
    cg.destroy().unwrap();
    assert!(!dir.exists() && !dir.parent().unwrap().exists());
}

#[test]
fn destroy_waits_for_exiting_processes_and_reports_live_ones() {
    let Some(mut fx) = Fixture::new() else { return };
    let cg = fx.cgroup("w", Mode::Hybrid);
    create(&cg, None).unwrap();
    let live = fx.spawn("exec sleep 600");
    cg.apply(live).unwrap();
    let e = cg.destroy().unwrap_err().to_string();
    assert!(
        e.contains(&format!("pids {live}")) && e.contains("kill them first"),
        "{e}"
    );
    // Killed but not yet reaped nor waited for: destroy copes.
    nix::sys::signal::kill(live, Signal::SIGKILL).unwrap();
    cg.destroy().unwrap();
    fx.wait_signal(live);
    for d in fx.parent_dirs() {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    // Destroying again is fine.
    cg.destroy().unwrap();
}

#[test]
fn an_existing_cgroup_is_joined_not_removed_and_must_be_empty() {
    let Some(mut fx) = Fixture::new() else { return };
    let first = fx.cgroup("x", Mode::Hybrid);
    create(&first, None).unwrap();
    let second = fx.cgroup("x", Mode::Hybrid);
    assert_eq!(second.created_levels, 0);
    // A sibling under the same (now existing) parent: only its own level is ours.
    assert_eq!(fx.cgroup("y", Mode::Hybrid).created_levels, 1);

    let pid = fx.spawn("exec sleep 600");
    first.apply(pid).unwrap();
    let e = create(&second, None).unwrap_err().to_string();
    assert!(e.contains("is not empty: 1 process(es)"), "{e}");
    assert!(
        v1_dir(&first, "memory").exists(),
        "the failed create removed what it did not make"
    );

    nix::sys::signal::kill(pid, Signal::SIGKILL).unwrap();
    fx.wait_signal(pid);
    second.destroy().unwrap();
    assert!(
        v1_dir(&first, "memory").exists(),
        "joined, not ours to remove"
    );
    first.destroy().unwrap();
    assert!(!v1_dir(&first, "memory").exists());
}

#[test]
fn the_default_parent_is_shared_and_the_leaf_removed() {
    let Some(mut fx) = Fixture::new() else { return };
    let id = format!(
        "isc-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let cg = Cgroup::new(None, &id).unwrap();
    assert_eq!(cg.path, format!("/initscope/{id}"));
    assert!(cg.created_levels >= 1);
    // Not under the fixture's parent: clean up this leaf ourselves on failure too.
    struct Leaf(Cgroup);
    impl Drop for Leaf {
        fn drop(&mut self) {
            let _ = self.0.destroy();
        }
    }
    let leaf = Leaf(cg.clone());
    create(&cg, None).unwrap();
    let pid = fx.spawn("exec sleep 600");
    cg.apply(pid).unwrap();
    assert!(read(format!("/proc/{pid}/cgroup")).contains(&format!(":/initscope/{id}")));
    nix::sys::signal::kill(pid, Signal::SIGKILL).unwrap();
    fx.wait_signal(pid);
    cg.destroy().unwrap();
    assert!(!v1_dir(&cg, "memory").exists());
    drop(leaf);
}

#[test]
fn state_json_is_small_and_round_trips() {
    let cg = Cgroup {
        path: "/initscope/c1".into(),
        mode: Mode::Hybrid,
        paths: BTreeMap::new(),
        created_levels: 1,
    };
    let json = serde_json::to_string(&cg).unwrap();
    assert_eq!(
        json,
        r#"{"path":"/initscope/c1","mode":"hybrid","created_levels":1}"#
    );
    assert_eq!(serde_json::from_str::<Cgroup>(&json).unwrap(), cg);
    // State written before created_levels existed still reads (as "joined").
    let old: Cgroup = serde_json::from_str(r#"{"path":"/a","mode":"v1"}"#).unwrap();
    assert_eq!(old.created_levels, 0);
}

#[test]
fn relative_path_hangs_below_the_runtimes_own_cgroups() {
    let Ok(h) = Hierarchies::host() else { return };
    let cg = Cgroup::resolve_on(h, Mode::Hybrid, Some("isc-rel/x"), "id", false).unwrap();
    let own = path::parse_proc_cgroup(&read("/proc/self/cgroup"));
    for m in h.v1.iter().chain(h.unified.iter()) {
        let base = path::own_path(&own, &m.controllers)
            .unwrap()
            .trim_end_matches('/');
        assert_eq!(
            cg.path_in(&m.key()),
            format!("{base}/isc-rel/x"),
            "{}",
            m.key()
        );
    }
    assert!(
        cg.created_levels <= 2,
        "never counts the runtime's own cgroup as ours"
    );
}

#[test]
fn v2_device_rules_are_enforced_by_the_ebpf_filter() {
    let Some(mut fx) = Fixture::new() else { return };
    if Hierarchies::host().unwrap().unified.is_none() {
        return;
    }
    let cg = fx.cgroup("bpf", Mode::V2);
    let r = res(serde_json::json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rw"},
        {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "w"}
    ]}));
    let sets = create(&cg, Some(&r)).unwrap();
    assert!(
        sets.iter().any(|(_, v)| v.contains("eBPF cgroup_device")),
        "{sets:?}"
    );
    // Only the eBPF program restricts this process (its v1 devices cgroup is the root).
    let pid = fx.spawn(
        "read go; echo x > /dev/null && echo null-ok >&2; \
         head -c0 /dev/kmsg && echo kmsg-read-ok >&2; echo x > /dev/kmsg; \
         for d in /dev/loop0 /dev/vda /dev/sda; do [ -b $d ] && exec head -c0 $d; done",
    );
    cg.apply(pid).unwrap();
    fx.child(pid)
        .stdin
        .take()
        .unwrap()
        .write_all(b"go\n")
        .unwrap();
    let out = fx.children.pop().unwrap().wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("null-ok"), "{err}");
    assert!(err.contains("kmsg-read-ok"), "{err}");
    assert_eq!(
        err.matches("Operation not permitted").count(),
        2,
        "kmsg write and a block device: {err}"
    );
    cg.destroy().unwrap();
}
