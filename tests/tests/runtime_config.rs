//! The rest of the config through the CLI: seccomp (errno, both load orders, a notify
//! agent), the console socket, time-namespace offsets, domainname, annotations, a config
//! without `process`, unknown capabilities, device rules in config order.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;

use initscope_runtime::console::recv_console_fd;
use initscope_tests::{find, is_root, stderr, stdout, Bundle, Runtime};
use serde_json::json;

fn deny_mkdir() -> serde_json::Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30}]
    })
}

#[test]
fn seccomp_applies_with_and_without_no_new_privileges() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let rt = Runtime::new();
    for nnp in [true, false] {
        let b = Bundle::busybox(&["sh", "-c", "mkdir /tmp/x; echo rc=$?"]);
        b.edit(|c| {
            c["linux"]["seccomp"] = deny_mkdir();
            c["process"]["noNewPrivileges"] = nnp.into();
        });
        let id = rt.id("seccomp");
        let o = rt.run(&["run", "-b", b.path_str(), &id]);
        assert!(o.status.success(), "nnp={nnp}: {}", stderr(&o));
        assert_eq!(stdout(&o).trim(), "rc=1", "nnp={nnp}");
        assert!(
            stderr(&o).contains("Read-only file system"),
            "errnoRet 30 is EROFS: {}",
            stderr(&o)
        );
        let ev = rt.events_of(&id);
        let sc = find(&ev, "seccomp");
        assert_eq!(sc.len(), 1);
        assert_eq!(sc[0]["stage"], "init");
        assert_eq!(sc[0]["default_action"], "SCMP_ACT_ALLOW");
        assert_eq!(sc[0]["syscalls"], 2);
        // With noNewPrivileges it is loaded after no_new_privs; without it, before the
        // capabilities are dropped (it needs CAP_SYS_ADMIN then).
        let at = |k: &str| ev.iter().position(|e| e["kind"] == k).unwrap();
        if nnp {
            assert!(at("no_new_privs") < at("seccomp"));
        } else {
            assert!(at("seccomp") < at("caps"));
        }
        rt.assert_clean(&[&b.path]);
    }
}

#[test]
fn a_seccomp_notify_agent_gets_the_fd_and_the_state() {
    let rt = Runtime::new();
    let dir = tempfile::Builder::new()
        .prefix("isc-agent-")
        .tempdir()
        .unwrap();
    let sock = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (fd, data) = initscope_runtime::fdpass::recv_fd(&conn).unwrap();
        let st: serde_json::Value = serde_json::from_slice(&data).unwrap();
        // Answer the container's first mkdir with EDQUOT, for the kernel.
        let req = libseccomp::ScmpNotifReq::receive(fd.as_raw_fd()).unwrap();
        libseccomp::ScmpNotifResp::new_error(
            req.id,
            -libc::EDQUOT,
            libseccomp::ScmpNotifRespFlags::empty(),
        )
        .respond(fd.as_raw_fd())
        .unwrap();
        (st, req.pid)
    });
    let b = Bundle::busybox(&["sh", "-c", "mkdir /tmp/x; echo rc=$?"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "listenerMetadata": "meta-42",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let id = rt.id("notify");
    let o = rt.run(&["run", "-b", b.path_str(), &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "rc=1");
    assert!(
        stderr(&o).contains("quota"),
        "EDQUOT from the agent: {}",
        stderr(&o)
    );
    let (st, notified_pid) = agent.join().unwrap();
    assert_eq!(st["fds"], json!(["seccompFd"]));
    assert_eq!(st["metadata"], "meta-42");
    assert_eq!(st["state"]["id"], id.as_str());
    assert_eq!(st["state"]["status"], "creating");
    assert_eq!(st["pid"], st["state"]["pid"]);
    let ev = rt.events_of(&id);
    let init = ev
        .iter()
        .find(|e| e["stage"] == "init" && e["kind"] == "stage_start")
        .unwrap();
    assert_eq!(st["pid"], init["pid"], "the agent is told init's host pid");
    assert!(notified_pid > 0);
    let msgs: Vec<&str> = ev
        .iter()
        .filter(|e| e["kind"] == "sync_send")
        .filter_map(|e| e["msg"].as_str())
        .collect();
    assert!(
        msgs.contains(&"procSeccomp") && msgs.contains(&"procSeccompDone"),
        "{msgs:?}"
    );
    rt.assert_clean(&[&b.path, dir.path()]);
}

#[test]
fn a_bad_seccomp_profile_fails_create_naming_the_field() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}]})
    });
    let id = rt.id("badsc");
    let o = rt.run(&["create", "-b", b.path_str(), &id]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("linux.seccomp.syscalls[0].action"),
        "{}",
        stderr(&o)
    );
    rt.assert_clean(&[&b.path]);
}

