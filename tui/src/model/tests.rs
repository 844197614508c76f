//! The model over synthetic streams of both shapes (ours with both sources, runc's
//! kernel-only). Recorded streams are tested in `tests/recordings.rs`.

use initscope_runtime::events::schema::Stage;

use super::*;
use crate::event::Event;
use crate::labels::row_label;
use crate::synth::{self, FailAt, Options};

/// Every row as `lane: label -> target`, top to bottom, as of `at`.
pub fn summary(m: &Model, at: Seq) -> Vec<String> {
    m.order[..m.visible_rows(at)]
        .iter()
        .map(|&r| {
            let row = m.row(r);
            let lane = row.lane.map_or("-".into(), |l| m.lane_title(l, at));
            let to = row
                .target()
                .map(|t| format!(" -> {}", m.lane_title(t, at)))
                .unwrap_or_default();
            format!("{lane}: {}{to}", row_label(m, r, at))
        })
        .collect()
}

fn lane_by_role(m: &Model, stage: Stage) -> &Lane {
    m.lanes.iter().find(|l| l.role == Some(stage)).unwrap()
}

fn ours() -> Vec<Event> {
    synth::initscope_bootstrap(Options::default())
}

#[test]
fn our_bootstrap_gives_four_stage_lanes_and_start() {
    let m = Model::from_events(&ours());
    let roles: Vec<_> = m.lanes.iter().map(|l| (l.pid, l.role)).collect();
    assert_eq!(
        roles,
        vec![
            (4100, Some(Stage::Create)),
            (4101, Some(Stage::Parent)),
            (4102, Some(Stage::Child)),
            (4103, Some(Stage::Init)),
            (4140, Some(Stage::Start)),
        ]
    );
    // CLONE_PARENT: the kernel made create the parent of child and init.
    let child = lane_by_role(&m, Stage::Child);
    let init = lane_by_role(&m, Stage::Init);
    assert_eq!(child.kernel_parent, Some(4100));
    assert_eq!(m.lane(child.creator.unwrap()).role, Some(Stage::Parent));
    assert_eq!(m.lane(init.creator.unwrap()).role, Some(Stage::Child));
    assert_eq!(init.ns_pid, Some(1));
    assert!(m
        .lanes
        .iter()
        .take(4)
        .all(|l| l.seen_kernel && l.seen_runtime));
}

#[test]
fn both_sources_share_rows_and_sync_messages_pair_up() {
    let m = Model::from_events(&ours());
    let s = summary(&m, u32::MAX);
    let expect_in_order = [
        "create: joins cgroup /initscope/demo",
        "create: fork -> [0:PARENT]",
        "create: BOOTSTRAP_DATA -> [0:PARENT]",
        "[0:PARENT]: clone(PARENT) -> [1:CHILD]",
        "[1:CHILD]: unshare(NEWUSER)",
        "[1:CHILD]: SYNC_USERMAP_PLS -> [0:PARENT]",
        "[0:PARENT]: writes uid_map of [1:CHILD] -> [1:CHILD]",
        "[0:PARENT]: SYNC_USERMAP_ACK -> [1:CHILD]",
        "[1:CHILD]: unshare(NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWPID|NEWNET)",
        "[1:CHILD]: clone(PARENT) -> [2:INIT]",
        "[1:CHILD]: SYNC_RECVPID_PLS -> [0:PARENT]",
        "[0:PARENT]: STAGE_PIDS -> create",
        "[1:CHILD]: exit 0",
        "[0:PARENT]: SYNC_GRANDCHILD -> [2:INIT]",
        "[2:INIT]: SYNC_CHILD_FINISH -> [0:PARENT]",
        "[2:INIT]: rootfs: 8 mounts, 6 devices, 5 links",
        "[2:INIT]: procHooks -> create",
        "[2:INIT]: pivot_root",
        "[2:INIT]: rootfs: 5 masked, 5 ro",
        "[2:INIT]: procReady -> create",
        "[2:INIT]: waits on exec.fifo",
        "create: state: created",
        "start: exec.fifo → running -> [2:INIT]",
        "[2:INIT]: execve /bin/sh",
        "[2:INIT]: exit 0",
    ];
    let mut pos = 0;
    for want in expect_in_order {
        let found = s[pos..].iter().position(|l| l == want);
        assert!(
            found.is_some(),
            "missing {want:?} after row {pos} in\n{}",
            s.join("\n")
        );
        pos += found.unwrap() + 1;
    }
    // One row per step even though both sources reported it.
    let clones = m
        .rows
        .iter()
        .filter(|r| matches!(r.kind, RowKind::Clone { .. }))
        .count();
    assert_eq!(clones, 3);
    assert!(m
        .rows
        .iter()
        .filter(|r| matches!(
            r.kind,
            RowKind::Clone { .. } | RowKind::Unshare { .. } | RowKind::Exec { .. }
        ))
        .all(|r| r.rt.is_some() && r.k.is_some()));
    let syncs: Vec<_> = m
        .rows
        .iter()
        .filter(|r| matches!(r.kind, RowKind::Sync { .. }))
        .collect();
    assert_eq!(
        syncs.len(),
        13,
        "12 sync messages and start releasing init through exec.fifo"
    );
    assert!(syncs.iter().all(|r| matches!(
        r.kind,
        RowKind::Sync {
            send: Some(_),
            recv: Some(_),
            to: Some(_),
            ..
        }
    )));
    // The clone of init names the kernel's parent: create, not [1:CHILD].
    let init_clone = m.row(lane_by_role(&m, Stage::Init).clone_row.unwrap());
    assert!(matches!(
        init_clone.kind,
        RowKind::Clone {
            kernel_parent: Some(4100),
            ..
        }
    ));
}

