//! Rootless (issue 5, item 5): an unprivileged user runs containers with `spec --rootless`.
//!
//! Each test runs the runtime as a uid of its own that nothing else on the machine uses
//! (no passwd entry is needed: the kernel only sees numbers), so "nothing left behind" can
//! be checked as "no process of that uid". The binary is copied to a world-readable temp
//! dir because the workspace may live where that uid cannot reach (/root in CI).

use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use initscope_tests::{
    become_subreaper, cgroup_dirs, is_root, mounts_under, output_with_timeout, read_events,
    reap_orphans, runtime_bin, stderr, stdout, Bundle, COMMAND_TIMEOUT,
};
use serde_json::{json, Value};
use tempfile::TempDir;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// An unprivileged user of our own: its uid, `$XDG_RUNTIME_DIR`, a copy of the runtime.
struct User {
    uid: u32,
    xdg: TempDir,
    bin: PathBuf,
    ids: Vec<String>,
    /// The cgroup2 `cgroup.procs` the user's commands start in (a delegated session).
    session_cgroup: Option<PathBuf>,
}

impl User {
    fn new() -> User {
        assert!(
            is_root(),
            "the rootless tests need root to become another user"
        );
        become_subreaper();
        // Far above system and subuid ranges; distinct per test process and per test.
        let uid =
            3_000_000 + (std::process::id() % 1_000_000) * 16 + SEQ.fetch_add(1, Ordering::Relaxed);
        let xdg = tempfile::Builder::new()
            .prefix("isc-xdg-")
            .tempdir()
            .unwrap();
        chown(xdg.path(), Some(uid), Some(uid)).unwrap();
        let bin = xdg.path().join("initscope-runtime");
        std::fs::copy(runtime_bin(), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The runtime's copy stays root's; only the directory is the user's.
        std::fs::set_permissions(xdg.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        User {
            uid,
            xdg,
            bin,
            ids: Vec::new(),
            session_cgroup: None,
        }
    }

    fn id(&mut self, prefix: &str) -> String {
        let id = format!("{prefix}-{}", self.uid);
        self.ids.push(id.clone());
        id
    }

    /// Where the runtime keeps state for this user: `$XDG_RUNTIME_DIR/initscope`.
    fn state_root(&self) -> PathBuf {
        self.xdg.path().join("initscope")
    }

    fn live_events(&self) -> PathBuf {
        self.xdg.path().join("live.jsonl")
    }

    /// The runtime as this user, without `--root` (the default must be used).
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--events").arg(self.live_events()).args(args);
        match &self.session_cgroup {
            None => {
                c.uid(self.uid).gid(self.uid);
            }
            Some(procs) => {
                // As a login session in a delegated cgroup (systemd's user@.service): moved
                // there while still root, then the privileges dropped.
                let procs = std::ffi::CString::new(procs.as_os_str().as_encoded_bytes()).unwrap();
                let uid = self.uid;
                // SAFETY: only async-signal-safe libc calls between fork and exec, on
                // memory prepared before the fork.
                unsafe {
                    c.pre_exec(move || {
                        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                        if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                            return Err(std::io::Error::last_os_error());
                        }
                        libc::close(fd);
                        if libc::setgroups(0, std::ptr::null()) != 0
                            || libc::setresgid(uid, uid, uid) != 0
                            || libc::setresuid(uid, uid, uid) != 0
                        {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
            }
        }
        c.env("XDG_RUNTIME_DIR", self.xdg.path())
            .env_remove("INITSCOPE_EVENTS")
            .env_remove("INITSCOPE_PAUSE_AT");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        output_with_timeout(self.command(args), COMMAND_TIMEOUT)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} as uid {} failed: {}",
            self.uid,
            stderr(&out)
        );
        stdout(&out)
    }

    fn fails(&self, args: &[&str], needles: &[&str]) -> String {
        let out = self.run(args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {err:?} lacks {n:?}");
        }
        err
    }

    fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    fn wait_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.state(id)["status"] != want {
            assert!(Instant::now() < deadline, "{id} never {want}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A busybox bundle whose directory the user owns, with the config `spec --rootless`
    /// writes as that user, then `edit`ed.
    fn bundle(&self, args: &[&str], edit: impl FnOnce(&mut Value)) -> Bundle {
        let b = Bundle::busybox(&["true"]);
        std::fs::remove_file(b.path.join("config.json")).unwrap();
        chown(&b.path, Some(self.uid), Some(self.uid)).unwrap();
        self.ok(&["spec", "--rootless", "--bundle", b.path_str()]);
        b.edit(|c| {
            c["process"]["terminal"] = json!(false);
            c["process"]["args"] = json!(args);
            edit(c);
        });
        b
    }

    /// Pids of every process running as this uid.
    fn processes(&self) -> Vec<i32> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
                continue;
            };
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|u| u.parse::<u32>().ok());
            if uid == Some(self.uid) {
                out.push(pid);
            }
        }
        out
    }