#[test]
fn the_terminal_goes_to_the_console_socket() {
    let rt = Runtime::new();
    let dir = tempfile::Builder::new()
        .prefix("isc-console-")
        .tempdir()
        .unwrap();
    let sock = dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let b = Bundle::busybox(&["sh", "-c", "tty; stty size; ls -l /dev/console"]);
    b.edit(|c| {
        c["process"]["terminal"] = true.into();
        c["process"]["consoleSize"] = json!({"height": 40, "width": 120});
    });
    let id = rt.id("tty");
    rt.ok(&[
        "create",
        "-b",
        b.path_str(),
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
    ]);
    // The master was queued on the socket during create.
    let (master, name) = recv_console_fd(&listener).unwrap();
    assert_eq!(name, "/dev/ptmx");
    rt.ok(&["start", &id]);
    let mut f = std::fs::File::from(master);
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    // EIO once the slave's last holder exits.
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&text).replace('\r', "");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "/dev/pts/0", "{text}");
    assert_eq!(lines[1], "40 120", "{text}");
    assert!(
        lines[2].starts_with("crw"),
        "/dev/console is the pty: {text}"
    );
    let ev = rt.state_events(&id);
    let console = find(&ev, "console");
    assert_eq!(console[0]["pty"], "/dev/pts/0");
    assert_eq!(console[0]["rows"], 40);
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);

    // A terminal without a socket, and a socket without a terminal, are refused.
    let id = rt.id("tty");
    let o = rt.run(&["create", "-b", b.path_str(), &id]);
    assert!(stderr(&o).contains("--console-socket"), "{}", stderr(&o));
    b.edit(|c| c["process"]["terminal"] = false.into());
    let o = rt.run(&[
        "create",
        "-b",
        b.path_str(),
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("terminal is false"), "{}", stderr(&o));
    let o = rt.run(&[
        "create",
        "-b",
        b.path_str(),
        "--console-socket",
        "/nonexistent/c.sock",
        &id,
    ]);
    assert!(!o.status.success());
    rt.assert_clean(&[&b.path, dir.path()]);
}

