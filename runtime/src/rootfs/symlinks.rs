//! `/dev` symlinks: `/dev/ptmx` → `pts/ptmx` (the devpts instance of the container), and
//! `fd`, `stdin`, `stdout`, `stderr` (and `core` when the kernel has `/proc/kcore`).

use std::path::Path;

use nix::errno::Errno;
use nix::unistd::{symlinkat, unlinkat, UnlinkatFlags};

use super::{Ctx, RootfsError};
use crate::events::schema::EventKind;

fn link(ctx: &mut Ctx, path: &str, target: &str) -> Result<(), RootfsError> {
    let (dir, name) = ctx
        .root
        .parent(path)
        .map_err(RootfsError::sys("mkdir", format!("parent of {path}")))?;
    match symlinkat(target, &dir, name.as_str()) {
        Ok(()) => {
            (ctx.emit)(EventKind::Symlink {
                path: path.to_string(),
                target: target.to_string(),
            });
            Ok(())
        }
        // Already there: the rootfs (or a bind-mounted /dev) brought its own.
        Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(RootfsError::sys("symlink", format!("{path} -> {target}"))(
            e,
        )),
    }
}

/// `/dev/ptmx` becomes a symlink to the container's own devpts instance.
pub fn ptmx(ctx: &mut Ctx) -> Result<(), RootfsError> {
    let (dir, name) = ctx
        .root
        .parent("/dev/ptmx")
        .map_err(RootfsError::sys("mkdir", "/dev"))?;
    match unlinkat(&dir, name.as_str(), UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(RootfsError::sys("remove", "/dev/ptmx")(e)),
    }
    link(ctx, "/dev/ptmx", "pts/ptmx")
}

/// The standard `/dev` symlinks into `/proc/self`.
pub fn dev_symlinks(ctx: &mut Ctx) -> Result<(), RootfsError> {
    let mut links = vec![
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ];
    // CONFIG_PROC_KCORE may be off; only link what exists.
    if Path::new("/proc/kcore").exists() {
        links.push(("/dev/core", "/proc/kcore"));
    }
    for (path, target) in links {
        link(ctx, path, target)?;
    }
    Ok(())
}
