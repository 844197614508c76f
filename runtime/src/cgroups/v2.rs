//! cgroup v2 specifics: controllers must be enabled in `cgroup.subtree_control` of every
//! level above the container's cgroup before their files appear in it.

use std::path::PathBuf;

use super::layout::Dir;
use super::{files, CgroupError};

/// Enable `wanted` controllers on the way down to `dir`'s cgroup: in each level from the
/// hierarchy's root to the cgroup's parent, write `+controller` to `cgroup.subtree_control`
/// for each one that level offers (`cgroup.controllers`) and has not enabled yet.
/// Levels that already enable them are not written, so a host that is set up is not touched.
pub fn enable_controllers(dir: &Dir, wanted: &[String]) -> Result<(), CgroupError> {
    if wanted.is_empty() {
        return Ok(());
    }
    let levels: Vec<PathBuf> = dir.levels();
    for level in &levels[..levels.len() - 1] {
        let available = files::read(&level.join("cgroup.controllers"))?;
        let enabled = files::read(&level.join("cgroup.subtree_control"))?;
        for c in wanted {
            let offered = available.split_whitespace().any(|a| a == c);
            let on = enabled.split_whitespace().any(|a| a == c);
            if offered && !on {
                files::write(&level.join("cgroup.subtree_control"), &format!("+{c}"))?;
            }
        }
    }
    Ok(())
}

/// Kill every process in the cgroup and below it at once (`cgroup.kill`, Linux ≥ 5.14).
/// Returns `false` when the kernel has no `cgroup.kill`.
pub fn kill(dir: &Dir) -> Result<bool, CgroupError> {
    let file = dir.path().join("cgroup.kill");
    if !file.exists() {
        return Ok(false);
    }
    files::write(&file, "1")?;
    Ok(true)
}
