//! fstab-style mount options of the OCI config → `mount(2)` flags, propagation changes,
//! recursive attributes (`mount_setattr`) and filesystem data — runc's
//! `parseMountOptions` table, plus names for every flag so events say `MS_BIND`, not 4096.

use super::sys::{
    MountAttr, MOUNT_ATTR_ATIME, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME,
    MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY,
    MOUNT_ATTR_RELATIME, MOUNT_ATTR_STRICTATIME,
};

pub const MS_RDONLY: u64 = libc::MS_RDONLY;
pub const MS_NOSUID: u64 = libc::MS_NOSUID;
pub const MS_NODEV: u64 = libc::MS_NODEV;
pub const MS_NOEXEC: u64 = libc::MS_NOEXEC;
pub const MS_SYNCHRONOUS: u64 = libc::MS_SYNCHRONOUS;
pub const MS_REMOUNT: u64 = libc::MS_REMOUNT;
pub const MS_MANDLOCK: u64 = libc::MS_MANDLOCK;
pub const MS_DIRSYNC: u64 = libc::MS_DIRSYNC;
pub const MS_NOSYMFOLLOW: u64 = 256;
pub const MS_NOATIME: u64 = libc::MS_NOATIME;
pub const MS_NODIRATIME: u64 = libc::MS_NODIRATIME;
pub const MS_BIND: u64 = libc::MS_BIND;
pub const MS_MOVE: u64 = libc::MS_MOVE;
pub const MS_REC: u64 = libc::MS_REC;
pub const MS_SILENT: u64 = libc::MS_SILENT;
pub const MS_POSIXACL: u64 = libc::MS_POSIXACL;
pub const MS_UNBINDABLE: u64 = libc::MS_UNBINDABLE;
pub const MS_PRIVATE: u64 = libc::MS_PRIVATE;
pub const MS_SLAVE: u64 = libc::MS_SLAVE;
pub const MS_SHARED: u64 = libc::MS_SHARED;
pub const MS_RELATIME: u64 = libc::MS_RELATIME;
pub const MS_I_VERSION: u64 = libc::MS_I_VERSION;
pub const MS_STRICTATIME: u64 = libc::MS_STRICTATIME;
pub const MS_LAZYTIME: u64 = libc::MS_LAZYTIME;

/// The flags a bind remount keeps from the source when they are locked (a mount inherited
/// into a less privileged user namespace): runc's `mntLockFlags`.
pub const MS_LOCK_FLAGS: u64 = MS_RDONLY
    | MS_NODEV
    | MS_NOEXEC
    | MS_NOSUID
    | MS_NOATIME
    | MS_RELATIME
    | MS_STRICTATIME
    | MS_NODIRATIME;
const MS_ATIME_FLAGS: u64 = MS_NOATIME | MS_RELATIME | MS_STRICTATIME | MS_NODIRATIME;

const MS_NAMES: &[(u64, &str)] = &[
    (MS_RDONLY, "MS_RDONLY"),
    (MS_NOSUID, "MS_NOSUID"),
    (MS_NODEV, "MS_NODEV"),
    (MS_NOEXEC, "MS_NOEXEC"),
    (MS_SYNCHRONOUS, "MS_SYNCHRONOUS"),
    (MS_REMOUNT, "MS_REMOUNT"),
    (MS_MANDLOCK, "MS_MANDLOCK"),
    (MS_DIRSYNC, "MS_DIRSYNC"),
    (MS_NOSYMFOLLOW, "MS_NOSYMFOLLOW"),
    (MS_NOATIME, "MS_NOATIME"),
    (MS_NODIRATIME, "MS_NODIRATIME"),
    (MS_BIND, "MS_BIND"),
    (MS_MOVE, "MS_MOVE"),
    (MS_REC, "MS_REC"),
    (MS_SILENT, "MS_SILENT"),
    (MS_POSIXACL, "MS_POSIXACL"),
    (MS_UNBINDABLE, "MS_UNBINDABLE"),
    (MS_PRIVATE, "MS_PRIVATE"),
    (MS_SLAVE, "MS_SLAVE"),
    (MS_SHARED, "MS_SHARED"),
    (MS_RELATIME, "MS_RELATIME"),
    (MS_I_VERSION, "MS_I_VERSION"),
    (MS_STRICTATIME, "MS_STRICTATIME"),
    (MS_LAZYTIME, "MS_LAZYTIME"),
];

