//! The container's filesystem, prepared by `[2:INIT]` inside its new mount namespace.
//!
//! Order (runc's `prepareRootfs` / `finalizeRootfs`):
//! 1. [`prepare`]: make `/` rslave (or what `rootfsPropagation` says), keep the rootfs's
//!    parent mount from being shared, bind the rootfs onto itself, mount `spec.mounts` in
//!    order (proc, /dev tmpfs, devpts, shm, mqueue, sysfs, cgroup, binds with their
//!    options), then — unless `/dev` is a bind mount — create the devices, `/dev/ptmx` and
//!    the `/dev` symlinks.
//! 2. (create runs prestart/createRuntime hooks here: `procHooks`.)
//! 3. [`pivot`]: `pivot_root` into the rootfs and detach the old root, or with `--no-pivot`
//!    move the rootfs onto `/` and chroot.
//! 4. (the runtime sets up the console and writes sysctls here: they need a writable
//!    `/dev` and `/proc/sys`.)
//! 5. [`finalize`]: read-only tmpfs and `/dev` remounts, read-only root, read-only paths,
//!    masked paths — runc's order.
//!
//! Every step reports itself through `emit` (an [`EventKind::Mount`], `Device`, …) after
//! it succeeded. Destinations are always resolved inside the rootfs (`secure_join`), and
//! every mount is made on a `/proc/self/fd/N` path of the opened target.

mod cgroup_mount;
mod copyup;
mod devices;
mod idmap;
mod mountinfo;
mod mounts;
mod options;
mod paths;
mod pivot;
mod plan;
mod secure_join;
mod symlinks;
mod sys;
mod userns;

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use self::mountinfo::MountInfo;

use crate::events::schema::EventKind;

pub use idmap::{open_all as open_idmapped, Detached, IdmapError};
pub use options::ms_names;

/// What went wrong preparing the rootfs; each names the step and the path.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A syscall failed: `mount proc on /proc: EPERM: Operation not permitted`.
    #[error("{step} {path}: {source}")]
    Sys {
        step: &'static str,
        path: String,
        #[source]
        source: nix::Error,
    },
    /// The config is not usable (checked before anything is mounted).
    #[error("{0}")]
    Invalid(String),
    /// A step refused to go on because the rootfs looks like an escape attempt or the
    /// host cannot do what was asked: `mount proc on /proc: refused: …`.
    #[error("{step} {path}: refused: {reason}")]
    Refused {
        step: &'static str,
        path: String,
        reason: String,
    },
    /// An id-mapped mount could not be made (`mounts[2].uidMappings (/data): …`).
    #[error("{0}")]
    Idmap(#[from] IdmapError),
}

impl RootfsError {
    /// The errno, when the failure came from a syscall.
    pub fn errno(&self) -> Option<i32> {
        match self {
            RootfsError::Sys { source, .. } => Some(*source as i32),
            RootfsError::Invalid(_) | RootfsError::Refused { .. } => None,
            RootfsError::Idmap(e) => e.errno(),
        }
    }

    /// The step that failed (`mount`, `mknod`, `pivot_root`, `mask`, `config`, …), for the
    /// `error` event.
    pub fn step(&self) -> &'static str {
        match self {
            RootfsError::Sys { step, .. } | RootfsError::Refused { step, .. } => step,
            RootfsError::Invalid(_) => "config",
            RootfsError::Idmap(e) => e.step(),
        }
    }

    pub(crate) fn sys(step: &'static str, path: impl Into<String>) -> impl FnOnce(Errno) -> Self {
        let path = path.into();
        move |source| RootfsError::Sys { step, path, source }
    }

    pub(crate) fn refused(
        step: &'static str,
        path: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        RootfsError::Refused {
            step,
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// What every step needs: the rootfs opened as a resolution root, what namespaces the
/// container has, and where to report.
pub(crate) struct Ctx<'a> {
    pub root: secure_join::Root,
    /// Device nodes are bind-mounted from the host instead of mknod'ed.
    pub userns: bool,
    /// The container has its own cgroup namespace: cgroupfs can be mounted for real and
    /// may be writable.
    pub cgroupns: bool,
    /// Id-mapped trees made on the host side, attached in mount order.
    pub detached: Detached,
    /// The mount table read once by `prepare_root`, before any mount inside the rootfs:
    /// where the host's cgroup hierarchies are (a cgroup mount needs them; reading
    /// `/proc/self/mountinfo` again would only add the rootfs's own mounts).
    pub host_mounts: Vec<MountInfo>,
    pub emit: &'a mut dyn FnMut(EventKind),
}

impl Ctx<'_> {
    pub fn mount_event(
        &mut self,
        source: &str,
        destination: &str,
        fstype: &str,
        flags: u64,
        data: &str,
    ) {
        mount_event(self.emit, source, destination, fstype, flags, data);
    }
}

/// Report a mount (or remount, or propagation change) that succeeded.
pub(crate) fn mount_event(
    emit: &mut dyn FnMut(EventKind),
    source: &str,
    destination: &str,
    fstype: &str,
    flags: u64,
    data: &str,
) {
    emit(EventKind::Mount {
        source: source.to_string(),
        destination: destination.to_string(),
        fstype: fstype.to_string(),
        flags: options::ms_names(flags),
        data: data.to_string(),
    });
}

