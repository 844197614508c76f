//! Hooks for real: busybox shell hooks in a temp dir read their stdin, environment and argv
//! into files the tests check; failures, signals, timeouts (the hook and what it started
//! are killed and reaped), warnings for poststart/poststop, and a missing path.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use initscope_runtime::events::schema::EventKind;
use initscope_runtime::hooks::{run_hook, run_hooks, HookError, HookKind};
use oci_spec::runtime::Hook;
use serde_json::json;

/// busybox runs the applet named by argv[0]: `["sh", "-c", …]` proves args[0] is argv[0].
const BUSYBOX: &str = "/bin/busybox";

fn sh_hook(script: &str, out: &Path, extra_env: &[&str], timeout: Option<i64>) -> Hook {
    let mut env = vec![format!("OUT={}", out.display())];
    env.extend(extra_env.iter().map(|s| s.to_string()));
    let mut v = json!({
        "path": BUSYBOX,
        "args": ["sh", "-c", script, "the-hook"],
        "env": env,
    });
    if let Some(t) = timeout {
        v["timeout"] = json!(t);
    }
    serde_json::from_value(v).unwrap()
}

fn state() -> String {
    json!({"ociVersion": "1.2.0", "id": "hooks-test", "status": "creating", "pid": 4242,
           "bundle": "/tmp/bundle", "annotations": {"a": "b"}})
    .to_string()
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Wait until `pid` is gone (its parent, init or a subreaper, reaps it after the kill).
fn gone(pid: i32) -> bool {
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            // A zombie is dead too; its parent will reap it.
            Ok(s)
                if s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z')) =>
            {
                return true
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    false
}

#[test]
fn a_hook_gets_the_state_on_stdin_exactly_its_env_and_its_argv() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let hook = sh_hook(
        r#"cat > "$OUT/stdin"; cat /proc/$$/environ > "$OUT/environ"; echo "$0|$1" > "$OUT/args"; echo $$ > "$OUT/pid""#,
        out,
        &["GREETING=hello world"],
        Some(10),
    );
    let mut events = Vec::new();
    let warnings = run_hooks(HookKind::CreateRuntime, &[hook], &state(), &mut |k| {
        events.push(k)
    })
    .unwrap();
    assert!(warnings.is_empty());

    assert_eq!(
        read(out.join("stdin")),
        state(),
        "stdin is the state, byte for byte"
    );
    let environ = read(out.join("environ"));
    let mut vars: Vec<&str> = environ.split('\0').filter(|s| !s.is_empty()).collect();
    vars.sort();
    assert_eq!(
        vars,
        vec!["GREETING=hello world", &*format!("OUT={}", out.display())],
        "nothing inherited from the runtime"
    );
    assert_eq!(read(out.join("args")).trim(), "the-hook|");

    let pid: i32 = read(out.join("pid")).trim().parse().unwrap();
    match &events[..] {
        [EventKind::HookStart {
            hook,
            path,
            args,
            hook_pid,
        }, EventKind::Hook {
            hook: h2,
            status,
            signal,
            duration_ns,
            ..
        }] => {
            assert_eq!(hook, "createRuntime");
            assert_eq!(h2, "createRuntime");
            assert_eq!(path, BUSYBOX);
            assert_eq!(args[0], "sh");
            assert_eq!(*hook_pid, pid, "hook_pid is the process that ran");
            assert_eq!(*status, Some(0));
            assert_eq!(*signal, None);
            assert!(*duration_ns > 0);
        }
        other => panic!("unexpected events: {other:?}"),
    }
}

#[test]
fn only_stdio_reaches_a_hook() {
    // An fd of the runtime without close-on-exec (std would pass it on).
    // SAFETY: dup of stdin; the new fd is closed at the end of the test.
    let leaky = unsafe { libc::dup(0) };
    assert!(leaky > 2);
    let hook: Hook =
        serde_json::from_value(json!({"path": BUSYBOX, "args": ["sleep", "1"]})).unwrap();
    let mut fds = None;
    run_hook(HookKind::StartContainer, 0, &hook, &state(), &mut |k| {
        // Called once the hook has exec'd: look at what it holds.
        if let EventKind::HookStart { hook_pid, .. } = k {
            let list: std::collections::BTreeSet<i32> =
                std::fs::read_dir(format!("/proc/{hook_pid}/fd"))
                    .unwrap()
                    .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect();
            fds = Some(list);
        }
    })
    .unwrap();
    // SAFETY: closing the fd this test made.
    unsafe { libc::close(leaky) };
    assert_eq!(fds.unwrap(), std::collections::BTreeSet::from([0, 1, 2]));
}

#[test]
fn a_large_state_never_blocks_even_when_the_hook_does_not_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let big = json!({"ociVersion": "1.2.0", "id": "big", "status": "created",
        "bundle": "/b", "annotations": {"pad": "x".repeat(300_000)}})
    .to_string();
    let ignores = sh_hook("exit 0", dir.path(), &[], Some(5));
    let counts = sh_hook(r#"wc -c > "$OUT/n""#, dir.path(), &[], Some(5));
    run_hooks(
        HookKind::StartContainer,
        &[ignores, counts],
        &big,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(read(dir.path().join("n")).trim(), big.len().to_string());
}

#[test]
fn a_failing_hook_stops_the_list_and_names_kind_index_path_status_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let hooks = [
        sh_hook(r#"touch "$OUT/first""#, out, &[], None),
        sh_hook(
            r#"echo; echo "boom: disk on fire" >&2; echo "second line" >&2; exit 3"#,
            out,
            &[],
            None,
        ),
        sh_hook(r#"touch "$OUT/third""#, out, &[], None),
    ];
    let mut events = Vec::new();
    let e = run_hooks(HookKind::CreateRuntime, &hooks, &state(), &mut |k| {
        events.push(k)
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "hooks.createRuntime[1] (/bin/busybox) failed: exit status 3: boom: disk on fire"
    );
    assert!(out.join("first").exists());
    assert!(
        !out.join("third").exists(),
        "hooks after a failure do not run"
    );
    assert!(matches!(
        events.last(),
        Some(EventKind::Hook {
            status: Some(3),
            ..
        })
    ));
}

#[test]
fn a_hook_killed_by_a_signal_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let hook = sh_hook("kill -TERM $$; sleep 5", dir.path(), &[], Some(10));
    let mut events = Vec::new();
    let e = run_hook(HookKind::Prestart, 0, &hook, &state(), &mut |k| {
        events.push(k)
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "hooks.prestart[0] (/bin/busybox) failed: killed by SIGTERM"
    );
    assert!(matches!(
        events.last(),
        Some(EventKind::Hook { status: None, signal: Some(s), .. }) if s == "SIGTERM"
    ));
}

#[test]
fn poststart_and_poststop_failures_are_warnings_and_the_rest_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    for kind in [HookKind::Poststart, HookKind::Poststop] {
        let marker = format!("after-{kind}");
        let hooks = [
            sh_hook("echo nope >&2; exit 1", out, &[], None),
            sh_hook(&format!(r#"touch "$OUT/{marker}""#), out, &[], None),
        ];
        let warnings = run_hooks(kind, &hooks, &state(), &mut |_| {}).unwrap();
        assert_eq!(warnings.len(), 1, "{kind}");
        assert!(matches!(&warnings[0], HookError::Failed { index: 0, .. }));
        assert!(out.join(&marker).exists(), "{kind}: the next hook ran");
    }
}

#[test]
fn a_timeout_kills_the_hook_and_everything_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let hook = sh_hook(
        r#"sleep 1000 & echo $! > "$OUT/bg"; echo $$ > "$OUT/pid"; wait"#,
        out,
        &[],
        Some(1),
    );
    let t = Instant::now();
    let mut events = Vec::new();
    let e = run_hook(HookKind::CreateContainer, 2, &hook, &state(), &mut |k| {
        events.push(k)
    })
    .unwrap_err();
    let took = t.elapsed();
    assert_eq!(
        e.to_string(),
        "hooks.createContainer[2] (/bin/busybox) ran past its timeout of 1s and was killed"
    );
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let pid: i32 = read(out.join("pid")).trim().parse().unwrap();
    let bg: i32 = read(out.join("bg")).trim().parse().unwrap();
    assert!(gone(pid), "the hook {pid} is still there");
    assert!(gone(bg), "its child {bg} is still there");
    // Reaped by us: not a zombie child of the runtime.
    assert_eq!(
        nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG)
        ),
        Err(nix::Error::ECHILD)
    );
    assert!(matches!(
        events.last(),
        Some(EventKind::Hook { signal: Some(s), .. }) if s == "SIGKILL"
    ));
}

#[test]
fn a_hook_that_leaves_a_daemon_holding_its_output_does_not_hang_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let hook = sh_hook(r#"sleep 30 & echo $! > "$OUT/bg"; exit 0"#, out, &[], None);
    let t = Instant::now();
    run_hook(HookKind::Poststart, 0, &hook, &state(), &mut |_| {}).unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Clean up what the hook left (it is not ours to keep).
    let bg: i32 = read(out.join("bg")).trim().parse().unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(bg),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert!(gone(bg));
}

#[test]
fn a_missing_or_non_executable_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing: Hook =
        serde_json::from_value(json!({"path": "/nonexistent/initscope-hook"})).unwrap();
    let mut events = Vec::new();
    let e = run_hook(HookKind::Prestart, 0, &missing, &state(), &mut |k| {
        events.push(k)
    })
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("hooks.prestart[0] (/nonexistent/initscope-hook): cannot run it: No such file or directory"),
        "{e}"
    );
    assert_eq!(e.errno(), Some(libc::ENOENT));
    assert!(events.is_empty(), "nothing started, nothing to report");

    let script = dir.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let hook: Hook = serde_json::from_value(json!({"path": script})).unwrap();
    let e = run_hook(HookKind::Poststop, 1, &hook, &state(), &mut |_| {}).unwrap_err();
    assert!(
        e.to_string().contains("cannot run it: Permission denied"),
        "{e}"
    );
}
