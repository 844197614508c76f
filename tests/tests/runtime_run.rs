//! `run`: a busybox container's output, exit status (128+N for a signal), signal
//! forwarding, and nothing left afterwards.

use std::time::Duration;

use initscope_tests::{is_root, stderr, stdout, Bundle, Runtime};

#[test]
fn run_prints_the_containers_output_as_pid_1_with_its_hostname() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let rt = Runtime::new();
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "echo hello from $(hostname); echo pid=$$; id -u",
    ]);
    let id = rt.id("run");
    let out = rt.run(&["run", "--bundle", b.path_str(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello from runc\npid=1\n0\n");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    rt.assert_clean(&[&b.path]);
}

#[test]
fn run_exits_with_the_process_status() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sh", "-c", "exit 7"]);
    let id = rt.id("status");
    let out = rt.run(&["run", "-b", b.path_str(), &id]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    rt.assert_clean(&[&b.path]);
}

#[test]
fn run_exits_128_plus_n_when_the_process_is_killed() {
    let rt = Runtime::new();
    // Without a pid namespace the shell is not a namespace's init, so SIGKILL to itself
    // is delivered.
    let b = Bundle::busybox(&["sh", "-c", "kill -KILL $$"]);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    let id = rt.id("sig");
    let out = rt.run(&["run", "-b", b.path_str(), &id]);
    assert_eq!(out.status.code(), Some(128 + 9), "{}", stderr(&out));
    rt.assert_clean(&[&b.path]);
}

#[test]
fn run_forwards_sigterm_to_the_container() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "trap 'echo got TERM; exit 3' TERM; echo ready; while true; do sleep 0.05; done",
    ]);
    let id = rt.id("fwd");
    let mut cmd = rt.command(&["run", "-b", b.path_str(), &id]);
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    // SAFETY: kill with a valid pid and signal touches no memory.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, "got TERM\n");
    assert_eq!(status.code(), Some(3));
    let signals: Vec<_> = rt
        .events_of(&id)
        .into_iter()
        .filter(|e| e["kind"] == "signal")
        .collect();
    assert_eq!(signals.len(), 1, "{signals:?}");
    assert_eq!(signals[0]["signal"], "SIGTERM");
    rt.assert_clean(&[&b.path]);
}

#[test]
fn run_detach_leaves_a_running_container() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    let id = rt.id("detach");
    rt.ok(&["run", "-d", "-b", b.path_str(), &id]);
    let st = rt.wait_status(&id, "running");
    assert!(st["pid"].as_i64().unwrap() > 0);
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}
