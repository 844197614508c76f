//! Helpers shared by the end-to-end tests: a busybox bundle in a temp dir, a runner for
//! `initscope-runtime` with a private `--root` and its own live event file, and leak checks
//! scoped to what the test made (its state dirs, cgroups, mounts under its temp dirs, and
//! every pid its containers' stages had) — so tests running beside other people's
//! containers on the same machine neither see nor disturb them.

pub mod clients;
pub mod leaks;
pub mod soak;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// How long any single runtime command may take before the test calls it hung.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

static BUILD: Once = Once::new();

/// The `initscope-runtime` binary: `$INITSCOPE_RUNTIME_BIN`, or the workspace's debug build
/// (built once per test binary; a no-op when up to date).
pub fn runtime_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("INITSCOPE_RUNTIME_BIN") {
        return PathBuf::from(p);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    BUILD.call_once(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let st = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "initscope-runtime",
                "--bin",
                "initscope-runtime",
            ])
            .current_dir(&workspace)
            .status()
            .expect("run cargo build for initscope-runtime");
        assert!(st.success(), "building initscope-runtime failed");
    });
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    target.join("debug/initscope-runtime")
}

/// Whether the tests run as root (they need to: namespaces, cgroups, mounts).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// A bundle: `rootfs/` with busybox and its applets as symlinks, and a `config.json`
/// made from the runtime's `spec` (runc's default) with `terminal: false`.
pub struct Bundle {
    _dir: TempDir,
    pub path: PathBuf,
}

impl Bundle {
    /// A busybox bundle running `args`.
    pub fn busybox(args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("isc-bundle-")
            .tempdir()
            .unwrap();
        let path = dir.path().to_path_buf();
        let bin = path.join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        for d in ["proc", "sys", "dev", "etc", "tmp", "root"] {
            std::fs::create_dir_all(path.join("rootfs").join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", bin.join("busybox"))
            .expect("/bin/busybox (Debian busybox-static; scripts/setup installs it)");
        for applet in busybox_applets() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
            }
        }
        std::fs::write(
            path.join("rootfs/etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        )
        .unwrap();
        let b = Bundle { _dir: dir, path };
        let mut cfg = initscope_runtime::cli::spec::runc_default_spec(false);
        cfg["process"]["terminal"] = false.into();
        cfg["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
        b.write_config(&cfg);
        b
    }

    pub fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.path.join("config.json")).unwrap()).unwrap()
    }

    pub fn write_config(&self, cfg: &Value) {
        std::fs::write(
            self.path.join("config.json"),
            serde_json::to_vec_pretty(cfg).unwrap(),
        )
        .unwrap();
    }

    /// Change the config in place.
    pub fn edit(&self, f: impl FnOnce(&mut Value)) -> &Self {
        let mut cfg = self.config();
        f(&mut cfg);
        self.write_config(&cfg);
        self
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

/// `busybox --list`, asked once per test binary.
fn busybox_applets() -> &'static [String] {
    static LIST: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        let list = Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .expect("run /bin/busybox --list");
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .map(String::from)
            .collect()
    })
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// `initscope-runtime` with a private `--root` and `--events` file. Dropping it deletes
/// (with `--force`) every container it created, even when the test failed.
pub struct Runtime {
    dir: TempDir,
    pub root: PathBuf,
    pub events: PathBuf,
    pub bin: PathBuf,
    ids: Mutex<Vec<String>>,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    pub fn new() -> Runtime {
        become_subreaper();
        let dir = tempfile::Builder::new()
            .prefix("isc-root-")
            .tempdir()
            .unwrap();
        let root = dir.path().join("root");
        let events = dir.path().join("events.jsonl");
        Runtime {
            root,
            events,
            bin: runtime_bin(),
            dir,
            ids: Mutex::new(Vec::new()),
        }
    }

    /// A fresh id, unique across tests and processes, remembered for cleanup.
    pub fn id(&self, prefix: &str) -> String {
        let id = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        self.ids.lock().unwrap().push(id.clone());
        id
    }

