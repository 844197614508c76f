//! The probe follows a runc-style double clone (tests/probe_data/dance.c): who creates
//! whom under CLONE_PARENT, the unshare flags, where namespace inodes change, and init
//! as pid 1 in its namespace.

mod probe_common;

use std::time::Duration;

use initscope_probe::held::Exit;
use initscope_probe::schema::{KernelKind, Namespaces};
use initscope_probe::ProbeOptions;
use probe_common::*;

fn names(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn follows_the_double_clone() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let dance = compile_c("dance", dir.path());
    let out = dir.path().join("stages.txt");
    let script = format!("exec {} /bin/true > {}", dance.display(), out.display());
    let (events, exit, probe) = trace_command(
        &["sh", "-c", &script],
        ProbeOptions::default(),
        Duration::from_secs(20),
    );
    let d = dump(&events);
    assert_eq!(exit, Exit::Code(0), "{d}");
    assert_eq!(probe.lost(), 0);
    let pids = stage_pids(&std::fs::read_to_string(&out).unwrap());
    let (create, s0, s1, s2) = (pids[&9], pids[&0], pids[&1], pids[&2]);

    // create → [0:PARENT]: an ordinary fork
    let f0 = fork_of(&events, s0);
    assert_eq!(f0.tgid, create);
    let KernelKind::Fork {
        parent_tgid, flags, ..
    } = &f0.kind
    else {
        unreachable!()
    };
    assert_eq!(*parent_tgid, create);
    assert!(!flags.contains(&"CLONE_PARENT".to_string()), "{flags:?}");

    // [0:PARENT] → [1:CHILD] with clone(CLONE_PARENT): the caller is s0, the parent is create
    let f1 = fork_of(&events, s1);
    assert_eq!(f1.tgid, s0, "who called clone");
    assert_eq!(f1.comm, "mini:[0:PARENT]");
    let KernelKind::Fork {
        parent_tgid,
        flags,
        syscall,
        child_ns_pid,
        ..
    } = &f1.kind
    else {
        unreachable!()
    };
    assert_eq!(*parent_tgid, create, "CLONE_PARENT makes create the parent");
    assert_eq!(syscall, "clone");
    assert_eq!(names(flags), vec!["CLONE_PARENT"]);
    assert_eq!(*child_ns_pid, s1);

    // [1:CHILD]: unshare(CLONE_NEWUSER), then the rest
    let un = by(&events, s1, "unshare");
    assert_eq!(un.len(), 2, "{d}");
    let KernelKind::Unshare {
        flags,
        ret: 0,
        ns: Some(after_user),
        ..
    } = &un[0].kind
    else {
        panic!("{d}")
    };
    assert_eq!(names(flags), vec!["CLONE_NEWUSER"]);
    let host = Namespaces { ..host_ns() };
    assert_ne!(after_user.user, host.user, "new user namespace");
    assert_eq!(after_user.mnt, host.mnt);
    let KernelKind::Unshare {
        flags,
        ret: 0,
        ns: Some(after),
        ..
    } = &un[1].kind
    else {
        panic!("{d}")
    };
    assert_eq!(
        names(flags),
        vec![
            "CLONE_NEWNS",
            "CLONE_NEWCGROUP",
            "CLONE_NEWUTS",
            "CLONE_NEWIPC",
            "CLONE_NEWPID",
            "CLONE_NEWNET"
        ]
    );
    for (what, a, h) in [
        ("mnt", after.mnt, host.mnt),
        ("uts", after.uts, host.uts),
        ("ipc", after.ipc, host.ipc),
        ("net", after.net, host.net),
        ("cgroup", after.cgroup, host.cgroup),
    ] {
        assert_ne!(a, h, "{what} namespace should be new after unshare");
    }
    assert_eq!(
        after.pid, host.pid,
        "unshare(CLONE_NEWPID) does not move the caller"
    );
    assert_ne!(
        after.pid_for_children, host.pid_for_children,
        "but its children"
    );
    assert_eq!(after.user, after_user.user);
    assert_eq!(un[1].comm, "mini:[1:CHILD]");

    // [1:CHILD] → [2:INIT] with clone3(CLONE_PARENT): pid 1 in the new pid namespace
    let f2 = fork_of(&events, s2);
    assert_eq!(f2.tgid, s1, "who called clone3");
    let KernelKind::Fork {
        parent_tgid,
        flags,
        syscall,
        child_ns_pid,
        child_ns: Some(cns),
        ..
    } = &f2.kind
    else {
        unreachable!()
    };
    assert_eq!(*parent_tgid, create);
    assert_eq!(syscall, "clone3");
    assert_eq!(names(flags), vec!["CLONE_PARENT"]);
    assert_eq!(*child_ns_pid, 1);
    assert_eq!(cns.pid, after.pid_for_children);
    assert_eq!(
        (cns.mnt, cns.net, cns.user),
        (after.mnt, after.net, after.user)
    );
    // clone3's flags read from user memory at sys_enter
    let ce = by(&events, s1, "clone_exit");
    assert!(ce.iter().any(|e| matches!(&e.kind, KernelKind::CloneExit { syscall, flags, ret, .. } if syscall == "clone3" && names(flags) == ["CLONE_PARENT"] && *ret == s2 as i64)), "{d}");

    // [2:INIT]: named, pid 1 at level 1, setns once right and once wrong, then exec
    let rn = by(&events, s2, "rename");
    assert!(rn.iter().any(|e| matches!(&e.kind, KernelKind::Rename { new_comm, .. } if new_comm == "mini:[2:INIT]")), "{d}");
    let sn = by(&events, s2, "setns");
    assert_eq!(sn.len(), 2, "{d}");
    assert!(
        matches!(&sn[0].kind, KernelKind::Setns { ret: 0, nstype, .. } if names(nstype) == ["CLONE_NEWUTS"])
    );
    assert!(
        matches!(&sn[1].kind, KernelKind::Setns { ret: -22, errno: Some(e), nstype, .. } if e == "EINVAL" && names(nstype) == ["CLONE_NEWNET"])
    );
    assert_eq!((sn[0].ns_pid, sn[0].ns_level), (1, 1));
    let ex = by(&events, s2, "exec");
    assert_eq!(ex.len(), 1, "{d}");
    let KernelKind::Exec {
        filename,
        argv,
        ns: Some(ens),
        ..
    } = &ex[0].kind
    else {
        unreachable!()
    };
    assert_eq!(filename, "/bin/true");
    assert_eq!(argv, &vec!["/bin/true", "from-init"]);
    assert_eq!(ens.pid, cns.pid);
    assert_eq!((ex[0].ns_pid, ex[0].ns_level, ex[0].ppid), (1, 1, create));

    // the renames name the stages
    for (pid, name) in [(s0, "mini:[0:PARENT]"), (s1, "mini:[1:CHILD]")] {
        assert!(
            by(&events, pid, "rename").iter().any(
                |e| matches!(&e.kind, KernelKind::Rename { new_comm, .. } if new_comm == name)
            ),
            "{name}\n{d}"
        );
    }
    // everyone exits 0
    for pid in [create, s0, s1, s2] {
        let ex = by(&events, pid, "exit");
        assert_eq!(ex.len(), 1, "exit of {pid}\n{d}");
        assert!(
            matches!(ex[0].kind, KernelKind::Exit { code: Some(0), .. }),
            "{d}"
        );
    }
}

/// This test process's namespaces (the host's, as far as the test is concerned).
fn host_ns() -> Namespaces {
    Namespaces {
        pid: ns_inode("pid"),
        pid_for_children: ns_inode("pid_for_children"),
        mnt: ns_inode("mnt"),
        net: ns_inode("net"),
        uts: ns_inode("uts"),
        ipc: ns_inode("ipc"),
        cgroup: ns_inode("cgroup"),
        user: ns_inode("user"),
        time: ns_inode("time"),
    }
}
