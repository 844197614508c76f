//! The runc conventions clients rely on (issue 5, item 6), checked command by command:
//! with `--log F --log-format json` every error is the last `{"level":"error",...}` line
//! of F (conmon and containerd's shim read it from there, not from stderr); signals by
//! number and by name; `delete` then `delete --force`; `kill --all`; `--systemd-cgroup`;
//! `--version`; the `state` fields containerd parses.

use std::path::Path;
use std::time::{Duration, Instant};

use initscope_tests::{is_root, stderr, Bundle, Runtime};
use serde_json::{json, Value};

/// The last line of the log at `path`, parsed.
fn last_log_line(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let last = text.lines().last().unwrap_or_else(|| panic!("log empty"));
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {last:?}"))
}

/// Run `args` with `--log <log> --log-format json` placed as the clients place them,
/// expect failure, and check the log's last line is the error, naming every `needle`.
fn fails_logged(rt: &Runtime, log: &Path, args: &[&str], needles: &[&str]) {
    let mut full = vec!["--log", log.to_str().unwrap(), "--log-format", "json"];
    full.extend_from_slice(args);
    let before = std::fs::read_to_string(log).unwrap_or_default().len();
    let out = rt.run(&full);
    assert!(!out.status.success(), "{args:?} succeeded");
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(text.len() > before, "{args:?}: nothing logged");
    let last = last_log_line(log);
    assert_eq!(last["level"], "error", "{args:?}: {last}");
    assert!(last["time"].is_string(), "{last}");
    let msg = last["msg"].as_str().unwrap();
    assert!(!msg.contains('\n'), "{args:?}: one line: {msg:?}");
    for n in needles {
        assert!(msg.contains(n), "{args:?}: log msg {msg:?} lacks {n:?}");
    }
    // The same error reaches stderr for a person at a terminal.
    assert!(
        stderr(&out).contains(msg.split(" (see").next().unwrap()),
        "{args:?}: stderr {:?} vs log {msg:?}",
        stderr(&out)
    );
}

