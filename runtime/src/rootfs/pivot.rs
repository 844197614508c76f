//! Around the root switch: making `/` rslave and binding the rootfs on itself before the
//! mounts (runc's `prepareRoot`), then `pivot_root` — or, with `--no-pivot`, moving the
//! rootfs onto `/` and chrooting (runc's `msMoveRoot`).

use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{umount2, MntFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, fchdir};

use super::mountinfo::{self, is_under, mount_of, MountInfo};
use super::options::{MS_BIND, MS_MOVE, MS_PRIVATE, MS_REC, MS_SLAVE};
use super::{mount_event, sys, RootfsError};
use crate::events::schema::EventKind;

type Emit<'a> = &'a mut dyn FnMut(EventKind);

fn read_mountinfo() -> Result<Vec<MountInfo>, RootfsError> {
    mountinfo::read_self().map_err(|e| RootfsError::Sys {
        step: "read",
        path: "/proc/self/mountinfo".into(),
        source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })
}

/// Set `/`'s propagation (default rslave, so nothing done here reaches the host), keep the
/// mount holding the rootfs from being shared (pivot_root refuses a shared parent, and a
/// shared one would carry our bind back out), and bind the rootfs onto itself. Returns the
/// mount table as it was before the bind: what lies outside the rootfs (the host's cgroup
/// hierarchies) does not change while the container's mounts are made inside it.
pub fn prepare_root(
    rootfs: &Path,
    propagation: u64,
    emit: Emit,
) -> Result<Vec<MountInfo>, RootfsError> {
    sys::mount(None, Path::new("/"), None, propagation, None).map_err(RootfsError::sys(
        "set propagation",
        format!("{} on /", super::ms_names(propagation).join("|")),
    ))?;
    mount_event(emit, "", "/", "", propagation, "");

    let rootfs_str = rootfs.display().to_string();
    let mounts = read_mountinfo()?;
    if let Some(parent) = mount_of(&mounts, &rootfs_str).filter(|m| m.is_shared()) {
        let flag = if propagation & MS_SLAVE != 0 {
            MS_SLAVE
        } else {
            MS_PRIVATE
        };
        sys::mount(None, Path::new(&parent.mount_point), None, flag, None).map_err(
            RootfsError::sys("set propagation", format!("of {}", parent.mount_point)),
        )?;
        mount_event(emit, "", &parent.mount_point, "", flag, "");
    }

    sys::mount(Some(&rootfs_str), rootfs, None, MS_BIND | MS_REC, None)
        .map_err(RootfsError::sys("mount", format!("{rootfs_str} on itself")))?;
    mount_event(emit, &rootfs_str, &rootfs_str, "bind", MS_BIND | MS_REC, "");
    Ok(mounts)
}

/// Whether `/` is the initramfs (`rootfs`), which pivot_root cannot move away from.
pub fn is_initramfs_root(mounts: &[MountInfo]) -> bool {
    mounts
        .iter()
        .any(|m| m.mount_point == "/" && m.fstype == "rootfs")
}

/// `pivot_root(".", ".")` inside the rootfs, then detach the old root stacked beneath.
pub fn pivot_root(rootfs: &Path, emit: Emit) -> Result<(), RootfsError> {
    let rootfs_str = rootfs.display().to_string();
    let dir = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let old_root = open("/", dir, Mode::empty()).map_err(RootfsError::sys("open", "/"))?;
    let new_root =
        open(rootfs, dir, Mode::empty()).map_err(RootfsError::sys("open", rootfs_str.clone()))?;
    fchdir(&new_root).map_err(RootfsError::sys("chdir", rootfs_str.clone()))?;
    if let Err(errno) = nix::unistd::pivot_root(".", ".") {
        if errno == Errno::EINVAL && read_mountinfo().is_ok_and(|m| is_initramfs_root(&m)) {
            return Err(RootfsError::refused(
                "pivot_root",
                rootfs_str,
                "the current root is the initramfs (rootfs), which pivot_root cannot leave; \
                 run with --no-pivot",
            ));
        }
        return Err(RootfsError::sys("pivot_root", rootfs_str)(errno));
    }
    // "." is the old root now; go there by fd rather than trust that.
    fchdir(&old_root).map_err(RootfsError::sys("chdir", "old root"))?;
    // rslave, not rprivate: our unmount must not reach the host, yet a host process
    // holding one of these mounts should not be surprised (runc's reasoning).
    sys::mount(None, Path::new("."), None, MS_SLAVE | MS_REC, None).map_err(RootfsError::sys(
        "set propagation",
        "MS_SLAVE|MS_REC on old root",
    ))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(RootfsError::sys("unmount", "old root"))?;
    chdir("/").map_err(RootfsError::sys("chdir", "/"))?;
    emit(EventKind::PivotRoot {
        rootfs: rootfs_str,
        method: "pivot_root".into(),
    });
    Ok(())
}

/// `--no-pivot`: hide the host's full procfs/sysfs mounts (else the kernel would let the
/// container mount a fresh procfs through them), move the rootfs onto `/`, chroot.
pub fn move_chroot(rootfs: &Path, emit: Emit) -> Result<(), RootfsError> {
    let rootfs_str = rootfs.display().to_string();
    chdir(rootfs).map_err(RootfsError::sys("chdir", rootfs_str.clone()))?;
    let mounts = read_mountinfo()?;
    for m in mounts.iter().filter(|m| {
        m.root == "/"
            && (m.fstype == "proc" || m.fstype == "sysfs")
            && !is_under(&m.mount_point, &rootfs_str)
    }) {
        let mp = Path::new(&m.mount_point);
        match sys::mount(None, mp, None, MS_SLAVE | MS_REC, None) {
            Ok(()) => {}
            // A parent was already detached: nothing left to hide.
            Err(Errno::ENOENT) => continue,
            Err(e) => {
                return Err(RootfsError::sys("set propagation", m.mount_point.clone())(
                    e,
                ))
            }
        }
        match umount2(mp, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(Errno::EINVAL | Errno::EPERM) => {
                // Locked (user namespace): cover it instead.
                sys::mount(Some("tmpfs"), mp, Some("tmpfs"), 0, None).map_err(RootfsError::sys(
                    "mount",
                    format!("tmpfs on {}", m.mount_point),
                ))?;
                mount_event(emit, "tmpfs", &m.mount_point, "tmpfs", 0, "");
            }
            Err(e) => return Err(RootfsError::sys("unmount", m.mount_point.clone())(e)),
        }
    }
    sys::mount(Some(&rootfs_str), Path::new("/"), None, MS_MOVE, None).map_err(
        RootfsError::sys("mount", format!("{rootfs_str} on / (MS_MOVE)")),
    )?;
    mount_event(emit, &rootfs_str, "/", "", MS_MOVE, "");
    chroot(".").map_err(RootfsError::sys("chroot", rootfs_str.clone()))?;
    chdir("/").map_err(RootfsError::sys("chdir", "/"))?;
    emit(EventKind::PivotRoot {
        rootfs: rootfs_str,
        method: "move_chroot".into(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initramfs_root_is_recognised() {
        let initramfs = mountinfo::parse(
            "1 1 0:1 / / rw - rootfs rootfs rw\n22 1 0:21 / /proc rw - proc proc rw\n",
        );
        assert!(is_initramfs_root(&initramfs));
        let disk = mountinfo::parse("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n");
        assert!(!is_initramfs_root(&disk));
    }
}
