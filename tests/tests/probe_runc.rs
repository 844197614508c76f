//! Debian's runc, traced from the kernel's side: its three `runc:[…]` stages recognised
//! from their renames, with runc's clone and unshare flags.

mod probe_common;

use std::time::Duration;

use initscope_probe::held::Exit;
use initscope_probe::schema::KernelKind;
use initscope_probe::ProbeOptions;
use probe_common::*;

#[test]
fn recognises_runc_stages_and_flags() {
    let _g = serial();
    let b = RuncBundle::new(&["/bin/echo", "hello"]);
    let argv = b.run_argv();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let (events, exit, probe) =
        trace_command(&argv, ProbeOptions::default(), Duration::from_secs(30));
    let d = dump(&events);
    assert_eq!(exit, Exit::Code(0), "{d}");
    assert_eq!(probe.lost(), 0);
    let create = events[0].tgid;

    let parent = renamed_to(&events, "runc:[0:PARENT]");
    let child = renamed_to(&events, "runc:[1:CHILD]");
    let init = renamed_to(&events, "runc:[2:INIT]");
    assert!(parent != child && child != init && parent != init, "{d}");

    // [0:PARENT] was made by runc create (via exec of runc init)
    let f = fork_of(&events, parent);
    assert_eq!(f.tgid, create);

    // [0:PARENT] → [1:CHILD]: clone(CLONE_PARENT), so create is the parent
    let f = fork_of(&events, child);
    assert_eq!(f.tgid, parent, "[0:PARENT] calls clone");
    assert_eq!(f.comm, "runc:[0:PARENT]");
    let KernelKind::Fork {
        parent_tgid, flags, ..
    } = &f.kind
    else {
        unreachable!()
    };
    assert_eq!(*parent_tgid, create);
    assert!(flags.iter().any(|f| f == "CLONE_PARENT"), "{flags:?}");

    // [1:CHILD] unshares what config.json asks (runc spec: pid, net, ipc, uts, mount)
    let un = by(&events, child, "unshare");
    let all: Vec<&String> = un
        .iter()
        .flat_map(|e| match &e.kind {
            KernelKind::Unshare { flags, ret: 0, .. } => flags.iter(),
            k => panic!("failed unshare {k:?}"),
        })
        .collect();
    for want in [
        "CLONE_NEWNS",
        "CLONE_NEWUTS",
        "CLONE_NEWIPC",
        "CLONE_NEWPID",
        "CLONE_NEWNET",
    ] {
        assert!(
            all.iter().any(|f| *f == want),
            "{want} missing in {all:?}\n{d}"
        );
    }

    // [1:CHILD] → [2:INIT]: clone(CLONE_PARENT) into the new pid namespace as pid 1
    let f = fork_of(&events, init);
    assert_eq!(f.tgid, child, "[1:CHILD] calls clone");
    let KernelKind::Fork {
        parent_tgid,
        flags,
        child_ns_pid,
        ..
    } = &f.kind
    else {
        unreachable!()
    };
    assert_eq!(*parent_tgid, create);
    assert!(flags.iter().any(|f| f == "CLONE_PARENT"), "{flags:?}");
    assert_eq!(*child_ns_pid, 1);

    // [2:INIT] becomes the container's process, pid 1, and exits 0; the others exit 0 first
    let ex = by(&events, init, "exec");
    assert!(ex.iter().any(|e| matches!(&e.kind, KernelKind::Exec { filename, argv, .. } if filename == "/bin/echo" && argv == &["/bin/echo", "hello"])), "{d}");
    assert!(ex.iter().all(|e| e.ns_pid == 1 && e.ns_level == 1));
    for pid in [parent, child, init, create] {
        assert!(
            by(&events, pid, "exit")
                .iter()
                .any(|e| matches!(e.kind, KernelKind::Exit { code: Some(0), .. })),
            "exit of {pid}\n{d}"
        );
    }
}

/// Another runtime, another shape: Debian's crun makes the container's process with one
/// clone carrying every CLONE_NEW* flag. (crun refuses this machine's hybrid cgroup layout
/// unless cgroup2 is unmounted, which is done in a private mount namespace.)
#[test]
fn sees_crun_clone_straight_into_new_namespaces() {
    let _g = serial();
    let b = RuncBundle::new(&["/bin/echo", "hello"]);
    let crun = b.run_argv_with("/usr/bin/crun").join(" ");
    let script = format!("umount /sys/fs/cgroup/unified 2>/dev/null; exec {crun}");
    let argv = ["unshare", "-m", "sh", "-c", &script];
    let (events, exit, probe) =
        trace_command(&argv, ProbeOptions::default(), Duration::from_secs(30));
    let d = dump(&events);
    assert_eq!(exit, Exit::Code(0), "{d}");
    assert_eq!(probe.lost(), 0);
    let root = events[0].tgid;
    // the private mount namespace, seen as an unshare
    assert!(by(&events, root, "unshare").iter().any(|e| matches!(&e.kind, KernelKind::Unshare { flags, ret: 0, .. } if flags == &["CLONE_NEWNS"])), "{d}");
    // crun's one clone: into new namespaces, the child pid 1 in its own
    let fork = events
        .iter()
        .find(|e| matches!(&e.kind, KernelKind::Fork { flags, .. } if flags.iter().any(|f| f == "CLONE_NEWPID")))
        .unwrap_or_else(|| panic!("no clone with CLONE_NEWPID\n{d}"));
    assert_eq!(fork.comm, "crun");
    let KernelKind::Fork {
        child_tgid,
        child_ns_pid,
        flags,
        child_ns: Some(cns),
        ..
    } = &fork.kind
    else {
        unreachable!()
    };
    for want in [
        "CLONE_NEWNS",
        "CLONE_NEWUTS",
        "CLONE_NEWIPC",
        "CLONE_NEWNET",
    ] {
        assert!(
            flags.iter().any(|f| f == want),
            "{want} missing in {flags:?}"
        );
    }
    assert_eq!(*child_ns_pid, 1);
    assert_ne!(cns.pid, ns_inode("pid"));
    let ex = by(&events, *child_tgid, "exec");
    assert!(
        ex.iter().any(|e| e.ns_pid == 1
            && matches!(&e.kind, KernelKind::Exec { filename, .. } if filename == "/bin/echo")),
        "{d}"
    );
    assert!(
        by(&events, *child_tgid, "exit")
            .iter()
            .any(|e| matches!(e.kind, KernelKind::Exit { code: Some(0), .. })),
        "{d}"
    );
}
