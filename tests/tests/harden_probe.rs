//! The probe leaves nothing (issue 7), in the cases `probe_trace_cli.rs` does not cover:
//! SIGINT with a command running, SIGTERM when attached by pid, both in `--comm` mode,
//! stdout closed under it, and the terminal UI (`trace` and `watch` in tmux) stopped by
//! SIGTERM or `q`. Each time no BPF program *or link* of that process remains
//! (`bpftool prog show`, `bpftool link show`).

mod probe_common;
mod viewer_common;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use probe_common::*;
use viewer_common::Tmux;

/// Ids of loaded BPF links whose program is one of `progs`.
fn links_of(progs: &[u64]) -> Vec<u64> {
    let out = Command::new("bpftool")
        .args(["-j", "link", "show"])
        .output()
        .expect("bpftool");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .map(|a| {
            a.iter()
                .filter(|l| l["prog_id"].as_u64().is_some_and(|p| progs.contains(&p)))
                .filter_map(|l| l["id"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

/// Links of `progs` still there after a moment (freeing is deferred, as for programs).
fn links_left(progs: &[u64]) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = links_of(progs);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until `pid` holds the probe's 13 programs; their ids and the links on them.
fn attached(pid: i32, what: &str) -> (Vec<u64>, Vec<u64>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ids = bpf_progs_of(pid);
        if ids.len() >= 13 {
            // The BTF tracepoints are attached through links.
            let links = links_of(&ids);
            return (ids, links);
        }
        assert!(Instant::now() < deadline, "{what} never attached ({ids:?})");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_gone(progs: &[u64], links: &[u64], what: &str) {
    assert_eq!(
        still_loaded(progs),
        Vec::<u64>::new(),
        "programs left after {what}"
    );
    assert_eq!(
        links_left(progs),
        Vec::<u64>::new(),
        "links left after {what} (had {links:?})"
    );
}

// The child is waited for by each test.
#[allow(clippy::zombie_processes)]
fn trace_bg(args: &[&str], stdout: Stdio) -> Child {
    Command::new(initscope_bin())
        .arg("trace")
        .arg("--json")
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap()
}

fn wait_exit(c: &mut Child, within: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            return st;
        }
        if t0.elapsed() > within {
            let _ = c.kill();
            panic!("initscope trace did not stop within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigint_with_a_command_stops_it_and_detaches() {
    let _g = serial();
    let mut tr = trace_bg(&["--", "sleep", "300"], Stdio::null());
    let (progs, links) = attached(tr.id() as i32, "trace -- sleep");
    assert!(
        !links.is_empty(),
        "expected BPF links for the BTF tracepoints"
    );
    kill(Pid::from_raw(tr.id() as i32), Signal::SIGINT).unwrap();
    let st = wait_exit(&mut tr, Duration::from_secs(5));
    assert_eq!(
        st.code(),
        Some(130),
        "the command's status: killed by SIGINT"
    );
    assert_gone(&progs, &links, "SIGINT");
}

#[test]
fn sigterm_attached_by_pid_detaches_and_leaves_the_process_alone() {
    let _g = serial();
    let mut target = Command::new("sleep").arg("300").spawn().unwrap();
    let mut tr = trace_bg(&["--pid", &target.id().to_string()], Stdio::null());
    let (progs, links) = attached(tr.id() as i32, "trace --pid");
    kill(Pid::from_raw(tr.id() as i32), Signal::SIGTERM).unwrap();
    let st = wait_exit(&mut tr, Duration::from_secs(5));
    assert_eq!(st.code(), Some(0), "attached: SIGTERM is a clean stop");
    assert_gone(&progs, &links, "SIGTERM");
    assert!(
        target.try_wait().unwrap().is_none(),
        "the traced process was touched"
    );
    target.kill().unwrap();
    target.wait().unwrap();
}

#[test]
fn comm_mode_detaches_on_sigint_and_sigterm() {
    let _g = serial();
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        let mut tr = trace_bg(&["--comm", "isc-no-such"], Stdio::null());
        let (progs, links) = attached(tr.id() as i32, "trace --comm");
        kill(Pid::from_raw(tr.id() as i32), sig).unwrap();
        let st = wait_exit(&mut tr, Duration::from_secs(5));
        assert_eq!(st.code(), Some(0), "{sig}");
        assert_gone(&progs, &links, sig.as_str());
    }
}

#[test]
fn stdout_closed_under_it_ends_it_and_detaches() {
    let _g = serial();
    // A command that makes events for a while; the reader goes away after the first line.
    let mut tr = trace_bg(
        &[
            "--",
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; sleep 0.2; done",
        ],
        Stdio::piped(),
    );
    let (progs, links) = attached(tr.id() as i32, "trace -- sh");
    let mut out = tr.stdout.take().unwrap();
    let mut first = [0u8; 1];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    drop(out); // like `| head -c 1`
    let st = wait_exit(&mut tr, Duration::from_secs(10));
    assert!(st.code().is_some(), "ended by a signal: {st}");
    assert_gone(&progs, &links, "stdout closed");
}

#[test]
fn the_terminal_ui_detaches_on_sigterm_and_on_q() {
    let _g = serial();
    // `trace` on a terminal (the live diagram) and `watch` (probe by comm).
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ev.sock");
    let cases = [
        (
            format!("exec {} trace -- sleep 300", initscope_bin().display()),
            "SIGTERM",
        ),
        (
            format!(
                "exec {} watch --socket {}",
                initscope_bin().display(),
                sock.display()
            ),
            "SIGTERM",
        ),
        (
            format!(
                "exec {} watch --socket {}",
                initscope_bin().display(),
                sock.display()
            ),
            "q",
        ),
    ];
    for (cmd, how) in cases {
        let t = Tmux::start(&cmd, 120, 40);
        let out = Command::new("tmux")
            .args(["-L", &t.socket, "display", "-p", "-t", "0", "#{pane_pid}"])
            .output()
            .unwrap();
        let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let (progs, links) = attached(pid, &cmd);
        if how == "q" {
            t.keys(&["q"]);
        } else {
            kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
        }
        let t0 = Instant::now();
        while std::fs::metadata(format!("/proc/{pid}")).is_ok()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
        {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "{cmd} did not stop on {how}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_gone(&progs, &links, &format!("{how} to `{cmd}`"));
        drop(t);
    }
}
