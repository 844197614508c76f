//! Unit tests of config → plan (no root needed).

use super::*;

/// `runc spec` as runc 1.1 writes it, with the terminal off as tests and the demo use.
pub(crate) fn runc_spec() -> Spec {
    let mut v = crate::cli::spec::runc_default_spec(false);
    v["process"]["terminal"] = false.into();
    serde_json::from_value(v).unwrap()
}

fn plan(spec: Spec) -> Result<Plan, ConfigError> {
    Plan::from_spec("c1", Path::new("/b"), spec, CreateOptions::default(), true)
}

fn with(mut v: serde_json::Value, f: impl FnOnce(&mut serde_json::Value)) -> Spec {
    f(&mut v);
    serde_json::from_value(v).unwrap()
}

fn base() -> serde_json::Value {
    serde_json::to_value(runc_spec()).unwrap()
}

#[test]
fn runc_spec_translates_to_new_namespaces_and_process() {
    let p = plan(runc_spec()).unwrap();
    assert_eq!(p.rootfs, PathBuf::from("/b/rootfs"));
    assert!(!p.ns.new_user);
    assert!(p.ns.join.is_empty());
    let names = crate::events::flags::clone_flag_names(p.ns.unshare);
    assert_eq!(
        names,
        vec![
            "CLONE_NEWNS",
            "CLONE_NEWUTS",
            "CLONE_NEWIPC",
            "CLONE_NEWPID",
            "CLONE_NEWNET"
        ]
    );
    assert_eq!(p.hostname.as_deref(), Some("runc"));
    let proc_ = p.process.clone().unwrap();
    assert_eq!(proc_.args, vec!["sh"]);
    assert!(proc_.no_new_privs);
    assert_eq!(proc_.rlimits.len(), 1);
    let caps = proc_.caps.unwrap();
    assert_eq!(caps.bounding.len(), 3);
    assert!(caps.inheritable.is_empty());
}

#[test]
fn joined_namespaces_are_ordered_user_first_mount_last() {
    let spec = with(base(), |v| {
        v["linux"]["namespaces"] = serde_json::json!([
            {"type": "mount", "path": "/proc/1/ns/mnt"},
            {"type": "network", "path": "/var/run/netns/x"},
            {"type": "user", "path": "/proc/1/ns/user"},
            {"type": "pid"},
            {"type": "uts"}
        ]);
    });
    let p = plan(spec).unwrap();
    let order: Vec<&str> =
        p.ns.join
            .iter()
            .map(|j| namespaces::short_name(j.flag))
            .collect();
    assert_eq!(order, vec!["user", "net", "mnt"]);
    assert!(!p.ns.new_user, "a joined user namespace is not a new one");
    assert_eq!(
        crate::events::flags::clone_flag_names(p.ns.unshare),
        vec!["CLONE_NEWUTS", "CLONE_NEWPID"]
    );
}

#[test]
fn user_namespace_needs_mappings_and_mappings_need_it() {
    let spec = with(base(), |v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user"}));
    });
    let e = plan(spec).unwrap_err();
    assert!(e.to_string().contains("linux.uidMappings"), "{e}");

    let spec = with(base(), |v| {
        v["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    });
    let e = plan(spec).unwrap_err();
    assert!(e.to_string().contains("no user namespace"), "{e}");

    let spec = with(base(), |v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user"}));
        v["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        v["linux"]["gidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    let p = plan(spec).unwrap();
    assert!(p.ns.new_user);
    assert_eq!(p.uid_mappings[0].host_id(), 100000);
}

#[test]
fn bad_fields_are_named() {
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|v| v["process"]["args"] = serde_json::json!([])),
            "process.args",
        ),
        (
            Box::new(|v| v["process"]["cwd"] = "rel".into()),
            "process.cwd",
        ),
        (
            Box::new(|v| v["process"]["terminal"] = true.into()),
            "--console-socket",
        ),
        (
            Box::new(|v| {
                v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "pid"}])
            }),
            "listed twice",
        ),
        (
            Box::new(|v| v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}])),
            "UTS namespace",
        ),
        (
            Box::new(|v| {
                v["process"]["rlimits"] =
                    serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}])
            }),
            "process.rlimits",
        ),
        (
            Box::new(|v| v["process"]["oomScoreAdj"] = 5000.into()),
            "oomScoreAdj",
        ),
        (
            Box::new(|v| {
                v["linux"]["seccomp"] = serde_json::json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                                  "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]
                })
            }),
            "linux.seccomp.syscalls[0].args[0].index",
        ),
        (
            Box::new(|v| {
                v["linux"]["timeOffsets"] =
                    serde_json::json!({"monotonic": {"secs": 1, "nanosecs": 0}})
            }),
            "offsets need a time namespace",
        ),
        (
            Box::new(|v| {
                v["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!({"type": "time"}));
                v["linux"]["timeOffsets"] =
                    serde_json::json!({"realtime": {"secs": 1, "nanosecs": 0}})
            }),
            "unknown clock \"realtime\"",
        ),
        (
            Box::new(|v| v["hooks"] = serde_json::json!({"createRuntime": [{"path": "rel"}]})),
            "config.json: hooks.createRuntime[0].path: \"rel\" is not an absolute path",
        ),
        (
            Box::new(|v| v["process"]["cwd"] = "/proc/self/fd/7".into()),
            "CVE-2024-21626",
        ),
        (
            Box::new(|v| v["process"]["cwd"] = "/proc/1/task/1/root/etc".into()),
            "CVE-2024-21626",
        ),
        (
            Box::new(|v| {
                v["process"]["consoleSize"] = serde_json::json!({"height": 70000, "width": 2})
            }),
            "process.consoleSize.height",
        ),
        (
            Box::new(|v| v["process"]["env"] = serde_json::json!(["A=1", "NOEQUALS"])),
            "process.env: entry 1 \"NOEQUALS\" is not NAME=value",
        ),
        (
            Box::new(|v| v["process"]["env"] = serde_json::json!(["=x"])),
            "process.env: entry 0",
        ),
    ];
    for (f, want) in cases {
        let spec = with(base(), f);
        let e = plan(spec).unwrap_err().to_string();
        assert!(e.contains(want), "{want}: {e}");
    }
}

