//! Mounting the planned entries one by one, each on an fd resolved inside the rootfs:
//! proc/sysfs, tmpfs, binds (with their remount, propagation and recursive attributes),
//! devpts, mqueue and the rest; cgroup mounts are in `cgroup_mount`.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;

use super::mountinfo::is_under;
use super::options::{self, MountOptions, MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT};
use super::plan::{Kind, MountEntry};
use super::sys::{self, MountAttr, MOUNT_ATTR_RDONLY};
use super::{cgroup_mount, copyup, Ctx, RootfsError};

/// lxcfs-style files that may be bind-mounted over their /proc counterparts (runc's list).
const PROC_FILES_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// Mount one entry.
pub fn mount_entry(ctx: &mut Ctx, e: &MountEntry) -> Result<(), RootfsError> {
    match &e.kind {
        Kind::Proc | Kind::Sysfs => mount_proc_sys(ctx, e),
        Kind::Bind => mount_bind(ctx, e),
        Kind::Tmpfs => mount_tmpfs(ctx, e),
        Kind::Cgroup | Kind::Cgroup2 => cgroup_mount::mount_cgroup(ctx, e),
        Kind::Devpts | Kind::Mqueue | Kind::Other(_) => {
            check_proc_mount(ctx, e, &e.destination)?;
            let fd = mkdir(ctx, e)?;
            check_resolved(ctx, e, &fd)?;
            let src = e.source.clone().unwrap_or_else(|| e.fstype.clone());
            mount_fs(ctx, e, &src, &fd, e.opts.flags, &e.opts.data_string())?;
            propagate(ctx, &e.destination, &e.opts.propagation)
        }
    }
}

fn mkdir(ctx: &Ctx, e: &MountEntry) -> Result<OwnedFd, RootfsError> {
    ctx.root
        .mkdir_all(&e.destination, 0o755, false)
        .map_err(RootfsError::sys(
            "mkdir",
            format!("{} (for {})", e.destination, e.what()),
        ))
}

/// `mount(2)` of a filesystem on `target`; on `EINVAL` with data, asks the kernel which
/// option it refuses so the error names it.
pub fn mount_fs(
    ctx: &mut Ctx,
    e: &MountEntry,
    source: &str,
    target: &OwnedFd,
    flags: u64,
    data: &str,
) -> Result<(), RootfsError> {
    let res = sys::mount(
        Some(source),
        &sys::proc_fd_path(target),
        Some(&e.fstype),
        flags,
        Some(data),
    );
    match res {
        Ok(()) => {
            ctx.mount_event(source, &e.destination, &e.fstype, flags, data);
            Ok(())
        }
        Err(Errno::EINVAL) if !data.is_empty() => match refused_option(&e.fstype, data) {
            Some(opt) => Err(RootfsError::Invalid(format!(
                "mount {}: option '{opt}' is refused by {} (EINVAL); fix or remove it",
                e.what(),
                e.fstype
            ))),
            None => Err(RootfsError::Sys {
                step: "mount",
                path: e.what(),
                source: Errno::EINVAL,
            }),
        },
        Err(errno) => Err(RootfsError::Sys {
            step: "mount",
            path: e.what(),
            source: errno,
        }),
    }
}

/// The first data option `fstype` refuses, found by feeding them one by one to a new
/// filesystem context (`fsopen`/`fsconfig`), which — unlike `mount(2)` — answers per option.
fn refused_option(fstype: &str, data: &str) -> Option<String> {
    let fs = sys::fsopen(fstype).ok()?;
    for opt in data.split(',').filter(|o| !o.is_empty()) {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (opt, None),
        };
        if sys::fsconfig(&fs, key, value).is_err() {
            return Some(opt.to_string());
        }
    }
    None
}

