//! What init applies to the container's process, checked from inside the container:
//! user, groups, umask, capabilities (all five sets), rlimits, noNewPrivileges,
//! oom_score_adj, env, cwd, HOME, the executable found in the container's PATH; and
//! `--preserve-fds`, `--no-pivot`.

use initscope_tests::{is_root, stderr, stdout, Bundle, Runtime};
use serde_json::json;

/// `grep`'s value for `key` in /proc/self/status output lines.
fn status_field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{key} not in {out}"))
}

#[test]
fn user_groups_umask_caps_rlimits_env_cwd() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let rt = Runtime::new();
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "id; umask; pwd; echo HOME=$HOME FOO=$FOO; ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; grep -E '^(Cap|NoNewPrivs|Groups)' /proc/self/status",
    ]);
    b.edit(|c| {
        let p = &mut c["process"];
        p["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [20, 30], "umask": 63});
        p["cwd"] = "/tmp".into();
        p["env"] = json!(["PATH=/bin", "FOO=bar"]);
        p["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000}]);
        p["oomScoreAdj"] = 500.into();
        p["noNewPrivileges"] = true.into();
        let some = json!(["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
        p["capabilities"] = json!({
            "bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_SETUID"],
            "effective": some, "permitted": some,
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"]
        });
    });
    let id = rt.id("proc");
    let out = rt.run(&["run", "-b", b.path_str(), &id]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}\n{text}", stderr(&out));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "uid=1000 gid=1001 groups=20,30");
    assert_eq!(lines[1], "0077");
    assert_eq!(lines[2], "/tmp");
    // No HOME in the config and uid 1000 not in /etc/passwd: "/" (as runc).
    assert_eq!(lines[3], "HOME=/ FOO=bar");
    assert_eq!(lines[4], "512");
    assert_eq!(lines[5], "1000");
    assert_eq!(lines[6], "500");
    // CAP_CHOWN 0, CAP_KILL 5, CAP_SETUID 7, CAP_NET_BIND_SERVICE 10.
    assert_eq!(status_field(&text, "CapBnd:"), "00000000000004a1");
    assert_eq!(status_field(&text, "CapInh:"), "0000000000000420");
    // Ambient needs permitted and inheritable: only NET_BIND_SERVICE qualifies. A non-root
    // user keeps across execve exactly its ambient capabilities, so they are also all it
    // is permitted and has effective (init had KILL|CHOWN|NET_BIND_SERVICE before exec:
    // the `caps` event).
    assert_eq!(status_field(&text, "CapAmb:"), "0000000000000400");
    assert_eq!(status_field(&text, "CapPrm:"), "0000000000000400");
    assert_eq!(status_field(&text, "CapEff:"), "0000000000000400");
    assert_eq!(status_field(&text, "NoNewPrivs:"), "1");
    assert_eq!(status_field(&text, "Groups:"), "20 30");
    let ev = rt.events_of(&id);
    let caps = ev.iter().find(|e| e["kind"] == "caps").unwrap();
    assert_eq!(
        caps["permitted"],
        json!(["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
    );
    assert_eq!(caps["ambient"], json!(["CAP_NET_BIND_SERVICE"]));
    let user = ev.iter().find(|e| e["kind"] == "user").unwrap();
    assert_eq!(user["additional_gids"], json!([20, 30]));
    assert_eq!(user["umask"], 63);
    rt.assert_clean(&[&b.path]);
}

#[test]
fn lowering_oom_score_adj_without_cap_sys_resource_is_a_clear_error() {
    // This machine's root lacks CAP_SYS_RESOURCE; elsewhere lowering simply works.
    let has_sys_resource = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|h| u64::from_str_radix(h.trim(), 16).unwrap() & (1 << 24) != 0)
        .unwrap();
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    b.edit(|c| c["process"]["oomScoreAdj"] = (-500).into());
    let id = rt.id("oom");
    let out = rt.run(&["create", "-b", b.path_str(), &id]);
    if has_sys_resource {
        assert!(out.status.success(), "{}", stderr(&out));
        rt.ok(&["delete", "--force", &id]);
    } else {
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("[0:PARENT] failed") && err.contains("oom_score_adj"),
            "{err}"
        );
        assert!(err.contains("CAP_SYS_RESOURCE"), "{err}");
    }
    rt.assert_clean(&[&b.path]);
}

#[test]
fn preserved_fds_reach_the_container_and_nothing_else_does() {
    use std::os::fd::AsRawFd;
    let rt = Runtime::new();
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "ls /proc/self/fd | sort -n | tr '\\n' ' '; cat <&3",
    ]);
    let id = rt.id("fds");
    let file = b.path.join("passed.txt");
    std::fs::write(&file, "through fd 3\n").unwrap();
    let f = std::fs::File::open(&file).unwrap();
    let mut cmd = rt.command(&["run", "--preserve-fds", "1", "-b", b.path_str(), &id]);
    let raw = f.as_raw_fd();
    // SAFETY: in the forked child before exec: dup2 onto fd 3 and clear its close-on-exec
    // flag (dup2 onto itself would leave it set), both async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if libc::dup2(raw, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = initscope_tests::output_with_timeout(cmd, initscope_tests::COMMAND_TIMEOUT);
    assert!(out.status.success(), "{}", stderr(&out));
    // stdin, stdout, stderr, the preserved fd 3, and ls's own directory fd: nothing of
    // the runtime's (events, channels, exec.fifo, /proc) leaks in.
    assert_eq!(stdout(&out), "0 1 2 3 4 through fd 3\n");
    rt.assert_clean(&[&b.path]);
}

#[test]
fn no_pivot_moves_the_root_and_chroots() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sh", "-c", "ls /bin/busybox && echo ok"]);
    let id = rt.id("nopivot");
    let out = rt.run(&["run", "--no-pivot", "-b", b.path_str(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "/bin/busybox\nok\n");
    let ev = rt.events_of(&id);
    let pivot = ev.iter().find(|e| e["kind"] == "pivot_root").unwrap();
    assert_eq!(pivot["method"], "move_chroot");
    rt.assert_clean(&[&b.path]);
}

#[test]
fn executable_found_in_the_containers_path_only() {
    let rt = Runtime::new();
    // `true` lives in /bin of the container; a PATH without /bin must not find the host's.
    let b = Bundle::busybox(&["true"]);
    b.edit(|c| c["process"]["env"] = json!(["PATH=/usr/bin"]));
    let id = rt.id("path");
    let out = rt.run(&["create", "-b", b.path_str(), &id]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "exec \"true\": executable file not found in $PATH of the container (/usr/bin)"
        ),
        "{}",
        stderr(&out)
    );
    b.edit(|c| c["process"]["env"] = json!(["PATH=/usr/bin:/bin"]));
    let id = rt.id("path");
    rt.ok(&["run", "-b", b.path_str(), &id]);
    rt.assert_clean(&[&b.path]);
}
