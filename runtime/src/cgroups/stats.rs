//! A few live figures of the container's cgroup (for `events --stats` and the viewer's
//! details pane), read from whichever hierarchy holds each controller.

use serde::{Deserialize, Serialize};

use super::layout::{Layout, Version};
use super::{files, freezer};

/// What the kernel counts for the cgroup right now; `None` where the controller is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Processes (and threads) in it.
    pub pids_current: Option<u64>,
    /// `None` also when unlimited.
    pub pids_limit: Option<u64>,
    /// Bytes charged.
    pub memory_usage: Option<u64>,
    /// `None` also when unlimited.
    pub memory_limit: Option<u64>,
    /// CPU time used, nanoseconds.
    pub cpu_usage_ns: Option<u64>,
    pub frozen: Option<bool>,
}

/// Read them.
pub fn read(layout: &Layout) -> Stats {
    let get = |controller: &str, v1: &str, v2: &str| -> Option<String> {
        let version = layout.side(controller)?;
        let dir = layout.dir_for(version, controller)?;
        let name = if version == Version::V1 { v1 } else { v2 };
        files::read(&dir.path().join(name)).ok()
    };
    let num = |s: Option<String>| s.and_then(|s| s.parse::<u64>().ok());
    // v1 reports "unlimited" as a huge page-aligned number.
    let limit = |v: Option<u64>| v.filter(|&l| l < (i64::MAX as u64 & !0xfff));
    // cpu.stat is a core cgroup2 file: present even without the cpu controller.
    let cpu_ns = match (layout.v1("cpuacct"), layout.unified()) {
        (Some(d), _) => num(files::read(&d.path().join("cpuacct.usage")).ok()),
        (None, Some(u)) => files::read(&u.path().join("cpu.stat")).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|us| us * 1000)
        }),
        (None, None) => None,
    };
    Stats {
        pids_current: num(get("pids", "pids.current", "pids.current")),
        pids_limit: num(get("pids", "pids.max", "pids.max")),
        memory_usage: num(get("memory", "memory.usage_in_bytes", "memory.current")),
        memory_limit: limit(num(get("memory", "memory.limit_in_bytes", "memory.max"))),
        cpu_usage_ns: cpu_ns,
        frozen: freezer::is_frozen(layout).ok(),
    }
}
