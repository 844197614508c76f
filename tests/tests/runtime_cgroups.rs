//! The container's cgroup through the runtime: limits from the config are in force for
//! the container's processes, every stage was inside it, and delete removes it.

use initscope_tests::{cgroup_dirs, is_root, stderr, stdout, Bundle, Runtime};
use serde_json::json;

#[test]
fn limits_apply_to_the_container_and_delete_removes_the_cgroup() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sh", "-c", "cat /proc/self/cgroup; sleep 100"]);
    b.edit(|c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 67108864});
        c["linux"]["resources"]["pids"] = json!({"limit": 64});
        c["linux"]["resources"]["cpu"] = json!({"shares": 512});
    });
    let id = rt.id("cg");
    rt.ok(&["create", "-b", b.path_str(), &id]);
    let dirs = cgroup_dirs(&id);
    assert!(!dirs.is_empty(), "no cgroup made for {id}");
    let read = |ctrl: &str, file: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{ctrl}/initscope/{id}/{file}"))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(read("pids", "pids.max"), "64");
    assert_eq!(read("cpu", "cpu.shares"), "512");
    // init (and nothing else of ours) is in it, in every hierarchy.
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let procs = read("pids", "cgroup.procs");
    assert_eq!(procs, pid.to_string());
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in own.lines() {
        assert!(line.ends_with(&format!("/initscope/{id}")), "{line}");
    }
    // Every stage was born in it: parent joined before it cloned, children inherited.
    let ev = rt.state_events(&id);
    let join = ev.iter().position(|e| e["kind"] == "cgroup_join").unwrap();
    let clone = ev
        .iter()
        .position(|e| e["kind"] == "clone" && e["stage"] == "parent")
        .unwrap();
    assert!(join < clone);
    let sets: Vec<&str> = ev
        .iter()
        .filter(|e| e["kind"] == "cgroup_set")
        .filter_map(|e| e["file"].as_str())
        .collect();
    assert!(
        sets.iter().any(|f| f.ends_with("memory.limit_in_bytes")),
        "{sets:?}"
    );

    rt.ok(&["start", &id]);
    rt.wait_status(&id, "running");
    rt.ok(&["delete", "--force", &id]);
    assert!(
        cgroup_dirs(&id).is_empty(),
        "cgroup left: {:?}",
        cgroup_dirs(&id)
    );
    rt.assert_clean(&[&b.path]);
}

#[test]
fn the_pids_limit_is_enforced() {
    let rt = Runtime::new();
    // Four sleeps in the background under a limit of 3 processes: fork must fail.
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "for i in 1 2 3 4; do sleep 1 & done; echo forked; wait",
    ]);
    b.edit(|c| c["linux"]["resources"]["pids"] = json!({"limit": 3}));
    let id = rt.id("pids");
    let out = rt.run(&["run", "-b", b.path_str(), &id]);
    let err = stderr(&out);
    assert!(
        err.contains("can't fork: Resource temporarily unavailable"),
        "{err}"
    );
    assert!(!stdout(&out).contains("forked"));
    assert!(!out.status.success());
    rt.assert_clean(&[&b.path]);
}

#[test]
fn a_rootless_style_single_mapping_runs() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sh", "-c", "id -u; cat /proc/self/uid_map"]);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        // gid 5 (tty) is not mapped: devpts cannot use it (as in `spec --rootless`).
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev/pts" {
                m["options"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|o| o != "gid=5");
            }
        }
    });
    let id = rt.id("single");
    let out = rt.run(&["run", "-b", b.path_str(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "1000", "1"]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn unchanged_spec_rootless_runs_as_root() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    let dir = tempfile::tempdir().unwrap();
    rt.ok(&[
        "spec",
        "--rootless",
        "--bundle",
        dir.path().to_str().unwrap(),
    ]);
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    // Only what a test must change: no terminal, and a command that prints.
    cfg["process"]["terminal"] = false.into();
    cfg["process"]["args"] = json!(["sh", "-c", "echo rootless-spec ok"]);
    b.write_config(&cfg);
    let id = rt.id("rootless");
    let out = rt.run(&["run", "-b", b.path_str(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "rootless-spec ok\n");
    rt.assert_clean(&[&b.path, dir.path()]);
}
