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
    let mut quiet = 0;
    while Instant::now() < deadline {
        let n = probe
            .poll(Duration::from_millis(50), &mut events)
            .expect("poll");
        if exit.is_none() {
            exit = child.try_wait().expect("wait");
        }
        // done once the command has exited and its tree has too, or (when events were
        // lost, so some exits may never come) once the stream has been quiet a while
        quiet = if n == 0 { quiet + 1 } else { 0 };
        if exit.is_some() && (all_exited(&events) || quiet >= 4) {
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

/// IDs of the BPF programs process `pid` holds open (from /proc/PID/fdinfo: this
/// machine's bpftool does not list holders' pids).
pub fn bpf_progs_of(pid: i32) -> Vec<u64> {
    let mut ids = Vec::new();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return ids;
    };
    for fd in fds.flatten() {
        let is_prog = std::fs::read_link(fd.path())
            .is_ok_and(|t| t.to_string_lossy() == "anon_inode:bpf-prog");
        if !is_prog {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ));
        if let Some(id) = info.ok().and_then(|i| {
            i.lines()
                .find_map(|l| l.strip_prefix("prog_id:")?.trim().parse().ok())
        }) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// IDs of the BPF programs any live process holds open.
pub fn bpf_progs_held_by_anyone() -> Vec<u64> {
    let mut ids = Vec::new();
    for ent in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(pid) = ent.file_name().to_string_lossy().parse::<i32>() {
            ids.extend(bpf_progs_of(pid));
        }
    }
    ids
}

/// IDs of every loaded BPF program, per `bpftool prog show`.
pub fn bpf_progs() -> Vec<u64> {
    bpf_prog_list()
        .iter()
        .filter_map(|p| p["id"].as_u64())
        .collect()
}

/// IDs of the loaded tracing programs (the kinds the probe loads: tracepoint,
/// raw_tracepoint, tracing), per `bpftool prog show`.
#[allow(dead_code)] // not every test binary that includes this module uses it
pub fn bpf_tracing_progs() -> Vec<u64> {
    bpf_prog_list()
        .iter()
        .filter(|p| {
            matches!(
                p["type"].as_str(),
                Some("tracepoint" | "raw_tracepoint" | "tracing")
            )
        })
        .filter_map(|p| p["id"].as_u64())
        .collect()
}

fn bpf_prog_list() -> Vec<serde_json::Value> {
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
    v.as_array().cloned().unwrap_or_default()
}

/// Which of `ids` are still loaded. Freeing a program after its last fd closes is
/// deferred (RCU), so look again for a moment before calling it a leak.
pub fn still_loaded(ids: &[u64]) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let loaded = bpf_progs();
        let left: Vec<u64> = ids.iter().copied().filter(|i| loaded.contains(i)).collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `initscope-runtime` binary of this build (`INITSCOPE_RUNTIME_BIN` overrides).
pub fn initscope_runtime_bin() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("INITSCOPE_RUNTIME_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("initscope-runtime");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = std::process::Command::new(cargo)
            .args([
                "build",
                "-p",
                "initscope-runtime",
                "--bin",
                "initscope-runtime",
            ])
            .status()
            .expect("cargo build initscope-runtime");
        assert!(st.success(), "building initscope-runtime");
    }
    bin
}

/// The `initscope` binary of this build (scripts/test builds every binary first; built
/// here if missing).
pub fn initscope_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap(); // target/<profile>/deps/..
    let bin = dir.join("initscope");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = std::process::Command::new(cargo)
            .args(["build", "-p", "initscope", "--bin", "initscope"])
            .status()
            .expect("cargo build initscope");
        assert!(st.success(), "building initscope");
    }
    bin
}

/// This process's namespace inode (`/proc/self/ns/<name>`).
pub fn ns_inode(name: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/ns/{name}"))
        .unwrap()
        .ino()
}

