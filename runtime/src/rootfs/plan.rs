//! The config's `mounts`, checked into a plan before anything is mounted: each entry's
//! kind, clean destination and parsed options. Bad input fails here, naming the field.

use oci_spec::runtime::Spec;

use super::idmap::{self, IdMapping};
use super::options::{self, MountOptions, MS_BIND};
use super::secure_join::clean;
use super::RootfsError;

/// What kind of mount an entry is; decides how it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Bind,
    Proc,
    Sysfs,
    Tmpfs,
    Devpts,
    Mqueue,
    /// `cgroup`: the whole cgroup tree as the host has it (v1, v2 or hybrid).
    Cgroup,
    /// `cgroup2`: only the unified hierarchy.
    Cgroup2,
    Other(String),
}

/// One config mount, checked.
#[derive(Debug, Clone)]
pub struct MountEntry {
    /// Clean absolute path inside the container.
    pub destination: String,
    pub source: Option<String>,
    /// The config's `type` (`none` for many binds), or `bind`.
    pub fstype: String,
    pub kind: Kind,
    pub opts: MountOptions,
    /// Its position in the config's `mounts` (errors and id-mapped trees refer to it).
    pub index: usize,
    /// `uidMappings`/`gidMappings` (or `idmap` with the container's): an id-mapped bind.
    pub idmap: Option<IdMapping>,
}

impl MountEntry {
    pub fn is_bind(&self) -> bool {
        self.kind == Kind::Bind
    }

    /// `source on destination`, as errors and the `mount` step name them.
    pub fn what(&self) -> String {
        let src = match &self.kind {
            Kind::Bind => self.source.clone().unwrap_or_default(),
            _ => self.fstype.clone(),
        };
        format!("{src} on {}", self.destination)
    }
}

/// The config's mounts, checked and parsed, in order.
pub fn plan(spec: &Spec) -> Result<Vec<MountEntry>, RootfsError> {
    let Some(mounts) = spec.mounts() else {
        return Ok(Vec::new());
    };
    mounts
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let dest_raw = m.destination().to_string_lossy().to_string();
            let field = format!("mounts[{i}] ({dest_raw})");
            if dest_raw.is_empty() {
                return Err(RootfsError::Invalid(format!(
                    "{field}: destination is empty"
                )));
            }
            let opts = options::parse(m.options().as_deref().unwrap_or(&[]))
                .map_err(|e| RootfsError::Invalid(format!("{field}: {e}")))?;
            let fstype = m.typ().clone().unwrap_or_default();
            let mut e = entry(
                clean(&dest_raw),
                m.source().as_ref().map(|s| s.to_string_lossy().to_string()),
                fstype,
                opts,
            )
            .map_err(|e| RootfsError::Invalid(format!("{field}: {e}")))?;
            e.index = i;
            e.idmap = idmap::resolve(spec, i, m, &e)?;
            Ok(e)
        })
        .collect()
}

fn entry(
    destination: String,
    source: Option<String>,
    fstype: String,
    mut opts: MountOptions,
) -> Result<MountEntry, String> {
    // A `type: bind` without a bind option is still a bind (what users mean).
    if fstype == "bind" && !opts.is_bind() {
        opts.flags |= MS_BIND;
    }
    if destination == "/" {
        return Err(
            "destination / would cover the whole rootfs; set root.path to the directory instead"
                .into(),
        );
    }
    let kind = if opts.is_bind() {
        Kind::Bind
    } else {
        match fstype.as_str() {
            "" | "none" => {
                return Err("type is missing (use e.g. \"tmpfs\", or the \"bind\" option)".into())
            }
            "proc" => Kind::Proc,
            "sysfs" => Kind::Sysfs,
            "tmpfs" => Kind::Tmpfs,
            "devpts" => Kind::Devpts,
            "mqueue" => Kind::Mqueue,
            "cgroup" => Kind::Cgroup,
            "cgroup2" => Kind::Cgroup2,
            other => Kind::Other(other.to_string()),
        }
    };
    if kind == Kind::Bind {
        if source.as_deref().unwrap_or("").is_empty() {
            return Err("a bind mount needs a source".into());
        }
        if let Some(bad) = opts.data.first() {
            return Err(format!(
                "unknown option '{bad}': bind mounts take only mount flags (ro, nosuid, nodev, \
                 noexec, relatime, …), propagation (rprivate, rslave, …) and recursive \
                 attributes (rro, rnosuid, …)"
            ));
        }
    }
    if opts.copy_up && kind != Kind::Tmpfs {
        return Err("option 'tmpcopyup' is only for tmpfs mounts".into());
    }
    if opts.rec_attr.is_some() && kind != Kind::Bind {
        return Err("recursive options (rro, rnosuid, …) are only for bind mounts".into());
    }
    Ok(MountEntry {
        destination,
        source,
        fstype: if kind == Kind::Bind {
            "bind".into()
        } else {
            fstype
        },
        kind,
        opts,
        index: 0,
        idmap: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::options::{MS_RDONLY, MS_REC};

    fn spec_with(mounts: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": mounts,
        }))
        .unwrap()
    }

    #[test]
    fn runc_spec_default_mounts_plan() {
        let spec = spec_with(serde_json::json!([
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
            {"destination": "/data/", "type": "none", "source": "/srv", "options": ["rbind", "ro", "rprivate"]},
        ]));
        let plan = plan(&spec).unwrap();
        let kinds: Vec<_> = plan.iter().map(|e| e.kind.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                Kind::Proc,
                Kind::Tmpfs,
                Kind::Devpts,
                Kind::Cgroup,
                Kind::Bind
            ]
        );
        assert_eq!(plan[1].opts.data_string(), "mode=755,size=65536k");
        assert_eq!(plan[4].destination, "/data");
        assert_eq!(plan[4].fstype, "bind");
        assert_eq!(plan[4].opts.flags, MS_BIND | MS_REC | MS_RDONLY);
        assert_eq!(plan[4].what(), "/srv on /data");
        assert_eq!(plan[0].what(), "proc on /proc");
    }

    #[test]
    fn bad_mounts_are_named() {
        let cases = [
            (
                serde_json::json!([{"destination": "/x", "type": "none", "source": "/srv", "options": ["bind", "mode=755"]}]),
                "mounts[0] (/x): unknown option 'mode=755'",
            ),
            (
                serde_json::json!([{"destination": "/x", "source": "/srv"}]),
                "mounts[0] (/x): type is missing",
            ),
            (
                serde_json::json!([{"destination": "/x", "type": "bind"}]),
                "needs a source",
            ),
            (
                serde_json::json!([{"destination": "/x", "type": "proc", "options": ["tmpcopyup"]}]),
                "only for tmpfs",
            ),
            (
                serde_json::json!([{"destination": "/x", "type": "tmpfs", "options": ["rro"]}]),
                "only for bind",
            ),
            (
                serde_json::json!([{"destination": "/..", "type": "none", "source": "/s", "options": ["rbind"]}]),
                "destination / would cover",
            ),
        ];
        for (mounts, want) in cases {
            let err = plan(&spec_with(mounts)).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }

    #[test]
    fn type_bind_alone_is_a_bind() {
        let plan = plan(&spec_with(serde_json::json!([
            {"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts", "options": ["ro"]}
        ])))
        .unwrap();
        assert!(plan[0].is_bind());
        assert_eq!(plan[0].opts.flags, MS_BIND | MS_RDONLY);
    }
}
