//! The probe sees one tracked process fork, exec and exit — and nothing it should not.

mod probe_common;

use std::time::Duration;

use initscope_probe::held::Exit;
use initscope_probe::schema::KernelKind;
use initscope_probe::ProbeOptions;
use probe_common::*;

#[test]
fn sees_fork_exec_exit_of_a_tracked_process() {
    let _g = serial();
    let (events, exit, probe) = trace_command(
        &["sh", "-c", "/bin/true; exit 3"],
        ProbeOptions::default(),
        Duration::from_secs(10),
    );
    assert_eq!(exit, Exit::Code(3));
    assert!(
        probe.warnings().is_empty(),
        "warnings: {:?}",
        probe.warnings()
    );
    assert_eq!(probe.lost(), 0);
    assert_eq!(probe.decode_errors(), 0);
    let d = dump(&events);

    // the held child: first a namespaces snapshot, then its exec of sh
    let root = match &events[0].kind {
        KernelKind::Namespaces { ns } => {
            assert_ne!(ns.pid, 0);
            events[0].tgid
        }
        k => panic!("first event should be the snapshot, got {k:?}\n{d}"),
    };
    let execs = of_kind(&events, "exec");
    let sh = execs
        .iter()
        .find(|e| e.tgid == root)
        .unwrap_or_else(|| panic!("no exec of sh\n{d}"));
    match &sh.kind {
        KernelKind::Exec {
            filename,
            argv,
            ret,
            ns,
            ..
        } => {
            assert!(filename.ends_with("sh"), "{filename}");
            assert_eq!(argv, &vec!["sh", "-c", "/bin/true; exit 3"]);
            assert_eq!(*ret, 0);
            // the same namespaces as this test process
            let ns = ns.expect("exec reports namespaces");
            assert_eq!(ns.mnt, ns_inode("mnt"));
            assert_eq!(ns.pid, ns_inode("pid"));
            assert_eq!(ns.user, ns_inode("user"));
            assert_eq!(ns.net, ns_inode("net"));
        }
        _ => unreachable!(),
    }

    // sh forks a child that execs /bin/true and exits 0
    let forks = of_kind(&events, "fork");
    assert_eq!(forks.len(), 1, "{d}");
    let (child, flags) = match &forks[0].kind {
        KernelKind::Fork {
            child_tgid,
            parent_tgid,
            syscall,
            flags,
            child_ns_pid,
            ..
        } => {
            assert_eq!(forks[0].tgid, root, "the creator is sh");
            assert_eq!(*parent_tgid, root);
            assert_eq!(*child_ns_pid, *child_tgid, "host pid namespace");
            assert!(
                syscall == "clone"
                    || syscall == "clone3"
                    || syscall == "fork"
                    || syscall == "vfork",
                "{syscall}"
            );
            (*child_tgid, flags.clone())
        }
        _ => unreachable!(),
    };
    assert!(!flags.contains(&"CLONE_THREAD".to_string()));
    assert!(
        execs.iter().any(|e| e.tgid == child
            && matches!(&e.kind, KernelKind::Exec { filename, .. } if filename == "/bin/true")),
        "{d}"
    );
    let exits = of_kind(&events, "exit");
    assert!(
        exits
            .iter()
            .any(|e| e.tgid == child && matches!(e.kind, KernelKind::Exit { code: Some(0), .. })),
        "{d}"
    );
    assert!(
        exits
            .iter()
            .any(|e| e.tgid == root && matches!(e.kind, KernelKind::Exit { code: Some(3), .. })),
        "{d}"
    );
    // the clone returned the child's pid in sh
    assert!(
        of_kind(&events, "clone_exit")
            .iter()
            .any(|e| matches!(e.kind, KernelKind::CloneExit { ret, .. } if ret == child as i64)),
        "{d}"
    );

    // nothing from anyone else: every event is the root's or its child's
    for e in &events {
        assert!(
            e.tgid == root || e.tgid == child,
            "stray event from {}: {}",
            e.tgid,
            e.to_json()
        );
    }
    // and both left the tracked map
    assert!(!probe.is_tracked(root) && !probe.is_tracked(child));
}
