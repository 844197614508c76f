//! The verdict as a function of facts and /proc state (no processes needed), the facts
//! read off synthetic streams, and which lanes the viewer hands to the judge.

use initscope_runtime::events::schema::{EventKind, Stage};

use super::facts::{self, Expect, StageFacts};
use super::live;
use super::summary::summarize;
use super::verdict::{judge, Ctx, Kind};
use crate::event::Event;
use crate::model::roles::RuntimeKind;
use crate::procinfo::{FdInfo, FdKind, Holder, ProcInfo, Syscall};
use crate::session::Session;
use crate::synth::{self, Options};

const NOW: u64 = 100_000_000_000;

fn ctx<'a>(members: &'a [(i32, String)]) -> Ctx<'a> {
    Ctx {
        container: "c1",
        runtime: RuntimeKind::Initscope,
        root: Some(std::path::Path::new("/tmp/r")),
        members,
        now_ns: NOW,
        stuck_after_ns: 2_000_000_000,
    }
}

fn stage(label: &str, role: Stage, pid: i32, expect: Expect) -> StageFacts {
    let mut f = StageFacts::from_comm(pid, "", &[]);
    f.label = label.into();
    f.role = Some(role);
    f.runtime = RuntimeKind::Initscope;
    f.expect = expect;
    f.first_ns = Some(NOW - 6_000_000_000);
    f.last_ns = Some(NOW - 5_000_000_000);
    f
}

fn proc_in(state: char, syscall: Option<&str>) -> ProcInfo {
    ProcInfo {
        pid: 1,
        state,
        syscall: syscall.map(|s| Syscall {
            nr: 0,
            name: s.split('(').next().unwrap().to_string(),
            args: [0; 6],
            decoded: s.to_string(),
        }),
        ..ProcInfo::default()
    }
}

fn socket_held_by(pid: i32) -> FdInfo {
    FdInfo {
        fd: 8,
        target: "socket:[77]".into(),
        kind: FdKind::Socket(77),
        others: vec![Holder {
            pid,
            comm: "isc:[0:PARENT]".into(),
            fd: 6,
            mode: "rw",
        }],
        mount: None,
        peer_name: None,
    }
}

#[test]
fn init_on_exec_fifo_is_the_normal_created_state() {
    let members = vec![(43, "[2:INIT]".to_string())];
    let f = stage("[2:INIT]", Stage::Init, 43, Expect::Start);
    let mut p = proc_in('S', Some("openat(fd 5, \"self/fd/4\", O_WRONLY)"));
    p.wchan = Some("wait_for_partner".into());
    p.waits_on = Some(FdInfo {
        fd: -1,
        target: "/run/x/c1/exec.fifo".into(),
        kind: FdKind::Fifo("/run/x/c1/exec.fifo".into()),
        others: vec![],
        mount: None,
        peer_name: None,
    });
    let x = judge(&f, Some(&p), &ctx(&members));
    assert_eq!(x.kind, Kind::Normal);
    assert!(x.normal && x.stuck);
    assert_eq!(x.for_ns, Some(5_000_000_000));
    assert_eq!(x.waits_on, "exec.fifo (waiting for start)");
    assert_eq!(
        x.other_end.as_deref(),
        Some("nobody yet: `start` opens exec.fifo for reading")
    );
    assert!(x.verdict.starts_with(
        "init is waiting for `start`: this is the normal created state — [2:INIT] (pid 43) has blocked opening /run/x/c1/exec.fifo for writing (wait_for_partner) for 5.0s"
    ), "{}", x.verdict);
    assert_eq!(
        x.next.as_deref(),
        Some("initscope-runtime --root /tmp/r start c1")
    );
}

#[test]
fn held_stopped_frozen_and_killed() {
    let members = vec![(42, "[1:CHILD]".to_string())];
    let c = ctx(&members);
    let held = stage(
        "[1:CHILD]",
        Stage::Child,
        42,
        Expect::Paused {
            step: "child:before-unshare".into(),
        },
    );
    let x = judge(&held, Some(&proc_in('T', None)), &c);
    assert_eq!(x.kind, Kind::Held);
    assert!(x
        .verdict
        .contains("held by INITSCOPE_PAUSE_AT at child:before-unshare"));
    assert!(x
        .verdict
        .contains("send SIGCONT (`kill -CONT 42`) or press c in the viewer"));
    // The same process stopped (T) without a pause event: someone sent SIGSTOP.
    let plain = stage("[1:CHILD]", Stage::Child, 42, Expect::Nothing);
    let x = judge(&plain, Some(&proc_in('T', None)), &c);
    assert_eq!(x.kind, Kind::Stopped);
    assert!(x.verdict.contains("not by INITSCOPE_PAUSE_AT"));
    // Paused, but it already went on (running): not held any more.
    let x = judge(&held, Some(&proc_in('R', None)), &c);
    assert_eq!(x.kind, Kind::Running);
    // Frozen in the v1 freezer.
    let mut p = proc_in('D', Some("read(fd 3)"));
    p.freezer = Some("FROZEN".into());
    p.freezer_file = Some("/sys/fs/cgroup/freezer/initscope/c1/freezer.state".into());
    p.stack = vec!["__refrigerator".into(), "get_signal".into()];
    let x = judge(&plain, Some(&p), &c);
    assert_eq!(x.kind, Kind::Frozen);
    assert!(x
        .verdict
        .contains("its cgroup /initscope/c1 is FROZEN in the freezer"));
    assert!(x.verdict.contains("sits in __refrigerator in state D"));
    assert!(x
        .next
        .unwrap()
        .contains("echo THAWED > /sys/fs/cgroup/freezer/initscope/c1/freezer.state"));
    // Gone, killed by a signal create saw.
    let mut dead = plain.clone();
    dead.last_event = Some("paused at child:before-unshare".into());
    dead.exit = Some(facts::ExitFact {
        code: None,
        signal: Some("SIGKILL".into()),
        ts_ns: NOW,
        observed: true,
    });
    let x = judge(&dead, None, &c);
    assert_eq!(x.kind, Kind::Killed);
    assert_eq!(
        x.verdict,
        "[1:CHILD] (pid 42) was killed by SIGKILL after its last step `paused at child:before-unshare`"
    );
}

