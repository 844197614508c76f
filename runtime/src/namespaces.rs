//! Namespaces: config types ↔ `CLONE_NEW*` bits, joining by path (setns) and creating
//! (unshare), each reported as an event after it succeeded.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::{open, OFlag};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxNamespaceType;

use crate::bootstrap::failure::StageFailure;
use crate::bootstrap::plan::JoinNs;
use crate::events::emitter::Emitter;
use crate::events::flags::{clone_flag_names, ns_short_name, nstype_name};
use crate::events::schema::EventKind;

/// The `CLONE_NEW*` bit of a config namespace type.
pub fn flag_of(t: LinuxNamespaceType) -> u64 {
    t as u64
}

/// `mnt`, `net`, … for a single namespace bit.
pub fn short_name(flag: u64) -> &'static str {
    ns_short_name(flag).unwrap_or("unknown")
}

/// Join order: the user namespace first (it grants the rights to join the others), the
/// mount namespace last (so the other paths still resolve while we join them).
pub fn join_rank(flag: u64) -> u8 {
    match flag as i32 {
        libc::CLONE_NEWUSER => 0,
        libc::CLONE_NEWIPC => 1,
        libc::CLONE_NEWUTS => 2,
        libc::CLONE_NEWNET => 3,
        libc::CLONE_NEWPID => 4,
        libc::CLONE_NEWCGROUP => 5,
        libc::CLONE_NEWTIME => 6,
        libc::CLONE_NEWNS => 7,
        _ => 8,
    }
}

/// Join every namespace in `join` (already in [`join_rank`] order). All paths are opened
/// first, as runc does, so joining one cannot hide the next.
pub fn join_all(join: &[JoinNs], em: &mut Emitter) -> Result<(), StageFailure> {
    let stage = em.stage();
    let mut fds: Vec<(Option<OwnedFd>, &JoinNs)> = Vec::with_capacity(join.len());
    for j in join {
        if j.fd.is_some() {
            fds.push((None, j));
            continue;
        }
        let fd = open(&j.path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| {
            StageFailure::sys(
                stage,
                "setns",
                format!("open {} namespace {}", short_name(j.flag), j.path.display()),
                e,
            )
        })?;
        fds.push((Some(fd), j));
    }
    for (owned, j) in fds {
        let flags = CloneFlags::from_bits_retain(j.flag as i32);
        let fd = match (&owned, j.fd) {
            (Some(fd), _) => fd.as_fd(),
            // SAFETY: the fd was opened by the caller before the clones and stays open in
            // this process (it is only closed at exec); borrowed for this one call.
            (None, Some(raw)) => unsafe { BorrowedFd::borrow_raw(raw) },
            (None, None) => unreachable!("a join without a path fd"),
        };
        nix::sched::setns(fd, flags).map_err(|e| {
            StageFailure::sys(
                stage,
                "setns",
                format!("setns {} ({})", j.path.display(), nstype_name(j.flag)),
                e,
            )
        })?;
        em.emit(EventKind::Setns {
            path: j.path.display().to_string(),
            nstype: nstype_name(j.flag),
        });
    }
    Ok(())
}

/// `unshare(flags)`, reported as `unshare` with the flag names.
pub fn unshare(flags: u64, em: &mut Emitter) -> Result<(), StageFailure> {
    if flags == 0 {
        return Ok(());
    }
    nix::sched::unshare(CloneFlags::from_bits_retain(flags as i32)).map_err(|e| {
        StageFailure::sys(
            em.stage(),
            "unshare",
            format!("unshare {}", clone_flag_names(flags).join("|")),
            e,
        )
    })?;
    em.emit(EventKind::Unshare {
        flags: clone_flag_names(flags),
        flags_raw: flags,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_types_map_to_clone_bits() {
        assert_eq!(
            flag_of(LinuxNamespaceType::Network),
            libc::CLONE_NEWNET as u64
        );
        assert_eq!(flag_of(LinuxNamespaceType::Mount), libc::CLONE_NEWNS as u64);
        assert_eq!(
            flag_of(LinuxNamespaceType::Time),
            libc::CLONE_NEWTIME as u64
        );
        assert_eq!(short_name(flag_of(LinuxNamespaceType::Cgroup)), "cgroup");
        assert!(join_rank(libc::CLONE_NEWUSER as u64) < join_rank(libc::CLONE_NEWNS as u64));
    }
}