fn has_namespace(spec: &Spec, typ: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|nss| nss.iter().any(|ns| ns.typ() == typ))
}

/// Whether this process already runs in a user namespace other than the initial one.
fn running_in_userns() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| {
            let f: Vec<&str> = m.split_whitespace().collect();
            f != ["0", "0", "4294967295"]
        })
        .unwrap_or(false)
}

/// `prepare` changes propagation of `/`: never let it run in the host's own mount
/// namespace (a bootstrap bug would otherwise rewire the machine's mounts).
fn refuse_host_mount_ns() -> Result<(), RootfsError> {
    use std::os::unix::fs::MetadataExt;
    let own = std::fs::metadata("/proc/self/ns/mnt");
    let init = std::fs::metadata("/proc/1/ns/mnt");
    if let (Ok(own), Ok(init)) = (own, init) {
        if own.ino() == init.ino() && own.dev() == init.dev() {
            return Err(RootfsError::refused(
                "prepare",
                "/",
                "this process shares the mount namespace of pid 1; the rootfs must be prepared \
                 in a new mount namespace (add a \"mount\" namespace to linux.namespaces)",
            ));
        }
    }
    Ok(())
}

fn canonical_rootfs(rootfs: &Path) -> Result<PathBuf, RootfsError> {
    let path = std::fs::canonicalize(rootfs).map_err(|e| RootfsError::Sys {
        step: "open rootfs",
        path: rootfs.display().to_string(),
        source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    if !path.is_dir() {
        return Err(RootfsError::Invalid(format!(
            "root.path {}: not a directory",
            rootfs.display()
        )));
    }
    Ok(path)
}

/// Step 1: mounts, devices and symlinks under `rootfs` (an absolute host path), in the
/// current (new) mount namespace.
///
/// Relative bind-mount sources are resolved against the current directory, which should
/// be the bundle (runc chdirs there too).
pub fn prepare(
    spec: &Spec,
    rootfs: &Path,
    emit: &mut dyn FnMut(EventKind),
) -> Result<(), RootfsError> {
    prepare_with(spec, rootfs, Detached::default(), emit)
}

/// [`prepare`] with the id-mapped trees [`open_idmapped`] made on the host side (an
/// id-mapped entry without one is made here, which needs host privileges).
pub fn prepare_with(
    spec: &Spec,
    rootfs: &Path,
    detached: Detached,
    emit: &mut dyn FnMut(EventKind),
) -> Result<(), RootfsError> {
    // Everything the config says is checked before the first mount.
    let entries = plan::plan(spec)?;
    let devices = devices::plan(spec)?;
    let root_propagation = options::rootfs_propagation(
        spec.linux()
            .as_ref()
            .and_then(|l| l.rootfs_propagation().as_deref()),
    )
    .map_err(RootfsError::Invalid)?;

    let rootfs = canonical_rootfs(rootfs)?;
    if !sys::proc_is_procfs() {
        return Err(RootfsError::refused(
            "prepare",
            "/proc",
            "/proc is not a procfs in the runtime's mount namespace; it is needed to mount \
             on resolved file descriptors",
        ));
    }
    refuse_host_mount_ns()?;

    let host_mounts = pivot::prepare_root(&rootfs, root_propagation, emit)?;

    // Opened only now: the fd must be on the bind mount that pivot_root will use, not on
    // the directory underneath it.
    let root = secure_join::Root::open(&rootfs).map_err(RootfsError::sys(
        "open rootfs",
        rootfs.display().to_string(),
    ))?;
    let mut ctx = Ctx {
        root,
        userns: has_namespace(spec, LinuxNamespaceType::User) || running_in_userns(),
        cgroupns: has_namespace(spec, LinuxNamespaceType::Cgroup),
        detached,
        host_mounts,
        emit,
    };

    for entry in &entries {
        mounts::mount_entry(&mut ctx, entry)?;
    }

    // A bind-mounted /dev brings its own nodes (runc's needsSetupDev).
    let dev_is_bind = entries
        .iter()
        .any(|e| e.is_bind() && e.destination == "/dev");
    if !dev_is_bind {
        devices::create_all(&mut ctx, &devices)?;
        symlinks::ptmx(&mut ctx)?;
        symlinks::dev_symlinks(&mut ctx)?;
    }
    Ok(())
}

/// Step 3: switch the root to `rootfs` (the same path given to [`prepare`]).
pub fn pivot(
    rootfs: &Path,
    no_pivot: bool,
    emit: &mut dyn FnMut(EventKind),
) -> Result<(), RootfsError> {
    let rootfs = canonical_rootfs(rootfs)?;
    if no_pivot {
        pivot::move_chroot(&rootfs, emit)
    } else {
        pivot::pivot_root(&rootfs, emit)
    }
}

/// Step 4: read-only remounts, read-only root, read-only paths, masked paths (after the
/// root switch). Sysctls must be written before this: `/proc/sys` becomes read-only here.
pub fn finalize(spec: &Spec, emit: &mut dyn FnMut(EventKind)) -> Result<(), RootfsError> {
    let entries = plan::plan(spec)?;
    paths::finalize(spec, &entries, emit)
}
