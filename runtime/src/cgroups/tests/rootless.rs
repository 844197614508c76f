//! Rootless without a writable cgroup: runs without limits, refuses limits clearly.

use std::path::Path;
use std::process::Command;

use super::*;

/// Run by [`rootless_without_a_writable_cgroup_runs_unlimited_and_refuses_limits`] as
/// uid 65534; does nothing otherwise.
#[test]
#[ignore = "helper: runs only inside the rootless test, as an unprivileged user"]
fn rootless_probe_helper() {
    if std::env::var_os("INITSCOPE_CGROUP_PROBE").is_none() {
        return;
    }
    let cg = Cgroup::new(None, "rootless-probe").unwrap();
    println!("PROBE cgroup {}", serde_json::to_string(&cg).unwrap());
    println!("PROBE plain {:?}", create(&cg, None).map(|s| s.len()));
    println!("PROBE apply {:?}", cg.apply(nix::unistd::getpid()).is_ok());
    let limited = res(serde_json::json!({"memory": {"limit": 1048576}}));
    println!("PROBE limits {}", create(&cg, Some(&limited)).unwrap_err());
    println!("PROBE pause {}", cg.set_frozen(true).unwrap_err());
    println!("PROBE destroy {:?}", cg.destroy().is_ok());
}

#[test]
fn rootless_without_a_writable_cgroup_runs_unlimited_and_refuses_limits() {
    use std::os::unix::process::CommandExt;
    if Fixture::new().is_none() {
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "cgroups::tests::rootless::rootless_probe_helper",
            "--ignored",
            "--nocapture",
        ])
        .env("INITSCOPE_CGROUP_PROBE", "1")
        .uid(65534)
        .gid(65534)
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("skipping: uid 65534 cannot run the test binary here ({e})");
            return;
        }
        Err(e) => panic!("run the test binary as uid 65534: {e}"),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("PROBE {k} ")))
            .unwrap_or_else(|| panic!("no {k} in {text}\n{}", String::from_utf8_lossy(&out.stderr)))
            .to_string()
    };
    let cg: Cgroup = serde_json::from_str(&line("cgroup")).unwrap();
    assert!(cg.disabled && cg.created_levels == 0, "{cg:?}");
    assert_eq!(
        line("plain"),
        "Ok(0)",
        "no limits: create succeeds, writes nothing"
    );
    assert_eq!(line("apply"), "true");
    let limits = line("limits");
    assert!(
        limits.contains("linux.resources") && limits.contains("rootless (uid 65534)"),
        "{limits}"
    );
    assert!(line("pause").contains("pause/resume"));
    assert_eq!(line("destroy"), "true");
    assert!(out.status.success());
    assert!(!Path::new("/sys/fs/cgroup/memory/initscope/rootless-probe").exists());
}