#[test]
fn a_config_without_process_plans_no_process() {
    let spec = with(base(), |v| {
        v.as_object_mut().unwrap().remove("process");
    });
    assert!(plan(spec).unwrap().process.is_none());
}

#[test]
fn time_offsets_become_timens_lines_on_a_new_time_namespace() {
    let spec = with(base(), |v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "time"}));
        v["linux"]["timeOffsets"] = serde_json::json!({
            "monotonic": {"secs": 86400, "nanosecs": 5},
            "boottime": {"secs": -10}
        });
    });
    let p = plan(spec).unwrap();
    assert_eq!(p.time_offsets, vec!["boottime -10 0", "monotonic 86400 5"]);
}

#[test]
fn seccomp_and_hooks_are_carried_compiled_and_validated() {
    let spec = with(base(), |v| {
        v["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
        });
        v["hooks"] = serde_json::json!({"poststart": [{"path": "/bin/true"}]});
    });
    let p = plan(spec).unwrap();
    let sc = p.seccomp.unwrap();
    assert_eq!(sc.filter.summary().syscalls, 1);
    assert_eq!(
        sc.listener_path.as_deref(),
        Some(Path::new("/run/agent.sock"))
    );
    assert!(p.hooks.is_some());
    assert!(
        plan(runc_spec()).unwrap().seccomp.is_none(),
        "compiled only when configured"
    );
}

#[test]
fn unknown_capabilities_and_bad_types_name_their_field() {
    let mut v = base();
    v["process"]["capabilities"]["bounding"][1] = "CAP_BOGUS".into();
    let e = parse_spec(&serde_json::to_vec(&v).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "config.json: process.capabilities.bounding[1]: unknown capability \"CAP_BOGUS\""
        ),
        "{e}"
    );
    let mut v = base();
    v["process"]["user"]["uid"] = "root".into();
    let e = parse_spec(&serde_json::to_vec(&v).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("config.json: process.user.uid: invalid type"),
        "{e}"
    );
    let mut v = base();
    v["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_BOGUS"});
    let e = parse_spec(&serde_json::to_vec(&v).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("linux.seccomp.defaultAction"), "{e}");
}

#[test]
fn proc_magic_links_are_recognised() {
    for p in [
        "/proc/self/fd/3",
        "/proc/thread-self/fd/9",
        "/proc/1/cwd",
        "/proc/self/root/x",
    ] {
        assert!(is_proc_magic_link(Path::new(p)), "{p}");
    }
    for p in ["/", "/proc", "/proc/sys", "/home/fd", "/srv/proc/self/fd/1"] {
        assert!(!is_proc_magic_link(Path::new(p)), "{p}");
    }
}

#[test]
fn missing_bundle_config_and_bad_json_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let e = load_spec(&dir.path().join("nope")).unwrap_err();
    assert!(matches!(e, ConfigError::NoBundle(_)));
    let e = load_spec(dir.path()).unwrap_err();
    assert!(e.to_string().contains("config.json: no such file"), "{e}");
    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    let e = load_spec(dir.path()).unwrap_err();
    assert!(e.to_string().contains("invalid JSON"), "{e}");
    assert!(e.to_string().contains("line 1"), "{e}");
    std::fs::write(dir.path().join("config.json"), "[1, 2]").unwrap();
    let e = load_spec(dir.path()).unwrap_err().to_string();
    assert!(e.contains("top level must be a JSON object"), "{e}");
    let good = serde_json::to_string(&runc_spec()).unwrap();
    std::fs::write(dir.path().join("config.json"), good + "\n}}").unwrap();
    let e = load_spec(dir.path()).unwrap_err().to_string();
    assert!(e.contains("invalid JSON: trailing characters"), "{e}");
    let file = dir.path().join("config.json");
    assert!(matches!(
        load_spec(&file),
        Err(ConfigError::BundleNotDir(_))
    ));
}

#[test]
fn a_relative_rootfs_may_not_climb_out_of_the_bundle() {
    let spec = with(base(), |v| v["root"]["path"] = "".into());
    let e = plan(spec).unwrap_err().to_string();
    assert!(e.contains("root.path: empty"), "{e}");
    for bad in ["..", "../../etc", "rootfs/../../x", "./a/../.."] {
        let spec = with(base(), |v| v["root"]["path"] = bad.into());
        let e = plan(spec).unwrap_err().to_string();
        assert!(
            e.contains("root.path") && e.contains("climbs out"),
            "{bad}: {e}"
        );
    }
    for good in ["rootfs", "./rootfs", "a/../rootfs", "/elsewhere/rootfs"] {
        let spec = with(base(), |v| v["root"]["path"] = good.into());
        assert!(plan(spec).is_ok(), "{good}");
    }
}
