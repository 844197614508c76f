//! Resolving `linux.cgroupsPath` to the container's cgroup in each hierarchy.
//!
//! Three forms, as runc reads them:
//! - absolute `/a/b`: the same path below every hierarchy's mount point;
//! - relative `a/b`: below the cgroup the runtime itself is in, per hierarchy
//!   (`/proc/self/cgroup`), so it can differ between hierarchies;
//! - systemd `slice:prefix:name` (what podman and containerd pass with
//!   `--systemd-cgroup`): `machine.slice:libpod:ID` → `/machine.slice/libpod-ID.scope`,
//!   slices nesting by their dashes (`a-b.slice` → `/a.slice/a-b.slice`). We accept the
//!   form but manage the resulting path with cgroupfs ourselves, without asking systemd.
//!
//! Absent or empty, the path is `/initscope/<id>`.

use std::collections::BTreeMap;

use super::CgroupError;

/// The parent of containers that do not name a cgroupsPath. It belongs to the runtime:
/// created on demand, removed by whichever `delete` leaves it empty.
pub const DEFAULT_PARENT: &str = "/initscope";
/// runc's default slice for `--systemd-cgroup` without a path (root, not rootless).
pub const SYSTEMD_DEFAULT_SLICE: &str = "system.slice";
/// runc uses `runc`; ours names the scope after the runtime.
pub const SYSTEMD_SCOPE_PREFIX: &str = "initscope";

/// A cgroupsPath after parsing, before it meets the hierarchies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// `/a/b`, cleaned.
    Absolute(String),
    /// `a/b`, cleaned (no leading slash), relative to the runtime's own cgroups.
    Relative(String),
}

/// Parse `linux.cgroupsPath`. With `systemd` (the `--systemd-cgroup` flag) the path must
/// be `slice:prefix:name`; without it, a path of that shape (three `:`-separated parts, no
/// `/`) is still read the systemd way, because clients pass it whenever their own config
/// says systemd, whatever flag they give us.
pub fn parse(cgroups_path: Option<&str>, id: &str, systemd: bool) -> Result<Spec, CgroupError> {
    let given = cgroups_path.unwrap_or("").trim();
    if given.is_empty() {
        if id.is_empty() || id.contains('/') || id == "." || id == ".." {
            return Err(CgroupError::Invalid(format!(
                "container id {id:?} cannot name a cgroup; use an id without '/'"
            )));
        }
        if systemd {
            let spec = format!("{SYSTEMD_DEFAULT_SLICE}:{SYSTEMD_SCOPE_PREFIX}:{id}");
            return systemd_to_path(&spec).map(Spec::Absolute);
        }
        return Ok(Spec::Absolute(format!("{DEFAULT_PARENT}/{id}")));
    }
    let looks_systemd = given.split(':').count() == 3 && !given.contains('/');
    if systemd || looks_systemd {
        return systemd_to_path(given).map(Spec::Absolute);
    }
    let cleaned = clean(given)?;
    if given.starts_with('/') {
        if cleaned.is_empty() {
            return Err(CgroupError::Invalid(format!(
                "linux.cgroupsPath {given:?} is the root cgroup; give the container a cgroup of its own (e.g. /initscope/ID)"
            )));
        }
        Ok(Spec::Absolute(format!("/{cleaned}")))
    } else {
        Ok(Spec::Relative(cleaned))
    }
}

/// Drop empty and `.` components; refuse `..` (it would climb out of the hierarchy or out
/// of the runtime's own cgroup, which is never what a config means).
fn clean(p: &str) -> Result<String, CgroupError> {
    let mut parts = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(CgroupError::Invalid(format!(
                    "linux.cgroupsPath {p:?}: '..' is not allowed; give a path without it"
                )))
            }
            c if c.contains('\0') => {
                return Err(CgroupError::Invalid(format!(
                    "linux.cgroupsPath {p:?} contains a NUL byte"
                )))
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// `slice:prefix:name` → the cgroupfs path systemd would give that unit.
pub fn systemd_to_path(spec: &str) -> Result<String, CgroupError> {
    let bad = |why: &str| {
        CgroupError::Invalid(format!(
            "linux.cgroupsPath {spec:?}: {why}; the systemd form is slice:prefix:name (e.g. system.slice:docker:ID)"
        ))
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Err(bad("expected exactly three ':'-separated parts"));
    };
    if name.is_empty() || name.contains('/') || prefix.contains('/') {
        return Err(bad(
            "the name must be non-empty and neither part may contain '/'",
        ));
    }
    let slice = if slice.is_empty() {
        SYSTEMD_DEFAULT_SLICE
    } else {
        slice
    };
    let parent = expand_slice(slice).map_err(|why| bad(&why))?;
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok(format!("{parent}/{unit}"))
}

/// systemd's slice nesting: `a-b-c.slice` lives at `/a.slice/a-b.slice/a-b-c.slice`;
/// `-.slice` is the root.
pub fn expand_slice(slice: &str) -> Result<String, String> {
    let Some(base) = slice.strip_suffix(".slice") else {
        return Err(format!("slice {slice:?} must end in .slice"));
    };
    if base == "-" {
        return Ok(String::new());
    }
    if base.is_empty() || base.contains('/') {
        return Err(format!("slice {slice:?} is not a valid slice name"));
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in base.split('-') {
        if part.is_empty() {
            return Err(format!(
                "slice {slice:?} has an empty component (leading, trailing or doubled '-')"
            ));
        }
        path.push_str(&format!("/{prefix}{part}.slice"));
        prefix.push_str(part);
        prefix.push('-');
    }
    Ok(path)
}

/// `/proc/<pid>/cgroup` as a map from hierarchy key (`cpu,cpuacct`, `name=systemd`, `""`
/// for cgroup2) to the cgroup path.
pub fn parse_proc_cgroup(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, keys, path) = (f.next()?, f.next()?, f.next()?);
            Some((keys.to_string(), path.to_string()))
        })
        .collect()
}

