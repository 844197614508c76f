//! initscope-runtime traced by the probe: the kernel's account and the runtime's own
//! events (its `INITSCOPE_EVENTS` file) agree pid for pid — who cloned whom with which
//! flags, who unshared what, init as pid 1 — and line up on one clock.

mod probe_common;

use std::time::Duration;

use initscope_probe::held::Exit;
use initscope_probe::schema::KernelKind;
use initscope_probe::ProbeOptions;
use probe_common::*;
use serde_json::Value;

fn text(e: &Value, k: &str) -> String {
    e[k].as_str().unwrap_or("").to_string()
}

fn num(e: &Value, k: &str) -> Option<i32> {
    e[k].as_i64().map(|n| n as i32)
}

fn names(e: &Value, k: &str) -> Vec<String> {
    e[k].as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn kernel_and_runtime_agree_pid_for_pid() {
    let _g = serial();
    let b = RuncBundle::new(&["/bin/echo", "hello"]);
    let events_file = b.dir.path().join("runtime-events.jsonl");
    let rt = initscope_runtime_bin();
    let cmd = b.run_argv_with(rt.to_str().unwrap()).join(" ");
    let script = format!("INITSCOPE_EVENTS={} exec {cmd}", events_file.display());
    let (kernel, exit, probe) = trace_command(
        &["sh", "-c", &script],
        ProbeOptions::default(),
        Duration::from_secs(30),
    );
    let d = dump(&kernel);
    assert_eq!(exit, Exit::Code(0), "{d}");
    assert_eq!(probe.lost(), 0);
    let log = std::fs::read_to_string(&events_file).expect("the runtime's events file");
    // read as plain JSON: only the fields compared here matter
    let runtime: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    let create = kernel[0].tgid;

    let stage_pid = |stage: &str| -> i32 {
        runtime
            .iter()
            .find(|e| text(e, "stage") == stage && text(e, "kind") == "stage_start")
            .and_then(|e| num(e, "pid"))
            .unwrap_or_else(|| panic!("no stage_start of {stage}:\n{log}"))
    };
    assert_eq!(stage_pid("create"), create, "create is the traced command");
    let (parent, child, init) = (stage_pid("parent"), stage_pid("child"), stage_pid("init"));

    let mut checked = 0;
    for r in &runtime {
        let (stage, pid, ts) = (
            text(r, "stage"),
            num(r, "pid").unwrap(),
            r["ts_ns"].as_u64().unwrap(),
        );
        match text(r, "kind").as_str() {
            // every stage the runtime started, the kernel saw born, with the same parent,
            // the name it gave itself and its pid inside its namespace
            "stage_start" if ["parent", "child", "init"].contains(&stage.as_str()) => {
                let f = fork_of(&kernel, pid);
                let KernelKind::Fork {
                    parent_tgid,
                    child_ns_pid,
                    ..
                } = &f.kind
                else {
                    unreachable!()
                };
                assert_eq!(Some(*parent_tgid), num(r, "ppid"), "{stage}: parent\n{d}");
                if let Some(n) = num(r, "ns_pid") {
                    assert_eq!(*child_ns_pid, n, "{stage}: pid in its namespace");
                }
                let comm = text(r, "comm");
                assert_eq!(
                    renamed_to(&kernel, &comm),
                    pid,
                    "{stage}: the kernel saw it rename to {comm}"
                );
                // one clock: the kernel's fork precedes the stage's first event
                assert!(
                    f.ts_ns <= ts,
                    "{stage}: fork at {} after stage_start at {ts}",
                    f.ts_ns
                );
                checked += 1;
            }
            // every clone the runtime reports, the kernel saw made by the same process
            "clone" => {
                let child_pid = num(r, "child_pid").unwrap();
                let f = fork_of(&kernel, child_pid);
                assert_eq!(f.tgid, pid, "clone of {child_pid}: who called clone\n{d}");
                let KernelKind::Fork { flags: kflags, .. } = &f.kind else {
                    unreachable!()
                };
                for fl in names(r, "flags") {
                    assert!(
                        kflags.contains(&fl),
                        "clone of {child_pid}: {fl} not in the kernel's {kflags:?}"
                    );
                }
                // one clock: the runtime stamps `clone` just before the syscall, the kernel
                // reports the fork inside it
                assert!(
                    ts <= f.ts_ns,
                    "clone of {child_pid}: runtime {ts} after the kernel's fork {}",
                    f.ts_ns
                );
                checked += 1;
            }
            // every unshare, with the same flags
            "unshare" => {
                let flags = names(r, "flags");
                let seen = by(&kernel, pid, "unshare").iter().any(|k| {
                    matches!(&k.kind, KernelKind::Unshare { flags: kf, ret: 0, .. } if *kf == flags)
                });
                assert!(
                    seen,
                    "unshare {flags:?} by {pid} not seen by the kernel\n{d}"
                );
                checked += 1;
            }
            // and the container's process exec'd by init, pid 1 in its namespace
            "exec" => {
                let path = text(r, "path");
                let seen = by(&kernel, pid, "exec").iter().any(|k| {
                    k.ns_pid == 1 && matches!(&k.kind, KernelKind::Exec { filename, ret: 0, .. } if *filename == path)
                });
                assert!(seen, "exec of {path} by {pid} not seen\n{d}");
                checked += 1;
            }
            _ => {}
        }
    }
    // three stage starts, three clones, an unshare, the exec
    assert!(checked >= 8, "too little compared ({checked}):\n{log}");
    // the shape of the double clone, from the kernel alone
    assert_eq!(fork_of(&kernel, child).tgid, parent);
    assert_eq!(fork_of(&kernel, init).tgid, child);
    for pid in [create, parent, child, init] {
        let exited = by(&kernel, pid, "exit")
            .iter()
            .any(|e| matches!(e.kind, KernelKind::Exit { code: Some(0), .. }));
        assert!(exited, "exit of {pid}\n{d}");
    }
}
