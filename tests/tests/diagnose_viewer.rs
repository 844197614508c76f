//! The verdict live in the real viewer, in a real terminal: `initscope demo` holds
//! `[1:CHILD]` at a pause point; after `--stuck-after` the lane turns STUCK, the status
//! line says `stuck: [1:CHILD] …` and the details pane gives the verdict; `c` sends
//! SIGCONT, the bootstrap completes and nothing is stuck any more.

mod diagnose_common;
mod viewer_common;

use std::time::{Duration, Instant};

use diagnose_common::initscope_bin;
use viewer_common::Tmux;

#[test]
fn a_held_stage_turns_red_with_its_verdict_and_c_lets_it_go() {
    assert!(initscope_tests::is_root(), "the demo needs root");
    // The runtime beside initscope is the one the demo runs.
    let _ = initscope_tests::runtime_bin();
    let cmd = format!(
        "{} demo --pause-at child:before-unshare --stuck-after 1; echo EXIT=$? END; sleep 60",
        initscope_bin().display()
    );
    let t = Tmux::start(&cmd, 160, 48);
    let screen = t.wait_for("stuck: [1:CHILD]");
    assert!(screen.contains("stuck: [1:CHILD]"), "{screen}");
    let line = screen
        .lines()
        .find(|l| l.contains("stuck: [1:CHILD]"))
        .unwrap();
    assert!(
        line.contains("SIGCONT (INITSCOPE_PAUSE_AT child:before-unshare)"),
        "{line}"
    );
    assert!(screen.contains("STUCK"), "{screen}");
    // The details pane, full screen (Enter): the verdict, what to do.
    t.keys(&["Enter"]);
    let details = t.wait_for("held by INITSCOPE_PAUSE_AT");
    let flat = details.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("held by INITSCOPE_PAUSE_AT at child:before-unshare"),
        "{details}"
    );
    assert!(flat.contains("kill -CONT"), "{details}");
    assert!(flat.contains("STUCK: waits on SIGCONT"), "{details}");
    t.keys(&["Escape"]);
    // c: SIGCONT to the held stage; the bootstrap completes and nothing is stuck.
    t.keys(&["c"]);
    let done = t.wait_for("exec.fifo → running");
    assert!(done.contains("exec.fifo → running"), "{done}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now = t.capture();
    while now.contains("stuck:") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        now = t.capture();
    }
    assert!(!now.contains("stuck:"), "still stuck after it ran:\n{now}");
    t.keys(&["q"]);
    let end = t.wait_for(" END");
    assert!(end.contains("EXIT=0"), "{end}");
}
