//! Helpers for driving initscope-runtime through real clients (podman, containerd's ctr):
//! finding the tool, running it with a deadline, and checking what it left on the host.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How long one client command may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// `name` on `$PATH`, or `None` after printing why the caller skips: the tool could not be
/// installed (scripts/setup installs it on a fresh machine).
pub fn tool_or_skip(name: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|c| c.is_file())
    });
    if found.is_none() {
        eprintln!(
            "SKIPPED: {name} is not installed (scripts/setup installs the Debian package {package})"
        );
    }
    found
}

/// Run `cmd` to completion within [`CLIENT_TIMEOUT`], stdin from /dev/null (a client
/// given the test's terminal might put it in raw mode).
pub fn run(mut cmd: Command) -> Output {
    cmd.stdin(std::process::Stdio::null());
    crate::output_with_timeout(cmd, CLIENT_TIMEOUT)
}

/// Run and insist on success; stdout.
pub fn ok(cmd: Command) -> String {
    let shown = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{shown} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        crate::stdout(&out),
        crate::stderr(&out)
    );
    crate::stdout(&out)
}

/// Poll `f` until it returns `Some` (or fail after `secs`).
pub fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pids whose command line mentions `needle` (a private dir or socket of the test).
pub fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    let me = std::process::id() as i32;
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) {
            out.push((pid, cmdline.trim_end().to_string()));
        }
    }
    out
}

/// Reap zombie children of ours named in `comms` that no `Command` handle waits for: the
/// clients' daemons (conmon, containerd's shims) daemonize and are re-parented to the test
/// process, the subreaper, when they exit.
pub fn reap_daemons(comms: &[&str]) {
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
        let mut f = stat[close + 1..].split_whitespace();
        if f.next() == Some("Z")
            && f.next() == Some(me.as_str())
            && comms.contains(&&stat[open + 1..close])
            && !crate::is_spawned(pid)
        {
            crate::reap_if_ours(pid);
        }
    }
}

/// Unmount (lazily, deepest first) everything mounted at or below `dir`: what a client
/// that crashed mid-test may have left, so the temp dir can be removed without crossing
/// a mount. Returns what was found.
pub fn unmount_under(dir: &Path) -> Vec<String> {
    let mut found = crate::mounts_under(&[dir.to_path_buf()]);
    found.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in &found {
        let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
    found
}

/// Remove cgroup `rel` (and what the client made below it, deepest first) on every
/// hierarchy. Only for a parent the test itself named uniquely.
/// Retries for a few seconds while killed processes are still leaving.
pub fn remove_cgroup_tree(rel: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = cgroups_named(rel);
        if left.is_empty() || Instant::now() > deadline {
            return;
        }
        for top in left {
            remove_dirs_bottom_up(&top);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn remove_dirs_bottom_up(d: &Path) {
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_dirs_bottom_up(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(d);
}

/// Cgroup directories named `rel` that still exist, on any hierarchy.
pub fn cgroups_named(rel: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return Vec::new();
    };
    rd.flatten()
        .map(|h| h.path().join(rel.trim_start_matches('/')))
        .filter(|p| p.is_dir())
        .collect()
}

/// A private containerd: config, root, state, `opt` dir and sockets all under `dir` (the
/// Debian default config would use /var/lib/containerd, /run/containerd and
/// /opt/containerd). Stopped (SIGTERM, then SIGKILL) on drop.
pub struct ContainerdDaemon {
    dir: PathBuf,
    child: Option<std::process::Child>,
}

impl ContainerdDaemon {
    /// Start `bin` with its files under `dir`; waits until its socket answers.
    pub fn start(bin: &Path, dir: &Path) -> ContainerdDaemon {
        let d = dir.display();
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{d}/c.sock"
[ttrpc]
  address = "{d}/c.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new(bin)
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let daemon = ContainerdDaemon {
            dir: dir.to_path_buf(),
            child: Some(child),
        };
        let sock = daemon.sock();
        wait_for("containerd to serve", 20, || {
            std::os::unix::net::UnixStream::connect(&sock)
                .ok()
                .map(drop)
        });
        daemon
    }

    /// Its gRPC socket (for `ctr --address`, dockerd's `containerd`).
    pub fn sock(&self) -> PathBuf {
        self.dir.join("c.sock")
    }

    /// SIGTERM and wait (SIGKILL after 10 s).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ContainerdDaemon {
    fn drop(&mut self) {
        self.stop();
    }
}