    /// What this user left behind: state dirs, processes (incl. zombies), mounts, cgroups.
    fn assert_clean(&self, bundle: &Path) {
        reap_orphans();
        let mut left = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.state_root()) {
            left.extend(
                rd.flatten()
                    .map(|e| format!("state {}", e.path().display())),
            );
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut procs = self.processes();
        while !procs.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            reap_orphans();
            procs = self.processes();
        }
        left.extend(procs.iter().map(|p| format!("process {p}")));
        let paths = [self.xdg.path().to_path_buf(), bundle.to_path_buf()];
        left.extend(
            mounts_under(&paths)
                .into_iter()
                .map(|m| format!("mount {m}")),
        );
        for id in &self.ids {
            left.extend(
                cgroup_dirs(id)
                    .iter()
                    .map(|d| format!("cgroup {}", d.display())),
            );
        }
        assert!(left.is_empty(), "left behind: {left:#?}");
    }
}

impl Drop for User {
    fn drop(&mut self) {
        for id in &self.ids {
            if self.state_root().join(id).exists() {
                let _ = self.run(&["delete", "--force", id]);
            }
        }
        for pid in self.processes() {
            // SAFETY: kill with a pid and a signal number; no memory is passed.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        reap_orphans();
    }
}

#[test]
fn an_unprivileged_user_runs_a_container_as_root_of_its_own_user_namespace() {
    let mut u = User::new();
    let b = u.bundle(
        &[
            "sh",
            "-c",
            "echo $(id -u) $(id -g); cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups",
        ],
        |_| {},
    );
    let cfg = b.config();
    assert_eq!(
        cfg["linux"]["uidMappings"],
        json!([{"containerID": 0, "hostID": u.uid, "size": 1}])
    );
    assert_eq!(
        cfg["linux"]["gidMappings"],
        json!([{"containerID": 0, "hostID": u.uid, "size": 1}])
    );
    let id = u.id("rl-run");
    let out = u.ok(&["run", "--bundle", b.path_str(), &id]);
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0", "0"], "root in the container: {out}");
    assert_eq!(lines[1], ["0", &u.uid.to_string(), "1"], "uid_map: {out}");
    assert_eq!(lines[2], ["0", &u.uid.to_string(), "1"], "gid_map: {out}");
    assert_eq!(lines[3], ["deny"], "setgroups: {out}");

    // The parent wrote one mapping each, setgroups denied for the gid map.
    let ev = read_events(&u.live_events());
    let uid_map = ev
        .iter()
        .find(|e| e["kind"] == "uid_map")
        .expect("uid_map event");
    assert_eq!(uid_map["stage"], "parent");
    assert_eq!(uid_map["lines"], json!([format!("0 {} 1", u.uid)]));
    let gid_map = ev
        .iter()
        .find(|e| e["kind"] == "gid_map")
        .expect("gid_map event");
    assert_eq!(gid_map["setgroups"], "deny");
    assert_eq!(gid_map["lines"], json!([format!("0 {} 1", u.uid)]));
    u.assert_clean(&b.path);
}

#[test]
fn create_start_kill_delete_with_state_under_xdg_runtime_dir() {
    let mut u = User::new();
    let b = u.bundle(&["sleep", "100"], |_| {});
    let id = u.id("rl-life");
    let pidfile = b.path.join("init.pid");
    u.ok(&[
        "create",
        "--bundle",
        b.path_str(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    let dir = u.state_root().join(&id);
    let meta =
        std::fs::metadata(dir.join("state.json")).expect("state under $XDG_RUNTIME_DIR/initscope");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), u.uid);
    let st = u.state(&id);
    assert_eq!(st["status"], "created");
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), pid.to_string());
    u.ok(&["start", &id]);
    u.wait_status(&id, "running");
    // Init runs as the user on the host, in the runtime's own cgroup: no cgroup of its
    // own was made because the user may not write one.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let host_uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
    assert_eq!(
        host_uid.split_whitespace().next(),
        Some(u.uid.to_string().as_str())
    );
    assert!(cgroup_dirs(&id).is_empty(), "{:?}", cgroup_dirs(&id));
    let list = u.ok(&["list", "--format", "json"]);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["id"], id.as_str());

    // exec joins its namespaces (the user namespace first): root in there too.
    let out = u.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo $(id -u) $(cat /proc/self/uid_map)",
    ]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", &u.uid.to_string(), "1"]
    );
    // No cgroup of its own: nothing to freeze, said so.
    u.fails(&["pause", &id], &["pause", "rootless", "delegated"]);
    u.fails(&["delete", &id], &[&id, "is running"]);
    u.ok(&["kill", &id, "KILL"]);
    u.wait_status(&id, "stopped");
    u.ok(&["delete", &id]);
    assert!(!dir.exists());
    u.ok(&["delete", "--force", &id]);
    u.assert_clean(&b.path);
}