/// Wait until `path` exists and holds something.
fn wait_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if !s.is_empty() {
                return s;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_commands_error_is_the_last_json_line_of_the_log() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    let log = b.path.join("log.json");
    let ghost = rt.id("ghost");
    // Unknown container, for every command that takes one.
    for cmd in [
        vec!["start", &ghost],
        vec!["state", &ghost],
        vec!["kill", &ghost, "9"],
        vec!["delete", &ghost],
        vec!["exec", &ghost, "true"],
        vec!["pause", &ghost],
        vec!["resume", &ghost],
        vec!["ps", "--format", "json", &ghost],
        vec!["update", "--pids-limit", "10", &ghost],
    ] {
        fails_logged(&rt, &log, &cmd, &[&ghost, "does not exist"]);
    }
    // The command line itself (clap refuses it before any command runs).
    fails_logged(&rt, &log, &["no-such-command", "x"], &["no-such-command"]);
    fails_logged(
        &rt,
        &log,
        &["create", "--bogus-flag", "x"],
        &["--bogus-flag"],
    );
    fails_logged(&rt, &log, &["kill"], &["required"]);
    // Bad bundle / config.
    let nob = rt.id("nob");
    fails_logged(
        &rt,
        &log,
        &["create", "--bundle", "/nonexistent/bundle", &nob],
        &["/nonexistent/bundle"],
    );
    fails_logged(
        &rt,
        &log,
        &["run", "--bundle", "/nonexistent/bundle", &nob],
        &["/nonexistent/bundle"],
    );
    fails_logged(&rt, &log, &["create", "../x"], &["invalid container id"]);
    // A stage failure: init cannot find the program.
    let nf = Bundle::busybox(&["no-such-program"]);
    let nfid = rt.id("nf");
    fails_logged(
        &rt,
        &log,
        &["create", "--bundle", nf.path_str(), &nfid],
        &["executable file not found in $PATH"],
    );
    // Wrong status, existing id, bad signal.
    let id = rt.id("conv");
    rt.ok(&["create", "--bundle", b.path_str(), &id]);
    fails_logged(
        &rt,
        &log,
        &["create", "--bundle", b.path_str(), &id],
        &[&id, "already exists"],
    );
    fails_logged(&rt, &log, &["delete", &id], &[&id, "is created"]);
    fails_logged(&rt, &log, &["kill", &id, "NOSUCHSIG"], &["unknown signal"]);
    rt.ok(&["start", &id]);
    fails_logged(&rt, &log, &["start", &id], &[&id, "is running"]);
    fails_logged(&rt, &log, &["resume", &id], &[&id, "is running"]);
    fails_logged(
        &rt,
        &log,
        &["exec", &id, "no-such-program"],
        &["executable file not found in $PATH"],
    );
    let process = b.path.join("bad-process.json");
    std::fs::write(&process, "{\"args\": ").unwrap();
    fails_logged(
        &rt,
        &log,
        &["exec", "--process", process.to_str().unwrap(), &id],
        &["bad-process.json"],
    );
    let resources = b.path.join("bad-resources.json");
    std::fs::write(&resources, "not json").unwrap();
    fails_logged(
        &rt,
        &log,
        &["update", "--resources", resources.to_str().unwrap(), &id],
        &["bad-resources.json"],
    );
    fails_logged(&rt, &log, &["ps", "--format", "yaml", &id], &["yaml"]);
    rt.ok(&["pause", &id]);
    fails_logged(&rt, &log, &["pause", &id], &[&id, "is paused"]);
    rt.ok(&["resume", &id]);
    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    fails_logged(&rt, &log, &["exec", &id, "true"], &[&id, "is stopped"]);
    fails_logged(&rt, &log, &["pause", &id], &[&id, "is stopped"]);
    // runc's words, which containerd's shim reads as "process already finished".
    fails_logged(
        &rt,
        &log,
        &["kill", &id, "TERM"],
        &[&id, "is stopped", "container not running"],
    );
    // --all of a stopped container: whatever is left in its cgroup (here nothing).
    rt.ok(&["kill", "--all", &id, "KILL"]);
    rt.ok(&["delete", &id]);
    // spec refuses to overwrite; list with a root that is a file.
    fails_logged(
        &rt,
        &log,
        &["spec", "--bundle", b.path_str()],
        &["config.json exists"],
    );
    // A --root that is a file: list cannot read it.
    let mut cmd = std::process::Command::new(&rt.bin);
    cmd.arg("--root")
        .arg(&log)
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "list"]);
    let out = initscope_tests::output_with_timeout(cmd, initscope_tests::COMMAND_TIMEOUT);
    assert!(!out.status.success(), "list under a file root succeeded");
    assert_eq!(last_log_line(&log)["level"], "error");
    rt.assert_clean(&[&b.path, &nf.path]);
}

#[test]
fn debug_lines_come_before_the_error() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let ghost = rt.id("dbg");
    fails_logged(
        &rt,
        &log,
        &["--debug", "state", &ghost],
        &["does not exist"],
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["level"], "debug");
    assert!(lines[0]["msg"].as_str().unwrap().contains("state"));
}

/// A container whose shell records each signal it gets in a file of the (writable)
/// rootfs, then exits on TERM.
fn signal_recorder(rt: &Runtime) -> (Bundle, String) {
    let script = "for s in USR1 USR2 HUP; do trap \"echo $s >> /signals\" $s; done; \
                  trap 'echo TERM >> /signals; exit 0' TERM; echo ready > /ready; \
                  while :; do sleep 0.05; done";
    let b = Bundle::busybox(&["sh", "-c", script]);
    b.edit(|c| c["root"]["readonly"] = json!(false));
    let id = rt.id("sig");
    rt.ok(&["create", "--bundle", b.path_str(), &id]);
    rt.ok(&["start", &id]);
    wait_file(&b.path.join("rootfs/ready"));
    (b, id)
}

