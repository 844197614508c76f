//! The container's cgroup on v1, v2 or hybrid hierarchies (this project's machines are
//! hybrid: v1 controllers under `/sys/fs/cgroup/<controller>`, cgroup2 at
//! `/sys/fs/cgroup/unified`).
//!
//! `create` makes the cgroup, writes the resource limits and puts `[0:PARENT]` in it
//! *before* the first clone, so every later stage is born inside it; `delete` removes it.
//!
//! - v1: a directory in every v1 hierarchy (and `name=systemd`); resources go to the
//!   controller's own hierarchy.
//! - hybrid: as v1, and the container also joins the unified hierarchy (as runc does), where
//!   controllers no v1 hierarchy took live (here: `hugetlb`), handled the v2 way.
//! - v2: one directory; controllers enabled along the path in `cgroup.subtree_control`.
//!
//! Who removes what: `delete` removes the container's cgroup (and cgroups below it) and
//! those parent levels its own `create` made, each only if empty. The default parent
//! `/initscope` belongs to the runtime: it is made on demand and kept (as runc and crun keep
//! theirs). A cgroup that existed before `create` is joined, never removed.

mod blkio;
mod convert;
mod device_filter;
pub mod devices;
mod files;
mod freezer;
mod layout;
pub mod mode;
pub mod path;
pub mod resources;
mod stats;
mod tree;
mod v1;
mod v2;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::events::schema::EventKind;
use layout::{Layout, Version};
use mode::Hierarchies;
use resources::Purpose;
pub use stats::Stats;

/// What went wrong; each names the cgroup file or directory, or the config field.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A file write the kernel refused: `cgroup …/memory.limit_in_bytes: write "abc": Invalid argument`.
    #[error("cgroup {path}: write {value:?}: {}", files::describe(.source, .hint))]
    Write {
        path: String,
        value: String,
        #[source]
        source: std::io::Error,
        hint: Option<&'static str>,
    },
    /// mkdir, read or rmdir failed.
    #[error("cgroup {path}: {op}: {}", files::describe(.source, .hint))]
    Op {
        op: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
        hint: Option<&'static str>,
    },
    /// The config asks for something whose file this kernel does not have.
    #[error("cgroup {path}: does not exist, so {field} cannot be applied (this kernel or cgroup lacks it); remove it from the config")]
    MissingFile { path: String, field: String },
    /// The config needs a controller that is not mounted.
    #[error("cgroup: {field} needs the {controller} controller, which is not mounted on this host; mount it or remove the setting")]
    NoController { field: String, controller: String },
    /// A value this cgroup version cannot express.
    #[error("cgroup: {field}: {reason}")]
    Unsupported { field: String, reason: String },
    /// The cgroup is in a state that prevents the operation (busy, not empty, freeze stuck).
    #[error("cgroup {path}: {message}")]
    State { path: String, message: String },
    #[error("cgroup: {0}")]
    Invalid(String),
}

