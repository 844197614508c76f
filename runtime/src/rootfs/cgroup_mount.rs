//! The `cgroup` mount: what the container sees at `/sys/fs/cgroup`, following the host's
//! layout (v1, v2 or hybrid — this project's machines are hybrid).
//!
//! - v1/hybrid: a tmpfs at the destination, then one mount per host hierarchy named as on
//!   the host (`cpu`, `memory`, `systemd`, `unified`, `cpu,cpuacct` + `cpu`/`cpuacct`
//!   symlinks).
//! - v2 (or a `cgroup2` mount): the unified hierarchy right at the destination.
//!
//! Each hierarchy is the container's *own* cgroup: with a cgroup namespace a fresh cgroupfs
//! (its root is the namespace's root), without one a bind mount of the container's directory
//! (read from `/proc/self/cgroup`: init already lives in the container's cgroup), so the
//! container never sees its parents. Without a cgroup namespace everything is read-only
//! whatever the options say (CVE-2023-25809); with one it is read-only unless asked `rw`.

use nix::errno::Errno;
use nix::unistd::symlinkat;

use super::mountinfo::{is_under, MountInfo};
use super::mounts;
use super::options::{
    MountOptions, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT,
};
use super::plan::{Kind, MountEntry};
use super::sys;
use super::{Ctx, RootfsError};

const DEFAULT_FLAGS: u64 = MS_NOSUID | MS_NODEV | MS_NOEXEC;

/// One cgroup hierarchy as mounted on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Its directory name under the destination: the host mount point's last component.
    pub name: String,
    /// v1 controllers (`cpu`, `cpuacct`, `name=systemd`); empty for the unified hierarchy.
    pub controllers: Vec<String>,
    pub v2: bool,
    pub host_mount_point: String,
    /// The directory of this process's cgroup in it, on the host; `Err` says why there is
    /// none (only bind mounts need it).
    pub own_dir: Result<String, String>,
}

/// `/proc/self/cgroup`: (controllers, path) per line; the unified line has no controllers.
pub fn parse_proc_cgroup(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let _id = f.next()?;
            let ctrls = f.next()?;
            let path = f.next()?;
            let ctrls = ctrls
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Some((ctrls, path.to_string()))
        })
        .collect()
}

/// The host's hierarchies (first mount of each; none inside the rootfs), with this
/// process's own directory in each.
pub fn host_hierarchies(
    mounts: &[MountInfo],
    own: &[(Vec<String>, String)],
    rootfs: &str,
) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for m in mounts {
        let v2 = match m.fstype.as_str() {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        if is_under(&m.mount_point, rootfs) {
            continue;
        }
        let own_entry = if v2 {
            own.iter().find(|(c, _)| c.is_empty())
        } else {
            let opts: Vec<&str> = m.super_options.split(',').collect();
            own.iter()
                .find(|(c, _)| !c.is_empty() && c.iter().all(|c| opts.contains(&c.as_str())))
        };
        let Some((controllers, own_path)) = own_entry else {
            continue; // a hierarchy this process is not in (e.g. a v1 mount of nothing)
        };
        if out
            .iter()
            .any(|h| h.v2 == v2 && &h.controllers == controllers)
        {
            continue; // the same hierarchy mounted twice
        }
        let base = m.mount_point.trim_end_matches('/');
        let own_dir = if m.root == "/" {
            Ok(format!("{base}{}", own_path.trim_end_matches('/')))
        } else if is_under(own_path, &m.root) {
            Ok(format!(
                "{base}{}",
                own_path[m.root.len()..].trim_end_matches('/')
            ))
        } else {
            Err(format!(
                "this process's cgroup {own_path} is outside the host mount {} (root {})",
                m.mount_point, m.root
            ))
        };
        out.push(Hierarchy {
            name: m
                .mount_point
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
            controllers: controllers.clone(),
            v2,
            host_mount_point: m.mount_point.clone(),
            own_dir,
        });
    }
    out
}

/// Mount the `cgroup`/`cgroup2` entry `e`.
pub fn mount_cgroup(ctx: &mut Ctx, e: &MountEntry) -> Result<(), RootfsError> {
    let own_text =
        std::fs::read_to_string("/proc/self/cgroup").map_err(|err| RootfsError::Sys {
            step: "read",
            path: "/proc/self/cgroup".into(),
            source: Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO)),
        })?;
    let rootfs = ctx.root.host().display().to_string();
    let hierarchies = host_hierarchies(&ctx.host_mounts, &parse_proc_cgroup(&own_text), &rootfs);
    // CVE-2023-25809: without its own cgroup namespace the container's cgroup tree is
    // never writable, whatever the options say.
    let ro = e.opts.flags & MS_RDONLY != 0 || !ctx.cgroupns;

    let has_v1 = hierarchies.iter().any(|h| !h.v2);
    if e.kind == Kind::Cgroup2 || !has_v1 {
        let unified = hierarchies.iter().find(|h| h.v2).ok_or_else(|| {
            RootfsError::refused(
                "mount",
                e.what(),
                "the host has no cgroup2 hierarchy mounted",
            )
        })?;
        return mount_hierarchy(ctx, e, unified, &e.destination, ro);
    }

    let tmpfs = MountEntry {
        source: Some("tmpfs".into()),
        fstype: "tmpfs".into(),
        kind: Kind::Tmpfs,
        opts: MountOptions {
            flags: DEFAULT_FLAGS,
            data: vec!["mode=755".into()],
            propagation: e.opts.propagation.clone(),
            ..MountOptions::default()
        },
        ..e.clone()
    };
    mounts::mount_entry(ctx, &tmpfs)?;
    for h in &hierarchies {
        let dest = format!("{}/{}", e.destination.trim_end_matches('/'), h.name);
        mount_hierarchy(ctx, e, h, &dest, ro)?;
    }
    // Co-mounted controllers (cpu,cpuacct) are reachable by each name, as on the host.
    let dir = ctx
        .root
        .resolve(&e.destination)
        .map_err(RootfsError::sys("open", e.destination.clone()))?;
    for h in hierarchies.iter().filter(|h| h.name.contains(',')) {
        for c in h.name.split(',') {
            match symlinkat(h.name.as_str(), &dir, c) {
                Ok(()) => (ctx.emit)(crate::events::schema::EventKind::Symlink {
                    path: format!("{}/{c}", e.destination.trim_end_matches('/')),
                    target: h.name.clone(),
                }),
                Err(Errno::EEXIST) => {}
                Err(err) => {
                    return Err(RootfsError::sys(
                        "symlink",
                        format!("{}/{c}", e.destination),
                    )(err))
                }
            }
        }
    }
    if ro {
        let flags = MS_BIND | MS_REMOUNT | MS_RDONLY | DEFAULT_FLAGS;
        sys::mount(None, &sys::proc_fd_path(&dir), None, flags, None).map_err(RootfsError::sys(
            "remount",
            format!("tmpfs on {} read-only", e.destination),
        ))?;
        ctx.mount_event("", &e.destination, "", flags, "");
    }
    Ok(())
}

