//! Reading and writing cgroupfs files, and making and removing cgroup directories.
//!
//! Every failure names the file and, for writes, the value; where the kernel's errno has a
//! well-known cgroup meaning (a limit below current usage, a cpuset outside the parent's,
//! the v2 "no internal processes" rule) the error says so.

use std::io::{self, Write};
use std::path::Path;

use nix::errno::Errno;

use super::CgroupError;

/// Write `value` to a cgroup file in one `write(2)` (some files, like `devices.allow`,
/// take exactly one rule per write).
pub fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    let result = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write(value.as_bytes()).map(|_| ()));
    result.map_err(|source| {
        let name = file_name(path);
        CgroupError::Write {
            path: path.display().to_string(),
            value: value.to_string(),
            hint: write_hint(name, source.raw_os_error()),
            source,
        }
    })
}

/// Read a cgroup file, trimmed.
pub fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| op_error("read", path, source))
}

/// `mkdir`; `Ok(true)` if it made the directory, `Ok(false)` if it was there already.
pub fn mkdir(path: &Path) -> Result<bool, CgroupError> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(op_error("mkdir", path, source)),
    }
}

/// A failed operation other than a write.
pub fn op_error(op: &'static str, path: &Path, source: io::Error) -> CgroupError {
    let hint = match (op, source.raw_os_error().map(Errno::from_raw)) {
        ("mkdir", Some(Errno::ENOSPC)) | ("mkdir", Some(Errno::EAGAIN)) => Some(
            "the parent's cgroup.max.descendants or cgroup.max.depth is reached, or too many cgroups exist",
        ),
        ("mkdir", Some(Errno::EROFS)) => {
            Some("cgroupfs is mounted read-only here (inside a container without a cgroup namespace?)")
        }
        ("mkdir", Some(Errno::ENOENT)) => Some("the hierarchy or a parent cgroup vanished"),
        (_, Some(Errno::EACCES)) | (_, Some(Errno::EPERM)) => {
            Some("permission denied: run as root, or use a cgroup delegated to this user")
        }
        ("rmdir", Some(Errno::EBUSY)) => Some("processes or child cgroups are still in it"),
        _ => None,
    };
    CgroupError::Op {
        op,
        path: path.display().to_string(),
        source,
        hint,
    }
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// What a refused write usually means, by file and errno.
pub fn write_hint(file: &str, errno: Option<i32>) -> Option<&'static str> {
    let errno = Errno::from_raw(errno?);
    let hint = match (file, errno) {
        ("memory.limit_in_bytes" | "memory.max" | "memory.high", Errno::EBUSY) => {
            "the cgroup already uses more memory than this limit"
        }
        ("memory.memsw.limit_in_bytes", Errno::EINVAL) => {
            "memory+swap (linux.resources.memory.swap) must be at least the memory limit"
        }
        ("memory.limit_in_bytes", Errno::EINVAL) => {
            "the memory limit must not exceed the memory+swap limit, and must be a number of bytes or -1"
        }
        ("memory.swappiness", Errno::EINVAL) => "swappiness must be between 0 and 100",
        ("cpuset.cpus" | "cpuset.mems", Errno::EINVAL) => {
            "not a subset of the parent's cpuset (see the parent's cpuset.cpus / cpuset.mems), or not a valid list like 0-1,3"
        }
        ("cpuset.cpus" | "cpuset.mems", Errno::ERANGE) => {
            "a CPU or memory node number beyond what this machine has; see /sys/devices/system/cpu/online and /sys/devices/system/node/online"
        }
        ("cpuset.cpus" | "cpuset.mems", Errno::ENOSPC) => {
            "the cgroup has processes and this would leave it without CPUs or memory nodes"
        }
        ("cpu.rt_runtime_us" | "cpu.rt_period_us", Errno::EINVAL | Errno::EBUSY) => {
            "the realtime budget is hierarchical: every parent cgroup needs a cpu.rt_runtime_us at least this large, and runtime must not exceed the period"
        }
        ("cpu.cfs_quota_us" | "cpu.cfs_period_us" | "cpu.max", Errno::EINVAL) => {
            "period must be 1000..1000000 us and quota at least 1000 us (or -1 / max)"
        }
        ("cpu.shares", Errno::EINVAL) => "shares must be between 2 and 262144",
        ("cpu.weight", Errno::ERANGE | Errno::EINVAL) => "cpu.weight must be between 1 and 10000",
        ("pids.max", Errno::EINVAL) => "the pids limit must be a positive number or max",
        ("cgroup.procs", Errno::ESRCH) => "the process has already exited",
        ("cgroup.procs", Errno::EBUSY) => {
            "cgroup v2 puts processes only in leaf cgroups: this one has controllers enabled in its cgroup.subtree_control"
        }
        ("cgroup.procs", Errno::EOPNOTSUPP) => {
            "the target is a threaded cgroup or a different cgroup v2 domain"
        }
        ("cgroup.procs", Errno::ENOSPC) => {
            "a v1 cpuset cgroup needs cpuset.cpus and cpuset.mems set before it takes processes"
        }
        ("cgroup.subtree_control", Errno::EBUSY) => {
            "this cgroup has processes of its own; cgroup v2 enables controllers only for cgroups without member processes"
        }
        ("cgroup.subtree_control", Errno::ENOENT) => {
            "the controller is not available here (not in this cgroup's cgroup.controllers)"
        }
        ("devices.allow" | "devices.deny", Errno::EINVAL) => {
            "a device rule is 'TYPE MAJOR:MINOR ACCESS' with TYPE a|b|c, * for any number, ACCESS from rwm"
        }
        ("devices.allow", Errno::EPERM) => {
            "a child cgroup cannot allow a device its parent denies"
        }
        ("freezer.state", Errno::EINVAL) => "freezer.state takes FROZEN or THAWED",
        ("net_cls.classid", Errno::EINVAL) => "classID is a 32-bit number 0xAAAABBBB",
        ("net_prio.ifpriomap", Errno::ENODEV) => "no network interface has that name",
        (f, Errno::ENOENT) if f.starts_with("hugetlb.") => {
            "this huge page size is not supported by the kernel (see /sys/kernel/mm/hugepages)"
        }
        (_, Errno::EACCES | Errno::EPERM) => {
            "permission denied: run as root, or use a cgroup delegated to this user"
        }
        (_, Errno::ENOENT) => {
            "no such file: the cgroup is gone, its controller is not enabled for it, or the kernel lacks this file"
        }
        _ => return None,
    };
    Some(hint)
}

/// `Invalid argument` rather than `Invalid argument (os error 22)`, then the hint.
pub fn describe(source: &io::Error, hint: &Option<&'static str>) -> String {
    let base = match source.raw_os_error() {
        Some(n) => Errno::from_raw(n).desc().to_string(),
        None => source.to_string(),
    };
    match hint {
        Some(h) => format!("{base} ({h})"),
        None => base,
    }
}