impl CgroupError {
    /// The errno behind the error, if a syscall failed (for `error` events).
    pub fn errno(&self) -> Option<i32> {
        match self {
            CgroupError::Io { source, .. }
            | CgroupError::Write { source, .. }
            | CgroupError::Op { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// What the `features` command reports as `linux.cgroup`: v1 and v2 (and hybrid), the
/// systemd `slice:prefix:name` path form (managed with cgroupfs; systemd user instances
/// are not used), rdma.
pub fn features() -> oci_spec::runtime::Cgroup {
    let mut c = oci_spec::runtime::Cgroup::default();
    c.set_v1(Some(true));
    c.set_v2(Some(true));
    c.set_systemd(Some(true));
    c.set_systemd_user(Some(false));
    c.set_rdma(Some(true));
    c
}

/// Which hierarchies the host has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    V1,
    V2,
    Hybrid,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::V1 => "v1",
            Mode::V2 => "v2",
            Mode::Hybrid => "hybrid",
        }
    }

    /// This host's mode.
    pub fn detect() -> Result<Mode, CgroupError> {
        let h = Hierarchies::host()?;
        h.mode()
            .ok_or_else(|| CgroupError::Invalid("no cgroup filesystem is mounted".into()))
    }
}

/// The container's cgroup: a path relative to each hierarchy's root. Stored in the
/// container's state so later commands (kill --all, pause, delete) find it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    /// Path inside the hierarchies, e.g. `/initscope/ID`, the config's absolute
    /// `linux.cgroupsPath`, or a systemd-form path translated (`/system.slice/x-ID.scope`).
    pub path: String,
    pub mode: Mode,
    /// Hierarchies where the path differs from `path` (only for a relative cgroupsPath,
    /// which hangs below the runtime's own cgroup in each hierarchy), by `/proc/PID/cgroup`
    /// key: `cpu,cpuacct`, `name=systemd`, `""` for cgroup2.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub paths: BTreeMap<String, String>,
    /// How many trailing levels of the path `create` makes (0: the cgroup existed and is
    /// only joined; 1: just the container's own; 2: its parent too …). `destroy` removes
    /// no more than these.
    #[serde(default)]
    pub created_levels: u32,
    /// Rootless and the cgroup is not writable by us: like runc, nothing is created or
    /// joined, a config without limits still runs, and pause/limits fail clearly.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// One hierarchy's directory for the container (for the cgroup mount inside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HierarchyDir {
    /// Mount point on the host (`/sys/fs/cgroup/cpu,cpuacct`); its last component is the
    /// name the container's `/sys/fs/cgroup/<name>` should have.
    pub mountpoint: PathBuf,
    /// v1 controllers (`["cpu","cpuacct"]`, `["name=systemd"]`); empty for cgroup2.
    pub controllers: Vec<String>,
    /// `true` for the cgroup2 (unified) hierarchy.
    pub unified: bool,
    /// The container's cgroup directory in it (`/sys/fs/cgroup/memory/initscope/ID`).
    pub dir: PathBuf,
}

impl Cgroup {
    /// Resolve `linux.cgroupsPath` (default `/initscope/<id>`) on this host's hierarchies.
    /// A `slice:prefix:name` path is read the systemd way (see [`path`]).
    pub fn new(cgroups_path: Option<&str>, container_id: &str) -> Result<Cgroup, CgroupError> {
        Cgroup::resolve(cgroups_path, container_id, false)
    }

    /// As [`Cgroup::new`], with `systemd` = the global `--systemd-cgroup` flag: the path must
    /// then be `slice:prefix:name`, and an absent one means `system.slice:initscope:<id>`.
    pub fn resolve(
        cgroups_path: Option<&str>,
        container_id: &str,
        systemd: bool,
    ) -> Result<Cgroup, CgroupError> {
        let h = Hierarchies::host()?;
        let mode = Mode::detect()?;
        Cgroup::resolve_on(h, mode, cgroups_path, container_id, systemd)
    }

    /// Resolve on given hierarchies in a given mode (tests use it to drive the v2 code on
    /// the hybrid host's unified hierarchy).
    pub(crate) fn resolve_on(
        h: &Hierarchies,
        mode: Mode,
        cgroups_path: Option<&str>,
        container_id: &str,
        systemd: bool,
    ) -> Result<Cgroup, CgroupError> {
        let mut cg = Cgroup {
            path: String::new(),
            mode,
            paths: BTreeMap::new(),
            created_levels: 0,
            disabled: false,
        };
        let relative_depth = match path::parse(cgroups_path, container_id, systemd)? {
            path::Spec::Absolute(p) => {
                cg.path = p;
                None
            }
            path::Spec::Relative(rel) => {
                let text = std::fs::read_to_string("/proc/self/cgroup").map_err(|source| {
                    CgroupError::Io {
                        path: "/proc/self/cgroup".into(),
                        source,
                    }
                })?;
                let own = path::parse_proc_cgroup(&text);
                let mut per = BTreeMap::new();
                let mounts =
                    h.v1.iter()
                        .filter(|_| mode != Mode::V2)
                        .chain(h.unified.iter().filter(|_| mode != Mode::V1));
                for m in mounts {
                    let mine = path::own_path(&own, &m.controllers).ok_or_else(|| {
                        CgroupError::Invalid(format!(
                            "linux.cgroupsPath {rel:?} is relative, but /proc/self/cgroup has no entry for the {} hierarchy",
                            m.mountpoint.display()
                        ))
                    })?;
                    per.insert(m.key(), path::join_relative(mine, &m.root, &rel));
                }
                // The main path: the memory hierarchy's on v1/hybrid, the unified one on v2.
                let main_key = match mode {
                    Mode::V2 => String::new(),
                    _ => h
                        .v1_for("memory")
                        .or(h.v1.first())
                        .map(|m| m.key())
                        .unwrap_or_default(),
                };
                cg.path = per.get(&main_key).cloned().unwrap_or_default();
                per.retain(|_, p| *p != cg.path);
                cg.paths = per;
                Some(rel.split('/').count() as u32)
            }
        };
        let layout = Layout::with(&cg, h)?;
        let missing = layout.dirs.iter().map(|d| d.missing_levels()).min();
        cg.created_levels = missing.unwrap_or(0).min(relative_depth.unwrap_or(u32::MAX));
        if !nix::unistd::geteuid().is_root() && !layout.dirs.iter().all(writable) {
            cg.disabled = true;
            cg.created_levels = 0;
        }
        Ok(cg)
    }

