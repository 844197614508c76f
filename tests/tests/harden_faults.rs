//! Fault injection (issue 7): every stage SIGKILLed at every named step of the bootstrap.
//! `INITSCOPE_PAUSE_AT=stage:step` holds the stage there, the test kills it for real.
//!
//! - Killing the held stage: `create` fails within 2 s, in one line naming the stage and
//!   the step, and leaves nothing (state dir, cgroups, mounts, processes, zombies, fds).
//!   Held `create` itself has nobody left to report: `delete --force` must clean up.
//! - Killing `create` while a stage is held: `delete --force ID` must leave nothing.
//!
//! (`runtime_failures.rs` checks the exact wording for three of these steps.)

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use initscope_tests::leaks::{proc_stat, serial, Scope, Snapshot};
use initscope_tests::{is_root, read_events, reap_orphans, Bundle, Runtime};
use serde_json::{json, Value};

/// Every pause point of the runtime, and whether it needs a user namespace to be reached.
const STEPS: &[(&str, bool)] = &[
    ("create:before-fork", false),
    ("create:hooks", false),
    ("parent:after-bootstrap", false),
    ("parent:before-clone", false),
    ("parent:before-grandchild", false),
    ("child:before-setns", false),
    ("child:before-unshare-user", true),
    ("child:before-unshare", false),
    ("child:before-clone", false),
    ("init:before-rootfs", false),
    ("init:before-pivot", false),
    ("init:before-user", false),
    ("init:before-wait-start", false),
    ("parent:before-id-maps", true),
    ("init:before-exec", false),
];

/// Steps reached only after `start` opened exec.fifo: `create` succeeds, `start` is the
/// command held.
const AFTER_START: &[&str] = &["init:before-exec"];

/// How long `create` may take to notice a killed stage.
const NOTICE: Duration = Duration::from_secs(2);

struct Fixture {
    rt: Runtime,
    plain: Bundle,
    userns: Bundle,
    scope: Scope,
    logs: tempfile::TempDir,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let rt = Runtime::new();
        let plain = Bundle::busybox(&["true"]);
        let userns = Bundle::busybox(&["true"]);
        userns.edit(|c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            let map = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
            c["linux"]["uidMappings"] = map.clone();
            c["linux"]["gidMappings"] = map;
        });
        let logs = tempfile::Builder::new()
            .prefix("isc-faults-")
            .tempdir()
            .unwrap();
        let scope = Scope::of(
            &rt,
            &format!("{tag}-{}-", std::process::id()),
            &[&plain.path, &userns.path, logs.path()],
        );
        Fixture {
            rt,
            plain,
            userns,
            scope,
            logs,
        }
    }

    /// The command held at `step` — `create`, or `start` after a successful create for
    /// the steps after exec.fifo — with stderr to a file (a killed create's stages would
    /// keep a pipe open).
    fn start(&self, step: &str, userns: bool, id: &str) -> (Child, PathBuf) {
        let b = if userns { &self.userns } else { &self.plain };
        let err = self.logs.path().join(format!("{id}.stderr"));
        let mut cmd = self.rt.command(&["create", "-b", b.path_str(), id]);
        cmd.env("INITSCOPE_PAUSE_AT", step)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap());
        let mut create = cmd.spawn().unwrap();
        if !AFTER_START.contains(&step) {
            return (create, err);
        }
        let st = create.wait().unwrap();
        assert!(
            st.success(),
            "create before {step} failed: {:?}",
            std::fs::read_to_string(&err)
        );
        let mut cmd = self.rt.command(&["start", id]);
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap());
        (cmd.spawn().unwrap(), err)
    }

    /// The pid held at `step` once it is held (stopped, or for a pid namespace's init,
    /// blocked waiting for SIGCONT).
    fn held(&self, id: &str, step: &str) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let paused: Option<Value> = read_events(&self.rt.events)
                .into_iter()
                .find(|e| e["container"] == id && e["kind"] == "paused" && e["step"] == step);
            if let Some(p) = paused {
                let pid = p["pid"].as_i64().unwrap() as i32;
                while Instant::now() < deadline {
                    if proc_stat(pid).is_some_and(|p| p.state == 'T' || p.state == 'S') {
                        return pid;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            assert!(Instant::now() < deadline, "{id} never held at {step}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// `delete --force ID` (when something is left to delete), then reap what was
    /// orphaned to us, as a shim would.
    fn force_delete(&self, id: &str) -> Option<String> {
        let mut problem = None;
        if self.rt.root.join(id).exists() {
            let out = self.rt.run(&["delete", "--force", id]);
            if !out.status.success() {
                problem = Some(format!(
                    "delete --force failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim_end()
                ));
            }
        }
        reap_orphans();
        problem
    }
}

/// Wait for `child`, at most `limit`; how long it took and its status.
fn wait_within(child: &mut Child, limit: Duration) -> (Duration, std::process::ExitStatus) {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return (t0.elapsed(), st);
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let st = child.wait().unwrap();
            return (t0.elapsed(), st);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn kill9(pid: i32) {
    // SAFETY: kill with integer arguments.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

fn label(stage: &str) -> &'static str {
    match stage {
        "parent" => "[0:PARENT] failed: killed by SIGKILL",
        "child" => "[1:CHILD] failed: killed by SIGKILL",
        "init" => "container init failed: killed by SIGKILL",
        _ => unreachable!(),
    }
}

#[test]
fn the_step_list_is_every_pause_point_of_the_runtime() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../runtime/src");
    let mut found = Vec::new();
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for part in text.split("pause_point(\"").skip(1) {
                    found.push(part.split('"').next().unwrap().to_string());
                }
            }
        }
    }
    found.sort();
    found.dedup();
    let mut ours: Vec<String> = STEPS
        .iter()
        .map(|(s, _)| s.split_once(':').unwrap().1.to_string())
        .collect();
    ours.sort();
    ours.dedup();
    assert_eq!(
        found, ours,
        "a pause point was added or renamed: update STEPS"
    );
}

