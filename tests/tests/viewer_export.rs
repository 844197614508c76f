//! `initscope export` end to end: Mermaid participants and messages in order, SVG that is
//! well-formed XML with a lane per process, and clear errors for bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use initscope::synth::{self, Options};

fn initscope() -> PathBuf {
    // tests/…/deps/viewer_export-HASH → target/<profile>/initscope
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("initscope")
}

fn write_recording(dir: &Path, events: &[initscope::event::Event]) -> PathBuf {
    let p = dir.join("boot.jsonl");
    let text: String = events.iter().map(|e| e.to_json() + "\n").collect();
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn mermaid_has_the_stages_and_messages_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let rec = write_recording(dir.path(), &synth::initscope_bootstrap(Options::default()));
    let out = Command::new(initscope())
        .args(["export", rec.to_str().unwrap(), "--format", "mermaid"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("sequenceDiagram\n"));
    let wanted = [
        "participant P0 as create 4100",
        "create participant P1 as [0:PARENT] 4101",
        "P0-->>P1: BOOTSTRAP_DATA",
        "create participant P2 as [1:CHILD] 4102",
        "P2-->>P1: SYNC_USERMAP_PLS",
        "P1-->>P2: SYNC_USERMAP_ACK",
        "create participant P3 as [2:INIT] → sh 4103",
        "P2-->>P1: SYNC_RECVPID_PLS",
        "P1-->>P0: STAGE_PIDS",
        "P1-->>P3: SYNC_GRANDCHILD",
        "P3-->>P0: procHooks",
        "P3-->>P0: procReady",
        "Note right of P3: execve /bin/sh",
    ];
    let mut rest = text.as_str();
    for w in wanted {
        let i = rest
            .find(w)
            .unwrap_or_else(|| panic!("{w:?} missing or out of order in\n{text}"));
        rest = &rest[i + w.len()..];
    }
}

#[test]
fn svg_is_well_formed_with_one_lane_per_process() {
    let dir = tempfile::tempdir().unwrap();
    for (events, pids) in [
        (
            synth::initscope_bootstrap(Options::default()),
            vec!["4100", "4101", "4102", "4103", "4140"],
        ),
        (
            synth::runc_run(7000, 1_000_000),
            vec!["7000", "7006", "7007", "7008"],
        ),
    ] {
        let rec = write_recording(dir.path(), &events);
        let svg = dir.path().join("out.svg");
        let st = Command::new(initscope())
            .args(["export", rec.to_str().unwrap(), "-o", svg.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(st.success());
        let text = std::fs::read_to_string(&svg).unwrap();
        let doc = roxmltree::Document::parse(&text).expect("well-formed SVG");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let lanes: Vec<&str> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("lane"))
            .filter_map(|n| n.attribute("data-pid"))
            .collect();
        assert_eq!(lanes, pids);
        let lifelines = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("lifeline"))
            .count();
        assert_eq!(lifelines, pids.len());
        let clones = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("clone"))
            .count();
        assert_eq!(clones, 3, "create→parent, parent→child, child→init");
    }
}

#[test]
fn bad_input_gets_one_clear_line_and_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.jsonl");
    let out = Command::new(initscope())
        .args(["export", missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("nope.jsonl") && err.contains("No such file"),
        "{err}"
    );

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"v\":1,\"source\":\"runtime\"}\n").unwrap();
    let out = Command::new(initscope())
        .args(["export", bad.to_str().unwrap(), "--format", "mermaid"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.jsonl:1:") && err.contains("missing field"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
