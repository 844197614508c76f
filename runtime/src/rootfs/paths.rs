//! After the root switch (runc's `finalizeRootfs` and the masked/read-only path loops of
//! its standard init), in runc's order: read-only remounts of tmpfs and `/dev` that were
//! mounted writable, read-only root, read-only paths, masked paths.
//!
//! Masking binds the container's `/dev/null` over files — only after checking that it *is*
//! the null device: a rootfs whose `/dev/null` is a symlink (to `/proc/sys/kernel/core_pattern`,
//! say) would otherwise make a masked path writable (CVE-2025-31133).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::fstat;
use oci_spec::runtime::Spec;

use super::options::{
    self, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT,
};
use super::plan::{Kind, MountEntry};
use super::secure_join::Root;
use super::{mount_event, sys, RootfsError};
use crate::events::schema::EventKind;

type Emit<'a> = &'a mut dyn FnMut(EventKind);

/// Where to aim `mount(2)` for an fd: its `/proc/self/fd` path when the container has a
/// procfs at `/proc`, else the plain path (resolution cannot leave the root any more).
struct Targets {
    procfs: bool,
}

impl Targets {
    fn of(&self, fd: &OwnedFd, plain: &str) -> PathBuf {
        if self.procfs {
            sys::proc_fd_path(fd)
        } else {
            PathBuf::from(plain)
        }
    }
}

pub fn finalize(spec: &Spec, entries: &[MountEntry], emit: Emit) -> Result<(), RootfsError> {
    let root = Root::open(Path::new("/")).map_err(RootfsError::sys("open", "/"))?;
    let t = Targets {
        procfs: sys::proc_is_procfs(),
    };
    let linux = spec.linux().as_ref();

    // The container's `/` gets the propagation asked for; before the pivot it was only
    // applied to the host-side tree (runc's prepareRoot).
    if let Some(p) = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
    {
        let flags = options::rootfs_propagation(Some(p)).map_err(RootfsError::Invalid)?;
        sys::mount(None, Path::new("/"), None, flags, None).map_err(RootfsError::sys(
            "set propagation",
            format!("{} on /", options::ms_names(flags).join("|")),
        ))?;
        mount_event(emit, "", "/", "", flags, "");
    }

    for e in entries.iter().filter(|e| {
        e.opts.flags & MS_RDONLY != 0 && (e.kind == Kind::Tmpfs || e.destination == "/dev")
    }) {
        remount_ro(&root, &t, e, emit)?;
    }

    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        readonly_root(emit)?;
    }

    for p in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        readonly_path(&root, &t, p, emit)?;
    }

    let mut dev_null: Option<OwnedFd> = None;
    for p in linux
        .and_then(|l| l.masked_paths().as_ref())
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        mask_path(&root, &t, p, &mut dev_null, emit)?;
    }
    Ok(())
}

/// A tmpfs (or `/dev`) that asked for `ro` was mounted writable so it could be filled.
fn remount_ro(root: &Root, t: &Targets, e: &MountEntry, emit: Emit) -> Result<(), RootfsError> {
    let fd = root
        .resolve(&e.destination)
        .map_err(RootfsError::sys("open", e.destination.clone()))?;
    let flags = (e.opts.flags & !MS_REC) | MS_BIND | MS_REMOUNT | MS_RDONLY;
    let target = t.of(&fd, &e.destination);
    // EBUSY can be transient (runc retries too).
    let mut tries = 0;
    loop {
        match sys::mount(None, &target, None, flags, None) {
            Ok(()) => break,
            Err(Errno::EBUSY) if tries < 5 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(err) => {
                return Err(RootfsError::sys(
                    "remount",
                    format!("{} read-only", e.destination),
                )(err))
            }
        }
    }
    mount_event(emit, "", &e.destination, "", flags, "");
    Ok(())
}

fn readonly_root(emit: Emit) -> Result<(), RootfsError> {
    let flags = MS_BIND | MS_REMOUNT | MS_RDONLY;
    let done = match sys::mount(None, Path::new("/"), None, flags, None) {
        Ok(()) => flags,
        Err(first) => {
            // Locked flags (user namespace): keep what / already has.
            let have =
                sys::mount_flags_of(Path::new("/")).map_err(RootfsError::sys("statfs", "/"))?;
            let retry = flags | (have & options::MS_LOCK_FLAGS);
            sys::mount(None, Path::new("/"), None, retry, None)
                .map_err(|_| RootfsError::sys("remount", "/ read-only")(first))?;
            retry
        }
    };
    mount_event(emit, "", "/", "", done, "");
    Ok(())
}

