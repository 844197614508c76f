//! docker (dockerd → its own containerd → runc shim v2) drives initscope-runtime as it
//! drives runc: run with output, exit status and errors; a detached container exec'd into
//! (with and without a terminal), listed by `docker top` (the runtime's `ps`), paused,
//! updated, signalled, stopped and removed — with docker's default seccomp profile and its
//! prestart hook (libnetwork-setkey).
//!
//! A private dockerd: daemon.json registers the runtime as "initscope"; data-root,
//! exec-root, pidfile and socket in a temp dir, with a private containerd of the test's;
//! no bridge, no iptables; containers under a cgroup parent named for this test. No registry: a busybox rootfs is `docker import`ed.
//! Skipped (with the reason printed) only when docker is not installed.
//! `scripts/docker-check` is the same check as a script, for a person at a shell.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use initscope_tests::clients::{
    cgroups_named, ok, processes_mentioning, reap_daemons, remove_cgroup_tree, run, tool_or_skip,
    unmount_under, wait_for, ContainerdDaemon,
};
use initscope_tests::{become_subreaper, is_root, reap_orphans, runtime_bin, stderr, Bundle};
use tempfile::TempDir;

const IMAGE: &str = "isc-busybox:test";

struct Docker {
    client: PathBuf,
    dir: TempDir,
    daemon: Option<Child>,
    /// dockerd's containerd, ours rather than the one dockerd would start (that one keeps
    /// its `opt` dir in /opt/containerd).
    containerd: ContainerdDaemon,
    cgroup_parent: String,
}