#[test]
fn kill_all_and_delete_force_of_rootless_containers() {
    let mut u = User::new();
    let b = u.bundle(&["sh", "-c", "sleep 1000 & sleep 1000"], |_| {});
    let id = u.id("rl-force");
    u.ok(&["run", "--detach", "--bundle", b.path_str(), &id]);
    u.wait_status(&id, "running");
    u.ok(&["delete", "--force", &id]);
    // No cgroup of its own to walk: --all still reaches init (and its pid namespace).
    let id = u.id("rl-all");
    u.ok(&["run", "--detach", "--bundle", b.path_str(), &id]);
    u.wait_status(&id, "running");
    u.ok(&["kill", "--all", &id, "KILL"]);
    u.wait_status(&id, "stopped");
    u.ok(&["delete", &id]);
    u.assert_clean(&b.path);
}

#[test]
fn what_a_rootless_user_cannot_do_is_refused_clearly_and_leaves_nothing() {
    let mut u = User::new();
    let uid = u.uid.to_string();
    // Another user's uid, a range, another gid: the kernel would say only EPERM.
    for (field, maps) in [
        (
            "uidMappings",
            json!([{"containerID": 0, "hostID": 0, "size": 1}]),
        ),
        (
            "uidMappings",
            json!([{"containerID": 0, "hostID": u.uid, "size": 2}]),
        ),
        (
            "gidMappings",
            json!([{"containerID": 0, "hostID": 0, "size": 1}]),
        ),
    ] {
        let b = u.bundle(&["true"], |c| c["linux"][field] = maps.clone());
        let id = u.id(&format!("rl-map{}", u.ids.len()));
        let log = u.xdg.path().join("log.json");
        let err = u.fails(
            &[
                "--log",
                log.to_str().unwrap(),
                "--log-format",
                "json",
                "run",
                "--bundle",
                b.path_str(),
                &id,
            ],
            &[
                &format!("linux.{field}"),
                "only your own",
                &format!("hostID {uid}"),
            ],
        );
        let text = std::fs::read_to_string(&log).unwrap();
        let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last["level"], "error");
        assert!(
            err.contains(last["msg"].as_str().unwrap()),
            "{err} vs {last}"
        );
        u.assert_clean(&b.path);
    }
    // Limits need a cgroup the user may write.
    let b = u.bundle(&["true"], |c| {
        c["linux"]["resources"] = json!({"pids": {"limit": 10}})
    });
    let id = u.id("rl-limits");
    u.fails(
        &["run", "--bundle", b.path_str(), &id],
        &["linux.resources", "rootless", "delegated"],
    );
    u.assert_clean(&b.path);
    // No user namespace: a non-root user cannot create the others.
    let b = u.bundle(&["true"], |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "user");
        c["linux"].as_object_mut().unwrap().remove("uidMappings");
        c["linux"].as_object_mut().unwrap().remove("gidMappings");
    });
    let id = u.id("rl-nouserns");
    u.fails(
        &["run", "--bundle", b.path_str(), &id],
        &["linux.namespaces", "user namespace", "spec --rootless"],
    );
    // A process uid with no mapping in the container.
    let b = u.bundle(&["true"], |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 0})
    });
    let id = u.id("rl-unmapped");
    u.fails(
        &["run", "--bundle", b.path_str(), &id],
        &["setresuid 1000", "user.uid", "mapped"],
    );
    u.assert_clean(&b.path);
}