    /// The path in the hierarchy with this `/proc/PID/cgroup` key.
    pub fn path_in(&self, key: &str) -> &str {
        self.paths
            .get(key)
            .map_or(self.path.as_str(), String::as_str)
    }

    /// Create the directories and write `resources` (each file written is emitted as
    /// [`EventKind::CgroupSet`]). On failure nothing is left: the directories this call
    /// made are removed again. Refuses a pre-existing cgroup that already has processes.
    pub fn create(
        &self,
        resources: Option<&LinuxResources>,
        emit: &mut dyn FnMut(EventKind),
    ) -> Result<(), CgroupError> {
        if self.disabled {
            // Device rules need no cgroup when rootless (no device nodes can be made).
            return match resources.map(resources::controllers) {
                Some(c) if !c.is_empty() => Err(self.disabled_error("linux.resources")),
                _ => Ok(()),
            };
        }
        let layout = Layout::of(self)?;
        let result = self.create_in(&layout, resources, emit);
        if result.is_err() {
            let _ = self.remove(&layout);
        }
        result
    }

    fn create_in(
        &self,
        layout: &Layout,
        resources: Option<&LinuxResources>,
        emit: &mut dyn FnMut(EventKind),
    ) -> Result<(), CgroupError> {
        let mut procs_dir_new = false;
        for d in &layout.dirs {
            let mut prepare = |dir: &std::path::Path, parent: &std::path::Path| match d.version {
                Version::V1 => v1::prepare_level(d, dir, parent),
                Version::V2 => Ok(()),
            };
            let made = tree::mkdir_all(&d.levels(), &mut prepare)?;
            // Levels are made top down: any new one means the container's own is new.
            if layout.procs_dir().is_some_and(|p| std::ptr::eq(p, d)) {
                procs_dir_new = made > 0;
            }
        }
        // A cgroup we just made holds nothing; one that was there may hold processes.
        if let Some(d) = layout.procs_dir().filter(|_| !procs_dir_new) {
            let present = tree::procs(&d.path())?;
            if !present.is_empty() {
                return Err(CgroupError::State {
                    path: d.path().display().to_string(),
                    message: format!(
                        "is not empty: {} process(es) already in it; choose another linux.cgroupsPath or remove them",
                        present.len()
                    ),
                });
            }
        }
        let empty = LinuxResources::default();
        let r = resources.unwrap_or(&empty);
        self.enable_v2_controllers(layout, r)?;
        let mut writes = resources::plan(r, layout, Purpose::Create)?;
        // Rootless in a delegated cgroup: device rules need CAP_SYS_ADMIN (v1 devices.deny)
        // or CAP_BPF (v2), and a user cannot make device nodes anyway; skipped, as runc.
        let rootless = !nix::unistd::geteuid().is_root();
        if rootless {
            writes.retain(|w| w.controller != "devices");
        }
        resources::apply(layout, &writes, emit)?;
        // No v1 devices controller but a cgroup2 directory: an eBPF program decides.
        if layout.v1("devices").is_none() && !rootless {
            if let Some(u) = layout.unified() {
                let rules = devices::rules(r.devices().as_deref())?;
                device_filter::install(&u.path(), &rules)?;
                emit(EventKind::CgroupSet {
                    file: u.path().display().to_string(),
                    value: format!("eBPF cgroup_device program, {} rules", rules.len()),
                });
            }
        }
        Ok(())
    }

