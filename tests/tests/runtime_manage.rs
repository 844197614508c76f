//! Commands on a live container through the CLI: pause → paused (state, list, the kernel's
//! freezer) → resume; ps (runc's table and JSON); update (flags and `--resources -`);
//! kill --all; delete --force of a paused container; events --stats.

use std::io::Write;
use std::process::Stdio;

use initscope_tests::{
    find, is_root, output_with_timeout, stderr, Bundle, Runtime, COMMAND_TIMEOUT,
};
use serde_json::Value;

fn sleeper(rt: &Runtime, prefix: &str) -> (Bundle, String, i64) {
    let b = Bundle::busybox(&["sleep", "1000"]);
    let id = rt.id(prefix);
    rt.ok(&["run", "-d", "-b", b.path_str(), &id]);
    let pid = rt.wait_status(&id, "running")["pid"].as_i64().unwrap();
    (b, id, pid)
}

fn cg_file(ctrl: &str, id: &str, file: &str) -> String {
    std::fs::read_to_string(format!("/sys/fs/cgroup/{ctrl}/initscope/{id}/{file}"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn pause_makes_the_container_paused_and_resume_brings_it_back() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let rt = Runtime::new();
    let (b, id, pid) = sleeper(&rt, "pause");
    rt.ok(&["pause", &id]);
    assert_eq!(rt.state(&id).unwrap()["status"], "paused");
    let list: Value = serde_json::from_str(&rt.ok(&["list", "-f", "json"])).unwrap();
    assert_eq!(list[0]["status"], "paused");
    assert_eq!(cg_file("freezer", &id, "freezer.state"), "FROZEN");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    assert!(
        stat.contains(") D "),
        "a frozen task sleeps in D on v1: {stat}"
    );
    // Pausing twice, resuming a running one: refused, naming the status.
    let o = rt.run(&["pause", &id]);
    assert!(stderr(&o).contains("is paused"), "{}", stderr(&o));
    let o = rt.run(&["exec", &id, "true"]);
    assert!(stderr(&o).contains("--ignore-paused"), "{}", stderr(&o));

    rt.ok(&["resume", &id]);
    assert_eq!(rt.state(&id).unwrap()["status"], "running");
    assert_eq!(cg_file("freezer", &id, "freezer.state"), "THAWED");
    let o = rt.run(&["resume", &id]);
    assert!(
        stderr(&o).contains("only a paused container"),
        "{}",
        stderr(&o)
    );
    let ev = rt.state_events(&id);
    let states: Vec<&str> = ev
        .iter()
        .filter(|e| e["kind"] == "state" && e["stage"] == "manage")
        .filter_map(|e| e["status"].as_str())
        .collect();
    assert_eq!(states, vec!["paused", "running"]);

    // delete --force of a paused container thaws and kills it.
    rt.ok(&["pause", &id]);
    rt.ok(&["delete", "--force", &id]);
    assert!(rt.state(&id).is_none());
    rt.assert_clean(&[&b.path]);
}

#[test]
fn ps_lists_the_containers_processes_like_runc() {
    let rt = Runtime::new();
    let (b, id, pid) = sleeper(&rt, "ps");
    let pf = b.path.join("e.pid");
    rt.ok(&[
        "exec",
        "-d",
        "--pid-file",
        pf.to_str().unwrap(),
        &id,
        "sleep",
        "999",
    ]);
    let exec_pid: i64 = std::fs::read_to_string(&pf).unwrap().parse().unwrap();
    let json: Vec<i64> = serde_json::from_str(&rt.ok(&["ps", "--format", "json", &id])).unwrap();
    let mut want = vec![pid, exec_pid];
    want.sort();
    let mut got = json.clone();
    got.sort();
    assert_eq!(got, want);

    let table = rt.ok(&["ps", &id]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].contains("PID") && lines[0].contains("CMD"),
        "{table}"
    );
    assert_eq!(lines.len(), 3, "header + 2 processes: {table}");
    assert!(
        table.contains("sleep 1000") && table.contains("sleep 999"),
        "{table}"
    );
    let table = rt.ok(&["ps", &id, "--", "-o", "pid,comm"]);
    assert_eq!(table.lines().next().unwrap().trim(), "PID COMMAND");
    assert!(
        table
            .lines()
            .skip(1)
            .all(|l| l.trim_end().ends_with("sleep")),
        "{table}"
    );
    let o = rt.run(&["ps", &id, "--", "-o", "comm"]);
    assert!(stderr(&o).contains("no PID column"), "{}", stderr(&o));

    // kill --all reaches the exec'd process too.
    rt.ok(&["kill", "--all", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn update_rewrites_the_cgroup_files() {
    let rt = Runtime::new();
    let (b, id, _) = sleeper(&rt, "update");
    rt.ok(&[
        "update",
        "--memory",
        "64m",
        "--pids-limit",
        "50",
        "--cpu-share",
        "512",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        &id,
    ]);
    assert_eq!(cg_file("memory", &id, "memory.limit_in_bytes"), "67108864");
    assert_eq!(cg_file("pids", &id, "pids.max"), "50");
    assert_eq!(cg_file("cpu", &id, "cpu.shares"), "512");
    assert_eq!(cg_file("cpu", &id, "cpu.cfs_quota_us"), "20000");

    // containerd's way: the JSON on stdin.
    let mut cmd = rt.command(&["update", "--resources", "-", &id]);
    cmd.stdin(Stdio::piped());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"memory": {"limit": 33554432}, "pids": {"limit": 20}}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cg_file("memory", &id, "memory.limit_in_bytes"), "33554432");
    assert_eq!(cg_file("pids", &id, "pids.max"), "20");
    assert_eq!(
        cg_file("cpu", &id, "cpu.shares"),
        "512",
        "untouched fields stay"
    );
    // The saved config follows, as runc's does: both updates merged into it.
    let saved: Value =
        serde_json::from_slice(&std::fs::read(rt.root.join(&id).join("state.json")).unwrap())
            .unwrap();
    let res = &saved["config"]["linux"]["resources"];
    assert_eq!(res["memory"]["limit"], 33554432, "{res}");
    assert_eq!(res["pids"]["limit"], 20, "{res}");
    assert_eq!(res["cpu"]["shares"], 512, "{res}");
    assert_eq!(res["cpu"]["quota"], 20000, "{res}");
    let ev = rt.state_events(&id);
    let sets: Vec<&Value> = find(&ev, "cgroup_set")
        .into_iter()
        .filter(|e| e["stage"] == "manage")
        .collect();
    assert!(sets.iter().any(|e| e["value"] == "33554432"), "{sets:?}");

    // Bad values are named and change nothing.
    let rf = b.path.join("r.json");
    std::fs::write(&rf, r#"{"memory": {"limit": "lots"}}"#).unwrap();
    let o = rt.run(&["update", "-r", rf.to_str().unwrap(), &id]);
    assert!(
        stderr(&o).contains("memory.limit: invalid type"),
        "{}",
        stderr(&o)
    );
    let o = rt.run(&["update", "--memory", "5x", &id]);
    assert!(stderr(&o).contains("--memory \"5x\""), "{}", stderr(&o));
    let o = rt.run(&["update", "--cpuset-cpus", "0-99", &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cpuset.cpus"), "{}", stderr(&o));
    assert_eq!(cg_file("memory", &id, "memory.limit_in_bytes"), "33554432");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn events_stats_prints_runc_style_json() {
    let rt = Runtime::new();
    let (b, id, _) = sleeper(&rt, "stats");
    let line = rt.ok(&["events", "--stats", &id]);
    let v: Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["data"]["pids"]["current"], 1);
    assert!(v["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
    // The streaming form ends when the container stops.
    let mut cmd = rt.command(&["events", "--interval", "100ms", &id]);
    cmd.stdin(Stdio::null());
    let killer = {
        let bin = rt.bin.clone();
        let root = rt.root.clone();
        let id = id.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(400));
            let mut k = std::process::Command::new(bin);
            k.arg("--root").arg(root).args(["kill", &id, "KILL"]);
            output_with_timeout(k, COMMAND_TIMEOUT)
        })
    };
    let out = output_with_timeout(cmd, COMMAND_TIMEOUT);
    assert!(killer.join().unwrap().status.success());
    assert!(out.status.success());
    let n = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(n >= 2, "{n} stats lines");
    rt.ok(&["delete", &id]);
    rt.assert_clean(&[&b.path]);
}
