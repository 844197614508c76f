//! The bootstrap's events: the stages in design.md's order, runc's sync messages in
//! protocol order, both clones with CLONE_PARENT, init as pid 1 of its namespace, and
//! every line valid against the schema — in the container's events.jsonl and live.

use initscope_runtime::events::schema::RuntimeEvent;
use initscope_tests::{find, is_root, position, Bundle, Runtime};
use serde_json::Value;

/// The sync messages in the order design.md draws them: (stage, kind, msg).
const PROTOCOL: &[(&str, &str, &str)] = &[
    ("create", "sync_send", "BOOTSTRAP_DATA"),
    ("parent", "sync_recv", "BOOTSTRAP_DATA"),
    ("child", "sync_send", "SYNC_USERMAP_PLS"),
    ("parent", "sync_recv", "SYNC_USERMAP_PLS"),
    ("parent", "sync_send", "SYNC_USERMAP_ACK"),
    ("child", "sync_recv", "SYNC_USERMAP_ACK"),
    ("child", "sync_send", "SYNC_RECVPID_PLS"),
    ("parent", "sync_recv", "SYNC_RECVPID_PLS"),
    ("parent", "sync_send", "SYNC_RECVPID_ACK"),
    ("child", "sync_recv", "SYNC_RECVPID_ACK"),
    ("child", "sync_send", "SYNC_CHILD_FINISH"),
    ("parent", "sync_recv", "SYNC_CHILD_FINISH"),
    ("parent", "sync_send", "SYNC_GRANDCHILD"),
    ("init", "sync_recv", "SYNC_GRANDCHILD"),
    ("init", "sync_send", "SYNC_CHILD_FINISH"),
    ("init", "sync_send", "procHooks"),
    ("create", "sync_recv", "procHooks"),
    ("create", "sync_send", "procResume"),
    ("init", "sync_recv", "procResume"),
    ("init", "sync_send", "procReady"),
    ("create", "sync_recv", "procReady"),
];

