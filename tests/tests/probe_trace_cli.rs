//! `initscope trace` from the outside: exit status, the tree, JSONL and --record, clear
//! errors, and no BPF program left behind after SIGINT, SIGTERM or a panic.

mod probe_common;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use initscope_probe::schema::{KernelEvent, KernelKind};
use initscope_probe::{Probe, ProbeOptions};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use probe_common::*;

fn trace(args: &[&str]) -> std::process::Output {
    Command::new(initscope_bin())
        .arg("trace")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn returns_the_command_status_and_prints_the_tree() {
    let _g = serial();
    let out = trace(&["--", "sh", "-c", "/bin/true; exit 5"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].contains("tracked; namespaces"), "{stdout}");
    assert!(
        lines.iter().any(|l| l.contains("exec /bin/true")),
        "{stdout}"
    );
    // the child's lines are indented under sh's
    let fork = lines
        .iter()
        .find(|l| l.contains(" → "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let child_exec = lines.iter().find(|l| l.contains("exec /bin/true")).unwrap();
    let indent = |l: &str| l[12..].len() - l[12..].trim_start().len();
    assert_eq!(indent(child_exec), indent(fork) + 2, "{stdout}");
    assert!(lines.last().unwrap().ends_with("exit 5"), "{stdout}");
    assert!(stderr.contains("events, 0 lost"), "{stderr}");
}

#[test]
fn json_lines_and_the_recording_agree() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("trace.jsonl");
    let out = trace(&[
        "--json",
        "--record",
        rec.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "exec /bin/true",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let events: Vec<KernelEvent> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events
        .iter()
        .any(|e| matches!(&e.kind, KernelKind::Exec { filename, .. } if filename == "/bin/true")));
    assert!(matches!(
        events.last().unwrap().kind,
        KernelKind::Exit { code: Some(0), .. }
    ));
    assert_eq!(std::fs::read_to_string(&rec).unwrap(), stdout);
}

#[test]
fn json_keeps_the_commands_output_off_stdout() {
    let _g = serial();
    let out = trace(&["--json", "--", "sh", "-c", "echo hello-from-the-command"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for l in stdout.lines() {
        assert!(
            serde_json::from_str::<KernelEvent>(l).is_ok(),
            "not JSON: {l}"
        );
    }
    assert!(stderr.contains("hello-from-the-command"), "{stderr}");
}

#[test]
fn bad_input_gets_one_clear_line() {
    let _g = serial();
    let cases: &[(&[&str], &str)] = &[
        (&[], "nothing to trace"),
        (&["--pid", "999999999"], "no process 999999999 to track"),
        (&["--comm", "much-too-long-prefix"], "comm_prefixes"),
        (
            &["--", "no-such-command-xyz"],
            "no-such-command-xyz: command not found in PATH",
        ),
        (
            &["--record", "/nonexistent-dir/x.jsonl", "--", "true"],
            "--record /nonexistent-dir/x.jsonl",
        ),
    ];
    let before = bpf_progs();
    for (args, want) in cases {
        let out = trace(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    // without privileges: what is needed, in one line
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(initscope_bin())
        .args(["trace", "--", "true"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("initscope trace: loading eBPF needs root or CAP_BPF+CAP_PERFMON"),
        "{stderr}"
    );
    // and none of that left a program behind: anything new is held by a live process
    // (someone else's probe on a shared machine), never orphaned
    let orphaned = orphaned_tracing_progs_since(&before);
    assert!(
        orphaned.is_empty(),
        "programs left loaded with no holder: {orphaned:?}"
    );
}

/// Tracing programs loaded since `before` that no live process holds. Programs of
/// other types are skipped: a cgroup's device filter (ours, runc's, docker's) is held
/// by the cgroup, not by a process, and the probe loads none. Freeing a program after
/// its last fd closes is deferred (RCU), so look again for a moment before calling it
/// a leak.
fn orphaned_tracing_progs_since(before: &[u64]) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let held = bpf_progs_held_by_anyone();
        let orphaned: Vec<u64> = bpf_tracing_progs()
            .into_iter()
            .filter(|id| !before.contains(id) && !held.contains(id))
            .collect();
        if orphaned.is_empty() || Instant::now() > deadline {
            return orphaned;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `initscope trace ARGS` in the background, once its programs are attached.
// The child is returned to the caller, which waits for it (the lint cannot see that).
#[allow(clippy::zombie_processes)]
fn start_trace(args: &[&str]) -> (Child, Vec<u64>) {
    let mut child = Command::new(initscope_bin())
        .arg("trace")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0) // a signal to the test's group must not reach it by accident
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ids = bpf_progs_of(pid);
        // 13 programs: 8 syscall entries, 1 syscall exit, 4 BTF tracepoints
        if ids.len() >= 13 {
            return (child, ids);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("initscope trace never attached (held {ids:?})");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sleeper() -> Child {
    Command::new("sleep").arg("300").spawn().unwrap()
}

#[test]
fn sigint_while_attached_detaches_everything() {
    let _g = serial();
    let mut target = sleeper();
    let (mut tr, ids) = start_trace(&["--pid", &target.id().to_string()]);
    kill(Pid::from_raw(tr.id() as i32), Signal::SIGINT).unwrap();
    let st = tr.wait().unwrap();
    assert_eq!(st.code(), Some(0), "attached: Ctrl-C is a clean stop");
    assert_eq!(
        still_loaded(&ids),
        Vec::<u64>::new(),
        "programs left after SIGINT"
    );
    // the traced process was only watched, not touched
    assert!(target.try_wait().unwrap().is_none());
    target.kill().unwrap();
    target.wait().unwrap();
}

#[test]
fn even_sigkill_leaves_no_program_loaded() {
    let _g = serial();
    let mut target = sleeper();
    let (mut tr, ids) = start_trace(&["--pid", &target.id().to_string()]);
    tr.kill().unwrap();
    tr.wait().unwrap();
    // nothing is pinned: the programs go with the last fd
    assert_eq!(
        still_loaded(&ids),
        Vec::<u64>::new(),
        "programs left after SIGKILL"
    );
    target.kill().unwrap();
    target.wait().unwrap();
}

#[test]
fn sigterm_with_a_command_stops_it_and_detaches() {
    let _g = serial();
    let (mut tr, ids) = start_trace(&["--", "sleep", "300"]);
    let t0 = Instant::now();
    kill(Pid::from_raw(tr.id() as i32), Signal::SIGTERM).unwrap();
    let st = tr.wait().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(
        st.code(),
        Some(128 + 15),
        "the command's status: killed by SIGTERM"
    );
    assert_eq!(
        still_loaded(&ids),
        Vec::<u64>::new(),
        "programs left after SIGTERM"
    );
}

#[test]
fn a_panic_unwinds_through_the_probe_and_detaches() {
    let _g = serial();
    let me = std::process::id() as i32;
    let before = bpf_progs_of(me);
    let mut held = Vec::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _probe = Probe::load(ProbeOptions::default()).unwrap();
        held = bpf_progs_of(me);
        panic!("deliberate");
    }));
    assert!(r.is_err());
    let ours: Vec<u64> = held.into_iter().filter(|i| !before.contains(i)).collect();
    assert!(ours.len() >= 13, "the probe held {ours:?}");
    // this process is still alive: Drop during unwinding did the detaching
    assert!(bpf_progs_of(me).iter().all(|i| !ours.contains(i)));
    assert_eq!(
        still_loaded(&ours),
        Vec::<u64>::new(),
        "programs left after a panic"
    );
}

#[test]
fn attached_by_pid_it_ends_when_the_process_does() {
    let _g = serial();
    let mut target = Command::new("sh")
        .args(["-c", "sleep 2; exit 3"])
        .spawn()
        .unwrap();
    let out = trace(&["--pid", &target.id().to_string()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(target.wait().unwrap().code(), Some(3));
    // sh and its sleep were tracked (the sleep already running), both seen to exit
    assert_eq!(stdout.matches("tracked; namespaces").count(), 2, "{stdout}");
    assert!(
        stdout.lines().last().unwrap().ends_with("exit 3"),
        "{stdout}"
    );
}
