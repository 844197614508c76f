//! The identity the container's process runs as: supplementary groups, gid, uid, umask.
//! Called with KEEPCAPS set, so the permitted capabilities survive leaving uid 0.

use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};

use crate::bootstrap::failure::StageFailure;
use crate::events::emitter::Emitter;
use crate::events::schema::EventKind;

/// The umask when the config does not give one (runc's).
pub const DEFAULT_UMASK: u32 = 0o022;

/// The user section of the plan.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: &'a [u32],
    pub umask: Option<u32>,
    /// False when `setgroups` was denied in the user namespace (rootless).
    pub setgroups_allowed: bool,
}

/// setgroups, setresgid, setresuid, umask — reported as one `user` event.
pub fn switch_to(id: Identity<'_>, em: &mut Emitter) -> Result<(), StageFailure> {
    let stage = em.stage();
    if id.setgroups_allowed {
        let groups: Vec<Gid> = id
            .additional_gids
            .iter()
            .map(|g| Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&groups).map_err(|e| {
            StageFailure::sys(
                stage,
                "user",
                format!("setgroups {:?} (user.additionalGids)", id.additional_gids),
                e,
            )
        })?;
    } else if !id.additional_gids.is_empty() {
        return Err(StageFailure::new(
            stage,
            "user",
            "user.additionalGids cannot be set: setgroups is denied in this user namespace",
        ));
    }
    let gid = Gid::from_raw(id.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| {
        StageFailure::sys(
            stage,
            "user",
            format!(
                "setresgid {} (user.gid; is it mapped in the user namespace?)",
                id.gid
            ),
            e,
        )
    })?;
    let uid = Uid::from_raw(id.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| {
        StageFailure::sys(
            stage,
            "user",
            format!(
                "setresuid {} (user.uid; is it mapped in the user namespace?)",
                id.uid
            ),
            e,
        )
    })?;
    nix::sys::stat::umask(Mode::from_bits_truncate(id.umask.unwrap_or(DEFAULT_UMASK)));
    em.emit(EventKind::User {
        uid: id.uid,
        gid: id.gid,
        additional_gids: id.additional_gids.to_vec(),
        umask: id.umask,
    });
    Ok(())
}
