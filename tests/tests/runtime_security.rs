//! Security regressions runc has fixed, each reproduced end to end through the CLI:
//! - CVE-2024-21626: no runtime fd reaches the container beyond stdio and --preserve-fds;
//!   a cwd through /proc/self/fd (or a symlink to it) is refused;
//! - CVE-2019-5736: a container process cannot open a stage's /proc/PID/exe (the runtime
//!   binary) for writing or as O_PATH to reopen later, nor its /proc/PID/fd;
//! - CVE-2025-31133: masking refuses a /dev/null swapped for a symlink;
//! - CVE-2023-27561: /proc as a symlink in the rootfs is refused;
//! - CVE-2022-29162: no inheritable (or ambient) capabilities after exec, even with --cap;
//! - CVE-2021-30465: mount destinations resolve inside the rootfs;
//! - CVE-2023-25809: cgroup mounts are read-only without a cgroup namespace.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use initscope_tests::{
    is_root, output_with_timeout, read_events, stderr, stdout, Bundle, Runtime, COMMAND_TIMEOUT,
};
use serde_json::json;

/// A static helper put into the container as /bin/isc-probe: `fds` lists its own open fds
/// (without the directory handle it lists them with); `attack PID` tries what the
/// CVE-2019-5736 exploit did against /proc/PID.
const PROBE_C: &str = r#"
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "fds")) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;
            printf("%s ", e->d_name);
        }
        printf("\n");
        return 0;
    }
    char p[256], q[256];
    snprintf(p, sizeof p, "/proc/%s/exe", argv[2]);
    int fd = open(p, O_WRONLY);
    printf("wronly %s\n", fd < 0 ? strerror(errno) : "opened");
    fd = open(p, O_PATH);
    if (fd < 0) printf("opath %s\n", strerror(errno));
    else {
        snprintf(q, sizeof q, "/proc/self/fd/%d", fd);
        int w = open(q, O_WRONLY);
        printf("opath opened, reopen %s\n", w < 0 ? strerror(errno) : "opened");
    }
    ssize_t n = readlink(p, q, sizeof q - 1);
    printf("readlink %s\n", n < 0 ? strerror(errno) : "ok");
    /* The names of /proc/PID/fd may be listed; following a link (a host directory fd
       would be an escape) must be refused. */
    snprintf(p, sizeof p, "/proc/%s/fd", argv[2]);
    DIR *d = opendir(p);
    if (!d) { printf("fds %s\n", strerror(errno)); return 0; }
    struct dirent *e;
    int links = 0, denied = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(q, sizeof q, "%s/%s", p, e->d_name);
        int f = open(q, O_PATH);
        links++;
        if (f < 0 && errno == EACCES) denied++;
    }
    printf("fd links %s\n", links > 3 && denied == links ? "Permission denied" : "followed");
    return 0;
}
"#;