/// Bind `path` onto itself and remount it read-only, keeping the nosuid/nodev/noexec it had.
/// A path that does not exist is skipped.
fn readonly_path(root: &Root, t: &Targets, path: &str, emit: Emit) -> Result<(), RootfsError> {
    let fd = match root.resolve(path) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(RootfsError::sys("readonly path", path.to_string())(e)),
    };
    let target = t.of(&fd, path);
    let src = target.display().to_string();
    sys::mount(Some(&src), &target, None, MS_BIND | MS_REC, None)
        .map_err(RootfsError::sys("readonly path", format!("{path} (bind)")))?;
    mount_event(emit, path, path, "bind", MS_BIND | MS_REC, "");
    let fd = root
        .resolve(path)
        .map_err(RootfsError::sys("readonly path", path.to_string()))?;
    let keep = sys::mount_flags_of_fd(fd.as_fd())
        .map_err(RootfsError::sys("statfs", path.to_string()))?
        & (MS_NOSUID | MS_NODEV | MS_NOEXEC);
    let flags = keep | MS_BIND | MS_REMOUNT | MS_RDONLY;
    sys::mount(None, &t.of(&fd, path), None, flags, None).map_err(RootfsError::sys(
        "readonly path",
        format!("{path} (remount)"),
    ))?;
    mount_event(emit, "", path, "", flags, "");
    emit(EventKind::ReadonlyPath {
        path: path.to_string(),
    });
    Ok(())
}

/// The container's `/dev/null`, opened without following a symlink, and only if it is the
/// character device 1:3.
fn open_dev_null(root: &Root, masking: &str) -> Result<OwnedFd, RootfsError> {
    let refuse = |what: String| {
        RootfsError::refused(
            "mask",
            masking.to_string(),
            format!(
                "/dev/null in the container is {what}, not the null device (char 1:3); refusing \
                 to bind it over masked paths"
            ),
        )
    };
    let fd = match root.open_at("/dev/null", OFlag::O_PATH | OFlag::O_NOFOLLOW, false) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Err(refuse("missing".into())),
        Err(e) => return Err(RootfsError::sys("open", "/dev/null")(e)),
    };
    let st = fstat(&fd).map_err(RootfsError::sys("stat", "/dev/null"))?;
    let null = libc::makedev(1, 3);
    match st.st_mode & libc::S_IFMT {
        libc::S_IFCHR if st.st_rdev == null => Ok(fd),
        libc::S_IFCHR => Err(refuse(format!(
            "char device {}:{}",
            libc::major(st.st_rdev),
            libc::minor(st.st_rdev)
        ))),
        libc::S_IFLNK => {
            let target = nix::fcntl::readlinkat(root.fd(), "dev/null")
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            Err(refuse(format!("a symlink (to {target})")))
        }
        libc::S_IFREG => Err(refuse("a regular file".into())),
        libc::S_IFDIR => Err(refuse("a directory".into())),
        _ => Err(refuse("not a device".into())),
    }
}

/// Hide `path`: `/dev/null` bound over a file, a read-only tmpfs over a directory.
fn mask_path(
    root: &Root,
    t: &Targets,
    path: &str,
    dev_null: &mut Option<OwnedFd>,
    emit: Emit,
) -> Result<(), RootfsError> {
    let fd = match root.resolve(path) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(RootfsError::sys("mask", path.to_string())(e)),
    };
    let st = fstat(&fd).map_err(RootfsError::sys("stat", path.to_string()))?;
    let target = t.of(&fd, path);
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        sys::mount(Some("tmpfs"), &target, Some("tmpfs"), MS_RDONLY, None)
            .map_err(RootfsError::sys("mask", format!("{path} (tmpfs)")))?;
        mount_event(emit, "tmpfs", path, "tmpfs", MS_RDONLY, "");
    } else {
        if dev_null.is_none() {
            *dev_null = Some(open_dev_null(root, path)?);
        }
        let null = dev_null.as_ref().expect("opened above");
        let src = t.of(null, "/dev/null").display().to_string();
        sys::mount(Some(&src), &target, None, MS_BIND, None)
            .map_err(RootfsError::sys("mask", format!("{path} (bind /dev/null)")))?;
        mount_event(emit, "/dev/null", path, "bind", MS_BIND, "");
    }
    emit(EventKind::MaskPath {
        path: path.to_string(),
    });
    Ok(())
}