/// The entry of `own` (from [`parse_proc_cgroup`]) for a hierarchy with these controllers,
/// comparing as sets so `cpuacct,cpu` matches `cpu,cpuacct`.
pub fn own_path<'a>(own: &'a BTreeMap<String, String>, controllers: &[String]) -> Option<&'a str> {
    let mut want: Vec<&str> = controllers.iter().map(String::as_str).collect();
    want.sort_unstable();
    own.iter().find_map(|(k, v)| {
        let mut have: Vec<&str> = k.split(',').filter(|s| !s.is_empty()).collect();
        have.sort_unstable();
        (have == want).then_some(v.as_str())
    })
}

/// Join the runtime's own cgroup `own` (seen with the mount's `root` stripped, as runc
/// does) and a relative path.
pub fn join_relative(own: &str, mount_root: &str, rel: &str) -> String {
    let own = if mount_root != "/" {
        own.strip_prefix(mount_root).unwrap_or(own)
    } else {
        own
    };
    let own = own.trim_end_matches('/');
    format!("{own}/{rel}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abs(p: &str) -> Spec {
        Spec::Absolute(p.into())
    }

    #[test]
    fn default_and_absolute_and_relative() {
        assert_eq!(parse(None, "c1", false).unwrap(), abs("/initscope/c1"));
        assert_eq!(parse(Some(""), "c1", false).unwrap(), abs("/initscope/c1"));
        assert_eq!(
            parse(Some("/a//b/./c/"), "x", false).unwrap(),
            abs("/a/b/c")
        );
        assert_eq!(
            parse(Some("libpod_parent/x"), "x", false).unwrap(),
            Spec::Relative("libpod_parent/x".into())
        );
    }

    #[test]
    fn bad_paths_are_refused_with_the_field_named() {
        for p in ["/a/../b", "..", "/"] {
            let e = parse(Some(p), "x", false).unwrap_err().to_string();
            assert!(e.contains("linux.cgroupsPath"), "{e}");
        }
        assert!(parse(None, "a/b", false).is_err());
    }

    #[test]
    fn systemd_forms() {
        assert_eq!(
            parse(Some("system.slice:docker:abc"), "x", true).unwrap(),
            abs("/system.slice/docker-abc.scope")
        );
        // Recognised by shape even without --systemd-cgroup.
        assert_eq!(
            parse(Some("machine.slice:libpod:abc"), "x", false).unwrap(),
            abs("/machine.slice/libpod-abc.scope")
        );
        assert_eq!(
            parse(
                Some("kubepods-besteffort-pod12.slice:cri-containerd:abc"),
                "x",
                true
            )
            .unwrap(),
            abs("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope")
        );
        assert_eq!(
            parse(Some(":initscope:abc"), "x", true).unwrap(),
            abs("/system.slice/initscope-abc.scope")
        );
        assert_eq!(
            parse(Some("-.slice::abc"), "x", true).unwrap(),
            abs("/abc.scope")
        );
        assert_eq!(
            parse(Some("user.slice:x:sub.slice"), "x", true).unwrap(),
            abs("/user.slice/sub.slice")
        );
        assert_eq!(
            parse(None, "c9", true).unwrap(),
            abs("/system.slice/initscope-c9.scope")
        );
    }

    #[test]
    fn bad_systemd_forms() {
        for p in [
            "/abs/path",
            "a:b",
            "nots:p:n",
            "a--b.slice:p:n",
            "-a.slice:p:n",
            "a.slice:p:",
        ] {
            let e = parse(Some(p), "x", true).unwrap_err().to_string();
            assert!(e.contains("slice:prefix:name"), "{p}: {e}");
        }
    }

    #[test]
    fn proc_cgroup_and_relative_join() {
        let own = parse_proc_cgroup(
            "9:name=systemd:/\n4:memory:/process_api/f2\n1:cpu,cpuacct:/user\n0::/init.scope\n",
        );
        assert_eq!(own_path(&own, &["memory".into()]), Some("/process_api/f2"));
        assert_eq!(
            own_path(&own, &["cpuacct".into(), "cpu".into()]),
            Some("/user")
        );
        assert_eq!(own_path(&own, &[]), Some("/init.scope"));
        assert_eq!(own_path(&own, &["pids".into()]), None);
        assert_eq!(
            join_relative("/process_api/f2", "/", "a/b"),
            "/process_api/f2/a/b"
        );
        assert_eq!(join_relative("/", "/", "a"), "/a");
        assert_eq!(join_relative("/docker/x/sub", "/docker/x", "a"), "/sub/a");
    }
}