    /// v2: enable every controller the unified root offers along the path (runc does, so
    /// `update` can set any of them later). Hybrid: only those this config needs there.
    fn enable_v2_controllers(
        &self,
        layout: &Layout,
        r: &LinuxResources,
    ) -> Result<(), CgroupError> {
        let Some(u) = layout.unified() else {
            return Ok(());
        };
        let available = layout.v2_available();
        let wanted: Vec<String> = match self.mode {
            Mode::V2 => available,
            _ => resources::controllers(r)
                .into_iter()
                .filter(|c| layout.side(c) == Some(Version::V2))
                .collect(),
        };
        v2::enable_controllers(u, &wanted)
    }

    /// Move `pid` into the cgroup on every hierarchy.
    pub fn apply(&self, pid: Pid) -> Result<(), CgroupError> {
        if self.disabled {
            return Ok(());
        }
        let layout = Layout::of(self)?;
        for d in &layout.dirs {
            files::write(&d.path().join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Re-apply resource limits to the existing cgroup (`update --resources`). Only the
    /// fields given are written; device rules are left as `create` set them (as runc does).
    pub fn update(
        &self,
        resources: &LinuxResources,
        emit: &mut dyn FnMut(EventKind),
    ) -> Result<(), CgroupError> {
        if self.disabled {
            return Err(self.disabled_error("update"));
        }
        let layout = Layout::of(self)?;
        if let Some(d) = layout.dirs.iter().find(|d| !d.path().is_dir()) {
            return Err(CgroupError::State {
                path: d.path().display().to_string(),
                message: "does not exist; the container's cgroup is gone".into(),
            });
        }
        self.enable_v2_controllers(&layout, resources)?;
        let writes = resources::plan(resources, &layout, Purpose::Update)?;
        resources::apply(&layout, &writes, emit)
    }

    /// Pids of every process in the cgroup and the cgroups below it.
    pub fn pids(&self) -> Result<Vec<Pid>, CgroupError> {
        if self.disabled {
            return Ok(Vec::new());
        }
        let layout = Layout::of(self)?;
        match layout.procs_dir() {
            Some(d) => tree::procs(&d.path()),
            None => Ok(Vec::new()),
        }
    }

    /// Freeze (`true`) or thaw (`false`) every process in it, returning when the kernel
    /// reports it done.
    pub fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        if self.disabled {
            return Err(self.disabled_error("pause/resume"));
        }
        freezer::set(&Layout::of(self)?, frozen)
    }

    /// Live figures: pids, memory, CPU time, frozen (for `events --stats`).
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        if self.disabled {
            return Ok(Stats::default());
        }
        Ok(stats::read(&Layout::of(self)?))
    }

    /// Whether the freezer says the cgroup is frozen.
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        if self.disabled {
            return Ok(false);
        }
        freezer::is_frozen(&Layout::of(self)?)
    }

