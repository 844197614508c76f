//! Device nodes: runc's defaults (null, zero, full, random, urandom, tty) plus
//! `linux.devices`, created with the right type, mode and owner — or, in a user namespace
//! where mknod is not allowed, bind-mounted from the host's node of the same path.

use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{openat, OFlag, AT_FDCWD};
use nix::sys::stat::{fchmodat, fstat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, Gid, Uid};
use oci_spec::runtime::{LinuxDeviceType, Spec};

use super::secure_join::clean;
use super::{sys, Ctx, RootfsError};
use crate::events::schema::EventKind;

/// One node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Clean absolute path inside the container.
    pub path: String,
    /// `c`, `b` or `p` (`u` is a character device too).
    pub kind: char,
    pub major: i64,
    pub minor: i64,
    /// Permission bits (file type bits stripped).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

const DEFAULTS: &[(&str, i64, i64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The defaults, then `linux.devices` (a config device replaces a default of the same path).
pub fn plan(spec: &Spec) -> Result<Vec<DeviceNode>, RootfsError> {
    let mut nodes: Vec<DeviceNode> = DEFAULTS
        .iter()
        .map(|&(path, major, minor)| DeviceNode {
            path: path.into(),
            kind: 'c',
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
    let devs = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (i, d) in devs.iter().enumerate() {
        let raw = d.path().to_string_lossy().to_string();
        let field = format!("linux.devices[{i}] ({raw})");
        if raw.is_empty() {
            return Err(RootfsError::Invalid(format!("{field}: path is empty")));
        }
        let path = clean(&raw);
        if path == "/" {
            return Err(RootfsError::Invalid(format!(
                "{field}: path must name a file"
            )));
        }
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::P => 'p',
            LinuxDeviceType::A => {
                return Err(RootfsError::Invalid(format!(
                    "{field}: type 'a' is only for cgroup device rules; use c, b, u or p"
                )))
            }
        };
        let (major, minor) = if kind == 'p' {
            (0, 0)
        } else {
            (d.major(), d.minor())
        };
        if !(0..=0xfff).contains(&major) || !(0..=0xf_ffff).contains(&minor) {
            return Err(RootfsError::Invalid(format!(
                "{field}: major {major} / minor {minor} out of range"
            )));
        }
        nodes.retain(|n| n.path != path);
        nodes.push(DeviceNode {
            path,
            kind,
            major,
            minor,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(nodes)
}

/// Create every node (`/dev/ptmx` is left to the ptmx symlink, as in runc).
pub fn create_all(ctx: &mut Ctx, nodes: &[DeviceNode]) -> Result<(), RootfsError> {
    for node in nodes.iter().filter(|n| n.path != "/dev/ptmx") {
        if ctx.userns {
            bind_node(ctx, node)?;
            continue;
        }
        match mknod_node(ctx, node) {
            Err(RootfsError::Sys {
                source: Errno::EPERM,
                ..
            }) => bind_node(ctx, node)?,
            other => other?,
        }
    }
    Ok(())
}

fn sflag(kind: char) -> SFlag {
    match kind {
        'b' => SFlag::S_IFBLK,
        'p' => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    }
}

fn mknod_node(ctx: &mut Ctx, n: &DeviceNode) -> Result<(), RootfsError> {
    let (dir, name) = ctx
        .root
        .parent(&n.path)
        .map_err(RootfsError::sys("mkdir", format!("parent of {}", n.path)))?;
    let dev = libc::makedev(n.major as u32, n.minor as u32);
    match mknodat(
        &dir,
        name.as_str(),
        sflag(n.kind),
        Mode::from_bits_truncate(n.mode),
        dev,
    ) {
        Ok(()) => {}
        // Already there (a rootfs with its own /dev): keep it, as runc does.
        Err(Errno::EEXIST) => return Ok(()),
        Err(e) => return Err(RootfsError::sys("mknod", n.path.clone())(e)),
    }
    // Set mode (the umask applied to mknod) and owner on exactly the node just made.
    let fd = openat(
        &dir,
        name.as_str(),
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(RootfsError::sys("open", n.path.clone()))?;
    let st = fstat(&fd).map_err(RootfsError::sys("stat", n.path.clone()))?;
    if st.st_mode & libc::S_IFMT != sflag(n.kind).bits() || (n.kind != 'p' && st.st_rdev != dev) {
        return Err(RootfsError::refused(
            "mknod",
            n.path.clone(),
            "the node changed under us while it was being created",
        ));
    }
    fchmodat(
        AT_FDCWD,
        &sys::proc_fd_path(&fd),
        Mode::from_bits_truncate(n.mode),
        FchmodatFlags::FollowSymlink,
    )
    .map_err(RootfsError::sys("chmod", n.path.clone()))?;
    fchownat(
        fd.as_fd(),
        "",
        Some(Uid::from_raw(n.uid)),
        Some(Gid::from_raw(n.gid)),
        AtFlags::AT_EMPTY_PATH,
    )
    .map_err(RootfsError::sys("chown", n.path.clone()))?;
    (ctx.emit)(EventKind::Device {
        path: n.path.clone(),
        dev_type: n.kind.to_string(),
        major: n.major,
        minor: n.minor,
        bind: false,
    });
    Ok(())
}

/// Bind the host's node at the same path onto an empty file in the container.
fn bind_node(ctx: &mut Ctx, n: &DeviceNode) -> Result<(), RootfsError> {
    let fd = ctx
        .root
        .create_file(&n.path)
        .map_err(RootfsError::sys("create", n.path.clone()))?;
    sys::mount(
        Some(&n.path),
        &sys::proc_fd_path(&fd),
        Some("bind"),
        super::options::MS_BIND,
        None,
    )
    .map_err(RootfsError::sys(
        "bind device",
        format!("{} (from the host)", n.path),
    ))?;
    ctx.mount_event(&n.path, &n.path, "bind", super::options::MS_BIND, "");
    (ctx.emit)(EventKind::Device {
        path: n.path.clone(),
        dev_type: n.kind.to_string(),
        major: n.major,
        minor: n.minor,
        bind: true,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(devices: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {"devices": devices},
        }))
        .unwrap()
    }

    #[test]
    fn defaults_then_config_devices_override_by_path() {
        let nodes = plan(&spec(serde_json::json!([
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o20600, "uid": 7, "gid": 8},
            {"path": "/dev/null", "type": "u", "major": 1, "minor": 3, "fileMode": 0o640},
            {"path": "/dev/myfifo", "type": "p", "major": 99, "minor": 99},
            {"path": "/dev/loop9", "type": "b", "major": 7, "minor": 9},
        ])))
        .unwrap();
        let paths: Vec<_> = nodes.iter().map(|n| n.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty",
                "/dev/fuse",
                "/dev/null",
                "/dev/myfifo",
                "/dev/loop9"
            ]
        );
        let fuse = &nodes[5];
        assert_eq!(
            (fuse.kind, fuse.major, fuse.minor, fuse.mode, fuse.uid, fuse.gid),
            ('c', 10, 229, 0o600, 7, 8)
        );
        assert_eq!(nodes[6].mode, 0o640);
        assert_eq!((nodes[7].kind, nodes[7].major), ('p', 0));
        assert_eq!((nodes[8].kind, nodes[8].mode), ('b', 0o666));
    }

    #[test]
    fn bad_devices_are_named() {
        let e = plan(&spec(serde_json::json!([{"path": "/dev/x", "type": "a"}]))).unwrap_err();
        assert!(
            e.to_string()
                .contains("linux.devices[0] (/dev/x): type 'a'"),
            "{e}"
        );
        let e = plan(&spec(serde_json::json!([{"path": "", "type": "c"}]))).unwrap_err();
        assert!(e.to_string().contains("path is empty"), "{e}");
    }
}
