//! `initscope diagnose` on Debian's runc 1.1.5, from its state directory, /proc and the
//! names of its processes: a container created and never started (`runc:[2:INIT]`
//! blocked opening exec.fifo), and a `runc init` frozen in its cgroup while it boots.
//! The viewer gets the same verdicts on lanes the kernel probe saw (`initscope trace
//! --json` of the real runc), judged from /proc. Each test uses a private `--root`
//! and cleans up (thaw, `runc delete --force`, its cgroup) even when it fails.

mod diagnose_common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diagnose_common::{
    diagnose_json, initscope_bin, process, text, viewer_on, wait_until, wchan_of,
};
use initscope_tests::{is_root, Bundle};

/// A runc container under a private root, deleted (and its cgroup removed) on drop.
struct Runc {
    dir: tempfile::TempDir,
    root: PathBuf,
    id: String,
    bundle: Bundle,
    /// A cgroup path of our own (`linux.cgroupsPath`), if the test set one.
    cgroup: Option<String>,
    trace: Option<Child>,
}

impl Runc {
    fn new(prefix: &str) -> Runc {
        assert!(is_root(), "runc tests need root");
        let dir = tempfile::Builder::new()
            .prefix("isc-dg-runc-")
            .tempdir()
            .unwrap();
        let root = dir.path().join("root");
        let id = format!("{prefix}-{}", std::process::id());
        Runc {
            root,
            id,
            bundle: Bundle::busybox(&["sleep", "1000"]),
            cgroup: None,
            trace: None,
            dir,
        }
    }

    /// `initscope trace --json -- runc --root R create ID`, stdout (the kernel events) to a
    /// file, in the background.
    fn trace_create(&mut self) -> PathBuf {
        let out = self.dir.path().join("trace.jsonl");
        let child = Command::new(initscope_bin())
            .args(["trace", "--json", "--", "runc", "--root"])
            .arg(&self.root)
            .args(["create", "-b", self.bundle.path_str(), &self.id])
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(self.dir.path().join("trace.err")).unwrap())
            .spawn()
            .expect("initscope trace");
        self.trace = Some(child);
        out
    }

    fn wait_trace(&mut self) -> std::process::ExitStatus {
        let mut c = self.trace.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "initscope trace hung");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn state(&self) -> serde_json::Value {
        let s = std::fs::read(self.root.join(&self.id).join("state.json")).unwrap();
        serde_json::from_slice(&s).unwrap()
    }

    fn freezer(&self) -> PathBuf {
        Path::new("/sys/fs/cgroup/freezer")
            .join(self.cgroup.as_ref().unwrap().trim_start_matches('/'))
    }
}

impl Drop for Runc {
    fn drop(&mut self) {
        if self.cgroup.is_some() {
            let _ = std::fs::write(self.freezer().join("freezer.state"), "THAWED");
        }
        if let Some(mut c) = self.trace.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .status();
        if let Some(cg) = &self.cgroup {
            // Only the directories of our own path, deepest first (runc removes them
            // itself on delete; this is for a test that failed before).
            if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
                for h in rd.flatten() {
                    let _ = std::fs::remove_dir(h.path().join(cg.trim_start_matches('/')));
                }
            }
        }
    }
}

#[test]
fn runc_created_and_never_started_waits_for_start() {
    let mut r = Runc::new("dg-runc-created");
    let events = r.trace_create();
    assert!(r.wait_trace().success(), "runc create failed");
    let init = r.state()["init_process_pid"].as_i64().unwrap() as i32;
    std::thread::sleep(Duration::from_millis(1100));
    let root = r.root.display().to_string();
    let rep = diagnose_json(&["--runtime", "runc", "--root", &root, &r.id]);
    assert_eq!(rep["runtime"], "runc");
    assert_eq!(rep["status"], "created", "{rep:#}");
    assert_eq!(rep["culprit"], init);
    let start = format!("runc --root {root} start {}", r.id);
    assert_eq!(rep["next"], start.as_str());
    let p = process(&rep, "[2:INIT]");
    assert_eq!(p["pid"], init);
    assert_eq!(p["comm"], "runc:[2:INIT]");
    assert_eq!(p["kind"], "normal");
    assert_eq!(p["wchan"], "wait_for_partner");
    assert_eq!(p["fd"]["exec_fifo"], true, "{p:#}");
    assert_eq!(
        p["fd"]["target"],
        r.root.join(&r.id).join("exec.fifo").display().to_string()
    );
    assert!(text(&p["other_end"]).contains("nobody yet"));
    assert_eq!(p["since"], "it started");
    assert!(p["for_s"].as_f64().unwrap() >= 1.0, "{p:#}");
    assert!(text(&p["verdict"])
        .contains("init is waiting for `start`: this is the normal created state"));
    // By pid, with the runtime found from the state it is named in.
    let by_pid = diagnose_json(&["--root", &root, &init.to_string()]);
    assert_eq!(by_pid["container"], r.id.as_str());
    assert_eq!(by_pid["runtime"], "runc");
    // The viewer, on the lanes the probe saw.
    let (screen, details, _) = viewer_on(&events, init, |s| {
        s.model
            .lane_of_pid(init)
            .is_some_and(|l| s.model.lane(l).diagnosis.is_some())
    });
    assert!(
        screen.contains(&format!(
            "stuck: [2:INIT] {init} exec.fifo (waiting for start)"
        )),
        "{screen}"
    );
    assert!(details.contains(&start), "{details}");
}

