//! The container's directory in each hierarchy its [`Mode`] uses: every v1 hierarchy
//! (v1, hybrid), plus the unified one (hybrid, v2).

use std::path::PathBuf;

use super::mode::{Hierarchies, Mount};
use super::{files, Cgroup, CgroupError, Mode};

/// Which kind of hierarchy a directory belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// The container's cgroup in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dir {
    pub version: Version,
    /// v1 controllers of the hierarchy (`cpu`, `cpuacct`; `name=systemd`); empty for v2.
    pub controllers: Vec<String>,
    pub mountpoint: PathBuf,
    /// The cgroup's path inside the hierarchy (`/initscope/ID`).
    pub cgroup: String,
}

impl Dir {
    /// `/sys/fs/cgroup/memory/initscope/ID`.
    pub fn path(&self) -> PathBuf {
        self.mountpoint.join(self.cgroup.trim_start_matches('/'))
    }

    /// Key as in `/proc/<pid>/cgroup`: `cpu,cpuacct`, `name=systemd`, `""` for v2.
    pub fn key(&self) -> String {
        self.controllers.join(",")
    }

    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// Directories from the hierarchy's root down to the cgroup, root first.
    pub fn levels(&self) -> Vec<PathBuf> {
        let mut out = vec![self.mountpoint.clone()];
        let mut cur = self.mountpoint.clone();
        for part in self.cgroup.split('/').filter(|p| !p.is_empty()) {
            cur.push(part);
            out.push(cur.clone());
        }
        out
    }

    /// Number of trailing path components that do not exist yet.
    pub fn missing_levels(&self) -> u32 {
        let levels = self.levels();
        levels[1..].iter().rev().take_while(|l| !l.exists()).count() as u32
    }
}

/// All of the container's directories.
#[derive(Debug, Clone)]
pub struct Layout {
    pub mode: Mode,
    pub dirs: Vec<Dir>,
}

impl Layout {
    /// The cgroup's directories on this host.
    pub fn of(cg: &Cgroup) -> Result<Layout, CgroupError> {
        Layout::with(cg, Hierarchies::host()?)
    }

    pub fn with(cg: &Cgroup, h: &Hierarchies) -> Result<Layout, CgroupError> {
        let cgroup_for = |m: &Mount| cg.path_in(&m.key()).to_string();
        let mut dirs = Vec::new();
        if matches!(cg.mode, Mode::V1 | Mode::Hybrid) {
            if h.v1.is_empty() {
                return Err(CgroupError::Invalid(format!(
                    "the container's cgroup {} was made on cgroup v1, but no v1 hierarchy is mounted now",
                    cg.path
                )));
            }
            for m in &h.v1 {
                dirs.push(Dir {
                    version: Version::V1,
                    controllers: m.controllers.clone(),
                    mountpoint: m.mountpoint.clone(),
                    cgroup: cgroup_for(m),
                });
            }
        }
        if matches!(cg.mode, Mode::V2 | Mode::Hybrid) {
            match &h.unified {
                Some(m) => dirs.push(Dir {
                    version: Version::V2,
                    controllers: Vec::new(),
                    mountpoint: m.mountpoint.clone(),
                    cgroup: cgroup_for(m),
                }),
                None if cg.mode == Mode::V2 => {
                    return Err(CgroupError::Invalid(format!(
                        "the container's cgroup {} was made on cgroup v2, but no cgroup2 filesystem is mounted now",
                        cg.path
                    )))
                }
                // A hybrid cgroup read on a host that lost its unified mount: v1 still works.
                None => {}
            }
        }
        Ok(Layout {
            mode: cg.mode,
            dirs,
        })
    }

    /// The v1 directory of the hierarchy carrying `controller`.
    pub fn v1(&self, controller: &str) -> Option<&Dir> {
        self.dirs
            .iter()
            .find(|d| d.version == Version::V1 && d.has(controller))
    }

    /// The unified (cgroup2) directory.
    pub fn unified(&self) -> Option<&Dir> {
        self.dirs.iter().find(|d| d.version == Version::V2)
    }

    /// Controllers the unified hierarchy offers at its root (on a hybrid host: the ones no
    /// v1 hierarchy took).
    pub fn v2_available(&self) -> Vec<String> {
        let Some(u) = self.unified() else {
            return Vec::new();
        };
        files::read(&u.mountpoint.join("cgroup.controllers"))
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Where `controller` lives: a v1 hierarchy, the unified one, or nowhere.
    pub fn side(&self, controller: &str) -> Option<Version> {
        if self.v1(controller).is_some() {
            return Some(Version::V1);
        }
        if self.mode != Mode::V1 && self.v2_available().iter().any(|c| c == controller) {
            return Some(Version::V2);
        }
        None
    }

    /// The directory holding `controller`'s files, per [`Layout::side`].
    pub fn dir_for(&self, version: Version, controller: &str) -> Option<&Dir> {
        match version {
            Version::V1 => self.v1(controller),
            Version::V2 => self.unified(),
        }
    }

    /// The directory whose `cgroup.procs` lists the container's processes: the freezer's
    /// hierarchy on v1 (what pause and kill --all act on), else the unified one.
    pub fn procs_dir(&self) -> Option<&Dir> {
        match self.mode {
            Mode::V2 => self.unified(),
            _ => ["freezer", "pids", "memory", "cpu", "devices"]
                .iter()
                .find_map(|c| self.v1(c))
                .or_else(|| self.unified())
                .or(self.dirs.first()),
        }
    }
}
