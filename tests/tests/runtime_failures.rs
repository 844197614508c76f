//! A stage that dies mid-way: `create` notices at once (pidfd and channel EOF, no
//! timeouts), names the stage and the signal and the last step, and cleans up. Stages
//! are held at a named step with INITSCOPE_PAUSE_AT, then killed for real.

use std::time::{Duration, Instant};

use initscope_tests::{is_root, output_with_timeout, stderr, Bundle, Runtime, COMMAND_TIMEOUT};
use serde_json::Value;

/// Start `create` paused at `step`, SIGKILL the paused stage, return create's stderr.
fn kill_stage_at(step: &str) -> String {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    let id = rt.id("die");
    let mut cmd = rt.command(&["create", "-b", b.path_str(), &id]);
    cmd.env("INITSCOPE_PAUSE_AT", step);
    let events = rt.events.clone();
    let want_step = step.to_string();
    let killer = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let paused: Option<Value> = initscope_tests::read_events(&events)
                .into_iter()
                .find(|e| e["kind"] == "paused" && e["step"] == want_step.as_str());
            if let Some(p) = paused {
                let pid = p["pid"].as_i64().unwrap() as i32;
                // Let it stop (T) or, as a namespace's init, block for SIGCONT (S).
                while Instant::now() < deadline {
                    let stat =
                        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    if stat.contains(") T ") || stat.contains(") S ") {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                // SAFETY: kill with integer arguments.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                return Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "stage never paused at {want_step}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let out = output_with_timeout(cmd, COMMAND_TIMEOUT);
    let killed_at = killer.join().unwrap();
    let noticed = killed_at.elapsed();
    assert!(!out.status.success());
    assert!(
        noticed < Duration::from_secs(5),
        "create took {noticed:?} to notice"
    );
    rt.assert_clean(&[&b.path]);
    stderr(&out)
}

#[test]
fn child_killed_before_unshare() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let err = kill_stage_at("child:before-unshare");
    assert!(err.contains("[1:CHILD] failed: killed by SIGKILL"), "{err}");
    assert!(err.contains("last step: paused"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn init_killed_before_rootfs() {
    let err = kill_stage_at("init:before-rootfs");
    assert!(
        err.contains("container init failed: killed by SIGKILL"),
        "{err}"
    );
}

#[test]
fn parent_killed_before_it_releases_init() {
    let err = kill_stage_at("parent:before-grandchild");
    assert!(
        err.contains("[0:PARENT] failed: killed by SIGKILL"),
        "{err}"
    );
}
