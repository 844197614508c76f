//! The model over the shipped recordings (made with initscope's own tools), and the
//! record → replay round trip.

use std::path::PathBuf;

use initscope::event::Event;
use initscope::model::{RowKind, RuntimeKind};
use initscope::session::Session;
use initscope::store::EventStore;
use initscope::synth;
use initscope_runtime::events::schema::Stage;

fn recording(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("recordings")
        .join(name)
}

#[test]
fn runc_recording_shows_runcs_three_stages_and_the_double_clone() {
    let s = Session::load(&recording("runc.jsonl")).unwrap();
    let m = &s.model;
    let titles: Vec<String> = (0..m.lanes.len() as u32)
        .map(|l| m.lane_title(l, u32::MAX))
        .collect();
    assert_eq!(
        titles,
        ["create", "[0:PARENT]", "[1:CHILD]", "[2:INIT]"],
        "{titles:?}"
    );
    assert!(m.lanes.iter().all(|l| l.runtime == Some(RuntimeKind::Runc)));
    let create = m.lanes[0].pid;
    let lane = |stage| m.lanes.iter().find(|l| l.role == Some(stage)).unwrap();
    let (child, init) = (lane(Stage::Child), lane(Stage::Init));
    // Both later stages were cloned with CLONE_PARENT: create is the kernel's parent.
    for l in [child, init] {
        match m.row(l.clone_row.unwrap()).kind {
            RowKind::Clone {
                flags,
                kernel_parent,
                ..
            } => {
                assert_ne!(flags & 0x8000, 0, "CLONE_PARENT");
                assert_eq!(kernel_parent, Some(create));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(init.ns_pid, Some(1));
    // unshare(CLONE_NEWPID) moved only [1:CHILD]'s children: its own pid ns is the host's,
    // its pid_for_children is init's pid ns.
    let cns = child.ns_at(u32::MAX).unwrap();
    let ins = init.ns_at(u32::MAX).unwrap();
    assert_ne!(cns.pid, cns.pid_for_children);
    assert_eq!(ins.pid, cns.pid_for_children);
    assert_eq!(ins.mnt, cns.mnt);
    assert!(init.exec.iter().any(|&(_, p)| m.str(p) == "/bin/sh"));
    // [1:CHILD] makes its user namespace alone, first; runc 1.1's init the cgroup one.
    let unshares = |l: &initscope::model::Lane| -> Vec<u64> {
        l.rows
            .iter()
            .filter_map(|&r| match m.row(r).kind {
                RowKind::Unshare { flags, .. } => Some(flags),
                _ => None,
            })
            .collect()
    };
    let cu = unshares(child);
    assert_eq!(cu[0], 0x1000_0000, "NEWUSER alone first: {cu:x?}");
    assert_ne!(cu[1] & 0x2000_0000, 0, "then NEWPID with the others");
    assert_eq!(unshares(init), [0x0200_0000]);
    assert!(
        m.lanes.iter().all(|l| l.exit.is_some()),
        "every process exited"
    );
}

#[test]
fn a_live_recording_replays_identically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.jsonl");
    // Arrival order of a live session: the kernel's events come in late batches.
    let evs = synth::initscope_bootstrap(synth::Options::default());
    let (rt, k): (Vec<&Event>, Vec<&Event>) =
        evs.iter().partition(|e| matches!(e, Event::Runtime(_)));
    let mut arrival = Vec::new();
    for (i, chunk) in rt.chunks(10).enumerate() {
        arrival.extend(chunk.iter().copied());
        arrival.extend(k.iter().skip(i * 2).take(2).copied());
    }
    arrival.extend(k.iter().skip(rt.chunks(10).count() * 2).copied());
    assert_eq!(arrival.len(), evs.len());

    let mut live = Session::new(EventStore::create(&path).unwrap());
    for e in &arrival {
        live.push_line(&e.to_json());
    }
    let replay = Session::load(&path).unwrap();
    // The same events, line for line …
    assert_eq!(replay.store.len(), arrival.len());
    for (i, e) in arrival.iter().enumerate() {
        assert_eq!(replay.store.get(i as u32).as_ref(), Some(*e));
    }
    // … and the same diagram (replay folds in time order, live in arrival order).
    let rows = |s: &Session| {
        let m = &s.model;
        m.order
            .iter()
            .map(|&r| initscope::labels::row_label(m, r, u32::MAX))
            .collect::<Vec<_>>()
    };
    assert_eq!(rows(&live), rows(&replay));
    let lanes = |s: &Session| {
        s.model
            .lanes
            .iter()
            .map(|l| (l.pid, l.role, l.exit.map(|x| x.code)))
            .collect::<Vec<_>>()
    };
    assert_eq!(lanes(&live), lanes(&replay));
}

#[test]
fn crun_recording_shows_one_clone_straight_into_new_namespaces() {
    let s = Session::load(&recording("crun.jsonl")).unwrap();
    let m = &s.model;
    let init = m
        .lanes
        .iter()
        .find(|l| l.role == Some(Stage::Init))
        .expect("crun's container process");
    let create = m.lane(init.creator.unwrap());
    assert_eq!(create.role, Some(Stage::Create));
    assert_eq!(create.runtime, Some(RuntimeKind::Crun));
    assert_eq!(init.ns_pid, Some(1));
    match m.row(init.clone_row.unwrap()).kind {
        RowKind::Clone {
            flags,
            kernel_parent,
            ..
        } => {
            assert_ne!(flags & 0x2000_0000, 0, "CLONE_NEWPID in the clone itself");
            assert_eq!(flags & 0x8000, 0, "no CLONE_PARENT: crun makes one child");
            assert_eq!(kernel_parent, None);
        }
        other => panic!("{other:?}"),
    }
    // No [0:PARENT] or [1:CHILD]: there is no double clone.
    assert!(!m
        .lanes
        .iter()
        .any(|l| matches!(l.role, Some(Stage::Parent | Stage::Child))));
    let (i, fork) = s
        .store
        .get(
            m.row(init.clone_row.unwrap())
                .k
                .map(|k| m.events[k as usize].store)
                .unwrap(),
        )
        .map(|e| (m.row(init.clone_row.unwrap()).k.unwrap(), e))
        .unwrap();
    let text = initscope::explain::explain(m, i, &fork).join(" ");
    assert!(text.contains("no second clone"), "{text}");
}

#[test]
fn an_unknown_kind_keeps_its_name_on_screen_live_and_in_replay() {
    let line = r#"{"v":1,"ts_ns":5,"source":"runtime","container":"c","stage":"init","pid":3,"kind":"teleport_home","x":1}"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    let mut live = Session::new(EventStore::create(&path).unwrap());
    live.push_line(line);
    let replay = Session::load(&path).unwrap();
    for s in [&live, &replay] {
        let m = &s.model;
        assert_eq!(m.str(m.events[0].kind), "teleport_home");
        assert_eq!(
            initscope::labels::row_label(m, m.order[0], u32::MAX),
            "teleport home"
        );
    }
}

#[test]
fn initscope_runtime_recording_joins_both_sources_into_the_four_stage_dance() {
    // `initscope demo --record`: runtime events through a FIFO, kernel events from the probe.
    let s = Session::load(&recording("initscope-runtime.jsonl")).unwrap();
    let m = &s.model;
    assert!(
        m.counts[0] > 50 && m.counts[1] > 20,
        "both sources: {:?}",
        m.counts
    );
    assert_eq!(m.lost, initscope::model::Lost::default(), "nothing dropped");
    let lane = |stage| {
        m.lanes
            .iter()
            .find(|l| l.role == Some(stage))
            .unwrap_or_else(|| panic!("{stage:?}"))
    };
    let (create, parent, child, init) = (
        lane(Stage::Create),
        lane(Stage::Parent),
        lane(Stage::Child),
        lane(Stage::Init),
    );
    for l in [create, parent, child, init] {
        assert!(
            l.seen_runtime && l.seen_kernel,
            "pid {} seen by both sources",
            l.pid
        );
    }
    // The clones: each one row, reported by the runtime and seen by the kernel; the
    // second and third with CLONE_PARENT, so create is everyone's parent.
    for (l, creator) in [(parent, create), (child, parent), (init, child)] {
        let row = m.row(l.clone_row.unwrap());
        assert!(
            row.rt.is_some() && row.k.is_some(),
            "clone of {} from both sources",
            l.pid
        );
        assert_eq!(
            row.lane,
            Some(m.lanes.iter().position(|x| x.pid == creator.pid).unwrap() as u32)
        );
    }
    assert_eq!(child.kernel_parent, Some(create.pid));
    assert_eq!(init.kernel_parent, Some(create.pid));
    // Every sync message sent was received, in runc's order.
    let msgs: Vec<&str> = m
        .order
        .iter()
        .filter_map(|&r| match m.row(r).kind {
            RowKind::Sync {
                msg, send, recv, ..
            } => {
                assert!(
                    send.is_some() && recv.is_some(),
                    "{} half missing",
                    m.str(msg)
                );
                Some(m.str(msg))
            }
            _ => None,
        })
        .collect();
    let want = [
        "BOOTSTRAP_DATA",
        "SYNC_USERMAP_PLS",
        "SYNC_USERMAP_ACK",
        "SYNC_RECVPID_PLS",
        "SYNC_RECVPID_ACK",
        "SYNC_GRANDCHILD",
        "procHooks",
        "procResume",
        "procReady",
    ];
    let mut it = msgs.iter();
    for w in want {
        assert!(
            it.any(|m| *m == w),
            "{w} missing or out of order in {msgs:?}"
        );
    }
    assert!(
        msgs.contains(&initscope::model::FIFO_MSG),
        "start released init: {msgs:?}"
    );
    // Init waited on exec.fifo once create was done, and then ran the program as pid 1.
    let created = m.boots[0]
        .state
        .iter()
        .find(|(_, s)| m.str(*s) == "created")
        .unwrap()
        .0;
    assert_eq!(
        init.status_at(created + 1),
        initscope::model::Status::WaitingFifo
    );
    assert_eq!(init.ns_pid, Some(1));
    assert!(init.exec.iter().any(|&(_, p)| m.str(p) == "/bin/sh"));
    // New namespaces where runc makes them: [1:CHILD] vs [0:PARENT], pid only for init.
    let (pns, cns, ins) = (
        parent.ns_at(u32::MAX).unwrap(),
        child.ns_at(u32::MAX).unwrap(),
        init.ns_at(u32::MAX).unwrap(),
    );
    assert_ne!(cns.user, pns.user);
    assert_ne!(cns.mnt, pns.mnt);
    assert_eq!(ins.user, cns.user);
    assert_eq!(ins.pid, cns.pid_for_children);
}
