//! Walking a cgroup's directory tree: `mkdir -p`, every process below it, and removal that
//! waits for exiting processes to leave.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::unistd::Pid;

use super::{files, CgroupError};

/// How long `destroy` waits for processes that are exiting to leave the cgroup.
pub const REMOVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Create `levels` (root first; the first one, the hierarchy's root, must exist), calling
/// `prepare(level, parent)` on each one below the root, new or not, in order. Returns how
/// many were made. A parent removed under us by a concurrent `delete` (it rmdirs the
/// parent levels its own `create` made once they are empty) is made again.
pub fn mkdir_all(
    levels: &[PathBuf],
    prepare: &mut dyn FnMut(&Path, &Path) -> Result<(), CgroupError>,
) -> Result<u32, CgroupError> {
    let mut attempts = 0;
    'again: loop {
        let mut made = 0;
        for pair in levels.windows(2) {
            let (parent, dir) = (&pair[0], &pair[1]);
            match files::mkdir(dir) {
                Ok(new) => made += u32::from(new),
                Err(CgroupError::Op { source, .. })
                    if source.kind() == io::ErrorKind::NotFound && attempts < 3 =>
                {
                    attempts += 1;
                    continue 'again;
                }
                Err(e) => return Err(e),
            }
            prepare(dir, parent)?;
        }
        return Ok(made);
    }
}

/// Every pid in `cgroup.procs` of `dir` and of each cgroup below it, sorted. A missing
/// directory has no processes.
pub fn procs(dir: &Path) -> Result<Vec<Pid>, CgroupError> {
    let mut out = Vec::new();
    collect(dir, &mut out)?;
    out.sort_unstable();
    out.dedup();
    Ok(out.into_iter().map(Pid::from_raw).collect())
}

fn collect(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    let file = dir.join("cgroup.procs");
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(files::op_error("read", &file, e)),
    };
    out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    for sub in subdirs(dir)? {
        collect(&sub, out)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(files::op_error("read", dir, e)),
    };
    Ok(entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect())
}

/// Remove `dir` and every cgroup below it (deepest first). Processes that are exiting take
/// a moment to leave; retry `EBUSY` until `deadline` (one deadline for all hierarchies of a
/// cgroup, [`REMOVE_TIMEOUT`] from the start). Gone already is fine.
pub fn remove_all(dir: &Path, deadline: Instant) -> Result<(), CgroupError> {
    let mut pause = Duration::from_millis(1);
    loop {
        match remove_once(dir) {
            Ok(()) => return Ok(()),
            Err((_, e)) if e == Errno::EBUSY && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err((path, Errno::EBUSY)) => {
                let left = procs(dir).unwrap_or_default();
                let message = if left.is_empty() {
                    format!(
                        "rmdir {}: still busy after {}s",
                        path.display(),
                        REMOVE_TIMEOUT.as_secs()
                    )
                } else {
                    let list: Vec<String> = left.iter().map(|p| p.to_string()).collect();
                    format!(
                        "still has {} process(es) after {}s (pids {}); kill them first (kill --all, or delete --force)",
                        left.len(),
                        REMOVE_TIMEOUT.as_secs(),
                        list.join(" ")
                    )
                };
                return Err(CgroupError::State {
                    path: dir.display().to_string(),
                    message,
                });
            }
            Err((path, e)) => {
                return Err(files::op_error("rmdir", &path, io::Error::from(e)));
            }
        }
    }
}

fn remove_once(dir: &Path) -> Result<(), (PathBuf, Errno)> {
    // rmdir first: a container's cgroup rarely has cgroups below it, and listing each
    // hierarchy's directory first cost three syscalls apiece on every delete. A cgroup
    // with children (or processes) answers EBUSY.
    match rmdir(dir) {
        Err(Errno::EBUSY | Errno::ENOTEMPTY) => {}
        r => return r.map_err(|e| (dir.to_path_buf(), e)),
    }
    let subs = subdirs(dir).map_err(|_| (dir.to_path_buf(), Errno::EIO))?;
    if subs.is_empty() {
        return Err((dir.to_path_buf(), Errno::EBUSY)); // processes still in it
    }
    for sub in subs {
        remove_once(&sub)?;
    }
    rmdir(dir).map_err(|e| (dir.to_path_buf(), e))
}

/// `rmdir(2)`; a directory that is already gone counts as removed.
pub fn rmdir(dir: &Path) -> Result<(), Errno> {
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) => match Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)) {
            Errno::ENOENT => Ok(()),
            e => Err(e),
        },
    }
}
