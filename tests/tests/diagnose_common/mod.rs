//! Shared by the `diagnose_*` tests: a bootstrap held in a real stuck situation (a stage
//! held by INITSCOPE_PAUSE_AT, stopped, frozen, killed), `initscope diagnose --json` on
//! it, and the viewer's verdict on the same situation (the live monitor judging the real
//! processes, drawn on a TestBackend). Everything is undone on drop, even when a test
//! fails: cgroups thawed, stages continued, create waited for, containers deleted.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use initscope::diagnose::live::Monitor;
use initscope::session::Session;
use initscope::view::{Mode, Pane, View};
use initscope_tests::{output_with_timeout, read_events, Bundle, Runtime, COMMAND_TIMEOUT};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde_json::Value;

static BUILD: Once = Once::new();

/// The `initscope` binary of this workspace (built once per test binary).
pub fn initscope_bin() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    BUILD.call_once(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "--quiet", "-p", "initscope", "--bin", "initscope"])
            .current_dir(&workspace)
            .status()
            .expect("run cargo build for initscope");
        assert!(st.success(), "building initscope failed");
    });
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    target.join("debug/initscope")
}

/// `initscope ARGS`, with a timeout.
pub fn initscope(args: &[&str]) -> Output {
    let mut c = Command::new(initscope_bin());
    c.args(args).stdin(Stdio::null());
    output_with_timeout(c, COMMAND_TIMEOUT)
}

/// `initscope --stuck-after 1 diagnose ARGS --json`, parsed; panics with stderr if it fails.
pub fn diagnose_json(args: &[&str]) -> Value {
    let mut all = vec!["--stuck-after", "1", "diagnose", "--json"];
    all.extend_from_slice(args);
    let out = initscope(&all);
    assert!(
        out.status.success(),
        "initscope {all:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The report's process with this stage label.
pub fn process<'a>(report: &'a Value, stage: &str) -> &'a Value {
    report["processes"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|p| p["stage"] == stage)
        .unwrap_or_else(|| panic!("no {stage} in {report:#}"))
}

pub fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// `/proc/PID/stat`'s state letter.
pub fn state_of(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

pub fn wchan_of(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default()
}

/// Wait until `cond` holds (10 s at most).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill with integer arguments only.
    unsafe { libc::kill(pid, sig) };
}

/// One bootstrap in a situation built for real, undone on drop.
pub struct Case {
    create: Option<Child>,
    /// create's stderr: a file, as init inherits it and keeps a pipe open forever.
    create_err: tempfile::NamedTempFile,
    /// Freezer files this case froze (thawed on drop).
    frozen: Vec<PathBuf>,
    pub id: String,
    pub bundle: Bundle,
    pub rt: Runtime,
}

impl Case {
    pub fn new(prefix: &str, bundle: Bundle) -> Case {
        assert!(initscope_tests::is_root(), "diagnose tests need root");
        let rt = Runtime::new();
        let id = rt.id(prefix);
        Case {
            create: None,
            create_err: tempfile::NamedTempFile::new().unwrap(),
            frozen: Vec::new(),
            id,
            bundle,
            rt,
        }
    }

    /// A busybox container that sleeps, with or without a user namespace.
    pub fn sleeper(prefix: &str, userns: bool) -> Case {
        let b = Bundle::busybox(&["sleep", "1000"]);
        if userns {
            b.edit(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!({"type": "user"}));
                let map = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                c["linux"]["uidMappings"] = map.clone();
                c["linux"]["gidMappings"] = map;
            });
        }
        Case::new(prefix, b)
    }

    /// `create` in the background, held at `pause` (INITSCOPE_PAUSE_AT) if given.
    pub fn spawn_create(&mut self, pause: Option<&str>) {
        let mut c = self
            .rt
            .command(&["create", "-b", self.bundle.path_str(), &self.id]);
        if let Some(p) = pause {
            c.env("INITSCOPE_PAUSE_AT", p);
        }
        c.stdout(Stdio::null())
            .stderr(self.create_err.reopen().unwrap());
        self.create = Some(c.spawn().expect("spawn create"));
    }

    /// `create` to completion (the container is then `created`).
    pub fn create(&self) {
        self.rt
            .ok(&["create", "-b", self.bundle.path_str(), &self.id]);
    }

    /// Wait for create to end; its exit status and stderr.
    pub fn wait_create(&mut self) -> (std::process::ExitStatus, String) {
        let mut c = self.create.take().expect("create was spawned");
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                let err = std::fs::read_to_string(self.create_err.path()).unwrap_or_default();
                return (st, err);
            }
            assert!(Instant::now() < deadline, "create hung");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn create_pid(&self) -> i32 {
        self.create.as_ref().expect("create was spawned").id() as i32
    }

    /// This container's events from the runtime's live file.
    pub fn events(&self) -> Vec<Value> {
        self.rt.events_of(&self.id)
    }

    /// The first event matching `pred`, waiting for it.
    pub fn wait_event(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut found = None;
        wait_until(what, || {
            found = self.events().into_iter().find(|e| pred(e));
            found.is_some()
        });
        found.unwrap()
    }

    /// The pid of `stage` (its stage_start).
    pub fn stage_pid(&self, stage: &str) -> i32 {
        let e = self.wait_event(&format!("{stage} to start"), |e| {
            e["stage"] == stage && e["kind"] == "stage_start"
        });
        e["pid"].as_i64().unwrap() as i32
    }

    /// The stage paused at `step` (`child:before-unshare`) once it has stopped.
    pub fn paused(&self, step: &str) -> i32 {
        let e = self.wait_event(&format!("paused at {step}"), |e| {
            e["kind"] == "paused" && e["step"] == step
        });
        let pid = e["pid"].as_i64().unwrap() as i32;
        // Stopped (T), or as a namespace's init blocked for SIGCONT (S).
        wait_until("the held stage to sleep", || {
            matches!(state_of(pid), Some('T') | Some('S'))
        });
        pid
    }

    /// The v1 freezer of the container's cgroup.
    pub fn freezer_file(&self) -> PathBuf {
        PathBuf::from(format!(
            "/sys/fs/cgroup/freezer/initscope/{}/freezer.state",
            self.id
        ))
    }

    /// Freeze the container's cgroup (v1 freezer) and wait for FROZEN.
    pub fn freeze(&mut self) {
        let f = self.freezer_file();
        std::fs::write(&f, "FROZEN").unwrap();
        self.frozen.push(f.clone());
        wait_until("FROZEN", || {
            std::fs::read_to_string(&f).is_ok_and(|s| s.trim() == "FROZEN")
        });
    }

    /// `initscope diagnose --json --root R ID` (or another target).
    pub fn diagnose(&self, target: &str) -> Value {
        let root = self.rt.root.display().to_string();
        diagnose_json(&["--root", &root, target])
    }

    /// The viewer on this situation: the live monitor judges the real processes (with a
    /// threshold of 1 s) and the screen is drawn, normal and with details full screen
    /// for the process `select`. Returns (screen, details, session).
    pub fn viewer(&self, select: i32) -> (String, String, Session) {
        viewer_on(&self.rt.events, select, |s| {
            s.model
                .lane_of_pid(select)
                .is_some_and(|l| s.model.lane(l).diagnosis.is_some())
        })
    }
}