/// Compile the helper statically into the bundle's rootfs.
fn add_probe(b: &Bundle) {
    let src = b.path.join("isc-probe.c");
    std::fs::write(&src, PROBE_C).unwrap();
    let out = Command::new("cc")
        .args(["-static", "-O1", "-o"])
        .arg(b.path.join("rootfs/bin/isc-probe"))
        .arg(&src)
        .output()
        .expect("cc (gcc; scripts/setup installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn no_runtime_fd_reaches_the_container() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sh", "-c", "isc-probe fds; exec sleep 1000"]);
    add_probe(&b);
    // Hooks at every stage of the bootstrap open more runtime fds around init.
    b.edit(|c| {
        c["hooks"] = json!({
            "createContainer": [{"path": "/bin/busybox", "args": ["true"]}],
            "startContainer": [{"path": "/bin/true"}]
        })
    });
    let id = rt.id("fds");
    let log = b.path.join("out.log");
    let mut cmd = rt.command(&["run", "-d", "-b", b.path_str(), &id]);
    cmd.stdout(std::fs::File::create(&log).unwrap());
    assert!(cmd.status().unwrap().success());
    rt.wait_status(&id, "running");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&log).unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(std::fs::read_to_string(&log).unwrap().trim(), "0 1 2");
    let out = rt.ok(&["exec", &id, "isc-probe", "fds"]);
    assert_eq!(out.trim(), "0 1 2", "the exec'd process has only stdio");

    // --preserve-fds N: exactly fds 3 .. 3+N-1 more.
    let mut cmd = rt.command(&["exec", "--preserve-fds", "2", &id, "isc-probe", "fds"]);
    // SAFETY: between fork and exec only dup2 (async-signal-safe) on fds we choose.
    unsafe {
        cmd.pre_exec(|| {
            libc::dup2(1, 3);
            libc::dup2(1, 4);
            Ok(())
        });
    }
    let o = output_with_timeout(cmd, COMMAND_TIMEOUT);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "0 1 2 3 4");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn a_cwd_through_proc_fd_links_is_refused() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["pwd"]);
    // Direct, and disguised as a symlink inside the rootfs that only resolves at chdir.
    for n in 3..12 {
        std::os::unix::fs::symlink(
            format!("/proc/self/fd/{n}"),
            b.path.join(format!("rootfs/escape{n}")),
        )
        .unwrap();
    }
    b.edit(|c| c["process"]["cwd"] = "/proc/self/fd/5".into());
    let id = rt.id("cwd");
    let o = rt.run(&["run", "-b", b.path_str(), &id]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("process.cwd: /proc/self/fd/5 is refused")
            && stderr(&o).contains("CVE-2024-21626"),
        "{}",
        stderr(&o)
    );
    let mut outside = 0;
    for n in 3..12 {
        b.edit(|c| c["process"]["cwd"] = format!("/escape{n}").into());
        let id = rt.id("cwd");
        let o = rt.run(&["run", "-b", b.path_str(), &id]);
        assert!(
            !o.status.success(),
            "cwd /escape{n} ran: {} {}",
            stdout(&o),
            stderr(&o)
        );
        if stderr(&o).contains("outside the container's root") {
            outside += 1;
        }
    }
    assert!(
        outside > 0,
        "one of the runtime's fds is a directory: the getcwd check must be what refused it"
    );
    // The same through exec.
    b.edit(|c| {
        c["process"]["cwd"] = "/".into();
        c["process"]["args"] = json!(["sleep", "1000"]);
    });
    let id = rt.id("cwd");
    rt.ok(&["run", "-d", "-b", b.path_str(), &id]);
    let mut outside = 0;
    for n in 3..12 {
        let o = rt.run(&["exec", "--cwd", &format!("/escape{n}"), &id, "pwd"]);
        assert!(
            !o.status.success(),
            "exec cwd /escape{n} ran: {}",
            stdout(&o)
        );
        outside += stderr(&o).contains("outside the container's root") as usize;
    }
    assert!(outside > 0);
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn a_container_cannot_open_a_stages_exe_or_fds() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "1000"]);
    add_probe(&b);
    let id = rt.id("exe");
    rt.ok(&["run", "-d", "-b", b.path_str(), &id]);
    rt.wait_status(&id, "running");
    // Hold an exec's [2:INIT] — inside the container's pid namespace, still the runtime
    // binary, its host fds open — right before its execve.
    let mut held = rt.command(&["exec", &id, "true"]);
    held.env("INITSCOPE_PAUSE_AT", "init:before-exec")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut held = held.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (host_pid, ns_pid) = loop {
        let ev = read_events(&rt.events);
        let paused = ev
            .iter()
            .find(|e| e["kind"] == "paused" && e["container"] == id.as_str());
        if let Some(p) = paused {
            let pid = p["pid"].as_i64().unwrap();
            let start = ev
                .iter()
                .find(|e| e["kind"] == "stage_start" && e["pid"] == pid)
                .unwrap();
            break (pid, start["ns_pid"].as_i64().unwrap());
        }
        assert!(
            Instant::now() < deadline,
            "the exec never reached its pause point"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let exe = std::fs::read_link(format!("/proc/{host_pid}/exe")).unwrap();
    assert!(
        exe.to_string_lossy().contains("initscope-runtime"),
        "the held stage is the runtime binary: {exe:?}"
    );
    let out = rt.ok(&["exec", &id, "isc-probe", "attack", &ns_pid.to_string()]);
    assert_eq!(
        out,
        "wronly Permission denied\nopath Permission denied\nreadlink Permission denied\nfd links Permission denied\n",
        "the stage must be non-dumpable"
    );
    // SAFETY: kill with plain integers.
    unsafe { libc::kill(host_pid as i32, libc::SIGCONT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let st = loop {
        if let Some(s) = held.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the held exec never finished");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(st.success());
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn masking_refuses_a_dev_null_swapped_for_a_symlink() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    let before = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    // The race of the CVE, made deterministic: after the devices exist and before the
    // paths are masked (createContainer runs in between, in the container's mount
    // namespace, cwd the bundle), /dev/null becomes a symlink to a host file.
    b.edit(|c| {
        c["hooks"] = json!({"createContainer": [{
            "path": "/bin/busybox",
            "args": ["sh", "-c", "rm rootfs/dev/null && ln -s /proc/sys/kernel/core_pattern rootfs/dev/null"]
        }]})
    });
    let id = rt.id("devnull");
    let o = rt.run(&["run", "-b", b.path_str(), &id]);
    assert!(!o.status.success(), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("/dev/null") && err.contains("refused"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before
    );
    rt.assert_clean(&[&b.path]);
}

#[test]
fn proc_as_a_symlink_is_refused() {
    let rt = Runtime::new();
    let host = tempfile::Builder::new()
        .prefix("isc-hostdir-")
        .tempdir()
        .unwrap();
    for target in [host.path().to_str().unwrap(), "/evil", "evil"] {
        let b = Bundle::busybox(&["true"]);
        std::fs::remove_dir(b.path.join("rootfs/proc")).unwrap();
        std::fs::create_dir(b.path.join("rootfs/evil")).unwrap();
        std::os::unix::fs::symlink(target, b.path.join("rootfs/proc")).unwrap();
        let id = rt.id("procsym");
        let o = rt.run(&["run", "-b", b.path_str(), &id]);
        assert!(!o.status.success(), "/proc -> {target} ran");
        assert!(stderr(&o).contains("/proc"), "{}", stderr(&o));
        assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0);
        rt.assert_clean(&[&b.path, host.path()]);
    }
}

/// CapInh and CapAmb of `status` text.
fn caps(status: &str) -> (u64, u64, u64) {
    let get = |k: &str| {
        let line = status.lines().find(|l| l.starts_with(k)).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    (get("CapInh:"), get("CapAmb:"), get("CapEff:"))
}

#[test]
fn no_inheritable_capabilities_after_exec() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sh", "-c", "grep Cap /proc/self/status; exec sleep 1000"]);
    let id = rt.id("capinh");
    let log = b.path.join("out.log");
    let mut cmd = rt.command(&["run", "-d", "-b", b.path_str(), &id]);
    cmd.stdout(std::fs::File::create(&log).unwrap());
    assert!(cmd.status().unwrap().success());
    rt.wait_status(&id, "running");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&log).unwrap().contains("CapAmb") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (inh, amb, _) = caps(&std::fs::read_to_string(&log).unwrap());
    assert_eq!((inh, amb), (0, 0));
    let out = rt.ok(&[
        "exec",
        "--cap",
        "CAP_NET_ADMIN",
        &id,
        "cat",
        "/proc/self/status",
    ]);
    let (inh, amb, eff) = caps(&out);
    assert_eq!(
        (inh, amb),
        (0, 0),
        "--cap never adds inheritable (CVE-2022-29162)"
    );
    assert_ne!(eff & (1 << 12), 0, "CAP_NET_ADMIN is effective");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn mount_destinations_resolve_inside_the_rootfs() {
    let rt = Runtime::new();
    let host = tempfile::Builder::new()
        .prefix("isc-hostdir-")
        .tempdir()
        .unwrap();
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "ls -d /escape/sub && touch /escape/sub/made-inside",
    ]);
    // /escape in the rootfs points at a host directory by an absolute path.
    std::os::unix::fs::symlink(host.path(), b.path.join("rootfs/escape")).unwrap();
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/escape/sub", "type": "tmpfs", "source": "tmpfs"}));
    });
    let id = rt.id("mntsym");
    let o = rt.run(&["run", "-b", b.path_str(), &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The mount went to <rootfs><host path>/sub, never onto the host's directory.
    assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0);
    let inside = b
        .path
        .join("rootfs")
        .join(host.path().strip_prefix("/").unwrap())
        .join("sub");
    assert!(inside.is_dir(), "{}", inside.display());
    assert!(
        !Path::new(&inside).join("made-inside").exists(),
        "the tmpfs is gone"
    );
    rt.assert_clean(&[&b.path, host.path()]);
}

#[test]
fn cgroup_mounts_are_read_only_without_a_cgroup_namespace() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "grep ' /sys/fs/cgroup' /proc/self/mountinfo | grep -vc ' ro,' ; mkdir /sys/fs/cgroup/pids/x; echo rc=$?",
    ]);
    b.edit(|c| {
        // The config asks for a writable cgroup mount and has no cgroup namespace.
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["type"] == "cgroup" {
                m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
            }
        }
        assert!(!c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "cgroup"));
    });
    let id = rt.id("cgro");
    let o = rt.run(&["run", "-b", b.path_str(), &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "every cgroup mount is ro: {out}");
    assert_eq!(lines[1], "rc=1", "{out}");
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    rt.assert_clean(&[&b.path]);
}
