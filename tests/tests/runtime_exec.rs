//! `exec` through the CLI: a new process joins a running container through the same
//! staged bootstrap (setns instead of unshare), in its namespaces and cgroup; foreground
//! exec returns the process's status and forwards signals, `--detach` writes the pid
//! file and returns, `--tty` sends a pty to the console socket; events carry the exec id.

use std::io::Read;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use initscope_tests::{find, is_root, stderr, stdout, Bundle, Runtime};
use serde_json::{json, Value};

/// A running busybox container that sleeps.
fn sleeper(rt: &Runtime, prefix: &str) -> (Bundle, String) {
    let b = Bundle::busybox(&["sleep", "1000"]);
    let id = rt.id(prefix);
    rt.ok(&["run", "-d", "-b", b.path_str(), &id]);
    rt.wait_status(&id, "running");
    (b, id)
}

fn exec_events(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["exec_id"].is_string()).collect()
}

#[test]
fn foreground_exec_prints_and_returns_the_status() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let rt = Runtime::new();
    let (b, id) = sleeper(&rt, "exec");
    let o = rt.run(&["exec", &id, "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    let o = rt.run(&["exec", &id, "sh", "-c", "kill -9 $$"]);
    assert_eq!(o.status.code(), Some(137), "128 + SIGKILL");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn the_exec_joins_the_containers_namespaces_and_cgroup_through_the_stages() {
    let rt = Runtime::new();
    let (b, id) = sleeper(&rt, "execns");
    let script = "for n in mnt uts ipc net pid; do \
                  [ $(readlink /proc/self/ns/$n) = $(readlink /proc/1/ns/$n) ] || echo differs $n; done; \
                  hostname; grep -c initscope/ /proc/self/cgroup; echo pid $$";
    let out = rt.ok(&["exec", &id, "sh", "-c", script]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "runc", "the container's hostname: {out}");
    assert!(
        lines[1].parse::<u32>().unwrap() > 0,
        "in the container's cgroup: {out}"
    );
    assert!(lines[2].starts_with("pid ") && lines[2] != "pid 1", "{out}");

    let all = rt.state_events(&id);
    let ev = exec_events(&all);
    let exec_id = ev[0]["exec_id"].as_str().unwrap();
    assert!(ev.iter().all(|e| e["exec_id"] == exec_id));
    let stages: Vec<&str> = ev.iter().filter_map(|e| e["stage"].as_str()).collect();
    for s in ["exec", "parent", "child", "init"] {
        assert!(stages.contains(&s), "{s} in {stages:?}");
    }
    // The child joins, it does not create: setns for each namespace, user first if any,
    // mount last, and no unshare at all.
    let setns: Vec<&str> = ev
        .iter()
        .filter(|e| e["kind"] == "setns")
        .map(|e| e["nstype"].as_str().unwrap())
        .collect();
    assert_eq!(setns.last(), Some(&"CLONE_NEWNS"), "{setns:?}");
    assert!(setns.contains(&"CLONE_NEWPID"), "{setns:?}");
    assert!(!ev.iter().any(|e| e["kind"] == "unshare"));
    let clones: Vec<(&str, &Value)> = ev
        .iter()
        .filter(|e| e["kind"] == "clone")
        .map(|e| (e["child_stage"].as_str().unwrap(), &e["flags"]))
        .collect();
    assert_eq!(clones.len(), 3, "{clones:?}");
    assert!(clones[1]
        .1
        .as_array()
        .unwrap()
        .contains(&json!("CLONE_PARENT")));
    // The exec'd process is inside the container's pid namespace, but not its pid 1.
    let start = ev
        .iter()
        .find(|e| e["stage"] == "init" && e["kind"] == "stage_start")
        .unwrap();
    let ns_pid = start["ns_pid"].as_i64().unwrap();
    assert!(ns_pid > 1, "{start}");
    assert_eq!(lines[2], format!("pid {ns_pid}"));
    assert_eq!(
        find(&ev.iter().copied().cloned().collect::<Vec<_>>(), "exec").len(),
        1
    );
    // The same lines went to the live sink.
    let live = rt.events_of(&id);
    assert_eq!(exec_events(&live).len(), ev.len());
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn detached_exec_writes_the_pid_file_and_returns() {
    let rt = Runtime::new();
    let (b, id) = sleeper(&rt, "execd");
    let pidfile = b.path.join("exec.pid");
    let t = Instant::now();
    rt.ok(&[
        "exec",
        "--detach",
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
        "sleep",
        "500",
    ]);
    assert!(t.elapsed() < Duration::from_secs(10));
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep");
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cg.contains(&format!("/initscope/{id}\n")), "{cg}");
    // kill --all reaches it too; delete cleans everything.
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn exec_with_a_process_file_and_with_flags() {
    let rt = Runtime::new();
    let (b, id) = sleeper(&rt, "execp");
    let process = json!({
        "args": ["sh", "-c", "id -u; id -g; pwd; echo $FOO"],
        "env": ["PATH=/bin", "FOO=from-json"],
        "cwd": "/tmp",
        "user": {"uid": 65534, "gid": 65534},
        "terminal": false
    });
    let pf = b.path.join("process.json");
    std::fs::write(&pf, process.to_string()).unwrap();
    let out = rt.ok(&["exec", "--process", pf.to_str().unwrap(), &id]);
    assert_eq!(out, "65534\n65534\n/tmp\nfrom-json\n");

    let out = rt.ok(&[
        "exec",
        "-e",
        "FOO=from-flag",
        "--cwd",
        "/etc",
        "-u",
        "1000:1001",
        "--additional-gids",
        "20",
        &id,
        "sh",
        "-c",
        "id -u; id -g; id -G; pwd; echo $FOO",
    ]);
    assert_eq!(out, "1000\n1001\n1001 20\n/etc\nfrom-flag\n");

    // A bad value in --process is named by its field.
    std::fs::write(
        &pf,
        json!({"args": ["true"], "cwd": "/", "user": {"uid": "x"}}).to_string(),
    )
    .unwrap();
    let o = rt.run(&["exec", "--process", pf.to_str().unwrap(), &id]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("user.uid: invalid type"),
        "{}",
        stderr(&o)
    );
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn exec_with_a_tty_sends_the_pty_to_the_console_socket() {
    let rt = Runtime::new();
    let (b, id) = sleeper(&rt, "exectty");
    let dir = tempfile::Builder::new()
        .prefix("isc-console-")
        .tempdir()
        .unwrap();
    let sock = dir.path().join("c.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let pidfile = b.path.join("tty.pid");
    rt.ok(&[
        "exec",
        "-d",
        "-t",
        "--console-socket",
        sock.to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "tty; [ -t 0 ] && echo stdin-is-a-tty",
    ]);
    let (master, name) = initscope_runtime::console::recv_console_fd(&listener).unwrap();
    assert_eq!(name, "/dev/ptmx");
    let mut f = std::fs::File::from(master);
    let mut text = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&text).replace('\r', "");
    assert!(text.starts_with("/dev/pts/"), "{text}");
    assert!(text.contains("stdin-is-a-tty"), "{text}");
    // -d -t without a socket is refused (no process is left half-made).
    let o = rt.run(&["exec", "-d", "-t", &id, "true"]);
    assert!(stderr(&o).contains("--console-socket"), "{}", stderr(&o));
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path, dir.path()]);
}

#[test]
fn foreground_exec_forwards_signals() {
    let rt = Runtime::new();
    let (b, id) = sleeper(&rt, "execsig");
    let mut cmd = rt.command(&[
        "exec",
        &id,
        "sh",
        "-c",
        "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done",
    ]);
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut ready = [0u8; 6];
    out.read_exact(&mut ready).unwrap();
    assert_eq!(&ready, b"ready\n");
    // SAFETY: kill with plain integers.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "exec did not return after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(
        status.code(),
        Some(42),
        "the process trapped the forwarded TERM"
    );
    let ev = rt.state_events(&id);
    assert!(ev
        .iter()
        .any(|e| e["kind"] == "signal" && e["stage"] == "exec" && e["signal"] == "SIGTERM"));
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn exec_refuses_what_it_cannot_do_and_leaves_nothing() {
    let rt = Runtime::new();
    let (b, id) = sleeper(&rt, "execbad");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["exec", &id, "nosuchprog"],
            "exec failed: exec \"nosuchprog\": executable file not found in $PATH",
        ),
        (vec!["exec", &id], "no command given"),
        (vec!["exec", "no-such-container", "true"], "does not exist"),
        (
            vec!["exec", "--cwd", "/proc/self/fd/3", &id, "true"],
            "CVE-2024-21626",
        ),
        (
            vec!["exec", "--cwd", "/nonexistent", &id, "true"],
            "chdir to process.cwd /nonexistent",
        ),
        (
            vec!["exec", "--cap", "CAP_BOGUS", &id, "true"],
            "unknown capability CAP_BOGUS",
        ),
        (vec!["exec", "-u", "root", &id, "true"], "is not a number"),
    ];
    for (args, want) in cases {
        let o = rt.run(&args);
        assert!(!o.status.success(), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    }
    // The container is untouched.
    assert_eq!(rt.state(&id).unwrap()["status"], "running");
    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    let o = rt.run(&["exec", &id, "true"]);
    assert!(stderr(&o).contains("is stopped"), "{}", stderr(&o));
    rt.ok(&["delete", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn exec_into_a_created_container() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "1000"]);
    let id = rt.id("execcreated");
    rt.ok(&["create", "-b", b.path_str(), &id]);
    let out = rt.ok(&["exec", &id, "sh", "-c", "cat /proc/1/comm"]);
    assert_eq!(out.trim(), "isc:[2:INIT]", "init still waits for start");
    assert_eq!(rt.state(&id).unwrap()["status"], "created");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn a_foreground_terminal_is_proxied_without_a_console_socket() {
    let rt = Runtime::new();
    // run: the config asks for a terminal and nobody passes a socket (runc's `run`).
    let b = Bundle::busybox(&["sh", "-c", "tty"]);
    b.edit(|c| c["process"]["terminal"] = true.into());
    let id = rt.id("runtty");
    let o = rt.run(&["run", "-b", b.path_str(), &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).replace('\r', "").trim(), "/dev/pts/0");
    let o = rt.run(&["run", "-d", "-b", b.path_str(), &rt.id("runtty")]);
    assert!(
        stderr(&o).contains("--console-socket"),
        "detached needs one: {}",
        stderr(&o)
    );

    // exec -t: our stdin typed into the pty, its output on our stdout, its status.
    let (b2, id) = sleeper(&rt, "exectty");
    let mut cmd = rt.command(&["exec", "-t", &id, "sh"]);
    cmd.stdin(std::process::Stdio::piped());
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"echo hi-$((1+2))\nexit 5\n").unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "exec -t hung");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(status.code(), Some(5), "{out}");
    assert!(out.contains("hi-3"), "{out}");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path, &b2.path]);
}