#[test]
fn signals_by_number_and_by_name() {
    let rt = Runtime::new();
    let (b, id) = signal_recorder(&rt);
    let signals = b.path.join("rootfs/signals");
    let expect = |want: &[&str]| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = std::fs::read_to_string(&signals).unwrap_or_default();
            let got: Vec<&str> = got.lines().collect();
            if got == want {
                return;
            }
            assert!(Instant::now() < deadline, "signals {got:?}, want {want:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // podman passes numbers (kill -s USR1 → 10), containerd too; people type names.
    rt.ok(&["kill", &id, "10"]);
    expect(&["USR1"]);
    rt.ok(&["kill", &id, "USR2"]);
    expect(&["USR1", "USR2"]);
    rt.ok(&["kill", &id, "SIGHUP"]);
    expect(&["USR1", "USR2", "HUP"]);
    rt.ok(&["kill", &id, "sigusr1"]);
    expect(&["USR1", "USR2", "HUP", "USR1"]);
    // No signal: TERM, as runc.
    rt.ok(&["kill", &id]);
    expect(&["USR1", "USR2", "HUP", "USR1", "TERM"]);
    rt.wait_status(&id, "stopped");
    // containerd's shim: delete, then delete --force; both succeed.
    rt.ok(&["delete", &id]);
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn kill_all_reaches_every_process_without_a_pid_namespace() {
    let rt = Runtime::new();
    // Without a pid namespace killing init does not take its children along: --all must.
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "sleep 1000 & sleep 1000 & echo ready > /ready; wait",
    ]);
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid");
    });
    let id = rt.id("all");
    rt.ok(&["create", "--bundle", b.path_str(), &id]);
    rt.ok(&["start", &id]);
    wait_file(&b.path.join("rootfs/ready"));
    let cg = initscope_tests::cgroup_dirs(&id);
    let procs = |dir: &Path| -> Vec<String> {
        std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    };
    let pids_dir = cg
        .iter()
        .find(|d| d.starts_with("/sys/fs/cgroup/pids"))
        .or(cg.first())
        .expect("the container has a cgroup")
        .clone();
    assert_eq!(procs(&pids_dir).len(), 3, "sh and two sleeps");
    rt.ok(&["kill", "--all", &id, "9"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !procs(&pids_dir).is_empty() {
        assert!(Instant::now() < deadline, "left: {:?}", procs(&pids_dir));
        std::thread::sleep(Duration::from_millis(20));
    }
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn delete_force_is_idempotent_and_removes_a_running_container() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    let id = rt.id("dforce");
    rt.ok(&["create", "--bundle", b.path_str(), &id]);
    rt.ok(&["start", &id]);
    rt.ok(&["delete", "--force", &id]);
    assert!(rt.state(&id).is_none());
    // podman's `delete --force` after a failed create or a second cleanup: fine.
    rt.ok(&["delete", "--force", &id]);
    rt.ok(&["delete", "-f", &id]);
    let out = rt.run(&["delete", &id]);
    assert!(!out.status.success(), "plain delete of nothing must fail");
    rt.assert_clean(&[&b.path]);
}

#[test]
fn systemd_cgroup_flag_is_accepted_and_cgroupfs_used() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    let id = rt.id("sd");
    let slice = format!("isc-{}.slice", std::process::id());
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("{slice}:isctest:{id}")));
    rt.ok(&["--systemd-cgroup", "create", "--bundle", b.path_str(), &id]);
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("/{slice}/isctest-{id}.scope");
    assert!(cg.contains(&want), "{want} not in {cg}");
    rt.ok(&["--systemd-cgroup", "delete", "--force", &id]);
    // The slice was made for this test by the create above: remove it where it exists.
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = std::fs::remove_dir(h.path().join(&slice));
    }
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        assert!(!h
            .path()
            .join(&slice)
            .join(format!("isctest-{id}.scope"))
            .exists());
    }
    rt.assert_clean(&[&b.path]);
}