#[test]
fn a_stage_killed_at_any_step_fails_create_in_one_line_and_leaves_nothing() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let _g = serial();
    let fx = Fixture::new("hf");
    let mut failures = Vec::new();
    for &(step, userns) in STEPS {
        let stage = step.split_once(':').unwrap().0;
        let id = fx.rt.id("hf");
        let before = Snapshot::take(&fx.scope);
        // `create`, or `start` for the steps after exec.fifo.
        let (mut create, errf) = fx.start(step, userns, &id);
        let pid = fx.held(&id, step);
        kill9(pid);
        let (took, status) = wait_within(&mut create, Duration::from_secs(30));
        let err = std::fs::read_to_string(&errf).unwrap_or_default();
        let mut why = Vec::new();
        match stage {
            "create" => {
                // create itself was killed: the state dir it left is for delete --force.
                if status.success() {
                    why.push("create succeeded".into());
                }
                why.extend(fx.force_delete(&id));
            }
            "init" if step == "init:before-wait-start" => {
                // init already said procReady: create succeeded, the container is
                // stopped, a plain delete removes it.
                if !status.success() {
                    why.push(format!("create failed: {err}"));
                }
                match fx.rt.state(&id) {
                    Some(s) if s["status"] == "stopped" => {}
                    other => why.push(format!("state after init died: {other:?}")),
                }
                let out = fx.rt.run(&["delete", &id]);
                if !out.status.success() {
                    why.push(format!("delete: {}", String::from_utf8_lossy(&out.stderr)));
                }
                reap_orphans();
            }
            _ => {
                if status.success() {
                    why.push("create (or start) succeeded".into());
                }
                if took > NOTICE {
                    why.push(format!("create took {took:?} to fail"));
                }
                if err.lines().count() != 1 {
                    why.push(format!("stderr is not one line: {err:?}"));
                }
                // After start, init is nobody's child of ours: its signal is unknown.
                let label = if AFTER_START.contains(&step) {
                    "container init failed: died before exec"
                } else {
                    label(stage)
                };
                for want in [label, &format!("paused at {step}")] {
                    if !err.contains(want) {
                        why.push(format!("stderr lacks {want:?}"));
                    }
                }
                if AFTER_START.contains(&step) {
                    // create had succeeded: the stopped container is delete's to remove.
                    why.extend(fx.force_delete(&id));
                }
                reap_orphans();
            }
        }
        why.extend(before.leaked_since(&Snapshot::take(&fx.scope)));
        eprintln!(
            "{step}: create ended after {took:?} ({status}): {}",
            err.trim_end()
        );
        if !why.is_empty() {
            failures.push(format!(
                "{step}: {}\n   stderr: {}",
                why.join("; "),
                err.trim_end()
            ));
        }
        // Whatever happened, leave nothing for the next step.
        fx.force_delete(&id);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    fx.rt.assert_clean(&[&fx.plain.path, &fx.userns.path]);
}

#[test]
fn delete_force_cleans_up_after_create_killed_at_any_step() {
    let _g = serial();
    let fx = Fixture::new("hk");
    let mut failures = Vec::new();
    for &(step, userns) in STEPS {
        let id = fx.rt.id("hk");
        let before = Snapshot::take(&fx.scope);
        let (mut create, errf) = fx.start(step, userns, &id);
        fx.held(&id, step);
        kill9(create.id() as i32);
        let _ = wait_within(&mut create, Duration::from_secs(10));
        // The held stage is still there, stopped, with nobody to report to.
        let left = Snapshot::take(&fx.scope);
        let mut why: Vec<String> = fx.force_delete(&id).into_iter().collect();
        eprintln!(
            "{step}: create killed; before delete --force: {}",
            left.counts()
        );
        why.extend(before.leaked_since(&Snapshot::take(&fx.scope)));
        if !why.is_empty() {
            let err = std::fs::read_to_string(&errf).unwrap_or_default();
            failures.push(format!(
                "{step}: {}\n   create's stderr: {}",
                why.join("; "),
                err.trim_end()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    fx.rt.assert_clean(&[&fx.plain.path, &fx.userns.path]);
}
