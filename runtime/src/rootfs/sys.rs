//! The syscall edge of the rootfs code: the few calls `nix` does not wrap
//! (`mount_setattr`, `fsopen`/`fsconfig`, `open_tree`, `move_mount`), the fork of the
//! id-mapping helper, and thin typed helpers over the ones `nix` wraps.
//! Everything `unsafe` in `rootfs/` lives here.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;

/// `struct mount_attr` from `<linux/mount.h>` (version 0, 32 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

// <linux/mount.h>: mount_setattr attributes. libc does not export these for Linux.
pub const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
pub const MOUNT_ATTR_NOSUID: u64 = 0x0000_0002;
pub const MOUNT_ATTR_NODEV: u64 = 0x0000_0004;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x0000_0008;
pub const MOUNT_ATTR_ATIME: u64 = 0x0000_0070;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0000_0000;
pub const MOUNT_ATTR_NOATIME: u64 = 0x0000_0010;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x0000_0020;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x0000_0080;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

const OPEN_TREE_CLONE: libc::c_uint = 0x1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;

/// `mount(2)` with raw `MS_*` bits (some, like `MS_NOSYMFOLLOW`, have no `MsFlags` name).
pub fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: u64,
    data: Option<&str>,
) -> nix::Result<()> {
    nix::mount::mount(
        source,
        target,
        fstype,
        MsFlags::from_bits_retain(flags as libc::c_ulong),
        data.filter(|d| !d.is_empty()),
    )
}

/// `mount_setattr(2)` on `dirfd` itself (`AT_EMPTY_PATH`), optionally recursively.
pub fn mount_setattr(dirfd: impl AsFd, recursive: bool, attr: &MountAttr) -> nix::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let empty = c"";
    // SAFETY: dirfd is a live descriptor, the path is a valid NUL-terminated string and
    // `attr` points to a properly sized, initialised `struct mount_attr` for the call.
    let res = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd.as_fd().as_raw_fd(),
            empty.as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(res).map(drop)
}

/// `fsopen(2)`: a filesystem context for `fstype`, used only to ask the kernel which
/// mount option it refuses (the old `mount(2)` only says EINVAL for all of them).
pub fn fsopen(fstype: &str) -> nix::Result<OwnedFd> {
    let name = CString::new(fstype).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `name` is a valid C string; the syscall returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
    let fd = Errno::result(fd)? as RawFd;
    // SAFETY: fsopen returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fsconfig(2)` with `key=value` (`FSCONFIG_SET_STRING`) or a bare `key` (`SET_FLAG`).
pub fn fsconfig(fd: impl AsFd, key: &str, value: Option<&str>) -> nix::Result<()> {
    let key = CString::new(key).map_err(|_| Errno::EINVAL)?;
    let value = value
        .map(CString::new)
        .transpose()
        .map_err(|_| Errno::EINVAL)?;
    let (cmd, vptr) = match &value {
        Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
        None => (FSCONFIG_SET_FLAG, std::ptr::null()),
    };
    // SAFETY: fd is a live fs context, key/value are valid C strings (or value is NULL
    // for SET_FLAG, as the ABI requires), aux is 0.
    let res = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fd.as_fd().as_raw_fd(),
            cmd,
            key.as_ptr(),
            vptr,
            0 as libc::c_int,
        )
    };
    Errno::result(res).map(drop)
}

/// The `/proc/self/fd/N` path of `fd`: mounting on it mounts on exactly the file the fd
/// holds, whatever happens to the path afterwards (runc's CVE-2021-30465 fix).
pub fn proc_fd_path(fd: impl AsFd) -> std::path::PathBuf {
    format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()).into()
}

/// Whether `/proc` (in the current root) is a procfs, so `/proc/self/fd/N` paths work.
pub fn proc_is_procfs() -> bool {
    nix::sys::statfs::statfs("/proc")
        .map(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
        .unwrap_or(false)
}

/// `statfs(2)` flags of the mount holding `path`, as `MS_*` bits (`ST_*` differ for atime).
pub fn mount_flags_of(path: &Path) -> nix::Result<u64> {
    let st = nix::sys::statvfs::statvfs(path)?;
    Ok(super::options::statvfs_to_ms(st.flags().bits()))
}

/// Same as [`mount_flags_of`] for an open file.
pub fn mount_flags_of_fd(fd: impl AsFd) -> nix::Result<u64> {
    let st = nix::sys::statvfs::fstatvfs(fd)?;
    Ok(super::options::statvfs_to_ms(st.flags().bits()))
}

/// `open_tree(2)` with `OPEN_TREE_CLONE`: a detached copy of the mount at `path` (with
/// `recursive`, of the mounts below it too). It lives as long as the descriptor unless
/// `move_mount` attaches it somewhere.
pub fn open_tree_clone(path: &Path, recursive: bool) -> nix::Result<OwnedFd> {
    let cpath = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `cpath` is a valid C string; the syscall returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, cpath.as_ptr(), flags) };
    let fd = Errno::result(fd)? as RawFd;
    // SAFETY: open_tree returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `move_mount(2)` of the (detached) mount `from` onto the file `to` holds, as mounting
/// on `/proc/self/fd/N` of `to` would.
pub fn move_mount_onto(from: impl AsFd, to: impl AsFd) -> nix::Result<()> {
    let empty = c"";
    // SAFETY: both descriptors are live, both paths are the empty C string the
    // *_EMPTY_PATH flags ask for.
    let res = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_fd().as_raw_fd(),
            empty.as_ptr(),
            to.as_fd().as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(res).map(drop)
}

/// Fork a process that unshares a user namespace, writes to `ready` one byte (1: done,
/// 0: unshare failed) followed by what `/proc/self` reads as its pid — the pid the
/// mounted procfs knows it by, which differs from `fork`'s answer when we are in a pid
/// namespace of our own with the host's `/proc` — and then sleeps until it is killed
/// (SIGKILL also comes when its parent dies). The caller writes its maps.
pub fn fork_userns_holder(ready: BorrowedFd<'_>) -> nix::Result<nix::unistd::Pid> {
    let parent = nix::unistd::getpid().as_raw();
    let ready = ready.as_raw_fd();
    // SAFETY: the child runs only async-signal-safe raw syscalls (prctl, getppid,
    // unshare, readlink, write, pause, _exit) on stack buffers — no allocation, no
    // lock — so forking is sound even from a multi-threaded process (the test harness);
    // create itself has no threads.
    match unsafe { libc::fork() } {
        -1 => Err(Errno::last()),
        0 => {
            // SAFETY: as above; every pointer is to a live local or a static C string.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                libc::prctl(libc::PR_SET_NAME, c"isc:userns".as_ptr());
                let mut msg = [0u8; 24];
                msg[0] = (libc::unshare(libc::CLONE_NEWUSER) == 0).into();
                let n = libc::readlink(
                    c"/proc/self".as_ptr(),
                    msg[1..].as_mut_ptr().cast(),
                    msg.len() - 1,
                );
                libc::write(ready, msg.as_ptr().cast(), 1 + n.max(0) as usize);
                loop {
                    libc::pause();
                }
            }
        }
        pid => Ok(nix::unistd::Pid::from_raw(pid)),
    }
}