/// Compile `tests/tests/probe_data/<name>.c` with gcc into `dir`; returns the binary.
pub fn compile_c(name: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let src =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/probe_data/{name}.c"));
    let bin = dir.join(name);
    let out = std::process::Command::new("gcc")
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("run gcc (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "gcc {}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// "stageN PID" lines → pids indexed by N.
pub fn stage_pids(text: &str) -> std::collections::HashMap<u32, i32> {
    text.lines()
        .filter_map(|l| {
            let (s, p) = l.strip_prefix("stage")?.split_once(' ')?;
            Some((s.parse().ok()?, p.trim().parse().ok()?))
        })
        .collect()
}

/// The fork event that made `child`.
pub fn fork_of(events: &[KernelEvent], child: i32) -> &KernelEvent {
    events
        .iter()
        .find(|e| matches!(e.kind, KernelKind::Fork { child_tgid, .. } if child_tgid == child))
        .unwrap_or_else(|| panic!("no fork event for {child}:\n{}", dump(events)))
}

/// Events of process `tgid` of one kind.
pub fn by<'a>(events: &'a [KernelEvent], tgid: i32, kind: &str) -> Vec<&'a KernelEvent> {
    events
        .iter()
        .filter(|e| e.tgid == tgid && e.kind.name() == kind)
        .collect()
}

/// A busybox bundle in a temp dir, with a private runc `--root`; `runc delete -f` on drop.
pub struct RuncBundle {
    pub dir: tempfile::TempDir,
    pub id: String,
}

impl RuncBundle {
    /// `args` is the container's process.
    pub fn new(args: &[&str]) -> RuncBundle {
        let dir = tempfile::Builder::new()
            .prefix("initscope-probe-")
            .tempdir()
            .unwrap();
        let bin = dir.path().join("bundle/rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        std::fs::copy("/bin/busybox", bin.join("busybox"))
            .expect("/bin/busybox (busybox-static; scripts/setup)");
        for applet in ["sh", "true", "echo", "sleep"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let bundle = dir.path().join("bundle");
        let st = std::process::Command::new("runc")
            .arg("spec")
            .current_dir(&bundle)
            .status()
            .expect("runc (scripts/setup installs it)");
        assert!(st.success(), "runc spec");
        let cfg_path = bundle.join("config.json");
        let mut cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
        cfg["process"]["terminal"] = false.into();
        cfg["process"]["args"] = args.iter().map(|a| serde_json::Value::from(*a)).collect();
        std::fs::write(&cfg_path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
        let id = format!("isc-probe-{}-{}", std::process::id(), unique());
        RuncBundle { dir, id }
    }

    pub fn bundle(&self) -> String {
        self.dir.path().join("bundle").display().to_string()
    }

    pub fn root(&self) -> String {
        self.dir.path().join("root").display().to_string()
    }

    /// argv of `runc --root R run -b B ID`.
    pub fn run_argv(&self) -> Vec<String> {
        self.run_argv_with("runc")
    }

    /// argv of `RUNTIME --root R run -b B ID`, for any runc-compatible runtime.
    pub fn run_argv_with(&self, runtime: &str) -> Vec<String> {
        let mut v = vec![
            runtime.to_string(),
            "--root".into(),
            self.root(),
            "run".into(),
        ];
        v.extend(["-b".into(), self.bundle(), self.id.clone()]);
        v
    }
}

impl Drop for RuncBundle {
    fn drop(&mut self) {
        // whichever runtime ran it, `delete -f` under our private root cleans up
        let mut runtimes = vec![std::path::PathBuf::from("runc"), "crun".into()];
        let ours = std::env::var_os("INITSCOPE_RUNTIME_BIN")
            .map(Into::into)
            .unwrap_or_else(|| {
                let exe = std::env::current_exe().unwrap();
                exe.parent()
                    .unwrap()
                    .parent()
                    .unwrap()
                    .join("initscope-runtime")
            });
        if ours.exists() {
            runtimes.push(ours);
        }
        for rt in runtimes {
            let _ = std::process::Command::new(rt)
                .args(["--root", &self.root(), "delete", "-f", &self.id])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

fn unique() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

/// The pid that renamed itself to `comm`.
pub fn renamed_to(events: &[KernelEvent], comm: &str) -> i32 {
    events
        .iter()
        .find(|e| matches!(&e.kind, KernelKind::Rename { new_comm, .. } if new_comm == comm))
        .unwrap_or_else(|| panic!("nobody renamed to {comm}:\n{}", dump(events)))
        .tgid
}
