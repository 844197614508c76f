//! podman (with conmon) drives initscope-runtime as it drives runc: run and show output,
//! exit codes and errors, a detached container that is exec'd into (with and without a
//! terminal), paused, resumed, signalled, stopped and removed — with podman's default
//! seccomp profile.
//!
//! Everything podman keeps is in a temp dir (`--root`, `--runroot`, `--tmpdir`);
//! containers go under a cgroup parent named for this test. The runtime keeps its state in
//! its default root, /run/initscope, as for any podman user: podman 4.3 does not pass
//! `--runtime-flag`s to the `delete` of its exit-time `container cleanup`, so a private
//! `--root` would be missed there (as it would be with runc). No image registry is needed: `--rootfs` with a busybox dir.
//! Skipped (with the reason printed) only when podman is not installed.

use std::path::PathBuf;
use std::process::Command;

use initscope_tests::clients::{
    cgroups_named, ok, processes_mentioning, reap_daemons, remove_cgroup_tree, run, tool_or_skip,
    unmount_under, wait_for,
};
use initscope_tests::{become_subreaper, is_root, runtime_bin, stderr, stdout, Bundle};
use tempfile::TempDir;

/// A private podman: its storage, run state and tmp dir, our runtime with a private root.
struct Podman {
    bin: PathBuf,
    dir: TempDir,
    rootfs: PathBuf,
    _bundle: Bundle,
    cgroup_parent: String,
    /// `--runtime` as podman is given it: our binary's path, or a name from
    /// containers.conf (`CONTAINERS_CONF`, see [`Podman::with_json_log`]).
    runtime: String,
    containers_conf: Option<PathBuf>,
}

impl Podman {
    fn new(tag: &str) -> Option<Podman> {
        assert!(is_root(), "the client tests need root");
        let bin = tool_or_skip("podman", "podman")?;
        become_subreaper();
        let dir = tempfile::Builder::new()
            .prefix("isc-podman-")
            .tempdir()
            .unwrap();
        let bundle = Bundle::busybox(&["true"]);
        Some(Podman {
            bin,
            rootfs: bundle.path.join("rootfs"),
            _bundle: bundle,
            cgroup_parent: format!("/isc-podman-{tag}-{}", std::process::id()),
            runtime: runtime_bin().display().to_string(),
            containers_conf: None,
            dir,
        })
    }

    /// The runtime registered in a containers.conf as `initscope` and listed in
    /// `runtime_supports_json`: conmon then passes `--log-format=json --log FILE` and reads
    /// the runtime's error from the file's last line.
    fn with_json_log(mut self) -> Podman {
        let conf = self.dir.path().join("containers.conf");
        std::fs::write(
            &conf,
            format!(
                "[engine]\nruntime_supports_json = [\"initscope\"]\n\n[engine.runtimes]\ninitscope = [\"{}\"]\n",
                runtime_bin().display()
            ),
        )
        .unwrap();
        self.containers_conf = Some(conf);
        self.runtime = "initscope".into();
        self
    }

