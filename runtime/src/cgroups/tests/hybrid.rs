//! v1 controllers on this hybrid host: limits, joining, freezer, kill --all, update, devices.

use std::io::Write;
use std::path::Path;

use nix::sys::signal::Signal;

use super::*;

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
    let st = cg.stats().unwrap();
    assert_eq!(st.pids_current, Some(1));
    assert_eq!(st.pids_limit, Some(64));
    assert_eq!(st.memory_limit, Some(67108864));
    assert!(
        st.cpu_usage_ns.is_some() && st.memory_usage.is_some(),
        "{st:?}"
    );
    assert_eq!(st.frozen, Some(false));

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
                                    "pids": {"limit": -1}}),
    );
    let mut sets = Vec::new();
    cg.update(&up, &mut |e| sets.push(e)).unwrap();
    let mem = v1_dir(&cg, "memory");
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "134217728");
    assert_eq!(read(mem.join("memory.memsw.limit_in_bytes")), "268435456");
    assert_eq!(read(v1_dir(&cg, "cpu").join("cpu.cfs_quota_us")), "20000");
    assert_eq!(read(v1_dir(&cg, "pids").join("pids.max")), "max");
    assert_eq!(sets.len(), 5, "{sets:?}");
    // A section without a pids limit (0 = not set) keeps the current one.
    cg.update(&res(serde_json::json!({"pids": {}})), &mut |_| {})
        .unwrap();
    assert_eq!(read(v1_dir(&cg, "pids").join("pids.max")), "max");
    cg.update(&res(serde_json::json!({"pids": {"limit": 7}})), &mut |_| {})
        .unwrap();
    cg.update(&res(serde_json::json!({"pids": {}})), &mut |_| {})
        .unwrap();
    assert_eq!(read(v1_dir(&cg, "pids").join("pids.max")), "7");
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
fn a_limit_below_current_usage_is_refused_clearly() {
    use std::io::BufRead;
    let Some(mut fx) = Fixture::new() else { return };
    if std::fs::read_to_string("/proc/swaps").is_ok_and(|s| s.lines().count() > 1) {
        eprintln!("skipping: with swap the kernel may page out instead of refusing");
        return;
    }
    let cg = fx.cgroup("full", Mode::Hybrid);
    create(&cg, None).unwrap();
    // The shell holds 30 MB of anonymous memory, charged to the cgroup it joined first.
    let pid = fx.spawn("read go; x=$(head -c 30000000 /dev/zero | tr '\\0' a); echo ready >&2; sleep 600; echo ${#x}");
    cg.apply(pid).unwrap();
    let child = fx.child(pid);
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    assert!(cg.stats().unwrap().memory_usage.unwrap() > 20_000_000);
    let limit_file = v1_dir(&cg, "memory").join("memory.limit_in_bytes");
    let before = read(&limit_file);

    let e = cg
        .update(
            &res(serde_json::json!({"memory": {"limit": 8388608}})),
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("memory.limit_in_bytes: write \"8388608\": Device or resource busy (the cgroup already uses more memory than this limit)"),
        "{e}"
    );
    assert_eq!(read(&limit_file), before, "the old limit stays");
}
