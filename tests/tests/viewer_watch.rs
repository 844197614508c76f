//! `initscope watch` end to end: events sent to its socket (as initscope-runtime sends
//! them) appear as lanes and messages in a real terminal; `--record` keeps exactly what
//! arrived; the socket file is gone after `q`.

mod viewer_common;

use std::os::unix::net::UnixDatagram;
use std::thread::sleep;
use std::time::{Duration, Instant};

use initscope::synth::{self, Options};
use viewer_common::{initscope, Tmux};

#[test]
fn watch_shows_bootstraps_sent_to_its_socket_and_records_them() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("events.sock");
    let rec = dir.path().join("watch.jsonl");
    let cmd = format!(
        "{} watch --no-probe --socket {} --record {}; echo EXIT=$? END; sleep 60",
        initscope().display(),
        sock.display(),
        rec.display()
    );
    let t = Tmux::start(&cmd, 140, 40);
    let start = Instant::now();
    while !sock.exists() && start.elapsed() < Duration::from_secs(10) {
        sleep(Duration::from_millis(50));
    }
    assert!(sock.exists(), "watch did not bind:\n{}", t.capture());
    // Runtime events only (no probe here): one line per datagram (the runtime sends batches
    // of whole lines; the viewer splits either).
    let events = synth::initscope_bootstrap(Options {
        kernel: false,
        start: false,
        ..Options::default()
    });
    let tx = UnixDatagram::unbound().unwrap();
    let lines: Vec<String> = events.iter().map(|e| e.to_json()).collect();
    for l in &lines {
        tx.send_to(l.as_bytes(), &sock).unwrap();
    }
    // Up to the top of the diagram to see the first messages.
    let screen = t.wait_for("waits exec.fifo");
    t.keys(&["g"]);
    let screen2 = t.wait_for("BOOTSTRAP_DATA");
    for lane in ["create", "[0:PARENT]", "[1:CHILD]", "[2:INIT]"] {
        assert!(
            screen2.contains(lane),
            "lane {lane} missing:\n{screen2}\n{screen}"
        );
    }
    for msg in [
        "BOOTSTRAP_DATA",
        "SYNC_USERMAP_PLS",
        "SYNC_USERMAP_ACK",
        "SYNC_RECVPID_PLS",
    ] {
        assert!(screen2.contains(msg), "{msg} missing:\n{screen2}");
    }
    assert!(screen2.contains("● live"), "{screen2}");
    // The event list reads full events back from the recording as it grows.
    t.keys(&["Tab"]);
    let list = t.wait_for("SYNC_USERMAP_PLS → parent");
    assert!(list.contains("SYNC_USERMAP_PLS → parent"), "{list}");
    assert!(!list.contains("(unreadable)"), "{list}");
    t.keys(&["q"]);
    let after = t.wait_for(" END");
    assert!(after.contains("EXIT=0"), "{after}");
    assert!(!sock.exists(), "socket left behind");
    let recorded = std::fs::read_to_string(&rec).unwrap();
    assert_eq!(recorded.lines().collect::<Vec<_>>(), lines);
}

#[test]
fn watch_without_a_terminal_says_so_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("events.sock");
    let out = std::process::Command::new(initscope())
        .args(["watch", "--no-probe", "--socket"])
        .arg(&sock)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(!sock.exists(), "the socket was left behind");
}
