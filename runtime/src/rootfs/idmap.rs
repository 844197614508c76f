//! Id-mapped bind mounts: `mounts[].uidMappings`/`gidMappings` and the `idmap`/`ridmap`
//! options (OCI runtime spec, config.md "POSIX-platform Mounts"; runc ≥ 1.2, crun).
//!
//! A file whose owner on disk is `containerID + n` appears in the mount as owned by
//! `hostID + n` (and what is written through the mount is stored mapped back). `idmap`
//! without mappings uses the container's own `linux.uidMappings`/`gidMappings`, so host
//! files owned by root look owned by the container's root. `ridmap` maps every mount of
//! an `rbind` tree, `idmap` only its top.
//!
//! Where it happens, as in runc: the tree is cloned and mapped on the host side
//! ([`open_all`], called by `create` before it forks `[0:PARENT]`), where the source is
//! visible and we hold the privileges `MOUNT_ATTR_IDMAP` needs; the detached tree's
//! descriptor travels to `[2:INIT]`, which attaches it with `move_mount` at the entry's
//! place in the mount order. If a tree was not prepared (a caller of [`super::prepare`]
//! that skipped [`open_all`]), init makes it itself, which works without a user namespace.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Mount, Spec};

use super::options::MS_REC;
use super::plan::MountEntry;
use super::sys::{self, MountAttr, MOUNT_ATTR_IDMAP};
use super::userns::{self, UsernsError};
use super::RootfsError;
use crate::events::schema::EventKind;

/// One entry's mapping, resolved from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMapping {
    /// `"containerID hostID size"` lines, as a user namespace's `uid_map` takes them.
    pub uid: Vec<String>,
    pub gid: Vec<String>,
    /// `ridmap`: every mount of the tree.
    pub recursive: bool,
    /// The mapping is the container's (`idmap` without the mount's own).
    pub from_container: bool,
    /// The container joins its user namespace by this path: that namespace is the
    /// mapping (the kernel reads its maps), no helper is made.
    pub userns_path: Option<String>,
}

impl IdMapping {
    /// crun's notation (`uids=0-100000-65536;gids=…`), for the `mount` events' `data`;
    /// a joined namespace is named by its path (with its maps when a process owns it).
    pub fn describe(&self) -> String {
        if let Some(path) = &self.userns_path {
            let maps = path
                .strip_suffix("/ns/user")
                .map(|proc_dir| {
                    let read = |f: &str| {
                        std::fs::read_to_string(format!("{proc_dir}/{f}"))
                            .map(|t| t.lines().map(|l| l.to_string()).collect::<Vec<_>>())
                            .unwrap_or_default()
                    };
                    (read("uid_map"), read("gid_map"))
                })
                .filter(|(u, g)| !u.is_empty() && !g.is_empty());
            return match maps {
                Some((u, g)) => format!("userns={path};{}", Self::notation(&u, &g)),
                None => format!("userns={path}"),
            };
        }
        Self::notation(&self.uid, &self.gid)
    }

    fn notation(uid: &[String], gid: &[String]) -> String {
        let dashed = |l: &[String]| {
            l.iter()
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join("-"))
                .collect::<Vec<_>>()
                .join(",")
        };
        format!("uids={};gids={}", dashed(uid), dashed(gid))
    }
}

/// What failed making an id-mapped tree; each names the config field.
#[derive(Debug, thiserror::Error)]
pub enum IdmapError {
    /// `mount_setattr` said EINVAL: the filesystem (or the kernel) cannot id-map it.
    #[error(
        "{field}: {source_path} is on {fstype}, which does not support id-mapped mounts \
         (mount_setattr MOUNT_ATTR_IDMAP: EINVAL){below}; use a source on a filesystem that \
         does (ext4, xfs, btrfs, tmpfs, overlayfs…) or drop the mappings"
    )]
    Unsupported {
        field: String,
        source_path: String,
        fstype: String,
        below: &'static str,
    },
    #[error("{field}: {step} {path}: {errno}")]
    Sys {
        field: String,
        step: &'static str,
        path: String,
        errno: Errno,
    },
    #[error("{field}: making the mapping's user namespace: {source}")]
    Userns {
        field: String,
        #[source]
        source: UsernsError,
    },
    #[error(
        "{field}: id-mapped mounts need root: the runtime writes the mapping of a helper user \
         namespace and clones the source mount (not supported for rootless containers)"
    )]
    NotRoot { field: String },
}

impl IdmapError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            IdmapError::Unsupported { .. } => Some(libc::EINVAL),
            IdmapError::Sys { errno, .. } => Some(*errno as i32),
            IdmapError::Userns { source, .. } => source.errno(),
            IdmapError::NotRoot { .. } => Some(libc::EPERM),
        }
    }

    pub fn step(&self) -> &'static str {
        match self {
            IdmapError::Sys { step, .. } => step,
            IdmapError::Userns { .. } => "idmap userns",
            IdmapError::Unsupported { .. } | IdmapError::NotRoot { .. } => "mount_setattr",
        }
    }
}