/// Apply propagation changes to the mount now at `destination` (reopened: the fd used for
/// mounting still points below the new mount).
pub fn propagate(ctx: &mut Ctx, destination: &str, changes: &[u64]) -> Result<(), RootfsError> {
    if changes.is_empty() {
        return Ok(());
    }
    let fd = ctx
        .root
        .resolve(destination)
        .map_err(RootfsError::sys("open", destination.to_string()))?;
    for &p in changes {
        sys::mount(None, &sys::proc_fd_path(&fd), None, p, None).map_err(RootfsError::sys(
            "set propagation",
            format!("{} on {destination}", options::ms_names(p).join("|")),
        ))?;
        ctx.mount_event("", destination, "", p, "");
    }
    Ok(())
}

/// runc's `checkProcMount`: nothing but procfs goes on `/proc`, and below it only the
/// lxcfs-style files. `path` is the destination as the config says it and, once opened,
/// as it resolved (a symlink pointing into /proc counts).
fn check_proc_mount(ctx: &Ctx, e: &MountEntry, path: &str) -> Result<(), RootfsError> {
    let _ = ctx;
    if !is_under(path, "/proc") || e.kind == Kind::Proc {
        return Ok(());
    }
    if path == "/proc" {
        let src_is_proc = e.kind == Kind::Bind
            && e.source.as_deref().is_some_and(|s| {
                nix::sys::statfs::statfs(s)
                    .map(|st| st.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
                    .unwrap_or(false)
            });
        if src_is_proc {
            return Ok(());
        }
        return Err(RootfsError::refused(
            "mount",
            e.what(),
            "only a procfs may be mounted on /proc",
        ));
    }
    if PROC_FILES_ALLOWED.contains(&path) {
        return Ok(());
    }
    Err(RootfsError::refused(
        "mount",
        e.what(),
        format!(
            "{path} is inside /proc; only procfs and a few lxcfs-style files may be mounted there"
        ),
    ))
}

/// After opening: the fd must be inside the rootfs (it always is with RESOLVE_IN_ROOT; this
/// is the belt to those braces) and not somewhere under /proc it should not be.
fn check_resolved(ctx: &Ctx, e: &MountEntry, fd: &OwnedFd) -> Result<(), RootfsError> {
    match ctx.root.path_of(fd) {
        Some(p) => check_proc_mount(ctx, e, &p),
        None => Err(RootfsError::refused(
            "mount",
            e.what(),
            "the destination resolved outside the rootfs",
        )),
    }
}

fn mount_proc_sys(ctx: &mut Ctx, e: &MountEntry) -> Result<(), RootfsError> {
    // No symlink anywhere on the way: a /proc that points elsewhere would put procfs
    // where masked paths do not cover it (CVE-2023-27561).
    let fd = match ctx.root.mkdir_all(&e.destination, 0o755, true) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) => {
            return Err(RootfsError::refused(
                "mount",
                e.what(),
                format!(
                    "{} in the rootfs is (or passes through) a symlink; {} must be mounted on an \
                     ordinary directory",
                    e.destination, e.fstype
                ),
            ))
        }
        Err(Errno::ENOTDIR) => {
            return Err(RootfsError::refused(
                "mount",
                e.what(),
                format!("{} in the rootfs is not a directory", e.destination),
            ))
        }
        Err(errno) => return Err(RootfsError::sys("mkdir", e.destination.clone())(errno)),
    };
    check_resolved(ctx, e, &fd)?;
    let src = e.source.clone().unwrap_or_else(|| e.fstype.clone());
    match mount_fs(ctx, e, &src, &fd, e.opts.flags, &e.opts.data_string()) {
        Err(RootfsError::Sys {
            source: Errno::EPERM | Errno::EBUSY,
            ..
        }) if e.kind == Kind::Sysfs => sysfs_fallback(ctx, e, &fd)?,
        other => other?,
    }
    propagate(ctx, &e.destination, &e.opts.propagation)
}

