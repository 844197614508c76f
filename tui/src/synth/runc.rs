//! `runc run` as the probe alone sees it.

use initscope_probe::schema::KernelKind;

use super::*;

/// `runc run ID` as the probe alone sees it (runc 1.1: renames, CLONE_PARENT forks,
/// cgroup namespace unshared in stage 2).
pub fn runc_run(pid: i32, t0: u64) -> Vec<Event> {
    let host = host_ns();
    let runc = pid;
    let p = pid + 6;
    let ch = pid + 7;
    let it = pid + 8;
    let nb = 4026532400;
    let mut ts = t0;
    let mut out = Vec::new();
    let mut at = |us: u64| {
        ts += us * 1000;
        ts
    };
    out.push(kernel(
        at(0),
        runc,
        900,
        "runc",
        runc,
        0,
        KernelKind::Namespaces { ns: host },
    ));
    out.push(kernel(
        at(4200),
        runc,
        900,
        "runc",
        runc,
        0,
        fork(p, runc, CLONE_VM | CLONE_VFORK | SIGCHLD, host, p),
    ));
    out.push(kernel(
        at(300),
        p,
        runc,
        "runc",
        p,
        0,
        KernelKind::Exec {
            filename: "/proc/self/exe".into(),
            argv: vec!["runc".into(), "init".into()],
            ret: 0,
            errno: None,
            ns: Some(host),
        },
    ));
    out.push(kernel(
        at(900),
        p,
        runc,
        "runc",
        p,
        0,
        KernelKind::Rename {
            old_comm: "runc".into(),
            new_comm: "runc:[0:PARENT]".into(),
        },
    ));
    out.push(kernel(
        at(250),
        p,
        runc,
        "runc:[0:PARENT]",
        p,
        0,
        fork(ch, runc, CLONE_PARENT | SIGCHLD, host, ch),
    ));
    out.push(kernel(
        at(40),
        ch,
        runc,
        "runc:[0:PARENT]",
        ch,
        0,
        KernelKind::Rename {
            old_comm: "runc:[0:PARENT]".into(),
            new_comm: "runc:[1:CHILD]".into(),
        },
    ));
    let flags = NEWNS | NEWUTS | NEWIPC | NEWNET | NEWPID;
    let mut ns = host;
    ns.mnt = nb + 1;
    ns.uts = nb + 2;
    ns.ipc = nb + 3;
    ns.net = nb + 5;
    ns.pid_for_children = nb + 4;
    out.push(kernel(
        at(500),
        ch,
        runc,
        "runc:[1:CHILD]",
        ch,
        0,
        KernelKind::Unshare {
            flags: names(flags),
            flags_raw: flags,
            ret: 0,
            errno: None,
            ns: Some(ns),
        },
    ));
    let mut ins = ns;
    ins.pid = ns.pid_for_children;
    out.push(kernel(
        at(80),
        ch,
        runc,
        "runc:[1:CHILD]",
        ch,
        0,
        fork(it, runc, CLONE_PARENT | SIGCHLD, ins, 1),
    ));
    out.push(kernel(
        at(40),
        it,
        runc,
        "runc:[1:CHILD]",
        1,
        1,
        KernelKind::Rename {
            old_comm: "runc:[1:CHILD]".into(),
            new_comm: "runc:[2:INIT]".into(),
        },
    ));
    out.push(kernel(
        at(200),
        ch,
        runc,
        "runc:[1:CHILD]",
        ch,
        0,
        KernelKind::Exit {
            code: Some(0),
            signal: None,
            core_dumped: false,
        },
    ));
    ins.cgroup = nb + 6;
    out.push(kernel(
        at(150),
        it,
        runc,
        "runc:[2:INIT]",
        1,
        1,
        KernelKind::Unshare {
            flags: names(NEWCGROUP),
            flags_raw: NEWCGROUP,
            ret: 0,
            errno: None,
            ns: Some(ins),
        },
    ));
    out.push(kernel(
        at(60),
        p,
        runc,
        "runc:[0:PARENT]",
        p,
        0,
        KernelKind::Exit {
            code: Some(0),
            signal: None,
            core_dumped: false,
        },
    ));
    out.push(kernel(
        at(9000),
        it,
        runc,
        "sh",
        1,
        1,
        KernelKind::Exec {
            filename: "/bin/sh".into(),
            argv: vec!["sh".into()],
            ret: 0,
            errno: None,
            ns: Some(ins),
        },
    ));
    out.push(kernel(
        at(3000),
        it,
        runc,
        "sh",
        1,
        1,
        KernelKind::Exit {
            code: Some(0),
            signal: None,
            core_dumped: false,
        },
    ));
    out.push(kernel(
        at(1500),
        runc,
        900,
        "runc",
        runc,
        0,
        KernelKind::Exit {
            code: Some(0),
            signal: None,
            core_dumped: false,
        },
    ));
    out
}
