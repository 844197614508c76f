//! The demo's bundle, built in a temp dir: a busybox rootfs when busybox-static is
//! installed, otherwise the host's /bin, /lib, /usr bound read-only; and a config.json
//! like `runc spec`'s, with a user namespace so the uid-map step of the dance shows.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The applets the demo's command uses.
const APPLETS: [&str; 8] = ["sh", "echo", "sleep", "hostname", "id", "ls", "cat", "ps"];

pub struct Bundle {
    pub dir: PathBuf,
    /// How the rootfs was made, for the status line.
    pub rootfs_from: String,
}

pub fn build(dir: &Path, userns: bool, args: &[&str]) -> std::io::Result<Bundle> {
    let busybox = Path::new("/bin/busybox");
    build_with(dir, userns, args, busybox.exists().then_some(busybox))
}

/// [`build`] with busybox from `busybox`, or (None) the host's programs bound read-only.
pub fn build_with(
    dir: &Path,
    userns: bool,
    args: &[&str],
    busybox: Option<&Path>,
) -> std::io::Result<Bundle> {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
        std::fs::create_dir_all(rootfs.join(d))?;
    }
    let mut mounts = default_mounts();
    let rootfs_from = if let Some(bb) = busybox {
        std::fs::copy(bb, rootfs.join("bin/busybox"))?;
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a))?;
        }
        "busybox".to_string()
    } else {
        // No busybox: the host's own programs, read-only.
        std::fs::remove_dir(rootfs.join("bin"))?;
        let mut bound = Vec::new();
        for d in ["/bin", "/lib", "/lib64", "/usr", "/sbin"] {
            let p = Path::new(d);
            if p.exists() && !p.is_symlink() {
                std::fs::create_dir_all(rootfs.join(&d[1..]))?;
                mounts.push(json!({"destination": d, "type": "bind", "source": d, "options": ["rbind", "ro", "nosuid", "nodev"]}));
                bound.push(d);
            } else if p.is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(p)?, rootfs.join(&d[1..]))?;
            }
        }
        format!("host {} (read-only)", bound.join(" "))
    };
    std::fs::write(rootfs.join("etc/hostname"), "initscope-demo\n")?;
    let cfg = config(&mounts, userns, args);
    std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&cfg)?)?;
    Ok(Bundle {
        dir: dir.to_path_buf(),
        rootfs_from,
    })
}

fn default_mounts() -> Vec<Value> {
    vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
    ]
}

fn config(mounts: &[Value], userns: bool, args: &[&str]) -> Value {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    let mut linux = json!({
        "namespaces": [],
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    });
    if userns {
        namespaces.push(json!({"type": "user"}));
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    }
    linux["namespaces"] = Value::Array(namespaces);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "initscope-demo",
        "mounts": mounts,
        "linux": linux,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_demo_bundle_has_a_rootfs_and_a_config_with_a_user_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let b = build(dir.path(), true, &["sh", "-c", "true"]).unwrap();
        let cfg: Value =
            serde_json::from_str(&std::fs::read_to_string(b.dir.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(cfg["process"]["terminal"], false);
        assert_eq!(cfg["process"]["args"][0], "sh");
        let ns: Vec<&str> = cfg["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert!(ns.contains(&"user") && ns.contains(&"pid"));
        assert_eq!(cfg["linux"]["uidMappings"][0]["hostID"], 100000);
        if b.rootfs_from == "busybox" {
            assert!(dir.path().join("rootfs/bin/sh").exists());
        }
        // Without busybox: the host's programs, bound read-only (symlinked dirs as links).
        let dir = tempfile::tempdir().unwrap();
        let b = build_with(dir.path(), false, &["true"], None).unwrap();
        assert!(b.rootfs_from.starts_with("host"), "{}", b.rootfs_from);
        let cfg: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
                .unwrap();
        let binds: Vec<&str> = cfg["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["type"] == "bind")
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert!(binds.contains(&"/usr"), "{binds:?}");
        for m in cfg["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["type"] == "bind")
        {
            assert!(
                m["options"].as_array().unwrap().iter().any(|o| o == "ro"),
                "{m}"
            );
        }
    }
}
