//! The cgroup v2 code on the unified hierarchy: join, freeze, kill, eBPF device filter.

use std::io::Write;

use nix::sys::signal::Signal;

use super::*;

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
    let st = cg.stats().unwrap();
    assert_eq!((st.frozen, st.pids_current), (Some(true), None), "{st:?}");
    assert!(st.cpu_usage_ns.unwrap() > 0, "the busy loop ran: {st:?}");
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
