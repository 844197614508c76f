//! `initscope diagnose` on Debian's crun 1.8.1, from its state directory (`status`) and
//! /proc: a container created and never started. crun's container process keeps the
//! name `crun` until it execs and waits for `start` differently from runc: it holds
//! exec.fifo open for reading and sleeps in pselect6 until `crun start` writes to it.
//! The viewer gets the same verdict on the lanes the kernel probe saw.
//!
//! crun refuses this machine's hybrid cgroups, so every crun command runs in a private
//! mount namespace with `/sys/fs/cgroup/unified` unmounted (as `scripts/bench` does).
//! Each test uses a private `--root` and deletes its container even when it fails.

mod diagnose_common;

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use diagnose_common::{diagnose_json, initscope_bin, process, text, viewer_on};
use initscope_tests::{
    become_subreaper, is_root, output_with_timeout, reap_if_ours, Bundle, COMMAND_TIMEOUT,
};

/// `crun --root R ARGS…` as this machine needs it run.
fn crun_script(root: &std::path::Path, args: &str) -> String {
    format!(
        "umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --root {} {args}",
        root.display()
    )
}

/// A crun container under a private root, deleted on drop.
struct Crun {
    dir: tempfile::TempDir,
    root: PathBuf,
    id: String,
    bundle: Bundle,
    /// The container's process, once known: reaped on drop (we are its subreaper).
    init: Option<i32>,
}

impl Crun {
    fn new(prefix: &str) -> Crun {
        assert!(is_root(), "crun tests need root");
        // `crun create` leaves the container's process behind: it is reparented to us.
        become_subreaper();
        let dir = tempfile::Builder::new()
            .prefix("isc-dg-crun-")
            .tempdir()
            .unwrap();
        Crun {
            root: dir.path().join("root"),
            id: format!("{prefix}-{}", std::process::id()),
            bundle: Bundle::busybox(&["sleep", "1000"]),
            init: None,
            dir,
        }
    }

    /// `crun ARGS` in its private mount namespace; its status and stderr.
    fn crun(&self, args: &str) -> (bool, String) {
        let mut c = Command::new("unshare");
        c.args(["-m", "sh", "-c", &crun_script(&self.root, args)])
            .stdin(Stdio::null());
        let out = output_with_timeout(c, COMMAND_TIMEOUT);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn init_pid(&self) -> i32 {
        let s = std::fs::read(self.root.join(&self.id).join("status")).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&s).unwrap();
        v["pid"].as_i64().unwrap() as i32
    }
}

impl Drop for Crun {
    fn drop(&mut self) {
        let _ = self.crun(&format!("delete --force {}", self.id));
        if let Some(pid) = self.init {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while std::path::Path::new(&format!("/proc/{pid}")).exists()
                && std::time::Instant::now() < deadline
            {
                reap_if_ours(pid);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The child's exit status; killed (and the test failed) after [`COMMAND_TIMEOUT`].
fn wait_with_timeout(c: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + COMMAND_TIMEOUT;
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            return st;
        }
        if std::time::Instant::now() > deadline {
            let _ = c.kill();
            let _ = c.wait();
            panic!("initscope trace hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn crun_created_and_never_started_waits_for_start() {
    let mut c = Crun::new("dg-crun-created");
    // `initscope trace --json` around the create: the kernel's account for the viewer.
    let events = c.dir.path().join("trace.jsonl");
    let create = format!("create -b {} {}", c.bundle.path_str(), c.id);
    let mut trace = Command::new(initscope_bin());
    trace
        .args(["trace", "--json", "--", "unshare", "-m", "sh", "-c"])
        .arg(crun_script(&c.root, &create))
        .stdin(Stdio::null())
        .stdout(File::create(&events).unwrap())
        .stderr(File::create(c.dir.path().join("trace.err")).unwrap());
    let mut trace = trace.spawn().expect("initscope trace");
    let status = wait_with_timeout(&mut trace);
    assert!(
        status.success(),
        "crun create under trace failed: {}",
        std::fs::read_to_string(c.dir.path().join("trace.err")).unwrap_or_default()
    );
    let init = c.init_pid();
    c.init = Some(init);
    std::thread::sleep(Duration::from_millis(1100));

    let root = c.root.display().to_string();
    let rep = diagnose_json(&["--runtime", "crun", "--root", &root, &c.id]);
    assert_eq!(rep["runtime"], "crun");
    assert_eq!(rep["status"], "created", "{rep:#}");
    assert_eq!(rep["culprit"], init);
    let start = format!("crun --root {root} start {}", c.id);
    assert_eq!(rep["next"], start.as_str());
    // crun's container process, not yet exec'd, is init: pid 1 of its namespace.
    let p = process(&rep, "[2:INIT]");
    assert_eq!(p["pid"], init);
    assert_eq!(p["comm"], "crun");
    assert_eq!(p["ns_pid"], 1);
    assert_eq!(p["kind"], "normal");
    assert_eq!(p["syscall"]["name"], "pselect6", "{p:#}");
    let fifo = c.root.join(&c.id).join("exec.fifo").display().to_string();
    assert_eq!(p["fd"]["exec_fifo"], true, "{p:#}");
    assert_eq!(p["fd"]["target"], fifo.as_str());
    assert!(
        p["fd"]["fd"].as_i64().unwrap() >= 0,
        "an fd it holds: {p:#}"
    );
    assert!(
        text(&p["other_end"]).contains("`start` opens exec.fifo for writing"),
        "{p:#}"
    );
    assert!(p["for_s"].as_f64().unwrap() >= 1.0, "{p:#}");
    let verdict = text(&p["verdict"]);
    assert!(
        verdict.contains("init is waiting for `start`: this is the normal created state"),
        "{verdict}"
    );
    assert!(verdict.contains("open for reading"), "{verdict}");

    // By pid, with the runtime and root found from crun's state.
    let by_pid = diagnose_json(&["--root", &root, &init.to_string()]);
    assert_eq!(by_pid["container"], c.id.as_str());
    assert_eq!(by_pid["runtime"], "crun");

    // The viewer, on the lanes the probe saw: the same verdict, drawn as stuck.
    let (screen, details, _) = viewer_on(&events, init, |s| {
        s.model
            .lane_of_pid(init)
            .is_some_and(|l| s.model.lane(l).diagnosis.is_some())
    });
    assert!(
        screen.contains(&format!("{init} exec.fifo (waiting for start)")),
        "{screen}"
    );
    assert!(details.contains(&start), "{details}");

    // And it was right: `start` lets the container run (sleep 1000 execs).
    let (ok, err) = c.crun(&format!("start {}", c.id));
    assert!(ok, "crun start: {err}");
    diagnose_common::wait_until("the container's process to exec", || {
        std::fs::read_to_string(format!("/proc/{init}/comm")).is_ok_and(|s| s.trim() == "sleep")
    });
}
