//! In-kernel filtering (a busy unrelated process tree produces nothing) and loss
//! accounting (a fork storm far beyond a tiny ring buffer: received + lost = produced).

mod probe_common;

use std::collections::HashSet;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use initscope_probe::held::Exit;
use initscope_probe::schema::{KernelEvent, KernelKind};
use initscope_probe::{Probe, ProbeOptions};
use probe_common::*;

/// A shell forking and exec'ing as fast as it can, in its own process group, which is
/// killed and reaped on drop. (This machine's pid 1 never reaps orphans, so this test
/// process becomes their subreaper and reaps the group itself.)
struct Busy(Child);

impl Busy {
    fn start() -> Busy {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl with integer arguments only.
        let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(r, 0, "PR_SET_CHILD_SUBREAPER");
        Busy(
            Command::new("sh")
                .args(["-c", "while :; do /bin/true; sh -c 'exit 0'; done"])
                .process_group(0)
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(-(self.0.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        // the shell and, reparented to us, whatever it was running
        while nix::sys::wait::waitpid(group, None).is_ok() {}
    }
}

/// The tgids of the tree rooted at the first snapshot, from fork events.
fn tree(events: &[KernelEvent]) -> HashSet<i32> {
    let mut t: HashSet<i32> = events
        .iter()
        .filter(|e| matches!(e.kind, KernelKind::Namespaces { .. }))
        .map(|e| e.tgid)
        .collect();
    for e in events {
        if let KernelKind::Fork { child_tgid, .. } = e.kind {
            assert!(
                t.contains(&e.tgid),
                "fork by an untracked process: {}",
                e.to_json()
            );
            t.insert(child_tgid);
        }
    }
    t
}

#[test]
fn a_busy_unrelated_tree_produces_no_events() {
    let _g = serial();
    let busy = Busy::start();
    std::thread::sleep(Duration::from_millis(100));
    let (events, exit, _probe) = trace_command(
        &["sh", "-c", "/bin/true; /bin/true; exit 0"],
        ProbeOptions::default(),
        Duration::from_secs(10),
    );
    drop(busy);
    assert_eq!(exit, Exit::Code(0));
    let t = tree(&events);
    assert_eq!(t.len(), 3, "sh and its two children\n{}", dump(&events));
    for e in &events {
        assert!(
            t.contains(&e.tgid),
            "event from outside the tree: {}",
            e.to_json()
        );
    }
}

#[test]
fn comm_prefix_catches_a_process_from_its_exec_and_nothing_else() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    // a program whose comm starts with the prefix: a copy of sh under another name
    let named = dir.path().join("iscprobe-sh");
    std::fs::copy("/bin/dash", &named).unwrap();
    let busy = Busy::start();
    let mut probe = Probe::load(ProbeOptions {
        comm_prefixes: vec!["iscprobe".into()],
        ..Default::default()
    })
    .unwrap();
    let mut run = Command::new(&named)
        .args(["-c", "/bin/true; exit 4"])
        .spawn()
        .unwrap();
    let pid = run.id() as i32;
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && !events
            .iter()
            .any(|e: &KernelEvent| e.tgid == pid && e.kind.name() == "exit")
    {
        probe.poll(Duration::from_millis(50), &mut events).unwrap();
    }
    assert_eq!(run.wait().unwrap().code(), Some(4));
    probe.poll(Duration::from_millis(50), &mut events).unwrap();
    drop(busy);
    let d = dump(&events);
    // first seen at its exec (the fork happened before it had the name)
    let first = events
        .iter()
        .find(|e| e.tgid == pid)
        .unwrap_or_else(|| panic!("not caught\n{d}"));
    assert!(
        matches!(&first.kind, KernelKind::Exec { filename, .. } if filename.ends_with("iscprobe-sh")),
        "{d}"
    );
    assert_eq!(first.comm, "iscprobe-sh");
    // its child followed, the busy shell loop not at all
    let forks: Vec<_> = by(&events, pid, "fork");
    assert_eq!(forks.len(), 1, "{d}");
    let KernelKind::Fork { child_tgid, .. } = forks[0].kind else {
        unreachable!()
    };
    for e in &events {
        assert!(
            e.tgid == pid || e.tgid == child_tgid,
            "event from outside: {}",
            e.to_json()
        );
    }
    assert!(by(&events, pid, "exit")
        .iter()
        .any(|e| matches!(e.kind, KernelKind::Exit { code: Some(4), .. })));
}

#[test]
fn a_fork_storm_beyond_a_tiny_ring_adds_up() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let storm = compile_c("storm", dir.path());
    let out = dir.path().join("storm.txt");
    let script = format!("exec {} 20000 > {}", storm.display(), out.display());
    let opts = ProbeOptions {
        ring_bytes: 4096, // ~25 fork records: the storm must overflow it
        ..Default::default()
    };
    let (events, exit, probe) =
        trace_command(&["sh", "-c", &script], opts, Duration::from_secs(120));
    assert_eq!(exit, Exit::Code(0));
    let text = std::fs::read_to_string(&out).unwrap();
    let field = |k: &str| -> u64 {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {text:?}"))
    };
    let (ok, failed) = (field("ok"), field("failed"));
    // per child: fork + clone_exit (in the storm) + exit; per failed fork: clone_exit;
    // the root: its exec of sh, sh's exec of the storm, and its exit
    let produced = 3 * ok + failed + 3;
    let received = events
        .iter()
        .filter(|e| {
            !matches!(
                e.kind,
                KernelKind::Namespaces { .. } | KernelKind::Lost { .. }
            )
        })
        .count() as u64;
    let lost_in_stream: u64 = events
        .iter()
        .map(|e| match e.kind {
            KernelKind::Lost { count } => count,
            _ => 0,
        })
        .sum();
    assert_eq!(lost_in_stream, probe.lost());
    assert!(
        probe.lost() > 0,
        "the storm should overflow a 4 KiB ring (received {received})"
    );
    assert_eq!(
        received + probe.lost(),
        produced,
        "received {received} + lost {} != produced {produced} (ok {ok}, failed {failed})",
        probe.lost()
    );
}
