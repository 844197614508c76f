//! Runs one rootfs scenario for real, as root, far away from the test harness:
//!
//! ```text
//! test thread ── re-exec of this test binary (P, `--exact scenario_entry`)
//!                 └─ fork C: [unshare(USER) + id maps]; unshare(NEWNS)        ("host" side)
//!                     └─ fork G: unshare(NEWNS|NEWPID|NEWIPC|extra)
//!                         └─ fork H: pid 1 of the new pid namespace: builds the config,
//!                            calls prepare / pivot / finalize, looks around from inside,
//!                            writes a JSON report to a file opened before the pivot.
//! ```
//!
//! Nothing is ever mounted in the test's own mount namespace; the private namespaces die
//! with their processes, and only then is the temp dir removed. Each child dies with its
//! parent (PR_SET_PDEATHSIG), so a killed test leaves nothing running.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use initscope_runtime::events::schema::EventKind;
use initscope_runtime::rootfs::RootfsError;
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use serde_json::{json, Value};

const ENV_SCENARIO: &str = "ISC_ROOTFS_SCENARIO";
const ENV_DIR: &str = "ISC_ROOTFS_DIR";
const ENV_CGROUPS: &str = "ISC_ROOTFS_CGROUPS";
const ENV_MARKER: &str = "ISC_ROOTFS_MARKER";
const TIMEOUT: Duration = Duration::from_secs(60);

/// How the scenario's processes are set up.
#[derive(Clone, Copy, Default)]
pub struct Opts {
    /// C enters a new user namespace mapping only root (`0 0 1`), like a rootless runtime.
    pub userns: bool,
    /// Namespaces G creates besides mount, pid and ipc (`CLONE_NEWNET`, `CLONE_NEWCGROUP`).
    pub extra: Option<CloneFlags>,
    /// Put the scenario in fresh cgroups (one per host hierarchy) holding a marker dir.
    pub cgroup: bool,
    /// C turns the rootfs into a shared mount first (for propagation scenarios).
    pub shared_rootfs: bool,
    /// Before entering the user namespace, C mounts a nosuid,nodev,noexec tmpfs at
    /// `<dir>/locked`: inside, its flags are locked, as a rootless runtime finds them.
    pub locked_src: bool,
}

/// What runs inside H.
pub type ScenarioFn = fn(&mut Env) -> Value;
/// What C does when H asks (after H's `ask_host`), in the "host" namespace.
pub type HostFn = fn(&Path) -> Value;

pub struct Scenario {
    pub name: &'static str,
    pub opts: Opts,
    pub run: ScenarioFn,
    pub host: Option<HostFn>,
}

/// H's view: paths, the collected events, and the line to C.
pub struct Env {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    /// Name of the marker directory inside the scenario's cgroups, if any.
    pub marker: Option<String>,
    pub events: Vec<Value>,
    to_host: Option<(OwnedFd, OwnedFd)>,
}

impl Env {
    /// An `emit` for the rootfs functions: every event is kept for the report.
    pub fn emitter(&mut self) -> impl FnMut(EventKind) + '_ {
        |k| {
            self.events
                .push(serde_json::to_value(&k).expect("event serializes"))
        }
    }

    /// Let C run its `HostFn` now and wait until it is done.
    pub fn ask_host(&mut self) {
        let (r, w) = self.to_host.as_ref().expect("scenario has a host fn");
        nix::unistd::write(w, b"x").expect("write to host");
        let mut b = [0u8; 1];
        nix::unistd::read(r, &mut b).expect("read from host");
    }
}

// ----- things H looks at -----

pub fn result_of(r: Result<(), RootfsError>) -> Value {
    match r {
        Ok(()) => json!({"ok": true}),
        Err(e) => {
            json!({"ok": false, "error": e.to_string(), "errno": e.errno(), "step": e.step()})
        }
    }
}

/// `/proc/self/mountinfo` as JSON objects.
pub fn mountinfo() -> Value {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let (pre, post) = line.split_once(" - ").unwrap_or((line, ""));
        let f: Vec<&str> = pre.split(' ').collect();
        let g: Vec<&str> = post.split(' ').collect();
        if f.len() < 6 || g.len() < 3 {
            continue;
        }
        out.push(json!({
            "root": f[3].replace("\\040", " "),
            "mount_point": f[4].replace("\\040", " "),
            "options": f[5],
            "optional": f[6..].join(" "),
            "fstype": g[0],
            "source": g[1],
            "super_options": g[2],
        }));
    }
    Value::Array(out)
}

