//! What an unprivileged user may write to a child's `uid_map`/`gid_map` (user_namespaces(7)):
//! without CAP_SETUID (CAP_SETGID) in the parent namespace, exactly one line of size 1
//! mapping the writer's own effective uid (gid) — and `setgroups` must be denied before
//! `gid_map`. `[0:PARENT]` writes the maps from outside, so these rules are checked before
//! anything is created, with an error that says what to write instead of the kernel's
//! bare EPERM.

use oci_spec::runtime::LinuxIdMapping;

/// Who is writing the maps: effective ids and whether the kernel lets them map others.
#[derive(Debug, Clone, Copy)]
pub struct Writer {
    pub euid: u32,
    pub egid: u32,
    pub can_setuid: bool,
    pub can_setgid: bool,
}

impl Writer {
    /// This process.
    pub fn current() -> Writer {
        let has = |c| caps::has_cap(None, caps::CapSet::Effective, c).unwrap_or(false);
        Writer {
            euid: nix::unistd::geteuid().as_raw(),
            egid: nix::unistd::getegid().as_raw(),
            can_setuid: has(caps::Capability::CAP_SETUID),
            can_setgid: has(caps::Capability::CAP_SETGID),
        }
    }
}

/// `Err((field, message))` if the kernel would refuse `uid`/`gid` from `writer`.
pub fn check(
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
    writer: Writer,
) -> Result<(), (&'static str, String)> {
    if !writer.can_setuid {
        only_own("linux.uidMappings", "uid", uid, writer.euid)?;
    }
    if !writer.can_setgid {
        only_own("linux.gidMappings", "gid", gid, writer.egid)?;
    }
    Ok(())
}

fn only_own(
    field: &'static str,
    kind: &str,
    maps: &[LinuxIdMapping],
    own: u32,
) -> Result<(), (&'static str, String)> {
    let fine = matches!(maps, [m] if m.host_id() == own && m.size() == 1);
    if fine || maps.is_empty() {
        return Ok(());
    }
    let given: Vec<String> = maps
        .iter()
        .map(|m| format!("{} {} {}", m.container_id(), m.host_id(), m.size()))
        .collect();
    Err((
        field,
        format!(
            "running unprivileged as {kind} {own}, only your own {kind} can be mapped \
             (one entry: hostID {own}, size 1; `spec --rootless` writes it), not {:?}; \
             mapping other ids needs root",
            given.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    fn map(c: u32, h: u32, s: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(c)
            .host_id(h)
            .size(s)
            .build()
            .unwrap()
    }

    const USER: Writer = Writer {
        euid: 1000,
        egid: 1001,
        can_setuid: false,
        can_setgid: false,
    };

    #[test]
    fn own_ids_with_size_one_are_fine() {
        assert!(check(&[map(0, 1000, 1)], &[map(0, 1001, 1)], USER).is_ok());
        // Any container id will do.
        assert!(check(&[map(1000, 1000, 1)], &[map(5, 1001, 1)], USER).is_ok());
    }

    #[test]
    fn another_uid_a_range_or_two_lines_are_refused_naming_the_field() {
        let (f, m) = check(&[map(0, 2000, 1)], &[map(0, 1001, 1)], USER).unwrap_err();
        assert_eq!(f, "linux.uidMappings");
        assert!(m.contains("uid 1000") && m.contains("\"0 2000 1\""), "{m}");
        let (f, _) = check(&[map(0, 1000, 2)], &[map(0, 1001, 1)], USER).unwrap_err();
        assert_eq!(f, "linux.uidMappings");
        let two = [map(0, 1000, 1), map(1, 1000, 1)];
        assert!(check(&two, &[map(0, 1001, 1)], USER).is_err());
        let (f, m) = check(&[map(0, 1000, 1)], &[map(0, 1000, 1)], USER).unwrap_err();
        assert_eq!(f, "linux.gidMappings");
        assert!(m.contains("gid 1001"), "{m}");
    }

    #[test]
    fn capabilities_lift_the_limit() {
        let root = Writer {
            euid: 0,
            egid: 0,
            can_setuid: true,
            can_setgid: true,
        };
        assert!(check(&[map(0, 100000, 65536)], &[map(0, 100000, 65536)], root).is_ok());
    }
}