/// Without its own network namespace, a container in a user namespace may not mount sysfs:
/// bind the host's /sys recursively instead (as runc does), with the requested flags, and
/// read-only all the way down if asked (so /sys/fs/cgroup is not left writable).
fn sysfs_fallback(ctx: &mut Ctx, e: &MountEntry, fd: &OwnedFd) -> Result<(), RootfsError> {
    let bind = MountEntry {
        source: Some("/sys".into()),
        fstype: "bind".into(),
        kind: Kind::Bind,
        opts: MountOptions {
            flags: e.opts.flags | MS_BIND | MS_REC,
            cleared: e.opts.cleared,
            ..MountOptions::default()
        },
        ..e.clone()
    };
    bind_and_remount(ctx, &bind, "/sys", fd)?;
    if e.opts.flags & MS_RDONLY != 0 {
        let attr = MountAttr {
            attr_set: MOUNT_ATTR_RDONLY,
            ..MountAttr::default()
        };
        set_attr(ctx, &bind, &attr, true)?;
    }
    Ok(())
}

fn mount_tmpfs(ctx: &mut Ctx, e: &MountEntry) -> Result<(), RootfsError> {
    check_proc_mount(ctx, e, &e.destination)?;
    let existing_mode = ctx.root.resolve(&e.destination).ok().and_then(|fd| {
        nix::sys::stat::fstat(&fd)
            .ok()
            .filter(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .map(|st| st.st_mode & 0o7777)
    });
    let fd = mkdir(ctx, e)?;
    check_resolved(ctx, e, &fd)?;
    // The tmpfs keeps the mode of the directory it covers unless the options say otherwise.
    let mut data = e.opts.data_string();
    let has_mode = e.opts.data.iter().any(|d| d.starts_with("mode="));
    if let Some(mode) = existing_mode.filter(|_| !has_mode) {
        data = if data.is_empty() {
            format!("mode={mode:04o}")
        } else {
            format!("mode={mode:04o},{data}")
        };
    }
    // Read-only tmpfs (and /dev) are mounted writable and remounted read-only in
    // `finalize`: devices, symlinks and copy-up still need to write into them.
    let flags = e.opts.flags & !MS_RDONLY;
    let below = if e.opts.copy_up {
        Some(
            ctx.root
                .open_at(&e.destination, OFlag::O_RDONLY | OFlag::O_DIRECTORY, false)
                .map_err(RootfsError::sys("tmpcopyup: open", e.destination.clone()))?,
        )
    } else {
        None
    };
    let src = e.source.clone().unwrap_or_else(|| "tmpfs".into());
    mount_fs(ctx, e, &src, &fd, flags, &data)?;
    if let Some(below) = below {
        let top = ctx
            .root
            .open_at(&e.destination, OFlag::O_RDONLY | OFlag::O_DIRECTORY, false)
            .map_err(RootfsError::sys("tmpcopyup: open", e.destination.clone()))?;
        copyup::copy_dir(&below, &top).map_err(RootfsError::sys(
            "tmpcopyup: copy into",
            e.destination.clone(),
        ))?;
    }
    propagate(ctx, &e.destination, &e.opts.propagation)
}

fn mount_bind(ctx: &mut Ctx, e: &MountEntry) -> Result<(), RootfsError> {
    let source = e.source.clone().unwrap_or_default();
    let is_dir = std::fs::metadata(&source)
        .map_err(|err| RootfsError::Sys {
            step: "mount",
            path: e.what(),
            source: Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO)),
        })?
        .is_dir();
    check_proc_mount(ctx, e, &e.destination)?;
    let fd = if is_dir {
        ctx.root.mkdir_all(&e.destination, 0o755, false)
    } else {
        ctx.root.create_file(&e.destination)
    }
    .map_err(RootfsError::sys(
        "create mount point",
        format!("{} (for {})", e.destination, e.what()),
    ))?;
    check_resolved(ctx, e, &fd)?;
    if let Some(m) = &e.idmap {
        attach_idmapped(ctx, e, m, &source, &fd)?;
        remount(ctx, e, &source)?;
    } else {
        bind_and_remount(ctx, e, &source, &fd)?;
    }
    propagate(ctx, &e.destination, &e.opts.propagation)?;
    if let Some(attr) = &e.opts.rec_attr {
        set_attr(ctx, e, attr, true)?;
    }
    Ok(())
}