    /// `podman` with every path private and initscope-runtime as the runtime.
    fn cmd(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut c = Command::new(&self.bin);
        c.arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("run"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file"])
            .arg("--runtime")
            .arg(&self.runtime)
            .args(args);
        c.env_remove("INITSCOPE_EVENTS");
        match &self.containers_conf {
            Some(conf) => c.env("CONTAINERS_CONF", conf),
            None => c.env_remove("CONTAINERS_CONF"),
        };
        c
    }

    /// `podman run` with this machine's needs, then `extra` and the command.
    fn run_cmd(&self, extra: &[&str], command: &[&str]) -> Command {
        let mut args = vec!["run", "--network", "none"];
        args.extend([
            "--ulimit",
            "nofile=20000:20000",
            "--ulimit",
            "nproc=32768:32768",
        ]);
        args.extend(["--cgroup-parent", &self.cgroup_parent]);
        args.extend(extra);
        args.push("--rootfs");
        let rootfs = self.rootfs.to_str().unwrap();
        args.push(rootfs);
        args.extend(command);
        self.cmd(&args)
    }

    /// The runtime's state dirs (in its default root) of containers of this podman: their
    /// bundle is in our temp dir.
    fn runtime_states(&self) -> Vec<String> {
        let mine = self.dir.path().to_str().unwrap().to_string();
        let Ok(rd) = std::fs::read_dir("/run/initscope") else {
            return Vec::new();
        };
        rd.flatten()
            .filter(|e| {
                std::fs::read_to_string(e.path().join("state.json"))
                    .is_ok_and(|s| s.contains(&mine))
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Nothing left: no container, runtime state, conmon, mount or cgroup of ours.
    fn assert_clean(&self) {
        let ps = ok(self.cmd(&["ps", "-aq"]));
        assert_eq!(ps.trim(), "", "podman still has containers");
        assert!(
            self.runtime_states().is_empty(),
            "{:?}",
            self.runtime_states()
        );
        let d = self.dir.path().to_str().unwrap().to_string();
        wait_for("conmon to exit", 10, || {
            processes_mentioning(&d).is_empty().then_some(())
        });
        let mounts = initscope_tests::mounts_under(&[self.dir.path().to_path_buf()]);
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
        for cg in cgroups_named(&self.cgroup_parent) {
            let mut children: Vec<_> = std::fs::read_dir(&cg)
                .unwrap()
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            // podman (cgroupfs) parks conmon in <parent>/conmon and leaves it, as with runc.
            children.retain(|c| c != "conmon");
            assert!(children.is_empty(), "{}: {children:?}", cg.display());
        }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = run(self.cmd(&["rm", "-af", "-t", "0"]));
        let d = self.dir.path().to_str().unwrap().to_string();
        for (pid, _) in processes_mentioning(&d) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        initscope_tests::reap_orphans();
        reap_daemons(&["conmon", "podman"]);
        unmount_under(self.dir.path());
        remove_cgroup_tree(&self.cgroup_parent);
    }
}

#[test]
fn podman_run_shows_output_exit_codes_and_errors() {
    let Some(p) = Podman::new("run") else { return };
    let out = ok(p.run_cmd(&["--rm"], &["echo", "hello from initscope"]));
    assert_eq!(out, "hello from initscope\n");

    let o = run(p.run_cmd(&["--rm"], &["sh", "-c", "exit 7"]));
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));

    // The runtime's error reaches the user, and podman maps it as for runc (127).
    let o = run(p.run_cmd(&["--rm"], &["no-such-program"]));
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("executable file not found in $PATH"),
        "{}",
        stderr(&o)
    );

    // podman info runs `--version` and shows it.
    let info = ok(p.cmd(&["info", "--format", "{{.Host.OCIRuntime.Version}}"]));
    assert!(info.starts_with("initscope-runtime version "), "{info}");
    p.assert_clean();
}

#[test]
fn podman_detached_container_exec_update_pause_stop_and_rm() {
    let Some(p) = Podman::new("life") else { return };
    let name = format!("isc-life-{}", std::process::id());
    // A TERM handler, so `podman stop` ends it with SIGTERM, not the SIGKILL fallback.
    let script = "trap 'echo bye; exit 0' TERM; echo started; while :; do sleep 0.1; done";
    ok(p.run_cmd(&["-d", "--name", &name], &["sh", "-c", script]));
    let status = ok(p.cmd(&["inspect", "--format", "{{.State.Status}}", &name]));
    assert_eq!(status.trim(), "running");
    let pid: i32 = ok(p.cmd(&["inspect", "--format", "{{.State.Pid}}", &name]))
        .trim()
        .parse()
        .unwrap();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sh");
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cg.contains(&p.cgroup_parent), "{cg}");
    assert_eq!(
        p.runtime_states().len(),
        1,
        "one state dir in /run/initscope"
    );
    wait_for("the container's output", 10, || {
        let logs = stdout(&run(p.cmd(&["logs", &name])));
        logs.contains("started").then_some(())
    });

