//! cgroup v1 specifics: a v1 `cpuset` cgroup starts with empty `cpuset.cpus` and
//! `cpuset.mems` and refuses processes until both are set, so every level we pass through
//! inherits them from its parent (runc does the same).

use std::path::Path;

use super::layout::Dir;
use super::{files, CgroupError};

/// Called on each level of a hierarchy on the way down to the container's cgroup.
pub fn prepare_level(hierarchy: &Dir, dir: &Path, parent: &Path) -> Result<(), CgroupError> {
    if !hierarchy.has("cpuset") {
        return Ok(());
    }
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = dir.join(file);
        if files::read(&own)?.is_empty() {
            let inherited = files::read(&parent.join(file))?;
            files::write(&own, &inherited)?;
        }
    }
    Ok(())
}
