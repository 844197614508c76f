//! Helpers for the probe's end-to-end tests (root + eBPF, run for real).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use initscope_probe::held::{Exit, HeldChild};
use initscope_probe::schema::{KernelEvent, KernelKind};
use initscope_probe::{Probe, ProbeOptions};

/// The probe tests load BPF programs and count them: run them one at a time.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Start `argv` held, track it, release it, and collect events until it has exited and
/// its exit (and those of its tracked descendants) have been seen or `timeout` passed.
pub fn trace_command(
    argv: &[&str],
    opts: ProbeOptions,
    timeout: Duration,
) -> (Vec<KernelEvent>, Exit, Probe) {
    let mut probe = Probe::load(opts).expect("load probe (needs root)");
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let mut child = HeldChild::spawn(&argv).expect("spawn held child");
    probe.track_pid(child.pid()).expect("track child");
    child.release().expect("exec command");
    let mut events = Vec::new();
    let deadline = Instant::now() + timeout;
    let mut exit = None;
    while Instant::now() < deadline {
        probe
            .poll(Duration::from_millis(50), &mut events)
            .expect("poll");
        if exit.is_none() {
            exit = child.try_wait().expect("wait");
        }
        if exit.is_some() && all_exited(&events) {
            break;
        }
    }
    // a last drain for stragglers
    probe
        .poll(Duration::from_millis(20), &mut events)
        .expect("poll");
    let exit = exit.unwrap_or_else(|| {
        child.signal(nix::sys::signal::Signal::SIGKILL);
        panic!(
            "{argv:?} did not exit within {timeout:?}; events: {}",
            dump(&events)
        )
    });
    (events, exit, probe)
}

/// Every process that appeared (fork child or first tracked) has an exit event.
pub fn all_exited(events: &[KernelEvent]) -> bool {
    let mut alive = std::collections::HashSet::new();
    for e in events {
        match &e.kind {
            KernelKind::Namespaces { .. } => {
                alive.insert(e.tgid);
            }
            KernelKind::Fork { child_tgid, .. } => {
                alive.insert(*child_tgid);
            }
            KernelKind::Exit { .. } => {
                alive.remove(&e.tgid);
            }
            _ => {}
        }
    }
    alive.is_empty() && !events.is_empty()
}

pub fn dump(events: &[KernelEvent]) -> String {
    events
        .iter()
        .map(|e| e.to_json())
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn of_kind<'a>(events: &'a [KernelEvent], kind: &str) -> Vec<&'a KernelEvent> {
    events.iter().filter(|e| e.kind.name() == kind).collect()
}

/// IDs of loaded BPF programs held open by process `pid`, per `bpftool prog show`.
pub fn bpf_progs_of(pid: i32) -> Vec<u64> {
    bpf_progs()
        .into_iter()
        .filter(|(_, pids)| pids.contains(&pid))
        .map(|(id, _)| id)
        .collect()
}

/// Every loaded BPF program: (id, pids holding it).
pub fn bpf_progs() -> Vec<(u64, Vec<i32>)> {
    let out = std::process::Command::new("bpftool")
        .args(["-j", "prog", "show"])
        .output()
        .expect("run bpftool (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "bpftool prog show failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let id = p["id"].as_u64().unwrap();
            let pids = p["pids"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x["pid"].as_i64())
                        .map(|x| x as i32)
                        .collect()
                })
                .unwrap_or_default();
            (id, pids)
        })
        .collect()
}

/// This process's namespace inode (`/proc/self/ns/<name>`).
pub fn ns_inode(name: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/ns/{name}"))
        .unwrap()
        .ino()
}
