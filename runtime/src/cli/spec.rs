//! `spec` (a default config.json, the same content as `runc spec`) and `features`.

use std::path::Path;

use serde_json::{json, Value};

use crate::error::RuntimeError;

/// The config `runc spec` (runc 1.1) writes; `rootless` as `runc spec --rootless`.
pub fn runc_default_spec(rootless: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut v = json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    });
    if rootless {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let linux = &mut v["linux"];
        linux.as_object_mut().expect("object").remove("resources");
        linux["namespaces"] = json!([
            {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}
        ]);
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        let mounts = v["mounts"].as_array_mut().expect("array");
        for m in mounts.iter_mut() {
            match m["destination"].as_str() {
                // No gid=5 without a mapping for it.
                Some("/dev/pts") => {
                    m["options"] = json!([
                        "nosuid",
                        "noexec",
                        "newinstance",
                        "ptmxmode=0666",
                        "mode=0620"
                    ])
                }
                // sysfs cannot be mounted without a network namespace of our own: bind it.
                Some("/sys") => {
                    *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
                }
                _ => {}
            }
        }
    }
    v
}

/// Write `<bundle>/config.json`, refusing to overwrite one.
pub fn write_spec(bundle: Option<&Path>, rootless: bool) -> Result<(), RuntimeError> {
    let dir = bundle.unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(RuntimeError::Usage(format!(
            "bundle {}: no such directory",
            dir.display()
        )));
    }
    let path = dir.join("config.json");
    if path.exists() {
        return Err(RuntimeError::Usage(format!(
            "{} exists: remove it first",
            path.display()
        )));
    }
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&runc_default_spec(rootless), &mut ser).expect("json");
    std::fs::write(&path, out).map_err(|e| RuntimeError::io(format!("write {}", path.display()), e))
}

/// The OCI features document: what this runtime really implements today.
pub fn features() -> Value {
    let mut caps: Vec<caps::Capability> = caps::all().into_iter().collect();
    caps.sort_by_key(|c| c.index());
    let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": crate::cgroups::features(),
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
                    "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
                    "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64",
                    "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
                "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                    "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                    "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
            },
            "mountExtensions": {"idmap": {"enabled": true}},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false}
        },
        "annotations": {
            "io.github.initscope.runtime.version": super::VERSION
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_parses_with_oci_spec_and_asks_for_runcs_namespaces() {
        let s: oci_spec::runtime::Spec = serde_json::from_value(runc_default_spec(false)).unwrap();
        let ns: Vec<String> = s
            .linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ().to_string())
            .collect();
        assert_eq!(ns, vec!["pid", "net", "ipc", "uts", "mnt"]);
        assert_eq!(s.process().as_ref().unwrap().terminal(), Some(true));
        let r: oci_spec::runtime::Spec = serde_json::from_value(runc_default_spec(true)).unwrap();
        assert!(r.linux().as_ref().unwrap().uid_mappings().is_some());
    }

    #[test]
    fn features_say_what_is_wired_in() {
        let f = features();
        assert_eq!(f["hooks"].as_array().unwrap().len(), 6);
        assert_eq!(f["linux"]["seccomp"]["enabled"], true);
        assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true);
        assert!(f["linux"]["seccomp"]["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("SCMP_ACT_NOTIFY")));
    }

    #[test]
    fn spec_refuses_to_overwrite() {
        let d = tempfile::tempdir().unwrap();
        write_spec(Some(d.path()), false).unwrap();
        let text = std::fs::read_to_string(d.path().join("config.json")).unwrap();
        assert!(text.starts_with("{\n\t\""));
        let e = write_spec(Some(d.path()), false).unwrap_err();
        assert!(e.to_string().contains("exists"));
    }

    /// Equal in content to the `runc spec` installed on this machine.
    #[test]
    fn equal_to_installed_runc_spec() {
        for rootless in [false, true] {
            let d = tempfile::tempdir().unwrap();
            let mut cmd = std::process::Command::new("runc");
            cmd.arg("spec").current_dir(d.path());
            if rootless {
                cmd.arg("--rootless");
            }
            // scripts/setup installs runc: it is the reference.
            let st = cmd.status().expect("runc is installed (scripts/setup)");
            assert!(st.success());
            let theirs: Value =
                serde_json::from_slice(&std::fs::read(d.path().join("config.json")).unwrap())
                    .unwrap();
            assert_eq!(runc_default_spec(rootless), theirs, "rootless={rootless}");
        }
    }
}