/// Fold `events` (a live event file) as the viewer does, let its monitor judge the
/// lanes from /proc until `ready`, and draw: the whole screen, and the details pane full
/// screen on the last event of process `select` (whitespace collapsed, so wrapped lines
/// read as one text).
pub fn viewer_on(
    events: &Path,
    select: i32,
    ready: impl Fn(&Session) -> bool,
) -> (String, String, Session) {
    let mut s = Session::load(events).expect("events load");
    let mut mon = Monitor::new();
    let stuck_after = Duration::from_secs(1);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        mon.refresh(&mut s, stuck_after, initscope::diagnose::now_ns());
        if ready(&s) {
            break;
        }
        if Instant::now() > deadline {
            let m = &s.model;
            let lanes: Vec<String> = (0..m.lanes.len() as u32)
                .map(|l| {
                    let lane = m.lane(l);
                    format!(
                        "{} {} role={:?} exit={:?} diag={:?}",
                        lane.pid,
                        m.lane_title(l, m.len() as u32),
                        lane.role,
                        lane.exit,
                        lane.diagnosis
                    )
                })
                .collect();
            panic!(
                "the viewer never judged pid {select}:\n{}",
                lanes.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut v = View::new(Mode::Live, "diagnose test");
    v.theme = initscope::ui::theme::Theme::plain();
    v.stuck_after = stuck_after;
    v.sync(&s.model);
    let screen = draw(&s, &mut v, 160, 48);
    // Its last event (a hook has none of its own: then the newest, whose details list
    // the other stuck processes too).
    if let Some(lane) = s.model.lane_of_pid(select) {
        if let Some(last) = (0..s.model.len() as u32)
            .rev()
            .find(|&q| s.model.events[q as usize].lane == Some(lane))
        {
            v.sel = Some(last);
            v.follow = false;
        }
    }
    v.focus = Pane::Details;
    v.bottom = Pane::Details;
    v.zoom = true;
    let details = draw(&s, &mut v, 160, 60);
    let details = details.split_whitespace().collect::<Vec<_>>().join(" ");
    (screen, details, s)
}

pub fn draw(s: &Session, v: &mut View, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| initscope::ui::draw(f, s, v)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

impl Drop for Case {
    fn drop(&mut self) {
        for f in &self.frozen {
            let _ = std::fs::write(f, "THAWED");
        }
        // Let every held or stopped stage go on, so create finishes (or fails) by itself;
        // a hook that never returns is killed (create then fails and cleans up).
        for e in read_events(&self.rt.events) {
            if e["container"] == self.id.as_str() && e["kind"] == "hook_start" {
                if let Some(pid) = e["hook_pid"].as_i64() {
                    signal(pid as i32, libc::SIGKILL);
                }
            }
            if e["container"] == self.id.as_str() {
                if let Some(pid) = e["pid"].as_i64() {
                    if matches!(e["stage"].as_str(), Some("parent" | "child" | "init")) {
                        signal(pid as i32, libc::SIGCONT);
                    }
                }
            }
        }
        if let Some(mut c) = self.create.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // `rt` drops next: delete --force for every id whose state dir is left.
    }
}