/// One hierarchy at `dest`: a fresh cgroupfs in a cgroup namespace, else a bind of the
/// container's own directory.
fn mount_hierarchy(
    ctx: &mut Ctx,
    e: &MountEntry,
    h: &Hierarchy,
    dest: &str,
    ro: bool,
) -> Result<(), RootfsError> {
    let mut flags = (e.opts.flags | DEFAULT_FLAGS) & !MS_RDONLY;
    if ro {
        flags |= MS_RDONLY;
    }
    let fstype = if h.v2 { "cgroup2" } else { "cgroup" };
    let fd = ctx
        .root
        .mkdir_all(dest, 0o755, false)
        .map_err(RootfsError::sys("mkdir", format!("{dest} (for cgroup)")))?;
    if ctx.cgroupns {
        let sub = MountEntry {
            destination: dest.to_string(),
            source: Some("cgroup".into()),
            fstype: fstype.into(),
            kind: Kind::Other(fstype.into()),
            ..e.clone()
        };
        let data = h.controllers.join(",");
        mounts::mount_fs(ctx, &sub, "cgroup", &fd, flags, &data)?;
    } else {
        let own_dir = h
            .own_dir
            .clone()
            .map_err(|why| RootfsError::refused("mount", e.what(), why))?;
        let sub = MountEntry {
            destination: dest.to_string(),
            source: Some(own_dir.clone()),
            fstype: "bind".into(),
            kind: Kind::Bind,
            opts: MountOptions {
                flags: flags | MS_BIND | MS_REC,
                cleared: e.opts.cleared & !MS_RDONLY,
                ..MountOptions::default()
            },
            index: e.index,
            idmap: None,
        };
        mounts::bind_and_remount(ctx, &sub, &own_dir, &fd)?;
    }
    mounts::propagate(ctx, dest, &e.opts.propagation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::mountinfo;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
90 80 0:32 / /tmp/b/rootfs/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
91 31 0:32 / /mnt/memory-again rw - cgroup cgroup rw,memory
";
    const OWN: &str = "\
9:name=systemd:/user.slice
4:memory:/initscope/c1
2:cpu,cpuacct:/initscope/c1
0::/initscope/c1
";

    #[test]
    fn hybrid_host_gives_own_dirs_per_hierarchy() {
        let mounts = mountinfo::parse(HYBRID);
        let h = host_hierarchies(&mounts, &parse_proc_cgroup(OWN), "/tmp/b/rootfs");
        let names: Vec<_> = h.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, vec!["cpu,cpuacct", "memory", "systemd", "unified"]);
        assert_eq!(
            h[0].own_dir.as_deref(),
            Ok("/sys/fs/cgroup/cpu,cpuacct/initscope/c1")
        );
        assert_eq!(h[0].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(
            h[2].own_dir.as_deref(),
            Ok("/sys/fs/cgroup/systemd/user.slice")
        );
        assert_eq!(h[2].controllers, vec!["name=systemd"]);
        assert!(h[3].v2 && h[3].controllers.is_empty());
        assert_eq!(
            h[3].own_dir.as_deref(),
            Ok("/sys/fs/cgroup/unified/initscope/c1")
        );
    }

    #[test]
    fn pure_v2_and_cgroupns_paths() {
        let mounts = mountinfo::parse(
            "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        );
        let h = host_hierarchies(&mounts, &parse_proc_cgroup("0::/\n"), "/r");
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].name, "cgroup");
        assert_eq!(h[0].own_dir.as_deref(), Ok("/sys/fs/cgroup"));
    }

    #[test]
    fn cgroup_outside_the_mounted_root_is_an_error() {
        let mounts = mountinfo::parse("30 23 0:26 /a /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        let h = host_hierarchies(&mounts, &parse_proc_cgroup("0::/b/c\n"), "/r");
        let err = h[0].own_dir.clone().unwrap_err();
        assert!(err.contains("/b/c"), "{err}");
        let h = host_hierarchies(&mounts, &parse_proc_cgroup("0::/a/c\n"), "/r");
        assert_eq!(h[0].own_dir.as_deref(), Ok("/sys/fs/cgroup/c"));
    }
}
