//! Which cgroup hierarchies this host has, read from `/proc/self/mountinfo`.
//!
//! - **v2** (unified): one `cgroup2` mount at `/sys/fs/cgroup` (or, with no v1 mounts at
//!   all, wherever the only `cgroup2` mount is).
//! - **v1**: one `cgroup` mount per hierarchy (`/sys/fs/cgroup/memory`, a co-mounted
//!   `/sys/fs/cgroup/cpu,cpuacct`, the named `name=systemd` hierarchy).
//! - **hybrid**: v1 mounts plus a `cgroup2` mount beside them (`/sys/fs/cgroup/unified`),
//!   which holds whatever controllers are not bound to a v1 hierarchy (on this project's
//!   machines: `hugetlb`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::{CgroupError, Mode};

/// Controllers a v1 mount may carry (anything else in the super options is a mount option).
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted (`/sys/fs/cgroup/memory`).
    pub mountpoint: PathBuf,
    /// The cgroup the mount shows as its root (`/` on the host; deeper inside a container).
    pub root: String,
    /// v1: the controllers bound to it (`["cpu", "cpuacct"]`, `["name=systemd"]`); empty for v2.
    pub controllers: Vec<String>,
}

impl Mount {
    /// The key `/proc/<pid>/cgroup` uses for this hierarchy: `cpu,cpuacct`, `name=systemd`,
    /// and the empty string for cgroup2.
    pub fn key(&self) -> String {
        self.controllers.join(",")
    }

    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// Every cgroup hierarchy mounted on the host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hierarchies {
    pub v1: Vec<Mount>,
    pub unified: Option<Mount>,
    /// The cgroup2 mount is at `/sys/fs/cgroup` itself (a pure v2 host).
    unified_at_top: bool,
}

impl Hierarchies {
    /// Parse the text of a `/proc/<pid>/mountinfo`.
    pub fn parse(mountinfo: &str) -> Hierarchies {
        let mut h = Hierarchies::default();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            if left.len() < 5 || right.len() < 3 {
                continue;
            }
            let (root, mountpoint) = (unescape(left[3]), PathBuf::from(unescape(left[4])));
            match right[0] {
                "cgroup2" => {
                    let top = mountpoint == Path::new("/sys/fs/cgroup");
                    // Prefer the canonical place; otherwise keep the first one seen.
                    if h.unified.is_none() || (top && !h.unified_at_top) {
                        h.unified_at_top = top;
                        h.unified = Some(Mount {
                            mountpoint,
                            root,
                            controllers: Vec::new(),
                        });
                    }
                }
                "cgroup" => {
                    let controllers: Vec<String> = right[2]
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                        .map(str::to_string)
                        .collect();
                    // Only runc's hierarchies: real controllers and systemd's named one.
                    let known = controllers
                        .iter()
                        .any(|c| !c.starts_with("name=") || c == "name=systemd");
                    if !known || h.v1.iter().any(|m| m.controllers == controllers) {
                        continue; // a second mount of the same hierarchy (a bind mount)
                    }
                    h.v1.push(Mount {
                        mountpoint,
                        root,
                        controllers,
                    });
                }
                _ => {}
            }
        }
        h
    }

    /// What kind of host this is, or `None` when no cgroup filesystem is mounted.
    pub fn mode(&self) -> Option<Mode> {
        match (self.v1.is_empty(), &self.unified) {
            (_, Some(_)) if self.unified_at_top => Some(Mode::V2),
            (false, Some(_)) => Some(Mode::Hybrid),
            (false, None) => Some(Mode::V1),
            (true, Some(_)) => Some(Mode::V2),
            (true, None) => None,
        }
    }

    /// The v1 hierarchy carrying `controller`.
    pub fn v1_for(&self, controller: &str) -> Option<&Mount> {
        self.v1.iter().find(|m| m.has(controller))
    }

    /// This host's hierarchies, read once per process (mounts under `/sys/fs/cgroup` do not
    /// change while a runtime command runs).
    pub fn host() -> Result<&'static Hierarchies, CgroupError> {
        static HOST: OnceLock<Result<Hierarchies, String>> = OnceLock::new();
        let cached = HOST.get_or_init(|| {
            std::fs::read_to_string("/proc/self/mountinfo")
                .map(|text| Hierarchies::parse(&text))
                .map_err(|e| format!("read /proc/self/mountinfo: {e}"))
        });
        match cached {
            Ok(h) if h.mode().is_some() => Ok(h),
            Ok(_) => Err(CgroupError::Invalid(
                "no cgroup filesystem is mounted (neither cgroup v1 nor cgroup2 in /proc/self/mountinfo); mount one under /sys/fs/cgroup".into(),
            )),
            Err(e) => Err(CgroupError::Invalid(e.clone())),
        }
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match octal {
            Some(v) if bytes[i] == b'\\' => {
                out.push(v);
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    // This project's machines: v1 controllers plus cgroup2 at /sys/fs/cgroup/unified.
    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_host() {
        let h = Hierarchies::parse(HYBRID);
        assert_eq!(h.mode(), Some(Mode::Hybrid));
        assert_eq!(h.v1.len(), 4);
        assert_eq!(
            h.v1_for("memory").unwrap().mountpoint,
            Path::new("/sys/fs/cgroup/memory")
        );
        assert_eq!(h.v1[3].key(), "name=systemd");
        assert_eq!(
            h.unified.as_ref().unwrap().mountpoint,
            Path::new("/sys/fs/cgroup/unified")
        );
        assert!(h.v1_for("pids").is_none());
    }

    #[test]
    fn pure_v2_host() {
        let h = Hierarchies::parse(
            "25 19 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
        );
        assert_eq!(h.mode(), Some(Mode::V2));
        assert!(h.v1.is_empty());
    }

    #[test]
    fn v1_host_with_comounted_and_duplicate_and_unknown_named() {
        let h = Hierarchies::parse(
            "\
1 0 0:1 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
2 0 0:1 / /mnt/again rw - cgroup cgroup rw,cpu,cpuacct
3 0 0:2 / /sys/fs/cgroup/elogind rw - cgroup cgroup rw,name=elogind
4 0 0:3 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
",
        );
        assert_eq!(h.mode(), Some(Mode::V1));
        assert_eq!(h.v1.len(), 2, "{h:?}");
        assert_eq!(h.v1[0].key(), "cpu,cpuacct");
        assert_eq!(
            h.v1_for("cpuacct").unwrap().mountpoint,
            Path::new("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(h.v1_for("memory").unwrap().root, "/docker/abc");
    }

    #[test]
    fn nothing_mounted() {
        assert_eq!(
            Hierarchies::parse("1 0 8:1 / / rw - ext4 /dev/vda rw\n").mode(),
            None
        );
    }

    #[test]
    fn escaped_mountpoint() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/trail\04"), r"/trail\04");
    }
}