/// `ENOENT`, `EROFS`, …
fn errno_name(e: &std::io::Error) -> String {
    format!(
        "{:?}",
        nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0))
    )
}

/// Type, mode, owner and device numbers of `path` (not following a last symlink).
pub fn stat(path: &str) -> Value {
    match std::fs::symlink_metadata(path) {
        Ok(m) => {
            let ft = m.file_type();
            let t = if ft.is_char_device() {
                "c"
            } else if ft.is_block_device() {
                "b"
            } else if ft.is_fifo() {
                "p"
            } else if ft.is_symlink() {
                "l"
            } else if ft.is_dir() {
                "d"
            } else {
                "f"
            };
            json!({
                "type": t,
                "mode": m.mode() & 0o7777,
                "uid": m.uid(),
                "gid": m.gid(),
                "major": libc::major(m.rdev()),
                "minor": libc::minor(m.rdev()),
                "size": m.len(),
            })
        }
        Err(e) => json!({"error": errno_name(&e)}),
    }
}

pub fn readlink(path: &str) -> Value {
    match std::fs::read_link(path) {
        Ok(t) => json!(t.display().to_string()),
        Err(e) => json!({"error": errno_name(&e)}),
    }
}

/// Read up to 4 KiB: the text, or the errno.
pub fn read(path: &str) -> Value {
    let mut buf = Vec::new();
    match File::open(path).and_then(|f| f.take(4096).read_to_end(&mut buf)) {
        Ok(_) => json!(String::from_utf8_lossy(&buf)),
        Err(e) => json!({"error": errno_name(&e)}),
    }
}

/// Try to write (without truncating); "ok" or the errno.
pub fn try_write(path: &str, data: &str) -> Value {
    match std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(data.as_bytes()))
    {
        Ok(()) => json!("ok"),
        Err(e) => json!(errno_name(&e)),
    }
}

/// Try to create a file; "ok" or the errno.
pub fn try_create(path: &str) -> Value {
    match File::create(path) {
        Ok(_) => json!("ok"),
        Err(e) => json!(errno_name(&e)),
    }
}

pub fn try_mkdir(path: &str) -> Value {
    match std::fs::create_dir(path) {
        Ok(()) => {
            let _ = std::fs::remove_dir(path);
            json!("ok")
        }
        Err(e) => json!(errno_name(&e)),
    }
}

/// Run a program from the container's root; its stdout or the error.
pub fn run(argv: &[&str]) -> Value {
    match Command::new(argv[0]).args(&argv[1..]).output() {
        Ok(o) => json!({"status": o.status.code(), "stdout": String::from_utf8_lossy(&o.stdout)}),
        Err(e) => json!({"error": e.to_string()}),
    }
}

// ----- the test side -----

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A scenario's result, as the test reads it.
pub struct Outcome {
    pub report: Value,
    pub host: Value,
    pub log: String,
}

impl Outcome {
    pub fn result(&self) -> &Value {
        &self.report["result"]
    }

