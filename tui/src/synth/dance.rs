//! create → [0:PARENT] → [1:CHILD] → [2:INIT]: the clones, the namespaces and the sync
//! messages, up to the point where init is on its own.

use initscope_probe::schema::{KernelKind, Namespaces};
use initscope_runtime::events::schema::{EventKind, Stage};

use super::*;

/// Returns init's namespaces.
pub(super) fn run(g: &mut Gen, p: &Pids) -> Namespaces {
    let (create, parent, child, init) = (p.create, p.parent, p.child, p.init);
    let host = host_ns();
    let c = (Stage::Create, create);
    let pa = (Stage::Parent, parent);
    let ch = (Stage::Child, child);
    let it = (Stage::Init, init);
    let cc = "initscope-runt";
    let id = g.o.container.clone();
    let nb = g.o.ns_base;
    g.k(
        0,
        create,
        1000,
        cc,
        create,
        0,
        KernelKind::Namespaces { ns: host },
    );
    g.rt(
        40,
        Stage::Create,
        create,
        EventKind::StageStart {
            comm: "initscope-runtime".into(),
            ppid: 1000,
            ns_pid: Some(create),
        },
    );
    g.rt(
        30,
        Stage::Create,
        create,
        EventKind::State {
            status: "creating".into(),
        },
    );
    g.rt(
        900,
        Stage::Create,
        create,
        EventKind::CgroupJoin {
            path: format!("/initscope/{id}"),
            pid: create,
            mode: "hybrid".into(),
        },
    );
    g.k(
        120,
        create,
        1000,
        cc,
        create,
        0,
        fork(parent, create, SIGCHLD, host, parent),
    );
    g.rt(
        10,
        Stage::Create,
        create,
        EventKind::Clone {
            flags: vec![],
            flags_raw: SIGCHLD,
            child_pid: parent,
            child_stage: Stage::Parent,
        },
    );
    g.k(
        40,
        parent,
        create,
        cc,
        parent,
        0,
        KernelKind::Rename {
            old_comm: cc.into(),
            new_comm: "isc:[0:PARENT]".into(),
        },
    );
    g.rt(
        5,
        Stage::Parent,
        parent,
        EventKind::StageStart {
            comm: "isc:[0:PARENT]".into(),
            ppid: create,
            ns_pid: Some(parent),
        },
    );
    g.send(c, pa, "BOOTSTRAP_DATA");

    g.k(
        150,
        parent,
        create,
        "isc:[0:PARENT]",
        parent,
        0,
        fork(child, create, CLONE_PARENT | SIGCHLD, host, child),
    );
    g.rt(
        10,
        Stage::Parent,
        parent,
        EventKind::Clone {
            flags: names(CLONE_PARENT),
            flags_raw: CLONE_PARENT | SIGCHLD,
            child_pid: child,
            child_stage: Stage::Child,
        },
    );
    g.k(
        30,
        child,
        create,
        "isc:[0:PARENT]",
        child,
        0,
        KernelKind::Rename {
            old_comm: "isc:[0:PARENT]".into(),
            new_comm: "isc:[1:CHILD]".into(),
        },
    );
    g.rt(
        5,
        Stage::Child,
        child,
        EventKind::StageStart {
            comm: "isc:[1:CHILD]".into(),
            ppid: create,
            ns_pid: Some(child),
        },
    );

    let mut ns = host;
    let chc = "isc:[1:CHILD]";
    if g.o.userns {
        ns.user = nb;
        g.k(
            60,
            child,
            create,
            chc,
            child,
            0,
            KernelKind::Unshare {
                flags: names(NEWUSER),
                flags_raw: NEWUSER,
                ret: 0,
                errno: None,
                ns: Some(ns),
            },
        );
        g.rt(
            5,
            Stage::Child,
            child,
            EventKind::Unshare {
                flags: names(NEWUSER),
                flags_raw: NEWUSER,
            },
        );
        g.send(ch, pa, "SYNC_USERMAP_PLS");
        g.rt(
            80,
            Stage::Parent,
            parent,
            EventKind::UidMap {
                target_pid: child,
                lines: vec!["0 100000 65536".into()],
            },
        );
        g.rt(
            40,
            Stage::Parent,
            parent,
            EventKind::GidMap {
                target_pid: child,
                lines: vec!["0 100000 65536".into()],
                setgroups: None,
            },
        );
        g.send(pa, ch, "SYNC_USERMAP_ACK");
    }
    let rest = NEWNS | NEWUTS | NEWIPC | NEWNET | NEWPID | NEWCGROUP;
    ns.mnt = nb + 1;
    ns.uts = nb + 2;
    ns.ipc = nb + 3;
    ns.net = nb + 5;
    ns.cgroup = nb + 6;
    ns.pid_for_children = nb + 4;
    g.k(
        400,
        child,
        create,
        chc,
        child,
        0,
        KernelKind::Unshare {
            flags: names(rest),
            flags_raw: rest,
            ret: 0,
            errno: None,
            ns: Some(ns),
        },
    );
    g.rt(
        5,
        Stage::Child,
        child,
        EventKind::Unshare {
            flags: names(rest),
            flags_raw: rest,
        },
    );
    let mut init_ns = ns;
    init_ns.pid = ns.pid_for_children;
    g.k(
        90,
        child,
        create,
        chc,
        child,
        0,
        fork(init, create, CLONE_PARENT | SIGCHLD, init_ns, 1),
    );
    g.rt(
        10,
        Stage::Child,
        child,
        EventKind::Clone {
            flags: names(CLONE_PARENT),
            flags_raw: CLONE_PARENT | SIGCHLD,
            child_pid: init,
            child_stage: Stage::Init,
        },
    );
    g.k(
        30,
        init,
        create,
        chc,
        1,
        1,
        KernelKind::Rename {
            old_comm: chc.into(),
            new_comm: "isc:[2:INIT]".into(),
        },
    );
    g.rt(
        5,
        Stage::Init,
        init,
        EventKind::StageStart {
            comm: "isc:[2:INIT]".into(),
            ppid: create,
            ns_pid: Some(1),
        },
    );

    g.send(ch, pa, "SYNC_RECVPID_PLS");
    g.send(pa, ch, "SYNC_RECVPID_ACK");
    g.send(pa, c, "STAGE_PIDS");
    g.send(ch, pa, "SYNC_CHILD_FINISH");
    g.rt(
        10,
        Stage::Child,
        child,
        EventKind::StageExit {
            status: 0,
            dropped: 0,
        },
    );
    g.k(
        40,
        child,
        create,
        chc,
        child,
        0,
        KernelKind::Exit {
            code: Some(0),
            signal: None,
            core_dumped: false,
        },
    );
    g.send(pa, it, "SYNC_GRANDCHILD");
    g.send(it, pa, "SYNC_CHILD_FINISH");
    g.rt(
        10,
        Stage::Parent,
        parent,
        EventKind::StageExit {
            status: 0,
            dropped: 0,
        },
    );
    g.k(
        40,
        parent,
        create,
        "isc:[0:PARENT]",
        parent,
        0,
        KernelKind::Exit {
            code: Some(0),
            signal: None,
            core_dumped: false,
        },
    );

    init_ns
}