#[test]
fn arrival_order_of_the_two_sources_does_not_change_the_diagram() {
    let evs = ours();
    let sorted = Model::from_events(&evs);
    // Runtime events all first, kernel events after (a slow ring buffer reader) …
    let mut late_kernel: Vec<Event> = evs
        .iter()
        .filter(|e| matches!(e, Event::Runtime(_)))
        .cloned()
        .collect();
    late_kernel.extend(
        evs.iter()
            .filter(|e| matches!(e, Event::Kernel(_)))
            .cloned(),
    );
    // … and the other way round.
    let mut late_runtime: Vec<Event> = evs
        .iter()
        .filter(|e| matches!(e, Event::Kernel(_)))
        .cloned()
        .collect();
    late_runtime.extend(
        evs.iter()
            .filter(|e| matches!(e, Event::Runtime(_)))
            .cloned(),
    );
    for shuffled in [late_kernel, late_runtime] {
        let m = Model::from_events(&shuffled);
        assert_eq!(summary(&m, u32::MAX), summary(&sorted, u32::MAX));
        let pids = |m: &Model| {
            m.lanes
                .iter()
                .map(|l| (l.pid, l.role, l.creator.is_some()))
                .collect::<Vec<_>>()
        };
        assert_eq!(pids(&m), pids(&sorted));
    }
}

#[test]
fn the_model_as_of_an_earlier_event_is_that_moment() {
    let evs = ours();
    let m = Model::from_events(&evs);
    // Just after [1:CHILD] asked for its uid map.
    let at = evs
        .iter()
        .position(|e| matches!(e, Event::Runtime(r) if matches!(&r.kind, initscope_runtime::events::schema::EventKind::SyncSend { msg, .. } if msg == "SYNC_USERMAP_PLS")))
        .unwrap() as Seq
        + 1;
    let child = m
        .lanes
        .iter()
        .position(|l| l.role == Some(Stage::Child))
        .unwrap() as LaneId;
    let init = m
        .lanes
        .iter()
        .position(|l| l.role == Some(Stage::Init))
        .unwrap();
    assert!(!m.lanes[init].visible_at(at));
    assert!(matches!(
        m.lane(child).status_at(at),
        Status::WaitingSync {
            peer: Stage::Parent,
            ..
        }
    ));
    assert_eq!(
        m.lane(child).status_at(u32::MAX),
        Status::Exited {
            code: Some(0),
            signal: Sym::NONE
        }
    );
    let s = summary(&m, at);
    assert_eq!(
        s.last().unwrap(),
        "[1:CHILD]: SYNC_USERMAP_PLS … -> [0:PARENT]"
    );
    // Folding only the prefix gives the same rows.
    let prefix = Model::from_events(&evs[..at as usize]);
    assert_eq!(summary(&prefix, u32::MAX), s);
    // Namespaces as of then: the child has a new user namespace, nothing else yet.
    let ns = m.lane(child).ns_at(at).unwrap();
    assert_eq!(ns.user, 4026532300);
    assert_eq!(ns.mnt, synth::host_ns().mnt);
}

#[test]
fn runc_kernel_only_stream_gets_the_same_lanes() {
    let m = Model::from_events(&synth::runc_run(7000, 1_000_000));
    let titles: Vec<_> = (0..m.lanes.len() as LaneId)
        .map(|l| m.lane_title(l, u32::MAX))
        .collect();
    assert_eq!(titles, ["create", "[0:PARENT]", "[1:CHILD]", "[2:INIT]"]);
    assert!(m.lanes.iter().all(|l| l.runtime == Some(RuntimeKind::Runc)));
    let s = summary(&m, u32::MAX);
    assert!(
        s.contains(&"create: clone(VM|VFORK) -> [0:PARENT]".to_string()),
        "{s:#?}"
    );
    assert!(s.contains(&"[0:PARENT]: clone(PARENT) -> [1:CHILD]".to_string()));
    assert!(s.contains(&"[2:INIT]: unshare(NEWCGROUP)".to_string()));
    assert!(s.contains(&"[2:INIT]: execve /bin/sh".to_string()));
    let init = m.lane(3);
    assert_eq!(init.ns_pid, Some(1));
    assert_eq!(m.str(init.name_at(u32::MAX)), "sh");
    assert!(matches!(
        m.row(init.clone_row.unwrap()).kind,
        RowKind::Clone {
            kernel_parent: Some(7000),
            ..
        }
    ));
}