#[test]
fn time_offsets_shift_the_containers_clocks() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["cat", "/proc/uptime"]);
    let year = 365 * 24 * 3600;
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({
            "boottime": {"secs": year, "nanosecs": 0},
            "monotonic": {"secs": 7200, "nanosecs": 0}
        });
    });
    let id = rt.id("timens");
    let o = rt.run(&["run", "-b", b.path_str(), &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let up: f64 = stdout(&o)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        up >= year as f64 && up < host + year as f64 + 5.0,
        "uptime {up} inside, {host} outside"
    );
    let ev = rt.events_of(&id);
    let msgs: Vec<(String, String)> = ev
        .iter()
        .filter(|e| e["kind"] == "sync_send" && e["msg"].as_str().unwrap().contains("TIMEOFFSETS"))
        .map(|e| {
            (
                e["stage"].as_str().unwrap().into(),
                e["msg"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        msgs,
        vec![
            ("child".to_string(), "SYNC_TIMEOFFSETS_PLS".to_string()),
            ("parent".to_string(), "SYNC_TIMEOFFSETS_ACK".to_string())
        ]
    );
    let w = find(&ev, "time_offsets");
    assert_eq!(
        w[0]["lines"],
        json!([format!("boottime {year} 0"), "monotonic 7200 0"])
    );
    // Written before init was cloned into the namespace.
    let written = ev.iter().position(|e| e["kind"] == "time_offsets").unwrap();
    let cloned = ev
        .iter()
        .position(|e| e["kind"] == "clone" && e["child_stage"] == "init")
        .unwrap();
    assert!(written < cloned);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn domainname_hostname_and_annotations() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "hostname; cat /proc/sys/kernel/domainname; sleep 100",
    ]);
    b.edit(|c| {
        c["hostname"] = "box".into();
        c["domainname"] = "example.org".into();
        c["annotations"] = json!({"a": "1", "b.c/d": "two"});
    });
    let id = rt.id("names");
    let pidfile = b.path.join("p.pid");
    rt.ok(&[
        "run",
        "-d",
        "-b",
        b.path_str(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    let st = rt.wait_status(&id, "running");
    assert_eq!(st["annotations"], json!({"a": "1", "b.c/d": "two"}));
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        st["pid"].to_string()
    );
    // The pid file was renamed into place: no temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(&b.path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    let ev = rt.state_events(&id);
    assert_eq!(find(&ev, "domainname")[0]["domainname"], "example.org");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn a_config_without_process_creates_but_does_not_start() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    b.edit(|c| {
        c.as_object_mut().unwrap().remove("process");
    });
    let id = rt.id("noproc");
    rt.ok(&["create", "-b", b.path_str(), &id]);
    assert_eq!(rt.state(&id).unwrap()["status"], "created");
    let o = rt.run(&["start", &id]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("has no process to start"),
        "{}",
        stderr(&o)
    );
    assert_eq!(rt.state(&id).unwrap()["status"], "created", "still created");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn unknown_capabilities_are_rejected_naming_the_field() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    b.edit(|c| c["process"]["capabilities"]["effective"][0] = "CAP_MAKE_COFFEE".into());
    let id = rt.id("caps");
    let o = rt.run(&["create", "-b", b.path_str(), &id]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.starts_with(
            "initscope-runtime: config.json: process.capabilities.effective[0]: unknown capability \"CAP_MAKE_COFFEE\""
        ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn device_rules_are_written_in_config_order() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    b.edit(|c| {
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
            {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "m"},
        ]);
        c["linux"]["devices"] = json!([
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}
        ]);
    });
    let id = rt.id("devs");
    rt.ok(&["create", "-b", b.path_str(), &id]);
    let ev = rt.state_events(&id);
    let written: Vec<String> = ev
        .iter()
        .filter(|e| e["kind"] == "cgroup_set")
        .filter(|e| {
            e["file"].as_str().unwrap().ends_with("devices.allow")
                || e["file"].as_str().unwrap().ends_with("devices.deny")
        })
        .map(|e| e["value"].as_str().unwrap().to_string())
        .collect();
    let pos = |v: &str| {
        written
            .iter()
            .position(|w| w == v)
            .unwrap_or_else(|| panic!("{v} not in {written:?}"))
    };
    assert!(pos("a *:* rwm") < pos("c 1:5 r"));
    assert!(pos("c 1:5 r") < pos("c 1:3 rw"));
    assert!(pos("c 1:3 rw") < pos("b 7:0 m"));
    // linux.devices get their allow rule too (as runc adds them).
    assert!(written.iter().any(|w| w == "c 10:229 rwm"), "{written:?}");
    let list = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/devices/initscope/{id}/devices.list"
    ))
    .unwrap();
    // The kernel's view (runc's default allow list follows the config's rules).
    assert!(
        list.contains("b 7:0 m\n") && list.contains("c 10:229 rwm\n"),
        "{list}"
    );
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}
