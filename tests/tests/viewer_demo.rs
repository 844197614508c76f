//! `initscope demo` in a real terminal, as the README tells people to run it: the four
//! stages appear as lanes with the sync messages between them, `q` quits, the terminal
//! is restored, and nothing is left behind (temp dir, container, processes).

mod viewer_common;

use std::process::Command;

use initscope::session::Session;
use initscope_runtime::events::schema::Stage;
use viewer_common::{initscope, Tmux};

/// The tests compare the demo temp dirs before and after: one demo at a time.
static ONE_DEMO: std::sync::Mutex<()> = std::sync::Mutex::new(());

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
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
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
    viewer_common::assert_ended_with_terminal_restored(&t);
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

/// Cgroup directories of a demo's container (`<hierarchy>/initscope/initscope-demo-<pid>`).
fn demo_cgroups(demo_pid: i32) -> Vec<String> {
    let id = format!("initscope-demo-{demo_pid}");
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path().join("initscope").join(&id))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect()
}

/// Closing the window while the container waits for `start`: the viewer's terminal hangs
/// up under it, yet it still deletes the container — no process, cgroup or temp dir stays.
/// (ratatui's own terminal teardown used to panic on the dead tty and skip the delete.)
#[test]
fn closing_the_window_mid_bootstrap_still_deletes_the_container() {
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    let before = leftovers(None);
    let t = Tmux::start(&format!("{} demo", initscope().display()), 160, 48);
    t.wait_for("waits on exec.fifo");
    let out = Command::new("pgrep")
        .args(["-f", &format!("^{} demo$", initscope().display())])
        .output()
        .unwrap();
    let demo_pid: i32 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("initscope demo is running");
    assert!(
        !demo_cgroups(demo_pid).is_empty(),
        "the container's cgroup exists"
    );
    drop(t); // kills the tmux server: the pty hangs up
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{demo_pid}")).exists()
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(leftovers(Some(demo_pid)), before, "left behind");
    assert_eq!(demo_cgroups(demo_pid), Vec::<String>::new(), "cgroups left");
}
