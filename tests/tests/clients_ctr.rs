//! containerd (through `ctr` and its runc shim v2) drives initscope-runtime as it drives
//! runc: run with output and exit status, a detached task that is exec'd into (with and
//! without a terminal), listed (`ps`), paused, resumed, signalled, killed and deleted.
//!
//! Each test starts its own containerd: config, root, state, `opt` dir and sockets in a
//! temp dir; the runtime's `--root` (`--runc-root`), the IO fifos and the cgroups are
//! private too. Nothing is left: no daemon, shim, mount, state dir or cgroup.
//! Skipped (with the reason printed) only when containerd is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use initscope_tests::clients::{
    cgroups_named, ok, processes_mentioning, reap_daemons, remove_cgroup_tree, run, tool_or_skip,
    unmount_under, wait_for, ContainerdDaemon,
};
use initscope_tests::{become_subreaper, is_root, reap_orphans, runtime_bin, stderr, Bundle};
use tempfile::TempDir;

struct Containerd {
    ctr: PathBuf,
    dir: TempDir,
    daemon: ContainerdDaemon,
    bundle: Bundle,
    cgroup_parent: String,
    ids: Vec<String>,
}

impl Containerd {
    fn start(tag: &str) -> Option<Containerd> {
        assert!(is_root(), "the client tests need root");
        let daemon_bin = tool_or_skip("containerd", "containerd")?;
        let ctr = tool_or_skip("ctr", "containerd")?;
        become_subreaper();
        let dir = tempfile::Builder::new()
            .prefix("isc-ctd-")
            .tempdir()
            .unwrap();
        let daemon = ContainerdDaemon::start(&daemon_bin, dir.path());
        Some(Containerd {
            ctr,
            daemon,
            bundle: Bundle::busybox(&["true"]),
            cgroup_parent: format!("/isc-ctr-{tag}-{}", std::process::id()),
            ids: Vec::new(),
            dir,
        })
    }

    fn sock(&self) -> PathBuf {
        self.daemon.sock()
    }

    fn ctr(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.ctr);
        c.arg("--address").arg(self.sock()).args(args);
        c
    }

    fn id(&mut self, prefix: &str) -> String {
        let id = format!("{prefix}-{}-{}", std::process::id(), self.ids.len());
        self.ids.push(id.clone());
        id
    }

    /// `ctr run` with initscope-runtime as the runc binary, everything private.
    fn run_cmd(&self, extra: &[&str], id: &str, command: &[&str]) -> Command {
        let d = self.dir.path();
        let mut args: Vec<String> = vec!["run".into(), "--runc-binary".into()];
        args.push(runtime_bin().display().to_string());
        args.extend(["--runc-root".into(), d.join("runc").display().to_string()]);
        args.extend(["--fifo-dir".into(), d.join("fifo").display().to_string()]);
        args.extend(["--cgroup".into(), format!("{}/{id}", self.cgroup_parent)]);
        args.extend(extra.iter().map(|s| s.to_string()));
        // `--rootfs` is a switch: the directory is the first argument, before the id.
        args.push("--rootfs".into());
        args.push(self.bundle.path.join("rootfs").display().to_string());
        args.push(id.into());
        args.extend(command.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ctr(&refs)
    }

    /// The task's status as `ctr task ls` shows it (None: no task).
    fn task_status(&self, id: &str) -> Option<String> {
        let out = ok(self.ctr(&["task", "ls"]));
        out.lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.first() == Some(&id))
            .and_then(|f| f.get(2).map(|s| s.to_string()))
    }

    /// The runtime's state dirs under `--runc-root` (namespace `default`).
    fn runtime_states(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.dir.path().join("runc/default"))
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// Shim processes serving this containerd.
    fn shims(&self) -> Vec<(i32, String)> {
        processes_mentioning(&self.sock().display().to_string())
            .into_iter()
            .filter(|(_, cmd)| cmd.contains("containerd-shim"))
            .collect()
    }

    /// Nothing left while containerd still runs: no task, container, shim, runtime state,
    /// mount or container cgroup.
    fn assert_clean(&self) {
        let tasks = ok(self.ctr(&["task", "ls", "-q"]));
        assert_eq!(tasks.trim(), "", "tasks left");
        let cs = ok(self.ctr(&["container", "ls", "-q"]));
        assert_eq!(cs.trim(), "", "containers left");
        wait_for("the shims to exit", 10, || {
            self.shims().is_empty().then_some(())
        });
        assert!(
            self.runtime_states().is_empty(),
            "{:?}",
            self.runtime_states()
        );
        let mounts = initscope_tests::mounts_under(&[self.dir.path().to_path_buf()]);
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
        for id in &self.ids {
            let cg = format!("{}/{id}", self.cgroup_parent);
            assert!(cgroups_named(&cg).is_empty(), "{:?}", cgroups_named(&cg));
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = run(self.ctr(&["task", "kill", "-a", "-s", "SIGKILL", id]));
            let _ = run(self.ctr(&["task", "delete", "-f", id]));
            let _ = run(self.ctr(&["container", "rm", id]));
        }
        self.daemon.stop();
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

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn ctr_run_shows_output_exit_status_and_errors() {
    let Some(mut c) = Containerd::start("run") else {
        return;
    };
    let id = c.id("echo");
    let out = ok(c.run_cmd(&["--rm"], &id, &["echo", "hello from initscope"]));
    assert_eq!(out, "hello from initscope\n");

    let id = c.id("exit");
    let o = run(c.run_cmd(&["--rm"], &id, &["sh", "-c", "exit 7"]));
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));

    // The runtime's error is read from its --log (log.json in the bundle) and shown.
    let id = c.id("nope");
    let o = run(c.run_cmd(&["--rm"], &id, &["no-such-program"]));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("executable file not found in $PATH"),
        "{}",
        stderr(&o)
    );
    let _ = run(c.ctr(&["container", "rm", &id]));
    c.assert_clean();
}