const ATTR_NAMES: &[(u64, &str)] = &[
    (MOUNT_ATTR_RDONLY, "MOUNT_ATTR_RDONLY"),
    (MOUNT_ATTR_NOSUID, "MOUNT_ATTR_NOSUID"),
    (MOUNT_ATTR_NODEV, "MOUNT_ATTR_NODEV"),
    (MOUNT_ATTR_NOEXEC, "MOUNT_ATTR_NOEXEC"),
    (MOUNT_ATTR_NOATIME, "MOUNT_ATTR_NOATIME"),
    (MOUNT_ATTR_STRICTATIME, "MOUNT_ATTR_STRICTATIME"),
    (MOUNT_ATTR_NODIRATIME, "MOUNT_ATTR_NODIRATIME"),
    (MOUNT_ATTR_NOSYMFOLLOW, "MOUNT_ATTR_NOSYMFOLLOW"),
];

/// Names of the set `MS_*` bits, in bit order; unnamed bits appear as hex.
pub fn ms_names(flags: u64) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = flags;
    for &(bit, name) in MS_NAMES {
        if rest & bit != 0 {
            names.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        names.push(format!("{rest:#x}"));
    }
    names
}

/// Names for a `mount_setattr` call: `AT_RECURSIVE`, then `+MOUNT_ATTR_X` for attributes
/// set and `-MOUNT_ATTR_X` for attributes cleared.
pub fn attr_names(attr: &MountAttr, recursive: bool) -> Vec<String> {
    let mut names = Vec::new();
    if recursive {
        names.push("AT_RECURSIVE".to_string());
    }
    for &(bit, name) in ATTR_NAMES {
        if bit & MOUNT_ATTR_ATIME != 0 {
            continue; // the atime field is an enum, named below
        }
        if attr.attr_set & bit != 0 {
            names.push(format!("+{name}"));
        } else if attr.attr_clr & bit != 0 {
            names.push(format!("-{name}"));
        }
    }
    if attr.attr_clr & MOUNT_ATTR_ATIME == MOUNT_ATTR_ATIME {
        names.push(
            match attr.attr_set & MOUNT_ATTR_ATIME {
                MOUNT_ATTR_NOATIME => "+MOUNT_ATTR_NOATIME",
                MOUNT_ATTR_STRICTATIME => "+MOUNT_ATTR_STRICTATIME",
                _ => "+MOUNT_ATTR_RELATIME",
            }
            .to_string(),
        );
    }
    names
}

/// `statvfs` `ST_*` flags → `MS_*` flags (they differ for relatime, and strictatime has no
/// `ST_` bit: a mount with none of the atime bits is strictatime).
pub fn statvfs_to_ms(st: libc::c_ulong) -> u64 {
    const ST_NOSYMFOLLOW: libc::c_ulong = 0x2000;
    let table: &[(libc::c_ulong, u64)] = &[
        (libc::ST_RDONLY, MS_RDONLY),
        (libc::ST_NOSUID, MS_NOSUID),
        (libc::ST_NODEV, MS_NODEV),
        (libc::ST_NOEXEC, MS_NOEXEC),
        (libc::ST_MANDLOCK, MS_MANDLOCK),
        (libc::ST_SYNCHRONOUS, MS_SYNCHRONOUS),
        (libc::ST_NOATIME, MS_NOATIME),
        (libc::ST_NODIRATIME, MS_NODIRATIME),
        (libc::ST_RELATIME, MS_RELATIME),
        (ST_NOSYMFOLLOW, MS_NOSYMFOLLOW),
    ];
    let mut flags = 0;
    for &(st_bit, ms_bit) in table {
        if st & st_bit != 0 {
            flags |= ms_bit;
        }
    }
    if flags & (MS_NOATIME | MS_RELATIME | MS_STRICTATIME) == 0 {
        flags |= MS_STRICTATIME;
    }
    flags
}