#[test]
fn runc_init_frozen_in_its_cgroup() {
    let mut r = Runc::new("dg-runc-frozen");
    let cg = format!("/isc-dg-frozen-{}", std::process::id());
    r.bundle
        .edit(|c| c["linux"]["cgroupsPath"] = cg.clone().into());
    r.cgroup = Some(cg.clone());
    // runc refuses a cgroup frozen before create: make it, and freeze it the moment
    // runc's init joins it.
    std::fs::create_dir_all(r.freezer()).unwrap();
    let procs = r.freezer().join("cgroup.procs");
    let state = r.freezer().join("freezer.state");
    let watcher = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::fs::read_to_string(&procs).is_ok_and(|p| !p.trim().is_empty()) {
                std::fs::write(&state, "FROZEN").unwrap();
                return true;
            }
            std::thread::yield_now();
        }
        false
    });
    let events = r.trace_create();
    assert!(watcher.join().unwrap(), "runc init never joined its cgroup");
    let mut frozen = 0;
    wait_until("runc init frozen", || {
        let pids = std::fs::read_to_string(r.freezer().join("cgroup.procs")).unwrap_or_default();
        frozen = pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .find(|&p| diagnose_common::state_of(p) == Some('D'))
            .unwrap_or(0);
        frozen != 0
    });
    std::thread::sleep(Duration::from_millis(1100));
    // In __refrigerator, or frozen where it slept (a freezable wait, since Linux 6.1).
    let wchan = wchan_of(frozen);
    let root = r.root.display().to_string();
    let rep = diagnose_json(&["--root", &root, &r.id]);
    assert_eq!(rep["runtime"], "runc");
    assert_eq!(rep["status"], "creating", "{rep:#}");
    assert_eq!(rep["culprit"], frozen, "{rep:#}");
    let p = rep["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == frozen)
        .unwrap();
    assert_eq!(p["kind"], "frozen");
    assert_eq!(p["state"], "D");
    assert_eq!(p["freezer"], "FROZEN");
    // `runc init` before nsexec names its stages, or one of `runc:[…]`.
    let stage = text(&p["stage"]).to_string();
    assert!(stage == "runc init" || stage.starts_with('['), "{p:#}");
    let v = text(&p["verdict"]);
    assert!(
        v.contains(&format!("its cgroup {cg} is FROZEN in the freezer")),
        "{v}"
    );
    if wchan == "__refrigerator" {
        assert!(v.contains("sits in __refrigerator in state D"), "{v}");
    } else {
        assert!(
            v.contains(&format!(
                "sits in {wchan} (frozen where it slept) in state D"
            )),
            "{v}"
        );
    }
    assert!(text(&p["next"]).contains(&format!(
        "echo THAWED > {}",
        r.freezer().join("freezer.state").display()
    )));
    // runc create waits on the socket whose other end the frozen init holds.
    let create = process(&rep, "runc create");
    assert_eq!(create["blocked_by"], frozen, "{create:#}");
    // Its sync socket, or (waiting in epoll) the pipe init writes to.
    assert!(
        matches!(text(&create["fd"]["kind"]), "socket" | "pipe"),
        "{create:#}"
    );
    assert!(
        text(&create["other_end"]).contains(&format!("(pid {frozen}")),
        "{create:#}"
    );
    // The same pid finds the container.
    let by_pid = diagnose_json(&["--root", &root, &frozen.to_string()]);
    assert_eq!(by_pid["container"], r.id.as_str());
    // The viewer, from the probe's events so far.
    let (screen, details, _) = viewer_on(&events, frozen, |s| {
        s.model
            .lane_of_pid(frozen)
            .is_some_and(|l| s.model.lane(l).diagnosis.is_some())
    });
    assert!(
        screen.contains(&format!("{frozen} cgroup thaw ({cg} is FROZEN)")),
        "{screen}"
    );
    assert!(
        details.contains(&format!("its cgroup {cg} is FROZEN")),
        "{details}"
    );
    // Thawed, runc create completes.
    std::fs::write(r.freezer().join("freezer.state"), "THAWED").unwrap();
    assert!(r.wait_trace().success());
}

/// Directories this test made (missing ancestors included), removed deepest first on
/// drop when empty — never one that was there before.
struct MadeDirs(Vec<PathBuf>);

impl MadeDirs {
    fn create(path: &Path) -> MadeDirs {
        let mut missing: Vec<&Path> = path.ancestors().take_while(|p| !p.exists()).collect();
        missing.reverse();
        let mut made = Vec::new();
        for p in missing {
            std::fs::create_dir(p).unwrap();
            made.push(p.to_path_buf());
        }
        MadeDirs(made)
    }
}

impl Drop for MadeDirs {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = std::fs::remove_dir(p);
        }
    }
}

/// Under the root containerd's runc shim gives runc (`--root
/// /run/containerd/runc/<namespace>`), a created container is found by its id alone,
/// and by the pid of `runc:[2:INIT]`, whose command line names no root.
#[test]
fn runc_under_containerds_root_is_found_without_flags() {
    let ns = PathBuf::from(format!(
        "/run/containerd/runc/isc-dg-{}",
        std::process::id()
    ));
    let _made = MadeDirs::create(&ns);
    let mut r = Runc::new("dg-runc-ctd");
    r.root = ns.clone();
    r.trace_create();
    assert!(r.wait_trace().success(), "runc create failed");
    let init = r.state()["init_process_pid"].as_i64().unwrap() as i32;
    let rep = diagnose_json(&[&r.id]);
    assert_eq!(rep["runtime"], "runc", "{rep:#}");
    assert_eq!(rep["root"], ns.display().to_string().as_str());
    assert_eq!(rep["status"], "created", "{rep:#}");
    assert_eq!(
        rep["next"],
        format!("runc --root {} start {}", ns.display(), r.id).as_str()
    );
    let by_pid = diagnose_json(&[&init.to_string()]);
    assert_eq!(by_pid["container"], r.id.as_str());
    assert_eq!(by_pid["root"], ns.display().to_string().as_str());
    drop(r);
}
