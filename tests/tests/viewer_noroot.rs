//! Without root: demo, run and trace say in one line what they need and point at a
//! shipped recording; export of the shipped recordings works.

mod viewer_common;

use std::path::PathBuf;
use std::process::Command;

use viewer_common::initscope;

/// Run initscope as nobody (uid/gid 65534, no capabilities).
fn as_nobody(args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(initscope())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("setpriv (util-linux)")
}

#[test]
fn demo_run_and_trace_explain_what_they_need() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().display().to_string();
    for args in [
        vec!["demo"],
        vec!["run", bundle.as_str()],
        vec!["trace", "--", "true"],
        vec!["trace", "--json", "--", "true"],
    ] {
        let out = as_nobody(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("needs root"), "{args:?}: {err}");
        assert!(
            err.contains("initscope replay tui/recordings/"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn the_shipped_recordings_export_without_root() {
    let rec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tui/recordings");
    let mut n = 0;
    for entry in std::fs::read_dir(&rec).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "jsonl") {
            let out = as_nobody(&["export", p.to_str().unwrap(), "--format", "mermaid"]);
            assert!(
                out.status.success(),
                "{}: {}",
                p.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("create") && text.contains("[2:INIT]"),
                "{text}"
            );
            n += 1;
        }
    }
    assert!(n >= 1);
}

/// `watch` without root and without `$XDG_RUNTIME_DIR` (so root's socket is the default):
/// one line that says what to do instead, on a real terminal.
#[test]
fn watch_without_root_names_the_socket_and_the_way_out() {
    let t = viewer_common::Tmux::start(
        &format!(
            "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
             env -u XDG_RUNTIME_DIR {} watch --no-probe; echo \"exit $?\"; sleep 30",
            initscope().display()
        ),
        250,
        10,
    );
    let screen = t.wait_for("exit ");
    assert!(
        screen.contains(
            "binding /run/initscope/events.sock: permission denied; run as root, or give a \
             socket you may make with --socket PATH"
        ),
        "{screen}"
    );
    assert!(screen.contains("exit 1"), "{screen}");
    assert_eq!(
        screen
            .lines()
            .filter(|l| l.starts_with("initscope:"))
            .count(),
        1,
        "{screen}"
    );
}