impl Docker {
    fn start() -> Option<Docker> {
        assert!(is_root(), "the client tests need root");
        let dockerd = tool_or_skip("dockerd", "docker.io")?;
        let containerd_bin = tool_or_skip("containerd", "containerd")?;
        // Debian's client matches Debian's daemon; another docker earlier on PATH may not.
        let client = Some(PathBuf::from("/usr/bin/docker"))
            .filter(|p| p.is_file())
            .or_else(|| tool_or_skip("docker", "docker.io"))?;
        become_subreaper();
        let dir = tempfile::Builder::new()
            .prefix("isc-docker-")
            .tempdir()
            .unwrap();
        let containerd_dir = dir.path().join("containerd");
        std::fs::create_dir(&containerd_dir).unwrap();
        let containerd = ContainerdDaemon::start(&containerd_bin, &containerd_dir);
        let d = dir.path().display().to_string();
        let cgroup_parent = format!("/isc-docker-{}", std::process::id());
        let config = serde_json::json!({
            "runtimes": {"initscope": {"path": runtime_bin()}},
            "data-root": format!("{d}/data"),
            "exec-root": format!("{d}/exec"),
            "pidfile": format!("{d}/docker.pid"),
            "hosts": [format!("unix://{d}/docker.sock")],
            "bridge": "none",
            "iptables": false,
            "ip6tables": false,
            "ip-masq": false,
            "ip-forward": false,
            "userland-proxy": false,
            "storage-driver": "vfs",
            "exec-opts": ["native.cgroupdriver=cgroupfs"],
            "cgroup-parent": cgroup_parent,
            "containerd": containerd.sock(),
        });
        std::fs::write(dir.path().join("daemon.json"), config.to_string()).unwrap();
        let log = std::fs::File::create(dir.path().join("dockerd.log")).unwrap();
        let daemon = Command::new(dockerd)
            .arg("--config-file")
            .arg(dir.path().join("daemon.json"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let docker = Docker {
            client,
            dir,
            daemon: Some(daemon),
            containerd,
            cgroup_parent,
        };
        wait_for("dockerd to serve", 30, || {
            run(docker.cmd(&["version"])).status.success().then_some(())
        });
        // The image: a busybox directory as a tarball.
        let bundle = Bundle::busybox(&["true"]);
        let tar = docker.dir.path().join("rootfs.tar");
        let mut t = Command::new("tar");
        t.arg("-cf")
            .arg(&tar)
            .arg("-C")
            .arg(bundle.path.join("rootfs"))
            .arg(".");
        ok(t);
        ok(docker.cmd(&["import", tar.to_str().unwrap(), IMAGE]));
        Some(docker)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.client);
        c.arg("-H")
            .arg(format!("unix://{}/docker.sock", self.dir.path().display()))
            .args(args);
        c
    }

    /// `docker run --runtime initscope --network none` + `extra` + image + command.
    fn run_cmd(&self, extra: &[&str], command: &[&str]) -> Command {
        let mut args = vec!["run", "--runtime", "initscope", "--network", "none"];
        args.extend(extra);
        args.push(IMAGE);
        args.extend(command);
        self.cmd(&args)
    }

    fn inspect(&self, what: &str, name: &str) -> String {
        ok(self.cmd(&["inspect", "-f", what, name]))
            .trim()
            .to_string()
    }

    /// No container, shim, mount or container cgroup left while dockerd still runs.
    fn assert_clean(&self) {
        let ps = ok(self.cmd(&["ps", "-aq"]));
        assert_eq!(ps.trim(), "", "containers left");
        let d = self.dir.path().display().to_string();
        wait_for("the shims to exit", 10, || {
            let shims: Vec<_> = processes_mentioning(&d)
                .into_iter()
                .filter(|(_, c)| c.contains("containerd-shim"))
                .collect();
            shims.is_empty().then_some(())
        });
        let mut left: Vec<PathBuf> = Vec::new();
        for cg in cgroups_named(&self.cgroup_parent) {
            for e in std::fs::read_dir(&cg).unwrap().flatten() {
                if e.path().is_dir() {
                    left.push(e.path());
                }
            }
        }
        assert!(left.is_empty(), "container cgroups left: {left:?}");
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        if let Ok(ids) = std::str::from_utf8(&run(self.cmd(&["ps", "-aq"])).stdout) {
            for id in ids.split_whitespace() {
                let _ = run(self.cmd(&["rm", "-f", id]));
            }
        }
        if let Some(mut d) = self.daemon.take() {
            let pid = nix::unistd::Pid::from_raw(d.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(15);
            while d.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = d.kill();
                    let _ = d.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.containerd.stop();
        // Shims, if any were left.
        for (pid, _) in processes_mentioning(&self.dir.path().display().to_string()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        reap_orphans();
        reap_daemons(&["containerd-shim"]);
        unmount_under(self.dir.path());
        remove_cgroup_tree(&self.cgroup_parent);
    }
}

#[test]
fn docker_runs_execs_pauses_updates_stops_and_removes() {
    let Some(d) = Docker::start() else { return };
    let t0 = Instant::now();
    assert_eq!(ok(d.run_cmd(&["--rm"], &["echo", "hello"])), "hello\n");
    let o = run(d.run_cmd(&["--rm"], &["sh", "-c", "exit 7"]));
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    let o = run(d.run_cmd(&["--rm"], &["no-such-program"]));
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("executable file not found"),
        "{}",
        stderr(&o)
    );

    let name = format!("isc-docker-{}", std::process::id());
    let script = "trap 'echo got-usr1' USR1; trap 'exit 0' TERM; while :; do sleep 0.1; done";
    ok(d.run_cmd(&["-d", "--name", &name], &["sh", "-c", script]));
    assert_eq!(d.inspect("{{.State.Status}}", &name), "running");
    assert_eq!(ok(d.cmd(&["exec", &name, "echo", "in-exec"])), "in-exec\n");
    let tty = ok(d.cmd(&["exec", "-t", &name, "tty"]));
    assert_eq!(tty.trim_end(), "/dev/pts/0");
    let o = run(d.cmd(&["exec", &name, "sh", "-c", "exit 5"]));
    assert_eq!(o.status.code(), Some(5));
    // docker top → the runtime's `ps --format json`.
    let top = ok(d.cmd(&["top", &name]));
    assert!(top.contains("sleep") || top.contains("sh -c"), "{top}");
    ok(d.cmd(&["pause", &name]));
    assert_eq!(d.inspect("{{.State.Status}}", &name), "paused");
    ok(d.cmd(&["unpause", &name]));
    assert_eq!(d.inspect("{{.State.Status}}", &name), "running");
    // docker update → `update --resources -` (JSON on stdin).
    ok(d.cmd(&["update", "--pids-limit", "77", &name]));
    let id = d.inspect("{{.Id}}", &name);
    let cg = format!("{}/{id}", d.cgroup_parent);
    let max: Vec<String> = cgroups_named(&cg)
        .iter()
        .filter_map(|dir| std::fs::read_to_string(dir.join("pids.max")).ok())
        .collect();
    assert_eq!(max, ["77\n"], "pids.max of {cg}");
    ok(d.cmd(&["kill", "-s", "USR1", &name]));
    wait_for("the USR1 trap", 10, || {
        let logs = run(d.cmd(&["logs", &name]));
        String::from_utf8_lossy(&logs.stdout)
            .contains("got-usr1")
            .then_some(())
    });
    let t = Instant::now();
    ok(d.cmd(&["stop", "-t", "10", &name]));
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "SIGTERM did not arrive"
    );
    assert_eq!(d.inspect("{{.State.ExitCode}}", &name), "0");
    ok(d.cmd(&["rm", &name]));
    d.assert_clean();
    eprintln!("docker steps took {:?}", t0.elapsed());
}