/// Bind `source` on `target`, then — since a bind ignores every other flag — remount it
/// with the requested flags. Where the source's flags are locked (a user namespace), the
/// remount keeps them, as runc does.
pub fn bind_and_remount(
    ctx: &mut Ctx,
    e: &MountEntry,
    source: &str,
    target: &OwnedFd,
) -> Result<(), RootfsError> {
    let bind_flags = MS_BIND | (e.opts.flags & MS_REC);
    sys::mount(
        Some(source),
        &sys::proc_fd_path(target),
        None,
        bind_flags,
        None,
    )
    .map_err(RootfsError::sys("mount", e.what()))?;
    ctx.mount_event(source, &e.destination, "bind", bind_flags, "");
    remount(ctx, e, source)
}

/// Attach the entry's id-mapped tree (made on the host side) on `target`.
fn attach_idmapped(
    ctx: &mut Ctx,
    e: &MountEntry,
    m: &super::idmap::IdMapping,
    source: &str,
    target: &OwnedFd,
) -> Result<(), RootfsError> {
    let tree = super::idmap::tree_for(&mut ctx.detached, e, ctx.emit)?;
    sys::move_mount_onto(&tree, target).map_err(RootfsError::sys("move_mount", e.what()))?;
    (ctx.emit)(crate::events::schema::EventKind::Mount {
        source: source.to_string(),
        destination: e.destination.clone(),
        fstype: "bind".into(),
        flags: vec![
            "MOVE_MOUNT_F_EMPTY_PATH".into(),
            "MOVE_MOUNT_T_EMPTY_PATH".into(),
        ],
        data: m.describe(),
    });
    Ok(())
}

/// A bind ignores every flag but MS_REC: remount it with the requested ones.
fn remount(ctx: &mut Ctx, e: &MountEntry, source: &str) -> Result<(), RootfsError> {
    if !e.opts.bind_needs_remount() {
        return Ok(());
    }
    let fd = ctx
        .root
        .resolve(&e.destination)
        .map_err(RootfsError::sys("open", e.destination.clone()))?;
    let flags = (e.opts.flags & !MS_REC) | MS_BIND | MS_REMOUNT;
    let first = sys::mount(None, &sys::proc_fd_path(&fd), None, flags, None);
    let flags = match first {
        Ok(()) => flags,
        Err(err) => {
            let src_flags = sys::mount_flags_of_fd(&fd)
                .map_err(RootfsError::sys("statfs", source.to_string()))?;
            let Some(retry) = e.opts.remount_with_locked(flags, src_flags) else {
                return Err(RootfsError::sys("remount", e.what())(err));
            };
            sys::mount(None, &sys::proc_fd_path(&fd), None, retry, None)
                .map_err(RootfsError::sys("remount", e.what()))?;
            retry
        }
    };
    ctx.mount_event("", &e.destination, "", flags, "");
    Ok(())
}

/// `mount_setattr` on the mount at the entry's destination.
pub fn set_attr(
    ctx: &mut Ctx,
    e: &MountEntry,
    attr: &MountAttr,
    recursive: bool,
) -> Result<(), RootfsError> {
    let fd = ctx
        .root
        .resolve(&e.destination)
        .map_err(RootfsError::sys("open", e.destination.clone()))?;
    sys::mount_setattr(fd.as_fd(), recursive, attr)
        .map_err(RootfsError::sys("mount_setattr", e.what()))?;
    (ctx.emit)(crate::events::schema::EventKind::Mount {
        source: String::new(),
        destination: e.destination.clone(),
        fstype: String::new(),
        flags: options::attr_names(attr, recursive),
        data: String::new(),
    });
    Ok(())
}
