//! `initscope demo` and `run` without a terminal — how CI and a pipe see them: the same
//! bootstrap, printed as a text diagram and a summary, with the container's exit status;
//! `--record` still records; nothing is left behind.

mod viewer_common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use initscope::session::Session;
use initscope_runtime::events::schema::Stage;
use initscope_tests::{cgroup_dirs, is_root, output_with_timeout, runtime_bin, Bundle};
use viewer_common::initscope;

/// `initscope ARGS` in a session of its own (no controlling terminal), stdin from
/// /dev/null, stdout and stderr into pipes; its temp dirs in `tmp` (TMPDIR).
fn headless(args: &[&str], tmp: &Path) -> Output {
    let mut cmd = Command::new("setsid");
    cmd.arg("--wait")
        .arg(initscope())
        .args(args)
        .env("TMPDIR", tmp)
        .stdin(Stdio::null());
    output_with_timeout(cmd, Duration::from_secs(90))
}

/// No process, cgroup or mount of container `id`, and nothing in the private TMPDIR.
fn assert_nothing_left(id: &str, tmp: &Path) {
    assert_eq!(leftovers_of(id), Vec::<String>::new(), "left behind");
    assert_eq!(entries(tmp), Vec::<String>::new(), "temp dirs left behind");
}

/// What is left in a private TMPDIR.
fn entries(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The container named on the summary's first line (`container ID (…): …`).
fn container_of(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("container "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no container line:\n{out}"))
        .to_string()
}

/// Processes still in the container's cgroup, and its cgroup directories.
fn leftovers_of(id: &str) -> Vec<String> {
    let mut left: Vec<String> = cgroup_dirs(id)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let cg = std::fs::read_to_string(p.path().join("cgroup")).unwrap_or_default();
        if cg.lines().any(|l| l.ends_with(&format!("/{id}"))) {
            left.push(format!("pid {} in {id}", p.file_name().to_string_lossy()));
        }
    }
    left
}

/// Where each needle first appears, in the order given; panics naming a missing one.
fn positions(text: &str, needles: &[&str]) -> Vec<usize> {
    needles
        .iter()
        .map(|n| {
            text.find(n)
                .unwrap_or_else(|| panic!("{n} missing:\n{text}"))
        })
        .collect()
}

#[test]
fn demo_print_without_a_terminal_draws_the_four_lanes_and_the_messages_in_order() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let rt = runtime_bin();
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let rec = dir.path().join("demo.jsonl");
    let o = headless(
        &[
            "demo",
            "--print",
            "--runtime",
            rt.to_str().unwrap(),
            "--record",
            rec.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{:?}\n{err}\n{out}", o.status);
    assert!(!out.contains('\x1b'), "no terminal codes:\n{out}");
    // The diagram: lane heads on the first line, then the rows.
    let heads = out.lines().next().unwrap();
    let lanes = positions(heads, &["create", "[0:PARENT]", "[1:CHILD]", "[2:INIT]"]);
    assert!(lanes.windows(2).all(|w| w[0] < w[1]), "{heads}");
    let (diagram, summary) = out.split_once("\ncontainer ").expect("a summary");
    let order = [
        "BOOTSTRAP_DATA",
        "SYNC_USERMAP_PLS",
        "SYNC_USERMAP_ACK",
        "SYNC_RECVPID_PLS",
        "SYNC_RECVPID_ACK",
        "SYNC_GRANDCHILD",
        "procReady",
        "exec.fifo → running",
    ];
    for part in [diagram, summary] {
        let p = positions(part, &order);
        assert!(p.windows(2).all(|w| w[0] < w[1]), "out of order:\n{part}");
    }
    assert!(diagram.contains("clone(PARENT)"), "{diagram}");
    // The summary: init is pid 1 of its namespace; nothing was lost; the container's
    // output and its status.
    let init = summary
        .lines()
        .find(|l| l.trim_start().starts_with("[2:INIT]"))
        .unwrap_or_else(|| panic!("{summary}"));
    assert_eq!(init.split_whitespace().nth(2), Some("1"), "{init}");
    assert!(summary.contains("lost events: 0"), "{summary}");
    assert!(
        summary.contains("| hello from an initscope demo container"),
        "{summary}"
    );
    assert!(
        summary.contains("the container exited with status 0"),
        "{summary}"
    );
    // Progress went to stderr as it happened.
    assert!(err.contains("initscope demo: created"), "{err}");
    // The recording has both sources and replays as the same stages.
    let s = Session::load(&rec).unwrap();
    assert!(
        s.model.counts[0] > 20 && s.model.counts[1] > 10,
        "{:?}",
        s.model.counts
    );
    for stage in [Stage::Create, Stage::Parent, Stage::Child, Stage::Init] {
        assert!(
            s.model.lanes.iter().any(|l| l.role == Some(stage)),
            "{stage:?}"
        );
    }
    let id = container_of(&out);
    assert_nothing_left(&id, tmp.path());
}

#[test]
fn run_without_a_terminal_prints_and_exits_with_the_containers_status() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let rt = runtime_bin();
    let b = Bundle::busybox(&["sh", "-c", "echo bye; exit 3"]);
    let id = format!("isc-print-{}", std::process::id());
    let tmp = tempfile::tempdir().unwrap();
    // No --print: without a terminal it prints anyway.
    let o = headless(
        &["run", b.path_str(), &id, "--runtime", rt.to_str().unwrap()],
        tmp.path(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}\n{out}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("[2:INIT]"), "{out}");
    assert!(out.contains("| bye"), "{out}");
    assert!(out.contains("the container exited with status 3"), "{out}");
    assert_eq!(container_of(&out), id);
    assert_nothing_left(&id, tmp.path());
}

#[test]
fn a_bundle_that_cannot_start_says_why_and_fails() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let rt = runtime_bin();
    let b = Bundle::busybox(&["/bin/no-such-program"]);
    let id = format!("isc-print-bad-{}", std::process::id());
    let tmp = tempfile::tempdir().unwrap();
    let o = headless(
        &[
            "run",
            b.path_str(),
            &id,
            "--print",
            "--runtime",
            rt.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success(), "{out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.contains("did not start") && last.contains("no-such-program"),
        "{out}"
    );
    assert_nothing_left(&id, tmp.path());
}

/// A bundle path that is not a bundle: one line naming it and what to give instead.
#[test]
fn a_missing_bundle_is_named_in_one_line() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-bundle");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for (bundle, want) in [
        (&missing, "no such directory"),
        (&empty, "no config.json in it"),
    ] {
        let o = headless(&["run", bundle.to_str().unwrap(), "--print"], tmp.path());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("bundle {}: {want}", bundle.display())),
            "{err}"
        );
    }
}
