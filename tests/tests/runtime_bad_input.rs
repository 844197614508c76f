//! Each bad input of issue 2: a non-zero exit, one line on stderr naming the cause (and
//! the same as the last JSON line of --log), and nothing left behind.

use initscope_tests::{is_root, stderr, Bundle, Runtime};
use serde_json::json;

/// Run `args`, expect failure with one stderr line containing every `needle`.
fn fails(rt: &Runtime, args: &[&str], needles: &[&str]) -> String {
    let out = rt.run(args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert_eq!(err.lines().count(), 1, "one line, got: {err}");
    assert!(err.starts_with("initscope-runtime: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: {err:?} lacks {n:?}");
    }
    err
}

/// A bundle edited by `f`, created under a fresh id: must fail naming `needles`, cleanly.
fn config_fails(f: impl FnOnce(&mut serde_json::Value), needles: &[&str]) {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    b.edit(f);
    let id = rt.id("bad");
    fails(&rt, &["create", "-b", b.path_str(), &id], needles);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn missing_bundle_config_and_invalid_json() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let rt = Runtime::new();
    let id = rt.id("bundle");
    fails(
        &rt,
        &["create", "-b", "/nonexistent/bundle", &id],
        &["/nonexistent/bundle", "no such directory"],
    );
    let empty = tempfile::tempdir().unwrap();
    let p = empty.path().to_str().unwrap();
    fails(
        &rt,
        &["create", "-b", p, &id],
        &["config.json", "no such file"],
    );
    std::fs::write(
        empty.path().join("config.json"),
        "{\"ociVersion\": \"1.0.2\", ",
    )
    .unwrap();
    fails(
        &rt,
        &["create", "-b", p, &id],
        &["config.json", "invalid JSON", "line 1"],
    );
    rt.assert_clean(&[empty.path()]);
}

#[test]
fn config_that_fails_validation() {
    config_fails(|c| c["process"]["args"] = json!([]), &["process.args"]);
    config_fails(
        |c| c["process"]["capabilities"]["bounding"] = json!(["CAP_NOT_REAL"]),
        &["config.json", "CAP_NOT_REAL"],
    );
    config_fails(
        |c| c["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "pid"}, {"type": "uts"}]),
        &["linux.namespaces", "pid", "twice"],
    );
    config_fails(
        |c| c["process"]["terminal"] = true.into(),
        &["process.terminal", "--console-socket"],
    );
}

#[test]
fn missing_rootfs() {
    config_fails(
        |c| c["root"]["path"] = "no-such-rootfs".into(),
        &["rootfs", "no-such-rootfs", "no such directory"],
    );
}

#[test]
fn id_in_use_and_ids_with_path_characters() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    let id = rt.id("taken");
    rt.ok(&["create", "-b", b.path_str(), &id]);
    let before = rt.state(&id).unwrap();
    fails(
        &rt,
        &["create", "-b", b.path_str(), &id],
        &[&id, "already exists"],
    );
    let after = rt.state(&id).unwrap();
    assert_eq!(before, after, "the existing container is untouched");
    rt.ok(&["delete", "--force", &id]);
    for (bad, why) in [
        ("a/b", "'/'"),
        ("..", "\"..\""),
        ("x..y", "\"..\""),
        ("", "empty"),
        ("a\tb", "control"),
    ] {
        fails(
            &rt,
            &["create", "-b", b.path_str(), bad],
            &["invalid container id", why],
        );
    }
    rt.assert_clean(&[&b.path]);
}

#[test]
fn unknown_id_for_every_command() {
    let rt = Runtime::new();
    let id = rt.id("ghost");
    for cmd in [
        vec!["start", &id],
        vec!["state", &id],
        vec!["kill", &id, "KILL"],
        vec!["delete", &id],
    ] {
        fails(&rt, &cmd, &[&id, "does not exist"]);
    }
    // As runc: --force of what is already gone succeeds (clients call it after every exit).
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[]);
}

#[test]
fn namespace_path_that_does_not_exist() {
    config_fails(
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "cgroup", "path": "/nonexistent/ns/cgroup"}))
        },
        &[
            "cgroup namespace path /nonexistent/ns/cgroup",
            "no such file or directory",
        ],
    );
}

#[test]
fn mapping_the_kernel_rejects() {
    // Two lines mapping the same container uid: the kernel refuses the write.
    config_fails(
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            c["linux"]["uidMappings"] = json!([
                {"containerID": 0, "hostID": 100000, "size": 10},
                {"containerID": 5, "hostID": 200000, "size": 10}
            ]);
            c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 10}]);
        },
        &["[0:PARENT] failed", "uid_map", "invalid argument"],
    );
}

#[test]
fn rlimit_above_the_hard_limit() {
    config_fails(
        |c| {
            c["process"]["rlimits"] =
                json!([{"type": "RLIMIT_NOFILE", "soft": 1048576, "hard": 1048576}])
        },
        &[
            "container init failed",
            "RLIMIT_NOFILE",
            "hard limit",
            "operation not permitted",
        ],
    );
}

#[test]
fn executable_not_found_fails_create_not_start() {
    config_fails(
        |c| c["process"]["args"] = json!(["no-such-program", "--flag"]),
        &[
            "container init failed",
            "\"no-such-program\"",
            "not found",
            "$PATH",
        ],
    );
    config_fails(
        |c| c["process"]["args"] = json!(["/bin/nope"]),
        &["/bin/nope", "no such file"],
    );
}

#[test]
fn errors_are_the_last_json_line_of_the_log() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["no-such-program"]);
    let log = b.path.join("oci-log");
    let log_s = log.to_str().unwrap();
    let id = rt.id("log");
    let err = fails(
        &rt,
        &[
            "--log-format=json",
            "--log",
            log_s,
            "create",
            "--bundle",
            b.path_str(),
            &id,
        ],
        &["not found"],
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert_eq!(
        last["msg"].as_str().unwrap(),
        err.trim_end().trim_start_matches("initscope-runtime: ")
    );
    assert!(last["time"].is_string());
    // Global flags after the command work too, and a text log gets logrus' text form.
    fails(
        &rt,
        &["state", "nope-x", "--log", log_s],
        &["does not exist"],
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines().last().unwrap().contains("level=error msg="),
        "{text}"
    );
    rt.assert_clean(&[&b.path]);
}
