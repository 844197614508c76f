//! What destroy removes and what it leaves; state and path resolution.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use nix::sys::signal::Signal;

use super::*;

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
fn the_default_parent_is_shared_and_kept_and_the_leaf_removed() {
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
    let leaf_dir = v1_dir(&cg, "memory");
    assert!(!leaf_dir.exists());
    // The default parent is the runtime's and stays (as runc's and crun's).
    assert!(leaf_dir.parent().unwrap().ends_with("initscope"));
    assert!(
        leaf_dir.parent().unwrap().exists(),
        "the default parent stays"
    );
    drop(leaf);
}

#[test]
fn state_json_is_small_and_round_trips() {
    let cg = Cgroup {
        path: "/initscope/c1".into(),
        mode: Mode::Hybrid,
        paths: BTreeMap::new(),
        created_levels: 1,
        disabled: false,
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
fn features_as_runc_spells_them() {
    let v = serde_json::to_value(features()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": true})
    );
}
