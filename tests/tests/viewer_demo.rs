//! `initscope demo` in a real terminal, as the README tells people to run it: the four
//! stages appear as lanes with the sync messages between them, `q` quits, the terminal
//! is restored, and nothing is left behind (temp dir, container, processes).

mod viewer_common;

use std::process::Command;

use initscope::session::Session;
use initscope_runtime::events::schema::Stage;
use viewer_common::{initscope, Tmux};

/// Temp dirs of demos, and processes in a demo container's cgroup (`…/initscope-demo-<pid>`).
fn leftovers(demo_pid: Option<i32>) -> Vec<String> {
    let mut left: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("initscope-demo-"))
        .collect();
    if let Some(pid) = demo_pid {
        let id = format!("initscope-demo-{pid}");
        for p in std::fs::read_dir("/proc").unwrap().flatten() {
            let cg = std::fs::read_to_string(p.path().join("cgroup")).unwrap_or_default();
            if cg.contains(&id) {
                left.push(format!("pid {} in {id}", p.file_name().to_string_lossy()));
            }
        }
    }
    left
}

#[test]
fn demo_shows_the_four_stages_live_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("demo.jsonl");
    let cmd = format!(
        "{} demo --record {}; echo EXIT=$? MODES $(stty -a | tr ' ;' '\\n\\n' | grep -E '^-?(icanon|echo)$' | tr '\\n' ' ') END; sleep 60",
        initscope().display(),
        rec.display()
    );
    let before = leftovers(None);
    let t = Tmux::start(&cmd, 160, 48);
    // create → … → start: the FIFO arrow means the whole dance happened.
    let end = t.wait_for("exec.fifo → running");
    assert!(end.contains("exec.fifo → running"), "{end}");
    let pattern = format!("^{} demo --record", initscope().display());
    let out = Command::new("pgrep")
        .args(["-f", &pattern])
        .output()
        .unwrap();
    let demo_pid: Option<i32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok());
    assert!(
        demo_pid.is_some(),
        "initscope demo is running:\n{}",
        t.capture()
    );
    t.keys(&["g"]);
    let top = t.wait_for("SYNC_USERMAP_PLS");
    for lane in ["create", "[0:PARENT]", "[1:CHILD]", "[2:INIT]"] {
        assert!(top.contains(lane), "lane {lane} missing:\n{top}");
    }
    for msg in [
        "BOOTSTRAP_DATA",
        "clone(PARENT)",
        "SYNC_USERMAP_PLS",
        "SYNC_USERMAP_ACK",
        "SYNC_RECVPID_PLS",
    ] {
        assert!(top.contains(msg), "{msg} missing:\n{top}");
    }
    t.keys(&["q"]);
    let after = t.wait_for(" END");
    assert!(after.contains("EXIT=0"), "{after}");
    assert!(
        after.contains("icanon echo") || after.contains("echo icanon"),
        "terminal left raw:\n{after}"
    );
    assert_eq!(leftovers(demo_pid), before, "left behind");
    // The recording has both sources and replays as the same four stages.
    let s = Session::load(&rec).unwrap();
    assert!(
        s.model.counts[0] > 20 && s.model.counts[1] > 10,
        "{:?}",
        s.model.counts
    );
    for stage in [
        Stage::Create,
        Stage::Parent,
        Stage::Child,
        Stage::Init,
        Stage::Start,
    ] {
        assert!(
            s.model.lanes.iter().any(|l| l.role == Some(stage)),
            "{stage:?}"
        );
    }
}