#[test]
fn a_failed_bootstrap_shows_where_and_how() {
    let m = Model::from_events(&synth::initscope_bootstrap(Options {
        fail: Some(FailAt::InitMount),
        ..Options::default()
    }));
    let init = lane_by_role(&m, Stage::Init);
    let create = lane_by_role(&m, Stage::Create);
    assert_eq!(init.exit.unwrap().code, Some(1));
    assert_eq!(create.exit.unwrap().code, Some(1));
    let s = summary(&m, u32::MAX);
    assert!(s.contains(&"[2:INIT]: error: mount".to_string()));
    assert!(s.contains(&"[2:INIT]: procError -> create".to_string()));
    assert!(s.contains(&"create: error: create".to_string()));
}

#[test]
fn runtime_only_stream_still_draws_lanes_and_namespace_notes() {
    let m = Model::from_events(&synth::initscope_bootstrap(Options {
        kernel: false,
        ..Options::default()
    }));
    assert_eq!(m.lanes.len(), 5);
    let child = lane_by_role(&m, Stage::Child);
    assert_eq!(child.ns_notes.len(), 2);
    assert!(child.ns.is_empty());
    assert_eq!(
        m.rows
            .iter()
            .filter(|r| matches!(r.kind, RowKind::Sync { .. }))
            .count(),
        13
    );
}

#[test]
fn reused_pids_get_new_lanes_and_memory_per_event_is_fixed() {
    let m = Model::from_events(
        &synth::many(3)
            .into_iter()
            .chain(synth::initscope_bootstrap(Options {
                t0: 9_000_000_000_000,
                ..Options::default()
            }))
            .collect::<Vec<_>>(),
    );
    // many(3) uses pids 300, 350, 400; the last bootstrap reuses 4100… — all distinct lanes.
    assert_eq!(m.lanes.len(), 4 * 5);
    assert_eq!(m.boots.len(), 4);
    assert!(std::mem::size_of::<EvMeta>() <= 40);
    assert!(
        std::mem::size_of::<Row>() <= 80,
        "{}",
        std::mem::size_of::<Row>()
    );

    let a = Options {
        t0: 1_000_000_000,
        ..Options::default()
    };
    let b = Options {
        t0: 2_000_000_000,
        container: "again".into(),
        ..Options::default()
    };
    let evs: Vec<_> = synth::initscope_bootstrap(a)
        .into_iter()
        .chain(synth::initscope_bootstrap(b))
        .collect();
    let m = Model::from_events(&evs);
    assert_eq!(m.lanes.len(), 10);
    assert_eq!(m.lanes.iter().filter(|l| l.pid == 4103).count(), 2);
}

#[test]
fn lost_events_are_counted_per_source() {
    let mut evs = ours();
    evs.push(synth::kernel(
        evs.last().unwrap().ts_ns() + 1,
        0,
        0,
        "",
        0,
        0,
        initscope_probe::schema::KernelKind::Lost { count: 7 },
    ));
    let m = Model::from_events(&evs);
    assert_eq!(
        m.lost,
        Lost {
            kernel: 7,
            runtime: 0
        }
    );
    assert_eq!(m.lost_at(evs.len() as Seq - 1), Lost::default());
}

#[test]
fn a_shell_searching_path_is_one_row_not_a_column_of_errors() {
    use initscope_probe::schema::KernelKind;
    let miss = |ts: u64, f: &str| {
        synth::kernel(
            ts,
            50,
            1,
            "sh",
            1,
            1,
            KernelKind::Exec {
                filename: f.into(),
                argv: vec![],
                ret: -2,
                errno: Some("ENOENT".into()),
                ns: None,
            },
        )
    };
    let evs = vec![
        miss(1, "/usr/local/bin/x"),
        miss(2, "/usr/bin/x"),
        miss(3, "/bin/x"),
        synth::kernel(
            4,
            50,
            1,
            "x",
            1,
            1,
            KernelKind::Exec {
                filename: "/sbin/x".into(),
                argv: vec![],
                ret: 0,
                errno: None,
                ns: None,
            },
        ),
    ];
    let m = Model::from_events(&evs);
    assert_eq!(
        summary(&m, u32::MAX),
        ["x: execve: 3× not found (PATH search)", "x: execve /sbin/x"]
    );
}