/// One config mount's options, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// `MS_*` bits to set (including `MS_BIND`/`MS_REC` for bind and rbind).
    pub flags: u64,
    /// `MS_*` bits an option asked to clear (`rw`, `suid`, `dev`, `exec`, …).
    pub cleared: u64,
    /// Propagation changes applied after the mount, in the order given.
    pub propagation: Vec<u64>,
    /// Recursive attributes (`rro`, `rnosuid`, …) applied with `mount_setattr(AT_RECURSIVE)`.
    pub rec_attr: Option<MountAttr>,
    /// Filesystem options handed to the filesystem (`mode=755`, `size=65536k`, `newinstance`).
    pub data: Vec<String>,
    /// `tmpcopyup`: fill a new tmpfs with what the directory held before.
    pub copy_up: bool,
    /// `idmap` (`Some(false)`) or `ridmap` (`Some(true)`, every mount of an rbind tree):
    /// make the bind an id-mapped mount.
    pub idmap: Option<bool>,
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags & MS_BIND != 0
    }

    pub fn data_string(&self) -> String {
        self.data.join(",")
    }

    /// Whether a bind mount needs the second `MS_REMOUNT` call to apply its flags
    /// (a bind ignores every flag but `MS_BIND`/`MS_REC`).
    pub fn bind_needs_remount(&self) -> bool {
        self.flags & !(MS_BIND | MS_REC | MS_REMOUNT) != 0 || self.cleared != 0
    }

    /// The flags to retry a refused bind remount with: those locked on the source are
    /// kept. `None` when the request itself contradicts a locked flag (then the first
    /// error stands), as runc decides.
    pub fn remount_with_locked(&self, base: u64, src_flags: u64) -> Option<u64> {
        if src_flags & self.cleared & MS_LOCK_FLAGS != 0 {
            return None;
        }
        if self.flags & MS_ATIME_FLAGS != 0
            && self.flags & MS_ATIME_FLAGS != src_flags & MS_ATIME_FLAGS
        {
            return None;
        }
        Some(base | (src_flags & MS_LOCK_FLAGS))
    }
}

enum Opt {
    Set(u64),
    Clear(u64),
    Propagation(u64),
    RecSet(u64),
    RecClear(u64),
    RecAtime(u64),
}