#[test]
fn version_and_state_fields_clients_parse() {
    let rt = Runtime::new();
    let v = rt.ok(&["--version"]);
    let first = v.lines().next().unwrap();
    // runc: "runc version 1.1.5"; podman info shows it, go-runc splits on "version ".
    let (name, ver) = first.split_once(" version ").expect("NAME version X");
    assert_eq!(name, "initscope-runtime");
    assert!(ver.split('.').count() >= 3, "{first}");
    assert!(v.lines().any(|l| l.starts_with("spec: 1.")), "{v}");

    let b = Bundle::busybox(&["sleep", "100"]);
    b.edit(|c| c["annotations"] = json!({"org.example.k": "v"}));
    let id = rt.id("st");
    rt.ok(&["create", "--bundle", b.path_str(), &id]);
    let st = rt.state(&id).unwrap();
    // go-runc's State: ociVersion, id, pid, status, bundle, rootfs, created, annotations.
    for k in ["ociVersion", "id", "status", "bundle", "rootfs", "created"] {
        assert!(st[k].is_string(), "{k} in {st}");
    }
    assert!(st["pid"].as_i64().unwrap() > 0);
    assert_eq!(st["annotations"]["org.example.k"], "v");
    assert_eq!(st["rootfs"], format!("{}/rootfs", b.path_str()));
    // created is RFC 3339 in UTC, as Go's time.Time unmarshals it.
    let created = st["created"].as_str().unwrap();
    assert!(
        created.len() >= 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "{created}"
    );
    let list: Value = serde_json::from_str(&rt.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

/// containerd runs the runtime with cwd = bundle and relative-looking paths nowhere; conmon
/// with podman's cwd. A relative --bundle and --pid-file are resolved against the cwd.
#[test]
fn relative_bundle_and_pid_file_resolve_against_the_cwd() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    let id = rt.id("cwd");
    let mut cmd = rt.command(&["create", "--bundle", ".", "--pid-file", "init.pid", &id]);
    cmd.current_dir(&b.path);
    let out = initscope_tests::output_with_timeout(cmd, initscope_tests::COMMAND_TIMEOUT);
    assert!(out.status.success(), "{}", stderr(&out));
    let st = rt.state(&id).unwrap();
    assert_eq!(st["bundle"], b.path_str(), "the bundle is stored absolute");
    let pid = std::fs::read_to_string(b.path.join("init.pid")).unwrap();
    assert_eq!(pid, st["pid"].to_string());
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

/// conmon and containerd's shim reap the container's process the moment it exits. `start`
/// releases init through the fifo; a process as short as `true` may be gone, reaped, before
/// `start` looks at it — which must still be a successful start.
#[test]
fn start_succeeds_when_the_process_exits_and_is_reaped_at_once() {
    use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
    use std::sync::Arc;
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    let target = Arc::new(AtomicI32::new(0));
    let done = Arc::new(AtomicBool::new(false));
    // Init is our child (create's stages are CLONE_PARENT): reap it as a client would.
    let reaper = {
        let (target, done) = (target.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let pid = target.load(Ordering::Relaxed);
                if pid > 0 {
                    let mut st = 0;
                    // SAFETY: waitpid on one pid, writing into our local.
                    if unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG | libc::__WALL) } == pid {
                        target.store(0, Ordering::Relaxed);
                    }
                }
                std::hint::spin_loop();
            }
        })
    };
    for _ in 0..20 {
        let id = rt.id("short");
        rt.ok(&["create", "--bundle", b.path_str(), &id]);
        let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap() as i32;
        target.store(pid, Ordering::Relaxed);
        rt.ok(&["start", &id]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while target.load(Ordering::Relaxed) != 0 {
            assert!(Instant::now() < deadline, "init {pid} never exited");
            std::thread::sleep(Duration::from_millis(1));
        }
        rt.ok(&["delete", &id]);
    }
    done.store(true, Ordering::Relaxed);
    reaper.join().unwrap();
    rt.assert_clean(&[&b.path]);
}