    /// Send `signal` to every process in the cgroup (`kill --all`). runc's way: freeze,
    /// signal each pid, thaw, so nothing forks away in between; a paused container stays
    /// paused except for SIGKILL, which needs the thaw to take effect. SIGKILL uses
    /// `cgroup.kill` where the container has a cgroup2 directory. Returns the pids signalled.
    pub fn kill_all(&self, signal: Signal) -> Result<Vec<Pid>, CgroupError> {
        if self.disabled {
            return Ok(Vec::new());
        }
        let layout = Layout::of(self)?;
        let pids = self.pids()?;
        let can_freeze = freezer::available(&layout);
        let was_frozen = can_freeze && freezer::is_frozen(&layout).unwrap_or(false);
        if signal == Signal::SIGKILL {
            if let Some(u) = layout.unified() {
                if u.path().is_dir() && v2::kill(u)? {
                    if was_frozen {
                        freezer::set(&layout, false)?;
                    }
                    return Ok(pids);
                }
            }
        }
        let froze = can_freeze && !was_frozen && freezer::set(&layout, true).is_ok();
        // Read again under the freeze: nothing can fork now.
        let pids = if froze { self.pids()? } else { pids };
        let mut failed = None;
        for &pid in &pids {
            match nix::sys::signal::kill(pid, signal) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => failed = failed.or(Some((pid, e))),
            }
        }
        let thaw = froze || (was_frozen && signal == Signal::SIGKILL);
        if thaw {
            freezer::set(&layout, false)?;
        }
        if let Some((pid, e)) = failed {
            return Err(CgroupError::State {
                path: self.path.clone(),
                message: format!("kill {} {pid}: {}", signal.as_str(), e.desc()),
            });
        }
        Ok(pids)
    }

    /// Remove the cgroup's directories (it must be empty of processes; exiting ones are
    /// waited for briefly). Missing ones are fine. See the module doc for what is removed.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        if self.disabled {
            return Ok(());
        }
        self.remove(&Layout::of(self)?)
    }

    fn remove(&self, layout: &Layout) -> Result<(), CgroupError> {
        let mut first_error = None;
        let deadline = std::time::Instant::now() + tree::REMOVE_TIMEOUT;
        for d in &layout.dirs {
            if let Err(e) = self.remove_dir(d, deadline) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn remove_dir(&self, d: &layout::Dir, deadline: std::time::Instant) -> Result<(), CgroupError> {
        if self.created_levels == 0 {
            return Ok(()); // joined, not ours
        }
        let levels = d.levels();
        tree::remove_all(&d.path(), deadline)?;
        // Parents we made, deepest first, while they are empty (others may share them).
        // The runtime's default parent stays, as runc's and crun's do: making and removing
        // it in every hierarchy on every run cost ~0.2 ms of CPU.
        let default_parent = d.mountpoint.join(&path::DEFAULT_PARENT[1..]);
        let made_parents = (self.created_levels as usize - 1).min(levels.len() - 2);
        for level in levels.iter().rev().skip(1).take(made_parents) {
            if *level == default_parent || tree::rmdir(level).is_err() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The container's directory in each hierarchy, for the cgroup mount inside it
    /// (without a cgroup namespace each is bind-mounted at `/sys/fs/cgroup/<name>`).
    /// Empty for a `disabled` (rootless) cgroup: there is none of ours to show.
    pub fn hierarchy_dirs(&self) -> Result<Vec<HierarchyDir>, CgroupError> {
        if self.disabled {
            return Ok(Vec::new());
        }
        Ok(Layout::of(self)?
            .dirs
            .into_iter()
            .map(|d| HierarchyDir {
                dir: d.path(),
                unified: d.version == Version::V2,
                mountpoint: d.mountpoint,
                controllers: d.controllers,
            })
            .collect())
    }

    /// The container's directory in the v1 hierarchy of `controller` (`memory`,
    /// `name=systemd`), if there is one.
    pub fn v1_path(&self, controller: &str) -> Option<PathBuf> {
        if self.disabled {
            return None;
        }
        Layout::of(self).ok()?.v1(controller).map(layout::Dir::path)
    }

    /// The container's cgroup2 directory (v2, or hybrid's unified one).
    pub fn v2_path(&self) -> Option<PathBuf> {
        if self.disabled {
            return None;
        }
        Layout::of(self).ok()?.unified().map(layout::Dir::path)
    }
}

/// Whether we may make (or use) the cgroup: its deepest existing level is writable.
fn writable(d: &layout::Dir) -> bool {
    d.levels()
        .iter()
        .rev()
        .find(|l| l.exists())
        .is_some_and(|l| nix::unistd::access(l, nix::unistd::AccessFlags::W_OK).is_ok())
}

impl Cgroup {
    /// The error for asking a disabled (rootless, not writable) cgroup to do something.
    fn disabled_error(&self, what: &str) -> CgroupError {
        CgroupError::Unsupported {
            field: what.to_string(),
            reason: format!(
                "running rootless (uid {}) and the cgroup {} is not writable: this needs a cgroup delegated to this user, or root",
                nix::unistd::geteuid(),
                self.path
            ),
        }
    }
}
