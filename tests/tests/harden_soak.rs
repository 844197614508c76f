//! Soak (issue 7): 1,000 sequential `run`s of a busybox `/bin/true` container, then 8
//! parallel streams of 100, with `initscope watch` attached to the events the whole time
//! (in a real terminal: tmux). Afterwards nothing is left on the host (state dirs,
//! cgroups, mounts, processes, zombies, this process's fds), every run exited 0, the
//! runtime's max RSS (from `wait4`) is as flat at the end as at the start, and the viewer
//! is alive, holds as many fds as after its start, and its memory grew only by what its
//! model keeps per event. Sizes: `INITSCOPE_SOAK_SEQ`, `INITSCOPE_SOAK_STREAMS`,
//! `INITSCOPE_SOAK_PER_STREAM` (defaults 1000, 8, 100).

mod viewer_common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use initscope_tests::leaks::{all_processes, reap_children_named, serial, Scope, Snapshot};
use initscope_tests::soak::{fd_count, median, rss_kb, run_measured, viewer_bin, Measured};
use initscope_tests::{is_root, reap_orphans, Bundle, Runtime};
use viewer_common::Tmux;

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One `run` streaming its events to the viewer's socket, under GNU time for its max RSS
/// (`wait4`'s own figure would include the pre-exec memory of this big test process).
fn one_run(rt: &Runtime, bundle: &Path, sock: &Path, id: &str, rss_file: &Path) -> Measured {
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%M", "-o"])
        .arg(rss_file)
        .arg(&rt.bin)
        .arg("--root")
        .arg(&rt.root)
        .arg("--events")
        .arg(sock)
        .args(["run", "-b"])
        .arg(bundle)
        .arg(id)
        .env_remove("INITSCOPE_PAUSE_AT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut m = run_measured(&mut cmd);
    m.max_rss_kb = std::fs::read_to_string(rss_file)
        .ok()
        .and_then(|t| t.lines().last()?.trim().parse().ok())
        .unwrap_or(-1);
    m
}

/// Median max RSS (KiB) of the first and of the last tenth of `runs`.
fn first_last_decile(runs: &[Measured]) -> (i64, i64) {
    let d = (runs.len() / 10).max(1);
    let mut first: Vec<i64> = runs[..d].iter().map(|m| m.max_rss_kb).collect();
    let mut last: Vec<i64> = runs[runs.len() - d..]
        .iter()
        .map(|m| m.max_rss_kb)
        .collect();
    (median(&mut first), median(&mut last))
}

fn wall_ms(runs: &[Measured]) -> f64 {
    let mut w: Vec<Duration> = runs.iter().map(|m| m.wall).collect();
    median(&mut w).as_secs_f64() * 1e3
}

#[test]
fn a_thousand_containers_then_eight_streams_leave_nothing_and_stay_flat() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let _g = serial();
    let seq = size("INITSCOPE_SOAK_SEQ", 1000);
    let streams = size("INITSCOPE_SOAK_STREAMS", 8);
    let per_stream = size("INITSCOPE_SOAK_PER_STREAM", 100);

    let rt = Arc::new(Runtime::new());
    let bundle = Bundle::busybox(&["true"]);
    let work = tempfile::Builder::new()
        .prefix("isc-soak-")
        .tempdir()
        .unwrap();
    let tag = format!("hz-{}-", std::process::id());
    let scope = Scope::of(&rt, &tag, &[&bundle.path, work.path()]);
    let before = Snapshot::take(&scope);

    // The viewer, attached throughout.
    let sock = work.path().join("events.sock");
    let rec = work.path().join("watch.jsonl");
    let tmux = Tmux::start(
        &format!(
            "exec {} watch --no-probe --socket {} --record {}",
            viewer_bin().display(),
            sock.display(),
            rec.display()
        ),
        160,
        48,
    );
    let t0 = Instant::now();
    while !sock.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "watch did not bind:\n{}",
            tmux.capture()
        );
        sleep(Duration::from_millis(20));
    }
    let out = Command::new("tmux")
        .args([
            "-L",
            &tmux.socket,
            "display",
            "-p",
            "-t",
            "0",
            "#{pane_pid}",
        ])
        .output()
        .unwrap();
    let viewer: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();

    // Sequential.
    let mut runs = Vec::with_capacity(seq);
    let mut viewer_rss = Vec::new(); // (events recorded, RSS KiB)
    let mut viewer_fds = None;
    let started = Instant::now();
    for i in 0..seq {
        let id = rt.id("hz");
        let m = one_run(&rt, &bundle.path, &sock, &id, &work.path().join("rss"));
        assert_eq!(m.code, 0, "run {i} ({id}) exited {}", m.code);
        runs.push(m);
        if i == seq / 10 || i + 1 == seq {
            sleep(Duration::from_millis(100)); // let the viewer drain its socket
            let events = line_count(&rec);
            viewer_rss.push((events, rss_kb(viewer).expect("the viewer is alive")));
            viewer_fds.get_or_insert(fd_count(viewer).unwrap());
        }
    }
    let seq_time = started.elapsed();

    // Parallel streams.
    let started = Instant::now();
    let handles: Vec<_> = (0..streams)
        .map(|s| {
            let rt = Arc::clone(&rt);
            let b = bundle.path.clone();
            let sock = sock.clone();
            let rss = work.path().join(format!("rss-{s}"));
            std::thread::spawn(move || {
                (0..per_stream)
                    .map(|i| {
                        let id = rt.id("hz");
                        let m = one_run(&rt, &b, &sock, &id, &rss);
                        assert_eq!(m.code, 0, "stream {s} run {i} ({id}) exited {}", m.code);
                        m
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let par: Vec<Vec<Measured>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let par_time = started.elapsed();
    sleep(Duration::from_millis(300));
    let events = line_count(&rec);
    viewer_rss.push((
        events,
        rss_kb(viewer).expect("the viewer survived the soak"),
    ));
    let fds_end = fd_count(viewer).unwrap();

    // The viewer quits cleanly and removes its socket.
    tmux.keys(&["q"]);
    let t0 = Instant::now();
    while rss_kb(viewer).is_some() && t0.elapsed() < Duration::from_secs(10) {
        sleep(Duration::from_millis(20));
    }
    assert!(rss_kb(viewer).is_none(), "the viewer did not quit");
    assert!(!sock.exists(), "the viewer left its socket");
    drop(tmux);
    // tmux's server daemonized, so it (and the viewer, its pane) were orphaned to us (a
    // subreaper): reap them.
    let me = std::process::id() as i32;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5)
        && all_processes()
            .iter()
            .any(|p| p.ppid == me && (p.comm.starts_with("tmux") || p.pid == viewer))
    {
        reap_children_named("tmux");
        reap_children_named("initscope");
        sleep(Duration::from_millis(20));
    }

    reap_orphans();
    let after = Snapshot::take(&scope);
    let leaked = before.leaked_since(&after);

    let (seq_first, seq_last) = first_last_decile(&runs);
    let all_par: Vec<Measured> = par.iter().flatten().copied().collect();
    let (par_first, par_last) = first_last_decile(&all_par);
    let (e0, r0) = viewer_rss[0];
    let (e1, r1) = *viewer_rss.last().unwrap();
    let per_event = (r1.saturating_sub(r0) * 1024) as f64 / (e1.saturating_sub(e0)).max(1) as f64;
    let dropped = dropped_in(&rec);
    eprintln!(
        "soak: {seq} sequential in {:.1} s (median {:.1} ms), {streams}×{per_stream} parallel in {:.1} s (median {:.1} ms); \
         runtime max RSS first/last decile: sequential {seq_first}/{seq_last} KiB, parallel {par_first}/{par_last} KiB; \
         viewer: {e1} events recorded ({dropped} dropped by the runtime: socket full), RSS {r0} KiB at {e0} events → {r1} KiB ({per_event:.0} B/event), fds {}→{fds_end}; \
         host after: {}",
        seq_time.as_secs_f64(),
        wall_ms(&runs),
        par_time.as_secs_f64(),
        wall_ms(&all_par),
        viewer_fds.unwrap(),
        after.counts()
    );

    assert_eq!(leaked, Vec::<String>::new(), "left behind by the soak");
    // A fresh process per command: its memory must not grow with how many containers
    // came before (a growing state dir listing, cgroup parent, log…). 10 % + one page
    // table's worth of slack for ASLR and allocator noise.
    for (what, first, last) in [
        ("sequential", seq_first, seq_last),
        ("parallel", par_first, par_last),
    ] {
        assert!(
            last <= first + first / 10 + 256,
            "{what}: the runtime's max RSS grew from {first} KiB to {last} KiB"
        );
    }
    assert_eq!(
        viewer_fds.unwrap(),
        fds_end,
        "the viewer's fd count changed"
    );
    // Every event is kept (40 bytes of model per event, the lines in the recording on
    // disk), lanes and rows per process: bounded by what the model keeps, not leaking.
    assert!(e1 > e0, "the viewer received nothing after warm-up");
    assert!(
        per_event < 1024.0,
        "the viewer's RSS grew {per_event:.0} bytes per event ({r0} → {r1} KiB over {} events)",
        e1 - e0
    );
}

/// The events the runtime's processes could not send, as their `stage_exit`s report.
fn dropped_in(rec: &Path) -> u64 {
    initscope_tests::read_events(rec)
        .iter()
        .filter(|e| e["kind"] == "stage_exit")
        .filter_map(|e| e["dropped"].as_u64())
        .sum()
}

fn line_count(p: &Path) -> u64 {
    std::fs::read(p)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count() as u64)
        .unwrap_or(0)
}
