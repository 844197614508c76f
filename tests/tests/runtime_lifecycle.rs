//! The OCI lifecycle through the CLI: create → state → start → state → kill → delete,
//! and what each command refuses to do in the wrong state.

use initscope_tests::{is_root, stderr, Bundle, Runtime};

#[test]
fn create_start_kill_delete() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    let id = rt.id("life");
    let pidfile = b.path.join("init.pid");
    rt.ok(&[
        "create",
        "--bundle",
        b.path_str(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);

    let st = rt.state(&id).expect("state after create");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["bundle"], b.path_str());
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), pid.to_string());
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(
        comm.trim(),
        "isc:[2:INIT]",
        "init waits on exec.fifo under its stage name"
    );

    let list = rt.ok(&["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "created");

    let out = rt.run(&["delete", &id]);
    assert!(
        !out.status.success(),
        "delete of a created container needs --force"
    );
    assert!(stderr(&out).contains("is created"), "{}", stderr(&out));

    rt.ok(&["start", &id]);
    let st = rt.wait_status(&id, "running");
    assert_eq!(
        st["pid"].as_i64().unwrap(),
        pid,
        "same init, now the user process"
    );
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep");

    let out = rt.run(&["start", &id]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("only a created container can be started"),
        "{}",
        stderr(&out)
    );
    let out = rt.run(&["delete", &id]);
    assert!(
        !out.status.success(),
        "delete of a running container needs --force"
    );

    rt.ok(&["kill", &id, "KILL"]);
    let st = rt.wait_status(&id, "stopped");
    assert_eq!(st["pid"], 0);
    let out = rt.run(&["kill", &id, "9"]);
    assert!(
        !out.status.success(),
        "a stopped container cannot be signalled"
    );

    rt.ok(&["delete", &id]);
    let out = rt.run(&["state", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    rt.assert_clean(&[&b.path]);
}

#[test]
fn a_process_that_exits_is_stopped_without_anyone_telling_the_runtime() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    let id = rt.id("exits");
    rt.ok(&["create", "-b", b.path_str(), &id]);
    rt.ok(&["start", &id]);
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn delete_force_kills_a_running_container_and_kill_takes_runc_spellings() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "trap 'exit 0' USR1; while true; do sleep 0.05; done",
    ]);
    let id = rt.id("force");
    rt.ok(&["run", "--detach", "-b", b.path_str(), &id]);
    rt.wait_status(&id, "running");
    for sig in ["SIGCONT", "CONT", "18", "cont"] {
        rt.ok(&["kill", &id, sig]);
    }
    let out = rt.run(&["kill", &id, "NOTASIGNAL"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown signal"), "{}", stderr(&out));
    rt.ok(&["delete", "-f", &id]);
    assert!(rt.state(&id).is_none());
    rt.assert_clean(&[&b.path]);
}

#[test]
fn kill_defaults_to_term() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.05; done",
    ]);
    let id = rt.id("term");
    rt.ok(&["run", "-d", "-b", b.path_str(), &id]);
    rt.wait_status(&id, "running");
    rt.ok(&["kill", &id]);
    rt.wait_status(&id, "stopped");
    let sig: Vec<_> = rt
        .events_of(&id)
        .into_iter()
        .filter(|e| e["kind"] == "signal")
        .collect();
    assert_eq!(sig[0]["signal"], "SIGTERM");
    rt.ok(&["delete", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn kill_all_signals_every_process_of_the_container() {
    let rt = Runtime::new();
    // No pid namespace: the background sleeps would not die with their shell on their own.
    let b = Bundle::busybox(&["sh", "-c", "sleep 100 & sleep 100 & wait"]);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid");
    });
    let id = rt.id("killall");
    rt.ok(&["run", "-d", "-b", b.path_str(), &id]);
    rt.wait_status(&id, "running");
    let procs = |id: &str| -> Vec<String> {
        std::fs::read_to_string(format!("/sys/fs/cgroup/pids/initscope/{id}/cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while procs(&id).len() < 3 {
        assert!(std::time::Instant::now() < deadline, "{:?}", procs(&id));
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    rt.ok(&["kill", "--all", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !procs(&id).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "left: {:?}",
            procs(&id)
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let signalled = rt
        .events_of(&id)
        .into_iter()
        .filter(|e| e["kind"] == "signal" && e["signal"] == "SIGKILL")
        .count();
    assert_eq!(signalled, 3, "one signal event per process");
    rt.ok(&["delete", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn delete_of_a_stopped_container_kills_what_its_init_left_behind() {
    let rt = Runtime::new();
    // No pid namespace: the background sleep outlives the shell, in the cgroup.
    let b = Bundle::busybox(&["sh", "-c", "sleep 100 & exit 0"]);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid");
    });
    let id = rt.id("orphan");
    rt.ok(&["run", "-d", "-b", b.path_str(), &id]);
    rt.wait_status(&id, "stopped");
    let procs = std::fs::read_to_string(format!("/sys/fs/cgroup/pids/initscope/{id}/cgroup.procs"))
        .unwrap();
    assert_eq!(
        procs.lines().count(),
        1,
        "the sleep is still there: {procs}"
    );
    rt.ok(&["delete", &id]);
    assert!(initscope_tests::cgroup_dirs(&id).is_empty());
    let pid: i32 = procs.trim().parse().unwrap();
    initscope_tests::reap_if_ours(pid);
    assert!(initscope_tests::lingering(pid, std::slice::from_ref(&id)).is_none());
    rt.assert_clean(&[&b.path]);
}