/// A cgroup delegated to a user, as systemd delegates `user@UID.service`: a directory on
/// every hierarchy, it and its `cgroup.procs` (and cgroup2's delegation files) chowned to
/// the user, cpuset filled from the root. Removed (with what is below) on drop.
struct Delegation {
    name: String,
    dirs: Vec<PathBuf>,
}

impl Delegation {
    fn new(uid: u32) -> Delegation {
        let name = format!("isc-deleg-{uid}");
        let mut dirs = Vec::new();
        for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let h = h.path();
            // cpu -> cpu,cpuacct style links name a hierarchy twice.
            if h.is_symlink() || !h.join("cgroup.procs").exists() {
                continue;
            }
            let d = h.join(&name);
            std::fs::create_dir(&d).unwrap();
            dirs.push(d.clone());
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(v) = std::fs::read_to_string(h.join(f)) {
                    std::fs::write(d.join(f), v.trim()).unwrap();
                }
            }
            chown(&d, Some(uid), Some(uid)).unwrap();
            for f in [
                "cgroup.procs",
                "tasks",
                "cgroup.subtree_control",
                "cgroup.threads",
            ] {
                if d.join(f).exists() {
                    chown(d.join(f), Some(uid), Some(uid)).unwrap();
                }
            }
        }
        Delegation { name, dirs }
    }

    /// The cgroup2 directory (hybrid: /sys/fs/cgroup/unified), where the session lives.
    fn v2_procs(&self) -> Option<PathBuf> {
        self.dirs
            .iter()
            .find(|d| d.join("cgroup.controllers").exists())
            .map(|d| d.join("cgroup.procs"))
    }
}

impl Drop for Delegation {
    fn drop(&mut self) {
        for d in &self.dirs {
            if let Ok(rd) = std::fs::read_dir(d) {
                for e in rd.flatten().filter(|e| e.path().is_dir()) {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[test]
fn a_delegated_cgroup_gets_the_limits() {
    let mut u = User::new();
    let deleg = Delegation::new(u.uid);
    u.session_cgroup = deleg.v2_procs();
    let path = format!("/{}/c", deleg.name);
    let b = u.bundle(&["sleep", "100"], |c| {
        c["linux"]["cgroupsPath"] = json!(path);
        c["linux"]["resources"] = json!({"pids": {"limit": 10}, "memory": {"limit": 64 << 20}});
    });
    let id = u.id("rl-deleg");
    u.ok(&["run", "--detach", "--bundle", b.path_str(), &id]);
    let pid = u.state(&id)["pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cg.contains(&format!("pids:{path}\n")), "{cg}");
    let pids = deleg
        .dirs
        .iter()
        .find(|d| d.starts_with("/sys/fs/cgroup/pids"));
    if let Some(d) = pids {
        assert_eq!(
            std::fs::read_to_string(d.join("c/pids.max"))
                .unwrap()
                .trim(),
            "10"
        );
    }
    let mem = deleg
        .dirs
        .iter()
        .find(|d| d.starts_with("/sys/fs/cgroup/memory"));
    if let Some(d) = mem {
        let limit = std::fs::read_to_string(d.join("c/memory.limit_in_bytes")).unwrap();
        assert_eq!(limit.trim(), (64u64 << 20).to_string());
    }
    u.ok(&["pause", &id]);
    assert_eq!(u.state(&id)["status"], "paused");
    u.ok(&["resume", &id]);
    assert_eq!(u.state(&id)["status"], "running");
    u.ok(&["delete", "--force", &id]);
    for d in &deleg.dirs {
        assert!(!d.join("c").exists(), "{} left", d.join("c").display());
    }
    u.assert_clean(&b.path);
}