#[test]
fn a_waiting_stage_names_its_peer_and_the_chain_ends_at_the_held_one() {
    let members = vec![
        (41, "[0:PARENT]".to_string()),
        (42, "[1:CHILD]".to_string()),
    ];
    let c = ctx(&members);
    let child = stage(
        "[1:CHILD]",
        Stage::Child,
        42,
        Expect::Message {
            msg: "SYNC_USERMAP_ACK".into(),
            peer: Stage::Parent,
        },
    );
    let mut p = proc_in('S', Some("recvfrom(fd 8)"));
    p.waits_on = Some(socket_held_by(41));
    let xc = judge(&child, Some(&p), &c);
    assert_eq!(xc.kind, Kind::Peer);
    assert_eq!(xc.waits_on, "SYNC_USERMAP_ACK from [0:PARENT]");
    assert_eq!(xc.blocked_by, Some(41));
    assert_eq!(
        xc.other_end.as_deref(),
        Some("[0:PARENT] (pid 41, fd 6 rw)")
    );
    let parent = stage(
        "[0:PARENT]",
        Stage::Parent,
        41,
        Expect::Paused {
            step: "parent:before-id-maps".into(),
        },
    );
    let xp = judge(&parent, Some(&proc_in('T', None)), &c);
    let s = summarize(&[parent.clone(), child.clone()], &[xp, xc]);
    assert_eq!(s.culprit, Some(41));
    assert!(s
        .verdict
        .contains("held by INITSCOPE_PAUSE_AT at parent:before-id-maps"));
    assert_eq!(
        s.chain,
        vec!["[1:CHILD] (pid 42) waits for SYNC_USERMAP_ACK from [0:PARENT] — [0:PARENT] (pid 41)"]
    );
}

#[test]
fn facts_from_a_stream_cut_mid_bootstrap() {
    let evs = synth::initscope_bootstrap(Options::default());
    let cut = evs
        .iter()
        .position(|e| matches!(e, Event::Runtime(r) if matches!(&r.kind, EventKind::SyncSend { msg, .. } if msg == "SYNC_USERMAP_PLS")))
        .unwrap();
    let s = Session::from_events(&evs[..=cut]);
    let child = s.model.lane_of_pid(4102).unwrap();
    let f = facts::lane_facts(&s, child);
    assert_eq!(f.label, "[1:CHILD]");
    assert_eq!(
        f.expect,
        Expect::Message {
            msg: "SYNC_USERMAP_ACK".into(),
            peer: Stage::Parent
        }
    );
    assert_eq!(f.last_sent.as_ref().unwrap().msg, "SYNC_USERMAP_PLS");
    // The parent waits for the child's requests; create for the pids.
    let parent = facts::lane_facts(&s, s.model.lane_of_pid(4101).unwrap());
    assert!(matches!(
        &parent.expect,
        Expect::Message {
            peer: Stage::Child,
            ..
        }
    ));
    // The viewer asks about every silent stage once the threshold has passed, not before.
    let last = s.model.last_ts;
    assert!(live::batches(&s, 2_000_000_000, last + 1_000_000_000).is_empty());
    let b = live::batches(&s, 2_000_000_000, last + 3_000_000_000);
    let pids: Vec<i32> = b
        .iter()
        .flat_map(|b| b.items.iter().map(|f| f.pid))
        .collect();
    assert!(
        pids.contains(&4100) && pids.contains(&4101) && pids.contains(&4102),
        "{pids:?}"
    );
    assert_eq!(b[0].container, "demo");
}

#[test]
fn a_finished_bootstrap_is_never_stuck() {
    let s = Session::from_events(&synth::initscope_bootstrap(Options::default()));
    let last = s.model.last_ts;
    assert!(live::batches(&s, 2_000_000_000, last + 60_000_000_000).is_empty());
    // runc seen by the kernel alone, finished: nothing either.
    let s = Session::from_events(&synth::runc_run(900, 5_000_000_000));
    let last = s.model.last_ts;
    assert!(live::batches(&s, 2_000_000_000, last + 60_000_000_000).is_empty());
}