    pub fn events(&self) -> &[Value] {
        self.report["events"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The last mount at `mount_point` in the mountinfo the scenario recorded under `key`.
    pub fn mount(&self, key: &str, mount_point: &str) -> Option<&Value> {
        self.result()[key]
            .as_array()?
            .iter()
            .rev()
            .find(|m| m["mount_point"] == mount_point)
    }

    /// Per-mount options of that mount, split.
    pub fn mount_opts(&self, key: &str, mount_point: &str) -> Vec<String> {
        self.mount(key, mount_point)
            .and_then(|m| m["options"].as_str())
            .map(|o| o.split(',').map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Events of one kind.
    pub fn events_of(&self, kind: &str) -> Vec<&Value> {
        self.events().iter().filter(|e| e["kind"] == kind).collect()
    }
}

/// Host cgroups for one scenario (one directory per hierarchy, below the test's own
/// cgroup), each holding a marker directory. Removed on drop, after the scenario's
/// processes are gone.
struct TestCgroups {
    dirs: Vec<PathBuf>,
    marker: String,
}

impl TestCgroups {
    fn create(tag: &str) -> TestCgroups {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let marker = format!("marker-{tag}");
        let mut dirs = Vec::new();
        for line in own.lines() {
            let mut f = line.splitn(3, ':');
            let (_, ctrls, path) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            let mp = mounts.lines().find_map(|m| {
                let (pre, post) = m.split_once(" - ")?;
                let g: Vec<&str> = post.split(' ').collect();
                let mp = pre.split(' ').nth(4)?;
                let root = pre.split(' ').nth(3)?;
                let ok = if ctrls.is_empty() {
                    g[0] == "cgroup2"
                } else {
                    g[0] == "cgroup" && ctrls.split(',').all(|c| g[2].split(',').any(|o| o == c))
                };
                (ok && root == "/" && mp.starts_with("/sys/fs/cgroup")).then(|| mp.to_string())
            });
            let Some(mp) = mp else { continue };
            let dir = PathBuf::from(format!(
                "{mp}{}/isc-rootfs-{tag}-{}",
                path.trim_end_matches('/'),
                std::process::id()
            ));
            std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
            // A new v1 cpuset starts with no cpus and mems: no process could join it.
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if dir.join(f).exists() {
                    let v = std::fs::read_to_string(dir.parent().unwrap().join(f)).unwrap();
                    std::fs::write(dir.join(f), v.trim()).unwrap();
                }
            }
            std::fs::create_dir(dir.join(&marker)).unwrap();
            dirs.push(dir);
        }
        TestCgroups { dirs, marker }
    }
}

impl Drop for TestCgroups {
    fn drop(&mut self) {
        for d in &self.dirs {
            let _ = std::fs::remove_dir(d.join(&self.marker));
            if let Err(e) = std::fs::remove_dir(d) {
                eprintln!("warning: could not remove test cgroup {}: {e}", d.display());
            }
        }
    }
}

/// Build a busybox rootfs under a fresh temp dir.
fn build_rootfs(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "mnt"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
        .expect("/bin/busybox (Debian busybox-static; scripts/setup installs it)");
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    std::fs::write(rootfs.join("etc/hostname"), "rootfs-test\n").unwrap();
    rootfs
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|mp| mp.starts_with(&d)))
        .map(str::to_string)
        .collect()
}

/// Run scenario `name` in its own processes and namespaces; returns its report. Panics
/// (failing the test) if the scenario's processes fail or leave a mount on the host.
pub fn run_scenario(scenarios: &[Scenario], name: &str) -> Outcome {
    assert!(
        is_root(),
        "the rootfs scenarios mount, pivot and mknod for real: run the tests as root (CI does)"
    );
    let sc = scenarios
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario {name}"));
    let tmp = tempfile::Builder::new()
        .prefix(&format!("isc-rootfs-{name}-"))
        .tempdir_in("/tmp")
        .unwrap();
    build_rootfs(tmp.path());
    let cgroups = sc.opts.cgroup.then(|| TestCgroups::create(name));

    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "scenario_entry",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ENV_SCENARIO, name)
    .env(ENV_DIR, tmp.path())
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if let Some(cg) = &cgroups {
        let dirs: Vec<String> = cg.dirs.iter().map(|d| d.display().to_string()).collect();
        cmd.env(ENV_CGROUPS, dirs.join(":"))
            .env(ENV_MARKER, &cg.marker);
    }
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("scenario {name} timed out after {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut log = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();

    // The namespaces are gone with the processes: the host must not see a single mount.
    let leftovers = mounts_under(tmp.path());
    assert!(
        leftovers.is_empty(),
        "mounts left on the host: {leftovers:#?}"
    );
    assert!(status.success(), "scenario {name} failed: {status}\n{log}");

    let report: Value = std::fs::read_to_string(tmp.path().join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| panic!("scenario {name} wrote no report\n{log}"));
    if let Some(p) = report.get("panic") {
        panic!("scenario {name} panicked inside the container: {p}\n{log}");
    }
    let host = std::fs::read_to_string(tmp.path().join("host.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    drop(cgroups);
    drop(tmp);
    Outcome { report, host, log }
}

// ----- the child side -----

fn die_with_parent() {
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
}

fn wait_code(pid: nix::unistd::Pid) -> i32 {
    match waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, c)) => c,
        Ok(WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
        _ => 125,
    }
}

fn write_id_maps() -> std::io::Result<()> {
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/gid_map", "0 0 1")?;
    std::fs::write("/proc/self/uid_map", "0 0 1")
}

/// C's work before forking G when the scenario wants a shared rootfs: the rootfs becomes a
/// mount of its own in a fresh peer group, so G's copy of it is a peer.
fn make_rootfs_shared(rootfs: &Path) -> nix::Result<()> {
    use nix::mount::{mount, MsFlags};
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )?;
    mount(
        None::<&str>,
        rootfs,
        None::<&str>,
        MsFlags::MS_SHARED,
        None::<&str>,
    )
}