    // exec through conmon: `exec --process F --detach --pid-file F [--tty --console-socket S]`.
    let out = ok(p.cmd(&["exec", &name, "echo", "in-exec"]));
    assert_eq!(out, "in-exec\n");
    let out = ok(p.cmd(&["exec", "-t", &name, "tty"]));
    assert_eq!(
        out.trim_end(),
        "/dev/pts/0",
        "a terminal from the console socket"
    );
    let o = run(p.cmd(&["exec", &name, "sh", "-c", "exit 5"]));
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let o = run(p.cmd(&["exec", &name, "no-such-program"]));
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    // update → `update --resources=FILE`.
    ok(p.cmd(&[
        "update",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "50000",
        &name,
    ]));
    let id = ok(p.cmd(&["inspect", "--format", "{{.Id}}", &name]));
    let cg = format!("{}/libpod-{}", p.cgroup_parent, id.trim());
    let mut quota: Vec<String> = cgroups_named(&cg)
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("cpu.cfs_quota_us")).ok())
        .chain(
            cgroups_named(&cg)
                .iter()
                .filter_map(|d| std::fs::read_to_string(d.join("cpu.max")).ok()),
        )
        .collect();
    quota.dedup(); // cpu and cpuacct may be one hierarchy under two names
    assert!(
        quota == ["50000\n"] || quota == ["50000 100000\n"],
        "{cg}: {quota:?}"
    );
    // pause/resume (freezer).
    ok(p.cmd(&["pause", &name]));
    let status = ok(p.cmd(&["inspect", "--format", "{{.State.Status}}", &name]));
    assert_eq!(status.trim(), "paused");
    ok(p.cmd(&["unpause", &name]));
    let status = ok(p.cmd(&["inspect", "--format", "{{.State.Status}}", &name]));
    assert_eq!(status.trim(), "running");

    let t = std::time::Instant::now();
    ok(p.cmd(&["stop", "-t", "10", &name]));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(8),
        "stop waited for the SIGKILL fallback: SIGTERM did not arrive"
    );
    let code = ok(p.cmd(&["inspect", "--format", "{{.State.ExitCode}}", &name]));
    assert_eq!(code.trim(), "0");
    let logs = stdout(&run(p.cmd(&["logs", &name])));
    assert!(logs.contains("bye"), "{logs}");
    ok(p.cmd(&["rm", &name]));
    p.assert_clean();
}

#[test]
fn podman_kill_and_rm_force_of_a_running_container() {
    let Some(p) = Podman::new("kill") else { return };
    let name = format!("isc-kill-{}", std::process::id());
    let script = "trap 'echo got-usr1' USR1; while :; do sleep 0.1; done";
    ok(p.run_cmd(&["-d", "--name", &name], &["sh", "-c", script]));
    // podman passes the signal by number (USR1 → 10).
    ok(p.cmd(&["kill", "-s", "USR1", &name]));
    wait_for("the USR1 trap", 10, || {
        stdout(&run(p.cmd(&["logs", &name])))
            .contains("got-usr1")
            .then_some(())
    });
    ok(p.cmd(&["rm", "-f", "-t", "0", &name]));
    p.assert_clean();
}

#[test]
fn podman_reads_the_runtimes_error_from_its_json_log() {
    let Some(p) = Podman::new("json") else { return };
    let p = p.with_json_log();
    let out = ok(p.run_cmd(&["--rm"], &["echo", "through the json log"]));
    assert_eq!(out, "through the json log\n");
    let o = run(p.run_cmd(&["--rm"], &["no-such-program"]));
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    let err = stderr(&o);
    // Read from --log (JSON), not from our stderr (which says "initscope-runtime: ...").
    assert!(
        err.contains("initscope: container init failed: exec \"no-such-program\""),
        "{err}"
    );
    assert!(!err.contains("initscope-runtime: "), "{err}");
    p.assert_clean();
}