#[test]
fn ctr_detached_task_exec_ps_pause_signal_kill_delete() {
    let Some(mut c) = Containerd::start("task") else {
        return;
    };
    let id = c.id("task");
    let log = c.dir.path().join("task.log");
    let log_uri = format!("file://{}", log.display());
    let script = "trap 'echo got-usr1' USR1; trap 'echo bye; exit 3' TERM; echo started; \
                  while :; do sleep 0.1; done";
    ok(c.run_cmd(&["-d", "--log-uri", &log_uri], &id, &["sh", "-c", script]));
    wait_for("the task's output", 10, || {
        read_log(&log).contains("started").then_some(())
    });
    assert_eq!(c.task_status(&id).as_deref(), Some("RUNNING"));
    assert_eq!(c.runtime_states().len(), 1, "state under --runc-root");
    let pid: i32 = ok(c.ctr(&["task", "ls"]))
        .lines()
        .find(|l| l.starts_with(&id))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .expect("task pid");
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cg.contains(&format!("{}/{id}", c.cgroup_parent)), "{cg}");

    // exec: `exec --process F --detach --pid-file F [--console-socket S]` from the shim.
    let fifo_dir = c.dir.path().join("fifo").display().to_string();
    let exec = |exec_id: &str, cmd: &[&str]| {
        let mut args = vec![
            "task",
            "exec",
            "--fifo-dir",
            &fifo_dir,
            "--exec-id",
            exec_id,
        ];
        args.push(&id);
        args.extend(cmd);
        c.ctr(&args)
    };
    let out = ok(exec("e1", &["echo", "in-exec"]));
    assert_eq!(out, "in-exec\n");
    let o = run(exec("e2", &["sh", "-c", "exit 4"]));
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    // A terminal: ctr wants one on its own stdin, so it runs under script(1).
    if let Some(script) = tool_or_skip("script", "bsdutils") {
        let ctr_line = format!(
            "{} --address {} task exec -t --fifo-dir {fifo_dir} --exec-id e3 {id} /bin/tty",
            c.ctr.display(),
            c.sock().display()
        );
        let mut cmd = Command::new(script);
        cmd.args(["-qec", &ctr_line, "/dev/null"]);
        let out = ok(cmd);
        assert!(out.contains("/dev/pts/0"), "{out:?}");
    }
    // ps --format json, pause, resume.
    let ps = ok(c.ctr(&["task", "ps", &id]));
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().next() == Some(&pid.to_string())),
        "{ps}"
    );
    ok(c.ctr(&["task", "pause", &id]));
    assert_eq!(c.task_status(&id).as_deref(), Some("PAUSED"));
    ok(c.ctr(&["task", "resume", &id]));
    assert_eq!(c.task_status(&id).as_deref(), Some("RUNNING"));

    // The shim passes signals by number.
    ok(c.ctr(&["task", "kill", "-s", "SIGUSR1", &id]));
    wait_for("the USR1 trap", 10, || {
        read_log(&log).contains("got-usr1").then_some(())
    });
    ok(c.ctr(&["task", "kill", &id]));
    wait_for("the task to stop", 10, || {
        (c.task_status(&id).as_deref() == Some("STOPPED")).then_some(())
    });
    assert!(read_log(&log).contains("bye"));
    // `ctr task delete` prints the exit status; the shim then runs `delete` and
    // `delete --force` of the runtime.
    let out = ok(c.ctr(&["task", "delete", &id]));
    assert!(
        out.contains("exit status 3") || out.trim().is_empty(),
        "{out}"
    );
    ok(c.ctr(&["container", "rm", &id]));
    c.assert_clean();
}

#[test]
fn ctr_kill_all_and_force_delete_of_a_running_task() {
    let Some(mut c) = Containerd::start("all") else {
        return;
    };
    let id = c.id("all");
    let log = c.dir.path().join("all.log");
    let log_uri = format!("file://{}", log.display());
    let script = "sleep 1000 & sleep 1000 & echo started; wait";
    ok(c.run_cmd(&["-d", "--log-uri", &log_uri], &id, &["sh", "-c", script]));
    wait_for("the task's output", 10, || {
        read_log(&log).contains("started").then_some(())
    });
    // `kill --all ID 9` from the shim.
    ok(c.ctr(&["task", "kill", "--all", "-s", "SIGKILL", &id]));
    wait_for("the task to stop", 10, || {
        (c.task_status(&id).as_deref() == Some("STOPPED")).then_some(())
    });
    ok(c.ctr(&["task", "delete", &id]));

    // A running task removed at once: `ctr task delete -f` → kill --all, delete --force.
    let id = c.id("force");
    ok(c.run_cmd(&["-d", "--null-io"], &id, &["sleep", "1000"]));
    assert_eq!(c.task_status(&id).as_deref(), Some("RUNNING"));
    ok(c.ctr(&["task", "delete", "-f", &id]));
    for id in c.ids.clone() {
        ok(c.ctr(&["container", "rm", &id]));
    }
    c.assert_clean();
}