    /// The runtime command with `--root` and `--events` set.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root")
            .arg(&self.root)
            .arg("--events")
            .arg(&self.events);
        c.args(args);
        c.env_remove("INITSCOPE_EVENTS")
            .env_remove("INITSCOPE_PAUSE_AT");
        c.stdin(Stdio::null());
        c
    }

    /// Run to completion (failing the test if it hangs), capturing output.
    pub fn run(&self, args: &[&str]) -> Output {
        output_with_timeout(self.command(args), COMMAND_TIMEOUT)
    }

    /// Run and insist on success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "initscope-runtime {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `state ID` as JSON, or `None` if the command failed.
    pub fn state(&self, id: &str) -> Option<Value> {
        let out = self.run(&["state", id]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    /// Poll `state` until `status` (or fail after a few seconds).
    pub fn wait_status(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.state(id);
            if let Some(s) = &s {
                if s["status"] == status {
                    return s.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "{id} never became {status}: {s:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every event streamed live to this runtime's `--events` file.
    pub fn live_events(&self) -> Vec<Value> {
        read_events(&self.events)
    }

    /// Events of one container from the live file, sorted by time.
    pub fn events_of(&self, id: &str) -> Vec<Value> {
        let mut v: Vec<Value> = self
            .live_events()
            .into_iter()
            .filter(|e| e["container"] == id)
            .collect();
        v.sort_by_key(|e| e["ts_ns"].as_u64().unwrap_or(0));
        v
    }

    /// The container's own `events.jsonl` (while its state dir exists), sorted by time.
    pub fn state_events(&self, id: &str) -> Vec<Value> {
        let mut v = read_events(&self.root.join(id).join("events.jsonl"));
        v.sort_by_key(|e| e["ts_ns"].as_u64().unwrap_or(0));
        v
    }

    /// Assert the test left nothing behind: no state dir, no cgroup for its ids, no mount
    /// under its temp dirs or `extra_paths`, and none of its stages' processes (alive or
    /// zombie).
    pub fn assert_clean(&self, extra_paths: &[&Path]) {
        let leftovers = self.leftovers(extra_paths);
        assert!(leftovers.is_empty(), "left behind: {leftovers:#?}");
    }

    /// What [`Runtime::assert_clean`] would complain about.
    pub fn leftovers(&self, extra_paths: &[&Path]) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&self.root) {
            for e in rd.flatten() {
                out.push(format!("state dir {}", e.path().display()));
            }
        }
        let ids = self.ids.lock().unwrap().clone();
        reap_orphans();
        for id in &ids {
            for dir in cgroup_dirs(id) {
                out.push(format!("cgroup {}", dir.display()));
            }
        }
        let mut paths: Vec<PathBuf> = vec![self.dir.path().to_path_buf()];
        paths.extend(extra_paths.iter().map(|p| p.to_path_buf()));
        for m in mounts_under(&paths) {
            out.push(format!("mount {m}"));
        }
        for pid in stage_pids(&self.live_events()) {
            reap_if_ours(pid);
            if let Some(what) = lingering(pid, &ids) {
                out.push(format!("process {pid}: {what}"));
            }
        }
        out
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let ids = self.ids.lock().map(|v| v.clone()).unwrap_or_default();
        for id in ids {
            if self.root.join(&id).exists() {
                let _ =
                    output_with_timeout(self.command(&["delete", "--force", &id]), COMMAND_TIMEOUT);
            }
        }
    }
}

/// Make this test process the reaper of orphaned descendants, as conmon and containerd's
/// shim are: init outlives `create` and must be reaped by someone we can check.
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// Reap `pid` if it is a zombie child of ours (an orphaned stage reparented to us).
pub fn reap_if_ours(pid: i32) {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return;
    };
    let Some(end) = stat.rfind(')') else { return };
    let mut f = stat[end + 1..].split_whitespace();
    let (state, ppid) = (f.next(), f.next().and_then(|p| p.parse::<u32>().ok()));
    if state == Some("Z") && ppid == Some(std::process::id()) {
        let mut st = 0;
        // SAFETY: waitpid on a specific zombie child, writing into our local.
        unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG | libc::__WALL) };
    }
}

/// Commands [`output_with_timeout`] is waiting for: their `Child` handle reaps them, so
/// a reaper in another thread must not ([`clients::reap_daemons`]).
static SPAWNED: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Whether `pid` is a command [`output_with_timeout`] is waiting for.
pub fn is_spawned(pid: i32) -> bool {
    SPAWNED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&pid)
}

/// Reap every zombie child of ours that is not a command we spawned (those belong to
/// their `Child` handles): container processes orphaned to us, the subreaper.
pub fn reap_orphans() {
    let me = std::process::id().to_string();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let mut f = stat[close + 1..].split_whitespace();
        if f.next() == Some("Z")
            && f.next() == Some(me.as_str())
            && (comm.starts_with("isc:") || in_nested_pid_ns(pid))
        {
            reap_if_ours(pid);
        }
    }
}

/// Whether `pid` lives in a pid namespace below ours (its `NSpid` has more than one level):
/// a container process. Helpers the tests spawn themselves (`busybox --list`, …) do not,
/// so their `Command` keeps its own exit status instead of losing it to `reap_orphans`.
fn in_nested_pid_ns(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .map(|v| v.split_whitespace().count() > 1)
        })
        .unwrap_or(false)
}