fn lookup(opt: &str) -> Option<Opt> {
    use Opt::*;
    Some(match opt {
        "defaults" => Set(0),
        "ro" => Set(MS_RDONLY),
        "rw" => Clear(MS_RDONLY),
        "nosuid" => Set(MS_NOSUID),
        "suid" => Clear(MS_NOSUID),
        "nodev" => Set(MS_NODEV),
        "dev" => Clear(MS_NODEV),
        "noexec" => Set(MS_NOEXEC),
        "exec" => Clear(MS_NOEXEC),
        "sync" => Set(MS_SYNCHRONOUS),
        "async" => Clear(MS_SYNCHRONOUS),
        "dirsync" => Set(MS_DIRSYNC),
        "remount" => Set(MS_REMOUNT),
        "mand" => Set(MS_MANDLOCK),
        "nomand" => Clear(MS_MANDLOCK),
        "noatime" => Set(MS_NOATIME),
        "atime" => Clear(MS_NOATIME),
        "nodiratime" => Set(MS_NODIRATIME),
        "diratime" => Clear(MS_NODIRATIME),
        "relatime" => Set(MS_RELATIME),
        "norelatime" => Clear(MS_RELATIME),
        "strictatime" => Set(MS_STRICTATIME),
        "nostrictatime" => Clear(MS_STRICTATIME),
        "lazytime" => Set(MS_LAZYTIME),
        "nolazytime" => Clear(MS_LAZYTIME),
        "iversion" => Set(MS_I_VERSION),
        "noiversion" => Clear(MS_I_VERSION),
        "silent" => Set(MS_SILENT),
        "loud" => Clear(MS_SILENT),
        "nosymfollow" => Set(MS_NOSYMFOLLOW),
        "symfollow" => Clear(MS_NOSYMFOLLOW),
        "bind" => Set(MS_BIND),
        "rbind" => Set(MS_BIND | MS_REC),
        "private" => Propagation(MS_PRIVATE),
        "rprivate" => Propagation(MS_PRIVATE | MS_REC),
        "shared" => Propagation(MS_SHARED),
        "rshared" => Propagation(MS_SHARED | MS_REC),
        "slave" => Propagation(MS_SLAVE),
        "rslave" => Propagation(MS_SLAVE | MS_REC),
        "unbindable" => Propagation(MS_UNBINDABLE),
        "runbindable" => Propagation(MS_UNBINDABLE | MS_REC),
        "rro" => RecSet(MOUNT_ATTR_RDONLY),
        "rrw" => RecClear(MOUNT_ATTR_RDONLY),
        "rnosuid" => RecSet(MOUNT_ATTR_NOSUID),
        "rsuid" => RecClear(MOUNT_ATTR_NOSUID),
        "rnodev" => RecSet(MOUNT_ATTR_NODEV),
        "rdev" => RecClear(MOUNT_ATTR_NODEV),
        "rnoexec" => RecSet(MOUNT_ATTR_NOEXEC),
        "rexec" => RecClear(MOUNT_ATTR_NOEXEC),
        "rnodiratime" => RecSet(MOUNT_ATTR_NODIRATIME),
        "rdiratime" => RecClear(MOUNT_ATTR_NODIRATIME),
        "rnosymfollow" => RecSet(MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => RecClear(MOUNT_ATTR_NOSYMFOLLOW),
        // The atime attributes are an enum in the kernel: picking one means clearing the
        // whole field. "ratime"/"rnorelatime"/"rnostrictatime" fall back to the default.
        "rrelatime" | "ratime" | "rnorelatime" | "rnostrictatime" => RecAtime(MOUNT_ATTR_RELATIME),
        "rnoatime" => RecAtime(MOUNT_ATTR_NOATIME),
        "rstrictatime" => RecAtime(MOUNT_ATTR_STRICTATIME),
        _ => return None,
    })
}

/// Parse one mount's options. Words that are not flags become filesystem data; the caller
/// decides whether that type takes data (a bind mount does not).
/// The error names the option.
pub fn parse(options: &[String]) -> Result<MountOptions, String> {
    let mut m = MountOptions::default();
    let mut rec: Option<MountAttr> = None;
    for raw in options {
        let opt = raw.trim();
        if opt.is_empty() {
            continue;
        }
        match lookup(opt) {
            Some(Opt::Set(bit)) => {
                m.flags |= bit;
                m.cleared &= !bit;
            }
            Some(Opt::Clear(bit)) => {
                m.flags &= !bit;
                m.cleared |= bit;
            }
            Some(Opt::Propagation(p)) => m.propagation.push(p),
            Some(Opt::RecSet(bit)) => {
                let a = rec.get_or_insert_with(MountAttr::default);
                a.attr_set |= bit;
                a.attr_clr &= !bit;
            }
            Some(Opt::RecClear(bit)) => {
                let a = rec.get_or_insert_with(MountAttr::default);
                a.attr_clr |= bit;
                a.attr_set &= !bit;
            }
            Some(Opt::RecAtime(value)) => {
                let a = rec.get_or_insert_with(MountAttr::default);
                a.attr_clr |= MOUNT_ATTR_ATIME;
                a.attr_set = (a.attr_set & !MOUNT_ATTR_ATIME) | value;
            }
            None => match opt {
                "tmpcopyup" => m.copy_up = true,
                "notmpcopyup" => m.copy_up = false,
                "idmap" => m.idmap = Some(false),
                "ridmap" => m.idmap = Some(true),
                _ => m.data.push(opt.to_string()),
            },
        }
    }
    m.rec_attr = rec;
    Ok(m)
}

/// `linux.rootfsPropagation` → the flags applied to `/` before the rootfs is bound.
/// Absent or empty means runc's default, `rslave`.
pub fn rootfs_propagation(value: Option<&str>) -> Result<u64, String> {
    Ok(match value.unwrap_or("") {
        "" => MS_SLAVE | MS_REC,
        "shared" => MS_SHARED,
        "rshared" => MS_SHARED | MS_REC,
        "slave" => MS_SLAVE,
        "rslave" => MS_SLAVE | MS_REC,
        "private" => MS_PRIVATE,
        "rprivate" => MS_PRIVATE | MS_REC,
        "unbindable" => MS_UNBINDABLE,
        "runbindable" => MS_UNBINDABLE | MS_REC,
        other => {
            return Err(format!(
                "linux.rootfsPropagation: unknown value '{other}'; use shared, slave, private, \
                 unbindable or their r-variants (rshared, rslave, rprivate, runbindable)"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn default_spec_dev_pts_options_split_into_flags_and_data() {
        let m = p(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]);
        assert_eq!(m.flags, MS_NOSUID | MS_NOEXEC);
        assert_eq!(m.data_string(), "newinstance,ptmxmode=0666,mode=0620,gid=5");
        assert!(m.propagation.is_empty() && m.rec_attr.is_none() && !m.is_bind());
    }

    #[test]
    fn later_options_override_earlier_ones_and_clears_are_remembered() {
        let m = p(&["ro", "rw", "nosuid", "suid", "noexec"]);
        assert_eq!(m.flags, MS_NOEXEC);
        assert_eq!(m.cleared, MS_RDONLY | MS_NOSUID);
        let m = p(&["rw", "ro"]);
        assert_eq!(m.flags, MS_RDONLY);
        assert_eq!(m.cleared, 0);
    }

    #[test]
    fn bind_rbind_and_propagation_in_order() {
        let m = p(&["rbind", "rprivate", "slave", "ro"]);
        assert!(m.is_bind());
        assert_eq!(m.flags, MS_BIND | MS_REC | MS_RDONLY);
        assert_eq!(m.propagation, vec![MS_PRIVATE | MS_REC, MS_SLAVE]);
        assert!(m.bind_needs_remount());
        assert!(!p(&["bind"]).bind_needs_remount());
        assert!(!p(&["rbind", "rshared"]).bind_needs_remount());
        assert!(p(&["bind", "rw"]).bind_needs_remount());
    }

    #[test]
    fn recursive_attributes() {
        let m = p(&["rbind", "rro", "rnosuid", "rnoatime"]);
        let a = m.rec_attr.unwrap();
        assert_eq!(
            a.attr_set,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME
        );
        assert_eq!(a.attr_clr, MOUNT_ATTR_ATIME);
        assert_eq!(m.flags, MS_BIND | MS_REC);
        let a = p(&["rro", "rrw"]).rec_attr.unwrap();
        assert_eq!((a.attr_set, a.attr_clr), (0, MOUNT_ATTR_RDONLY));
        assert_eq!(
            attr_names(&p(&["rro"]).rec_attr.unwrap(), true),
            vec!["AT_RECURSIVE", "+MOUNT_ATTR_RDONLY"]
        );
    }

    #[test]
    fn tmpcopyup_and_idmap() {
        assert!(p(&["tmpcopyup", "mode=755"]).copy_up);
        assert!(!p(&["tmpcopyup", "notmpcopyup"]).copy_up);
        assert_eq!(p(&["rbind", "idmap"]).idmap, Some(false));
        assert_eq!(p(&["rbind", "ridmap"]).idmap, Some(true));
        assert_eq!(p(&["rbind"]).idmap, None);
        assert!(p(&["bind", "idmap"]).data.is_empty());
    }

    #[test]
    fn unknown_words_become_data_for_the_caller_to_judge() {
        let m = p(&["bind", "bogus", "size=1m"]);
        assert_eq!(m.data, vec!["bogus", "size=1m"]);
    }

    #[test]
    fn flag_names() {
        assert_eq!(
            ms_names(MS_BIND | MS_REC | MS_RDONLY),
            vec!["MS_RDONLY", "MS_BIND", "MS_REC"]
        );
        assert_eq!(ms_names(MS_SLAVE | MS_REC), vec!["MS_REC", "MS_SLAVE"]);
        assert_eq!(ms_names(1 << 40), vec!["0x10000000000"]);
    }

    #[test]
    fn statvfs_translation() {
        assert_eq!(
            statvfs_to_ms(libc::ST_RDONLY | libc::ST_NOSUID | libc::ST_RELATIME),
            MS_RDONLY | MS_NOSUID | MS_RELATIME
        );
        // No atime bit at all is strictatime.
        assert_eq!(statvfs_to_ms(libc::ST_NODEV), MS_NODEV | MS_STRICTATIME);
    }

    #[test]
    fn locked_flags_retry_rules() {
        let m = p(&["bind", "ro"]);
        let base = MS_BIND | MS_REMOUNT | MS_RDONLY;
        // The source has nosuid,nodev locked: keep them.
        assert_eq!(
            m.remount_with_locked(base, MS_NOSUID | MS_NODEV | MS_RELATIME),
            Some(base | MS_NOSUID | MS_NODEV | MS_RELATIME)
        );
        // Asking to clear a flag the source has locked cannot be honoured.
        let m = p(&["bind", "ro", "suid"]);
        assert_eq!(m.remount_with_locked(base, MS_NOSUID), None);
        // Asking for an atime mode the source does not have cannot be honoured either.
        let m = p(&["bind", "noatime"]);
        assert_eq!(m.remount_with_locked(base, MS_RELATIME), None);
    }

    #[test]
    fn rootfs_propagation_values() {
        assert_eq!(rootfs_propagation(None).unwrap(), MS_SLAVE | MS_REC);
        assert_eq!(rootfs_propagation(Some("")).unwrap(), MS_SLAVE | MS_REC);
        assert_eq!(rootfs_propagation(Some("shared")).unwrap(), MS_SHARED);
        assert_eq!(
            rootfs_propagation(Some("runbindable")).unwrap(),
            MS_UNBINDABLE | MS_REC
        );
        let e = rootfs_propagation(Some("sideways")).unwrap_err();
        assert!(e.contains("'sideways'"), "{e}");
    }
}
