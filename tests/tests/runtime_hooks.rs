//! The six OCI hooks through the CLI: each runs where the spec and runc run it, sees the
//! state JSON with the status of its kind on stdin, in the right working directory; a
//! failing poststart or poststop hook is a warning, any other failure fails its command
//! and leaves nothing behind.

use std::path::Path;

use initscope_tests::{is_root, stderr, Bundle, Runtime};
use serde_json::{json, Value};

/// A hook that saves its stdin and cwd as `<dir>/<name>.json` / `.cwd` (busybox sh).
fn saving_hook(dir: &Path, name: &str) -> Value {
    json!({
        "path": "/bin/busybox",
        "args": ["sh", "-c", format!("cat > {d}/{name}.json && pwd > {d}/{name}.cwd", d = dir.display())],
        "env": ["PATH=/bin"],
        "timeout": 10
    })
}

fn failing_hook(code: u8, msg: &str) -> Value {
    json!({
        "path": "/bin/busybox",
        "args": ["sh", "-c", format!("echo {msg} >&2; exit {code}")],
    })
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

#[test]
fn every_hook_sees_its_status_pid_and_bundle_and_runs_in_order() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let rt = Runtime::new();
    let out = tempfile::Builder::new()
        .prefix("isc-hooks-")
        .tempdir()
        .unwrap();
    let host = out.path();
    let b = Bundle::busybox(&["sleep", "100"]);
    b.edit(|c| {
        c["annotations"] = json!({"org.example/who": "hooks-test"});
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/out", "type": "bind", "source": host, "options": ["rbind", "rw"]
        }));
        c["hooks"] = json!({
            "prestart": [saving_hook(host, "prestart")],
            "createRuntime": [saving_hook(host, "createRuntime")],
            "createContainer": [saving_hook(host, "createContainer")],
            // Runs in the container, after pivot_root: the path and /out are the container's.
            "startContainer": [saving_hook(Path::new("/out"), "startContainer")],
            "poststart": [saving_hook(host, "poststart")],
            "poststop": [saving_hook(host, "poststop")],
        });
    });
    let id = rt.id("hooks");
    rt.ok(&["create", "-b", b.path_str(), &id]);
    let init = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    for k in ["prestart", "createRuntime", "createContainer"] {
        assert!(host.join(format!("{k}.json")).exists(), "{k} ran at create");
    }
    assert!(!host.join("startContainer.json").exists());
    rt.ok(&["start", &id]);
    assert!(
        host.join("poststart.json").exists(),
        "poststart ran before start returned"
    );
    let events = rt.state_events(&id);
    rt.ok(&["delete", "--force", &id]);

    let expect = [
        ("prestart", "creating", b.path_str()),
        ("createRuntime", "creating", b.path_str()),
        ("createContainer", "creating", b.path_str()),
        ("startContainer", "created", "/"),
        ("poststart", "running", b.path_str()),
        ("poststop", "stopped", b.path_str()),
    ];
    for (kind, status, cwd) in expect {
        let st = read_json(&host.join(format!("{kind}.json")));
        assert_eq!(st["status"], status, "{kind}: {st}");
        assert_eq!(st["id"], id.as_str(), "{kind}");
        assert_eq!(st["pid"], init, "{kind}: the container's host pid");
        assert_eq!(st["bundle"], b.path_str(), "{kind}");
        assert_eq!(st["ociVersion"], "1.1.0", "{kind}");
        assert_eq!(st["annotations"]["org.example/who"], "hooks-test", "{kind}");
        let got = std::fs::read_to_string(host.join(format!("{kind}.cwd"))).unwrap();
        assert_eq!(got.trim(), cwd, "{kind} runs with cwd {cwd}");
    }
    // Who ran them, in which order: create, create, init, init, start.
    let ran: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["kind"] == "hook")
        .map(|e| {
            assert_eq!(e["status"], 0, "{e}");
            (
                e["hook"].as_str().unwrap().to_string(),
                e["stage"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("prestart", "create"),
        ("createRuntime", "create"),
        ("createContainer", "init"),
        ("startContainer", "init"),
        ("poststart", "start"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(ran, want);
    let pivot = events
        .iter()
        .position(|e| e["kind"] == "pivot_root")
        .unwrap();
    let cc = events
        .iter()
        .position(|e| e["kind"] == "hook" && e["hook"] == "createContainer")
        .unwrap();
    assert!(cc < pivot, "createContainer runs before pivot_root");
    let poststop = rt
        .events_of(&id)
        .into_iter()
        .find(|e| e["kind"] == "hook" && e["hook"] == "poststop")
        .expect("poststop reported live");
    assert_eq!(poststop["stage"], "delete");
    rt.assert_clean(&[&b.path, host]);
}

#[test]
fn a_failing_poststart_is_a_warning_and_the_next_one_still_runs() {
    let rt = Runtime::new();
    let out = tempfile::Builder::new()
        .prefix("isc-hooks-")
        .tempdir()
        .unwrap();
    let b = Bundle::busybox(&["sleep", "100"]);
    b.edit(|c| {
        c["hooks"] = json!({
            "poststart": [failing_hook(4, "poststart-broke"), saving_hook(out.path(), "second")],
            "poststop": [failing_hook(5, "poststop-broke")],
        })
    });
    let id = rt.id("poststart");
    rt.ok(&["create", "-b", b.path_str(), &id]);
    let o = rt.run(&["start", &id]);
    assert!(o.status.success(), "start succeeds: {}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "initscope-runtime: warning: hooks.poststart[0] (/bin/busybox) failed: exit status 4: poststart-broke"
        ),
        "{}",
        stderr(&o)
    );
    assert!(out.path().join("second.json").exists());
    rt.wait_status(&id, "running");
    let o = rt.run(&["delete", "--force", &id]);
    assert!(o.status.success(), "delete succeeds: {}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: hooks.poststop[0] (/bin/busybox) failed: exit status 5"),
        "{}",
        stderr(&o)
    );
    assert!(rt.state(&id).is_none());
    rt.assert_clean(&[&b.path]);
}

#[test]
fn a_failing_create_hook_fails_create_and_leaves_nothing() {
    let rt = Runtime::new();
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let b = Bundle::busybox(&["true"]);
        b.edit(|c| c["hooks"] = json!({ kind: [failing_hook(3, "no-way")] }));
        let id = rt.id("hookfail");
        let o = rt.run(&["create", "-b", b.path_str(), &id]);
        assert!(!o.status.success(), "{kind}");
        let err = stderr(&o);
        assert!(
            err.contains(&format!(
                "hooks.{kind}[0] (/bin/busybox) failed: exit status 3: no-way"
            )),
            "{kind}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(rt.state(&id).is_none());
        rt.assert_clean(&[&b.path]);
    }
}

#[test]
fn a_failing_start_container_hook_fails_start() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    b.edit(|c| c["hooks"] = json!({"startContainer": [failing_hook(7, "not-today")]}));
    let id = rt.id("starthook");
    rt.ok(&["create", "-b", b.path_str(), &id]);
    let o = rt.run(&["start", &id]);
    assert!(!o.status.success());
    assert!(
        stderr(&o)
            .contains("hooks.startContainer[0] (/bin/busybox) failed: exit status 7: not-today"),
        "{}",
        stderr(&o)
    );
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn hook_config_errors_are_named_before_anything_runs() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    b.edit(|c| {
        c["hooks"] = json!({"poststop": [{"path": "/bin/true"}, {"path": "/bin/x", "timeout": 0}]})
    });
    let id = rt.id("hookcfg");
    let o = rt.run(&["create", "-b", b.path_str(), &id]);
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o).trim(),
        "initscope-runtime: config.json: hooks.poststop[1].timeout: 0 must be greater than zero (seconds)"
    );
    rt.assert_clean(&[&b.path]);
}