/// Body of the `scenario_entry` test in a re-executed test binary: nothing happens unless
/// the environment names a scenario.
pub fn entry(scenarios: &[Scenario]) {
    let Ok(name) = std::env::var(ENV_SCENARIO) else {
        return;
    };
    let sc = scenarios.iter().find(|s| s.name == name).expect("scenario");
    let dir = PathBuf::from(std::env::var(ENV_DIR).expect("dir"));
    if let Ok(cgs) = std::env::var(ENV_CGROUPS) {
        for d in cgs.split(':') {
            std::fs::write(format!("{d}/cgroup.procs"), "0").expect("join test cgroup");
        }
    }
    let report = File::create(dir.join("report.json")).expect("report file");
    // Pipes between H (in the container) and C (the "host"): H → C, C → H.
    let (h2c_r, h2c_w) = nix::unistd::pipe().unwrap();
    let (c2h_r, c2h_w) = nix::unistd::pipe().unwrap();

    // SAFETY: this process runs one libtest worker thread doing this and a main thread
    // parked waiting for it; the child only uses its own copy of memory and exits.
    match unsafe { fork() }.expect("fork C") {
        ForkResult::Parent { child } => {
            let code = wait_code(child);
            assert_eq!(code, 0, "scenario {name}: child exited with {code}");
        }
        ForkResult::Child => {
            die_with_parent();
            let code = child_c(sc, &dir, report, (h2c_r, h2c_w), (c2h_r, c2h_w));
            std::process::exit(code);
        }
    }
}

type PipePair = (OwnedFd, OwnedFd);

fn child_c(sc: &Scenario, dir: &Path, report: File, h2c: PipePair, c2h: PipePair) -> i32 {
    let rootfs = dir.join("rootfs");
    if sc.opts.locked_src {
        use nix::mount::{mount, MsFlags};
        unshare(CloneFlags::CLONE_NEWNS).expect("unshare mnt (C, before userns)");
        let locked = dir.join("locked");
        std::fs::create_dir_all(&locked).unwrap();
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("tmpfs"), &locked, Some("tmpfs"), flags, None::<&str>).expect("locked tmpfs");
        std::fs::write(locked.join("file"), "locked").unwrap();
    }
    if sc.opts.userns {
        unshare(CloneFlags::CLONE_NEWUSER).expect("unshare user");
        write_id_maps().expect("id maps");
    }
    unshare(CloneFlags::CLONE_NEWNS).expect("unshare mnt (C)");
    if sc.opts.shared_rootfs {
        make_rootfs_shared(&rootfs).expect("shared rootfs");
    }
    // SAFETY: C is single-threaded (a fork of one thread).
    match unsafe { fork() }.expect("fork G") {
        ForkResult::Parent { child } => {
            drop(h2c.1);
            drop(c2h.0);
            if let Some(host) = sc.host {
                let mut b = [0u8; 1];
                if nix::unistd::read(&h2c.0, &mut b).unwrap_or(0) == 1 {
                    let v = host(dir);
                    std::fs::write(dir.join("host.json"), v.to_string()).unwrap();
                    let _ = nix::unistd::write(&c2h.1, b"x");
                }
            }
            wait_code(child)
        }
        ForkResult::Child => {
            die_with_parent();
            drop(h2c.0);
            drop(c2h.1);
            let mut flags =
                CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWIPC;
            if let Some(extra) = sc.opts.extra {
                flags |= extra;
            }
            unshare(flags).expect("unshare (G)");
            // SAFETY: G is single-threaded.
            match unsafe { fork() }.expect("fork H") {
                ForkResult::Parent { child } => std::process::exit(wait_code(child)),
                ForkResult::Child => {
                    die_with_parent();
                    std::process::exit(child_h(sc, dir, rootfs, report, (c2h.0, h2c.1)));
                }
            }
        }
    }
}

fn child_h(sc: &Scenario, dir: &Path, rootfs: PathBuf, mut report: File, pipes: PipePair) -> i32 {
    let mut env = Env {
        dir: dir.to_path_buf(),
        rootfs,
        marker: std::env::var(ENV_MARKER).ok(),
        events: Vec::new(),
        to_host: sc.host.map(|_| pipes),
    };
    let run = sc.run;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&mut env)));
    let out = match result {
        Ok(v) => json!({"result": v, "events": env.events}),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            json!({"panic": msg, "events": env.events})
        }
    };
    report.write_all(out.to_string().as_bytes()).unwrap();
    0
}