fn field(e: &MountEntry) -> String {
    let which = if e.idmap.as_ref().is_some_and(|m| m.from_container) {
        "options"
    } else {
        "uidMappings"
    };
    format!("mounts[{}].{which} ({})", e.index, e.destination)
}

fn lines(maps: &[LinuxIdMapping]) -> Vec<String> {
    maps.iter()
        .map(|m| format!("{} {} {}", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// The config's rules for one mount (checked before anything is mounted): mappings and
/// `idmap`/`ridmap` only on binds, both maps or none, and `idmap` alone only with a
/// container user namespace whose mappings it can borrow.
pub fn resolve(
    spec: &Spec,
    i: usize,
    m: &Mount,
    e: &MountEntry,
) -> Result<Option<IdMapping>, RootfsError> {
    let uid = m.uid_mappings().clone().unwrap_or_default();
    let gid = m.gid_mappings().clone().unwrap_or_default();
    if uid.is_empty() && gid.is_empty() && e.opts.idmap.is_none() {
        return Ok(None);
    }
    let name = |f: &str| format!("mounts[{i}].{f} ({})", e.destination);
    let invalid = |f: &str, msg: String| Err(RootfsError::Invalid(format!("{}: {msg}", name(f))));
    let which = match (uid.is_empty(), gid.is_empty()) {
        (false, _) => "uidMappings",
        (true, false) => "gidMappings",
        (true, true) => "options",
    };
    if !e.is_bind() {
        return invalid(
            which,
            format!(
                "id-mapped mounts are only for bind mounts, this one is type \"{}\"; add the \
                 \"bind\" or \"rbind\" option or drop the mapping",
                e.fstype
            ),
        );
    }
    if uid.is_empty() != gid.is_empty() {
        let missing = if uid.is_empty() {
            "uidMappings"
        } else {
            "gidMappings"
        };
        return invalid(
            missing,
            "missing: uidMappings and gidMappings must be given together".into(),
        );
    }
    for (f, maps) in [("uidMappings", &uid), ("gidMappings", &gid)] {
        if let Some(j) = maps.iter().position(|m| m.size() == 0) {
            return invalid(&format!("{f}[{j}]"), "size is 0".into());
        }
    }
    let recursive = e.opts.idmap == Some(true);
    if !uid.is_empty() {
        return Ok(Some(IdMapping {
            uid: lines(&uid),
            gid: lines(&gid),
            recursive,
            from_container: false,
            userns_path: None,
        }));
    }
    // `idmap` alone: the container's user namespace mappings.
    let linux = spec.linux().clone().unwrap_or_default();
    let userns = linux.namespaces().as_ref().and_then(|n| {
        n.iter()
            .find(|ns| ns.typ() == LinuxNamespaceType::User)
            .cloned()
    });
    let has_userns = userns.is_some();
    let c_uid = linux.uid_mappings().clone().unwrap_or_default();
    let c_gid = linux.gid_mappings().clone().unwrap_or_default();
    let opt = if recursive { "ridmap" } else { "idmap" };
    if !has_userns {
        return invalid(
            "options",
            format!(
                "option '{opt}' without uidMappings/gidMappings maps the mount to the \
                 container's user namespace, but linux.namespaces has none: add {{\"type\": \
                 \"user\"}} with linux.uidMappings/gidMappings, or give the mount its own \
                 uidMappings and gidMappings"
            ),
        );
    }
    let joined = userns
        .as_ref()
        .and_then(|ns| ns.path().as_ref())
        .map(|p| p.display().to_string());
    if let Some(path) = joined.filter(|_| c_uid.is_empty() && c_gid.is_empty()) {
        return Ok(Some(IdMapping {
            uid: Vec::new(),
            gid: Vec::new(),
            recursive,
            from_container: true,
            userns_path: Some(path),
        }));
    }
    if c_uid.is_empty() || c_gid.is_empty() {
        return invalid(
            "options",
            format!(
                "option '{opt}' without uidMappings/gidMappings borrows linux.uidMappings/\
                 gidMappings, and only one of them is given; give both, or the mount its own \
                 uidMappings and gidMappings"
            ),
        );
    }
    Ok(Some(IdMapping {
        uid: lines(&c_uid),
        gid: lines(&c_gid),
        recursive,
        from_container: true,
        userns_path: None,
    }))
}

/// Detached, id-mapped trees by config index, made on the host side for init.
#[derive(Debug, Default)]
pub struct Detached {
    trees: BTreeMap<usize, OwnedFd>,
}

impl Detached {
    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }

    pub(super) fn take(&mut self, index: usize) -> Option<OwnedFd> {
        self.trees.remove(&index)
    }
}

/// Host side: clone and id-map the source of every id-mapped entry of `spec`, relative
/// sources resolved against `bundle`. One helper user namespace per distinct mapping.
/// On error nothing stays: the trees made so far are dropped (a detached tree vanishes
/// with its last descriptor) and every helper is reaped.
pub fn open_all(
    spec: &Spec,
    bundle: &Path,
    emit: &mut dyn FnMut(EventKind),
) -> Result<Detached, RootfsError> {
    let mut out = Detached::default();
    let mut namespaces = Namespaces::default();
    for e in super::plan::plan(spec)?
        .iter()
        .filter(|e| e.idmap.is_some())
    {
        let source = source_path(e, bundle);
        let fd = make_tree(e, &source, &mut namespaces, emit)?;
        out.trees.insert(e.index, fd);
    }
    Ok(out)
}

fn source_path(e: &MountEntry, base: &Path) -> PathBuf {
    let s = Path::new(e.source.as_deref().unwrap_or_default());
    if s.is_absolute() {
        s.to_path_buf()
    } else {
        base.join(s)
    }
}

/// User namespaces made (or opened, when joined by path) so far, by mapping.
#[derive(Default)]
pub(super) struct Namespaces(Vec<(IdMapping, OwnedFd)>);

impl Namespaces {
    fn get(&mut self, e: &MountEntry, m: &IdMapping) -> Result<&OwnedFd, IdmapError> {
        let pos = self
            .0
            .iter()
            .position(|(k, _)| k.uid == m.uid && k.gid == m.gid && k.userns_path == m.userns_path);
        let pos = match pos {
            Some(p) => p,
            None => {
                if !nix::unistd::geteuid().is_root() {
                    return Err(IdmapError::NotRoot { field: field(e) });
                }
                let fd = match &m.userns_path {
                    Some(path) => open_userns(path).map_err(|errno| IdmapError::Sys {
                        field: field(e),
                        step: "open the joined user namespace",
                        path: path.clone(),
                        errno,
                    })?,
                    None => {
                        userns::with_maps(&m.uid, &m.gid).map_err(|source| IdmapError::Userns {
                            field: field(e),
                            source,
                        })?
                    }
                };
                self.0.push((m.clone(), fd));
                self.0.len() - 1
            }
        };
        Ok(&self.0[pos].1)
    }
}

/// The user namespace file at `path`, opened to hand to `mount_setattr`.
fn open_userns(path: &str) -> Result<OwnedFd, Errno> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// `open_tree(OPEN_TREE_CLONE)` of `source` (its whole tree for `rbind`), then
/// `mount_setattr(MOUNT_ATTR_IDMAP)` on it (recursively for `ridmap`).
pub(super) fn make_tree(
    e: &MountEntry,
    source: &Path,
    namespaces: &mut Namespaces,
    emit: &mut dyn FnMut(EventKind),
) -> Result<OwnedFd, RootfsError> {
    let Some(m) = &e.idmap else {
        return Err(RootfsError::Invalid(format!(
            "mounts[{}] ({}): not an id-mapped mount",
            e.index, e.destination
        )));
    };
    let rec = e.opts.flags & MS_REC != 0;
    let sys_err = |step, errno| IdmapError::Sys {
        field: field(e),
        step,
        path: source.display().to_string(),
        errno,
    };
    let tree = sys::open_tree_clone(source, rec).map_err(|errno| sys_err("open_tree", errno))?;
    let mut flags = vec!["OPEN_TREE_CLONE".to_string()];
    if rec {
        flags.push("AT_RECURSIVE".into());
    }
    emit(EventKind::Mount {
        source: source.display().to_string(),
        destination: e.destination.clone(),
        fstype: "bind".into(),
        flags,
        data: String::new(),
    });
    let ns = namespaces.get(e, m)?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        userns_fd: ns.as_raw_fd() as u64,
        ..MountAttr::default()
    };
    match sys::mount_setattr(&tree, m.recursive, &attr) {
        Ok(()) => {}
        Err(Errno::EINVAL) => {
            return Err(IdmapError::Unsupported {
                field: field(e),
                source_path: source.display().to_string(),
                fstype: fstype_of(source),
                below: if m.recursive && rec {
                    " (or a mount below it is)"
                } else {
                    ""
                },
            }
            .into())
        }
        Err(errno) => return Err(sys_err("mount_setattr MOUNT_ATTR_IDMAP", errno).into()),
    }
    let mut flags = Vec::new();
    if m.recursive {
        flags.push("AT_RECURSIVE".to_string());
    }
    flags.push("+MOUNT_ATTR_IDMAP".into());
    emit(EventKind::Mount {
        source: String::new(),
        destination: e.destination.clone(),
        fstype: String::new(),
        flags,
        data: m.describe(),
    });
    Ok(tree)
}

/// The filesystem type of the mount holding `path`, for the error.
fn fstype_of(path: &Path) -> String {
    let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    super::mountinfo::read_self()
        .ok()
        .and_then(|all| {
            super::mountinfo::mount_of(&all, &canon.to_string_lossy()).map(|m| m.fstype.clone())
        })
        .unwrap_or_else(|| "a filesystem".into())
}

/// Init side: take (or, without a prepared tree, make) the id-mapped tree of `e`.
pub(super) fn tree_for(
    detached: &mut Detached,
    e: &MountEntry,
    emit: &mut dyn FnMut(EventKind),
) -> Result<OwnedFd, RootfsError> {
    if let Some(fd) = detached.take(e.index) {
        return Ok(fd);
    }
    // Relative sources are relative to the current directory, the bundle.
    let cwd = std::env::current_dir().unwrap_or_default();
    make_tree(e, &source_path(e, &cwd), &mut Namespaces::default(), emit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(mounts: serde_json::Value, linux: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": mounts,
            "linux": linux,
        }))
        .unwrap()
    }

    fn map(c: u32, h: u32, s: u32) -> serde_json::Value {
        serde_json::json!([{"containerID": c, "hostID": h, "size": s}])
    }

    #[test]
    fn own_mappings_and_the_containers() {
        let p = super::super::plan::plan(&spec_with(
            serde_json::json!([
                {"destination": "/a", "type": "bind", "source": "/s", "options": ["rbind", "ridmap"],
                 "uidMappings": map(1000, 0, 1), "gidMappings": map(1000, 0, 1)},
                {"destination": "/b", "type": "bind", "source": "/s", "options": ["bind", "idmap"]},
                {"destination": "/c", "type": "bind", "source": "/s", "options": ["bind"]},
                {"destination": "/d", "type": "none", "source": "/s", "options": ["bind"],
                 "uidMappings": map(0, 5, 2), "gidMappings": map(0, 7, 2)},
            ]),
            serde_json::json!({"namespaces": [{"type": "user"}, {"type": "mount"}],
                "uidMappings": map(0, 100000, 65536), "gidMappings": map(0, 100000, 65536)}),
        ))
        .unwrap();
        let a = p[0].idmap.as_ref().unwrap();
        assert_eq!(a.uid, vec!["1000 0 1"]);
        assert!(a.recursive && !a.from_container);
        assert_eq!(a.describe(), "uids=1000-0-1;gids=1000-0-1");
        let b = p[1].idmap.as_ref().unwrap();
        assert_eq!(b.uid, vec!["0 100000 65536"]);
        assert!(!b.recursive && b.from_container);
        assert!(p[2].idmap.is_none());
        // Mappings without the option: still id-mapped (the spec says SHOULD add it).
        assert_eq!(p[3].idmap.as_ref().unwrap().gid, vec!["0 7 2"]);
        assert_eq!(p[3].index, 3);
    }

    #[test]
    fn bad_id_mapped_mounts_name_the_field() {
        let no_userns = serde_json::json!({"namespaces": [{"type": "mount"}]});
        let cases = [
            (
                serde_json::json!([{"destination": "/t", "type": "tmpfs", "source": "tmpfs",
                    "uidMappings": map(0, 1, 1), "gidMappings": map(0, 1, 1)}]),
                "mounts[0].uidMappings (/t): id-mapped mounts are only for bind mounts",
            ),
            (
                serde_json::json!([{"destination": "/t", "type": "tmpfs", "options": ["idmap"]}]),
                "mounts[0].options (/t): id-mapped mounts are only for bind mounts",
            ),
            (
                serde_json::json!([{"destination": "/x", "type": "bind", "source": "/s",
                    "uidMappings": map(0, 1, 1)}]),
                "mounts[0].gidMappings (/x): missing",
            ),
            (
                serde_json::json!([{"destination": "/x", "type": "bind", "source": "/s",
                    "options": ["idmap"]}]),
                "mounts[0].options (/x): option 'idmap' without uidMappings/gidMappings maps \
                 the mount to the container's user namespace, but linux.namespaces has none",
            ),
            (
                serde_json::json!([{"destination": "/x", "type": "bind", "source": "/s",
                    "uidMappings": map(0, 1, 0), "gidMappings": map(0, 1, 1)}]),
                "mounts[0].uidMappings[0] (/x): size is 0",
            ),
        ];
        for (mounts, want) in cases {
            let e = super::super::plan::plan(&spec_with(mounts, no_userns.clone()))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(want), "{e:?} should start with {want:?}");
        }
    }
}