fn user_ns_bundle() -> Bundle {
    let b = Bundle::busybox(&["true"]);
    b.edit(|c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().extend([
            serde_json::json!({"type": "user"}),
            serde_json::json!({"type": "cgroup"}),
        ]);
        c["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    b
}

fn at(events: &[Value], stage: &str, kind: &str, msg: Option<&str>) -> usize {
    position(events, stage, kind, msg)
        .unwrap_or_else(|| panic!("no {stage} {kind} {msg:?} in {:#?}", brief(events)))
}

fn brief(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{} {} {}", e["stage"], e["kind"], e["msg"]))
        .collect()
}

#[test]
fn events_follow_the_protocol_in_order() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let rt = Runtime::new();
    let b = user_ns_bundle();
    let id = rt.id("events");
    rt.ok(&["create", "-b", b.path_str(), &id]);
    let ev = rt.state_events(&id);

    // Every line is a valid v1 runtime event of this container.
    let text = std::fs::read_to_string(rt.root.join(&id).join("events.jsonl")).unwrap();
    for line in text.lines() {
        let e: RuntimeEvent = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(e.v, 1);
        assert_eq!(e.container, id);
        assert!(line.len() < 4096);
    }

    // Sync messages in protocol order (by CLOCK_MONOTONIC).
    let mut last = 0;
    for &(stage, kind, msg) in PROTOCOL {
        let i = at(&ev, stage, kind, Some(msg));
        assert!(
            i >= last,
            "{stage} {kind} {msg} out of order: {:#?}",
            brief(&ev)
        );
        last = i;
    }
    // Peers are named.
    let first = &ev[at(&ev, "child", "sync_send", Some("SYNC_USERMAP_PLS"))];
    assert_eq!(first["peer"], "parent");

    // Stages start in order, each named like runc's, all children of create.
    let create_pid = ev[at(&ev, "create", "stage_start", None)]["pid"].clone();
    for (stage, comm) in [
        ("parent", "isc:[0:PARENT]"),
        ("child", "isc:[1:CHILD]"),
        ("init", "isc:[2:INIT]"),
    ] {
        let s = &ev[at(&ev, stage, "stage_start", None)];
        assert_eq!(s["comm"], comm);
        assert_eq!(
            s["ppid"], create_pid,
            "{stage} is a child of create (CLONE_PARENT)"
        );
    }
    assert!(at(&ev, "parent", "stage_start", None) < at(&ev, "child", "stage_start", None));
    assert!(at(&ev, "child", "stage_start", None) < at(&ev, "init", "stage_start", None));
    assert_eq!(
        ev[at(&ev, "init", "stage_start", None)]["ns_pid"],
        1,
        "init is pid 1 in its ns"
    );

    // The two clones, with CLONE_PARENT, naming the stage they made.
    let clones = find(&ev, "clone");
    let by = |stage: &str| *clones.iter().find(|c| c["stage"] == stage).unwrap();
    for (stage, child) in [("parent", "child"), ("child", "init")] {
        let c = by(stage);
        assert_eq!(c["child_stage"], child);
        assert!(
            c["flags"]
                .as_array()
                .unwrap()
                .contains(&"CLONE_PARENT".into()),
            "{c}"
        );
        assert_eq!(c["flags_raw"].as_u64().unwrap() & 0x8000, 0x8000);
    }
    let child_pid = by("parent")["child_pid"].clone();
    assert_eq!(ev[at(&ev, "child", "stage_start", None)]["pid"], child_pid);

    // The child unshared the user ns first, then the rest (cgroup ns included).
    let u = at(&ev, "child", "unshare", None);
    assert_eq!(ev[u]["flags"], serde_json::json!(["CLONE_NEWUSER"]));
    let rest = ev[u + 1..].iter().find(|e| e["kind"] == "unshare").unwrap();
    for f in [
        "CLONE_NEWNS",
        "CLONE_NEWPID",
        "CLONE_NEWNET",
        "CLONE_NEWCGROUP",
        "CLONE_NEWUTS",
        "CLONE_NEWIPC",
    ] {
        assert!(
            rest["flags"].as_array().unwrap().contains(&f.into()),
            "{rest}"
        );
    }
    let uid_map = &ev[at(&ev, "parent", "uid_map", None)];
    assert_eq!(uid_map["lines"], serde_json::json!(["0 100000 65536"]));
    assert_eq!(uid_map["target_pid"], child_pid);

    // The parent is in the cgroup before it clones anything: born in cgroup2 (create's
    // clone has CLONE_INTO_CGROUP where the host has cgroup2), v1 joined by itself.
    let parent_pid = ev[at(&ev, "parent", "stage_start", None)]["pid"].clone();
    let join = at(&ev, "parent", "cgroup_join", None);
    assert!(join < at(&ev, "parent", "clone", None));
    assert_eq!(ev[join]["target_pid"], parent_pid);
    assert_eq!(
        ev[join]["mode"], "hybrid",
        "this project's machines are hybrid"
    );
    let fork = by("create");
    assert_eq!(fork["child_pid"], parent_pid);
    assert_eq!(fork["child_stage"], "parent");
    let has_cgroup2 = std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("cgroup2"));
    assert_eq!(
        fork["flags"]
            .as_array()
            .unwrap()
            .contains(&"CLONE_INTO_CGROUP".into()),
        has_cgroup2,
        "{fork}"
    );

    // Init's steps after procResume, then it waits for start; parent and child exited 0.
    let resume = at(&ev, "init", "sync_recv", Some("procResume"));
    for kind in [
        "pivot_root",
        "hostname",
        "rlimit",
        "user",
        "caps",
        "no_new_privs",
    ] {
        assert!(at(&ev, "init", kind, None) > resume, "{kind}");
    }
    assert!(at(&ev, "init", "wait_start", None) > at(&ev, "init", "sync_send", Some("procReady")));
    for stage in ["parent", "child"] {
        let exit = &ev[at(&ev, stage, "stage_exit", None)];
        assert_eq!(exit["status"], 0);
        assert_eq!(exit["dropped"], 0);
    }
    let states: Vec<&Value> = find(&ev, "state")
        .into_iter()
        .map(|e| &e["status"])
        .collect();
    assert_eq!(states, vec!["creating", "created"]);

    // start: init execs; the live sink saw the same events as the state dir.
    rt.ok(&["start", &id]);
    rt.wait_status(&id, "stopped");
    let ev = rt.state_events(&id);
    let exec = &ev[at(&ev, "init", "exec", None)];
    assert_eq!(exec["path"], "/bin/true");
    assert_eq!(exec["args"], serde_json::json!(["true"]));
    assert!(at(&ev, "init", "exec", None) > at(&ev, "start", "stage_start", None));
    let live = rt.events_of(&id);
    assert_eq!(live.len(), ev.len(), "live sink and events.jsonl agree");
    rt.ok(&["delete", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn without_a_user_namespace_there_is_no_usermap_exchange() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    let id = rt.id("nouser");
    rt.ok(&["run", "-b", b.path_str(), &id]);
    let ev = rt.events_of(&id);
    assert!(position(&ev, "child", "sync_send", Some("SYNC_USERMAP_PLS")).is_none());
    assert!(find(&ev, "uid_map").is_empty());
    assert!(at(&ev, "child", "unshare", None) < at(&ev, "child", "clone", None));
    assert_eq!(ev[at(&ev, "init", "hostname", None)]["hostname"], "runc");
    rt.assert_clean(&[&b.path]);
}

/// A live datagram socket gets every event (batched: one or more lines per datagram), or
/// the sender counts it as dropped: for each stage that exits, received + reported dropped
/// = what it wrote to events.jsonl (the `stage_exit` line itself cannot count its own loss).
/// This machine queues only 10 datagrams per socket (net.unix.max_dgram_qlen), so a reader
/// must keep up.
#[test]
fn events_stream_to_a_unix_datagram_socket_and_losses_are_counted() {
    use std::os::unix::net::UnixDatagram;
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    let id = rt.id("sock");
    let sock_dir = tempfile::tempdir().unwrap();
    let sock = sock_dir.path().join("events.sock");
    let listener = UnixDatagram::bind(&sock).unwrap();
    // A safety net only: the test ends the reader with an END datagram.
    listener
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = listener.recv(&mut buf) {
            if &buf[..n] == b"END" {
                break;
            }
            // A datagram holds one or more whole lines (a stage's batch).
            for line in std::str::from_utf8(&buf[..n]).unwrap().lines() {
                got.push(serde_json::from_str::<Value>(line).unwrap());
            }
        }
        got
    });
    // $INITSCOPE_EVENTS names the sink when --events is not given.
    let with_env = |args: &[&str]| {
        let mut c = std::process::Command::new(&rt.bin);
        c.arg("--root").arg(&rt.root).args(args);
        c.env("INITSCOPE_EVENTS", &sock);
        let out = initscope_tests::output_with_timeout(c, initscope_tests::COMMAND_TIMEOUT);
        assert!(out.status.success(), "{}", initscope_tests::stderr(&out));
    };
    with_env(&["create", "-b", b.path_str(), &id]);
    with_env(&["start", &id]);
    rt.wait_status(&id, "stopped");
    let written = rt.state_events(&id);
    // Every sender has exited; what it sent is queued before this.
    let end = UnixDatagram::unbound().unwrap();
    while end.send_to(b"END", &sock).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(5)); // queue full: reader catching up
    }
    let got = reader.join().unwrap();
    assert!(!got.is_empty());
    assert!(got.iter().all(|e| e["container"] == id.as_str()));
    for exit in written.iter().filter(|e| e["kind"] == "stage_exit") {
        let pid = &exit["pid"];
        let stage = &exit["stage"];
        let mine = |e: &&Value| e["pid"] == *pid && e["stage"] == *stage;
        let n = written.iter().filter(mine).count() as u64;
        let r = got.iter().filter(mine).count() as u64;
        let d = exit["dropped"].as_u64().unwrap();
        let exit_seen = got.iter().filter(mine).any(|e| e["kind"] == "stage_exit");
        let missing = n - r - d;
        assert!(
            missing == 0 || (missing == 1 && !exit_seen),
            "{stage} {pid}: wrote {n}, received {r}, reported {d} dropped"
        );
    }
    rt.ok(&["delete", &id]);
    rt.assert_clean(&[&b.path]);
}