/// Run `cmd`, killing it and failing if it takes longer than `timeout`. Output is read
/// until the command exits (plus what is already buffered then): a container started by
/// `create` keeps the command's stdout/stderr open, so waiting for EOF would hang.
pub fn output_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    use std::os::fd::AsRawFd;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = {
        // Registered before another thread's reap_orphans can see it exit.
        let mut spawned = SPAWNED.lock().unwrap_or_else(|e| e.into_inner());
        let child = cmd.spawn().expect("spawn initscope-runtime");
        spawned.push(child.id() as i32);
        child
    };
    let pid = child.id() as i32;
    let _unregister = Unregister(pid);
    let so = child.stdout.take().unwrap();
    let se = child.stderr.take().unwrap();
    for fd in [so.as_raw_fd(), se.as_raw_fd()] {
        // SAFETY: fcntl on fds we own; no memory is passed.
        unsafe {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let drain = |f: &mut dyn std::io::Read, buf: &mut Vec<u8>| {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = f.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    let (mut so, mut se) = (so, se);
    let deadline = Instant::now() + timeout;
    let status = loop {
        drain(&mut so, &mut out);
        drain(&mut se, &mut err);
        if let Some(st) = child.try_wait().unwrap() {
            drain(&mut so, &mut out);
            drain(&mut se, &mut err);
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "command {cmd:?} hung for {timeout:?}; stderr so far: {}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    Output {
        status,
        stdout: out,
        stderr: err,
    }
}

/// Forgets a spawned command once its handle has reaped it (or the test panicked).
struct Unregister(i32);

impl Drop for Unregister {
    fn drop(&mut self) {
        if let Ok(mut s) = SPAWNED.lock() {
            s.retain(|p| *p != self.0);
        }
    }
}

/// JSON lines of `path` (missing file: none).
pub fn read_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Every pid a stage reported or cloned.
pub fn stage_pids(events: &[Value]) -> Vec<i32> {
    let mut pids: Vec<i32> = events
        .iter()
        .filter(|e| matches!(e["stage"].as_str(), Some("parent" | "child" | "init")))
        .filter_map(|e| e["pid"].as_i64())
        .chain(events.iter().filter_map(|e| e["child_pid"].as_i64()))
        .map(|p| p as i32)
        .collect();
    pids.sort();
    pids.dedup();
    pids
}

/// Why `pid` counts as left behind: a zombie, a stage still alive, or a process still
/// running in one of `ids`' cgroups or from a test bundle. `None` if it is gone (or the
/// pid was reused by something unrelated).
pub fn lingering(pid: i32, ids: &[String]) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let comm_start = stat.find('(')? + 1;
    let comm_end = stat.rfind(')')?;
    let comm = &stat[comm_start..comm_end];
    let state = stat[comm_end + 1..].split_whitespace().next()?;
    if state == "Z" {
        return Some(format!("zombie ({comm})"));
    }
    if comm.starts_with("isc:") {
        return Some(format!("stage {comm} alive"));
    }
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    if ids.iter().any(|id| cgroups.contains(&format!("/{id}\n"))) {
        return Some(format!("container process {comm} alive in its cgroup"));
    }
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    exe.to_string_lossy()
        .contains("isc-bundle-")
        .then(|| format!("container process {comm} alive"))
}

/// Mount points at or below any of `paths`.
pub fn mounts_under(paths: &[PathBuf]) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(String::from))
        .filter(|mp| paths.iter().any(|p| Path::new(mp).starts_with(p)))
        .collect()
}

/// Existing cgroup directories of container `id` (default cgroupsPath) on any hierarchy.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let rel = initscope_runtime::cgroups::Cgroup::new(None, id)
        .map(|c| c.path)
        .unwrap_or_else(|_| format!("/initscope/{id}"));
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for h in rd.flatten() {
            let p = h.path().join(rel.trim_start_matches('/'));
            if p.is_dir() {
                out.push(p);
            }
        }
    }
    let p = Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/'));
    if p.is_dir() && !out.contains(&p) {
        out.push(p);
    }
    out
}

/// The events of `kind` (and, if given, `msg`).
pub fn find<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

/// Index of the first event matching `stage`, `kind` and (optional) `msg`.
pub fn position(events: &[Value], stage: &str, kind: &str, msg: Option<&str>) -> Option<usize> {
    events
        .iter()
        .position(|e| e["stage"] == stage && e["kind"] == kind && msg.is_none_or(|m| e["msg"] == m))
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
