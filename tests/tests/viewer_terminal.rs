//! The viewer in a real terminal: tmux runs it, capture-pane shows what a person sees;
//! `q` and SIGTERM leave the terminal as it was (cooked mode, main screen).

mod viewer_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use viewer_common::{initscope, Tmux};

use initscope::synth::{self, Options};

fn recording(dir: &Path) -> PathBuf {
    let p = dir.join("demo.jsonl");
    let text: String = synth::initscope_bootstrap(Options::default())
        .iter()
        .map(|e| e.to_json() + "\n")
        .collect();
    std::fs::write(&p, text).unwrap();
    p
}

/// The shell prints the terminal mode after initscope exits: `icanon`/`echo` mean the
/// terminal was restored (raw mode shows `-icanon -echo`).
fn command(file: &Path) -> String {
    format!(
        "{} replay {}; echo EXIT=$? MODES $(stty -a | tr ' ;' '\\n\\n' | grep -E '^-?(icanon|echo)$' | tr '\\n' ' ') END; sleep 60",
        initscope().display(),
        file.display()
    )
}

#[test]
fn replay_shows_the_four_lanes_and_sync_messages_then_quits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let rec = recording(dir.path());
    let t = Tmux::start(&command(&rec), 120, 40);
    t.wait_for("event 0/");
    // To the end, then to the first row of the diagram.
    t.keys(&["End", "g"]);
    let screen = t.wait_for("SYNC_USERMAP_PLS");
    for lane in ["create", "[0:PARENT]", "[1:CHILD]", "[2:INIT]"] {
        assert!(screen.contains(lane), "lane {lane} missing:\n{screen}");
    }
    for msg in [
        "BOOTSTRAP_DATA",
        "SYNC_USERMAP_PLS",
        "SYNC_USERMAP_ACK",
        "clone(PARENT)",
    ] {
        assert!(screen.contains(msg), "{msg} missing:\n{screen}");
    }
    t.keys(&["q"]);
    let after = viewer_common::assert_ended_with_terminal_restored(&t);
    assert!(
        !after.contains("[1:CHILD]"),
        "alternate screen not left:\n{after}"
    );
}

#[test]
fn sigterm_restores_the_terminal_too() {
    let dir = tempfile::tempdir().unwrap();
    let rec = recording(dir.path());
    let t = Tmux::start(&command(&rec), 100, 30);
    t.wait_for("event 0/");
    // The viewer itself, not the shell around it (whose command line also names the file).
    let pattern = format!("^{} replay {}", initscope().display(), rec.display());
    let pid = Command::new("pgrep")
        .args(["-f", &pattern])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&pid.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    assert!(!pid.is_empty());
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    viewer_common::assert_ended_with_terminal_restored(&t);
}

#[test]
fn closing_the_terminal_ends_the_viewer() {
    let dir = tempfile::tempdir().unwrap();
    let rec = recording(dir.path());
    let t = Tmux::start(&command(&rec), 100, 30);
    t.wait_for("event 0/");
    let pattern = format!("^{} replay {}", initscope().display(), rec.display());
    let out = Command::new("pgrep")
        .args(["-f", &pattern])
        .output()
        .unwrap();
    let pid: i32 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    drop(t); // the window closes: the pty hangs up
    let gone = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
    };
    let start = std::time::Instant::now();
    while !gone(pid) && start.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let alive = !gone(pid);
    if alive {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    assert!(
        !alive,
        "initscope {pid} still running after its terminal closed"
    );
}
