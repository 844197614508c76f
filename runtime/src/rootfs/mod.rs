//! The container's filesystem, prepared by `[2:INIT]` inside its new mount namespace.
//!
//! Order (runc's `prepareRootfs` / `finalizeRootfs`):
//! 1. [`prepare`]: make `/` private/slave as `rootfsPropagation` says, bind the rootfs onto
//!    itself, mount `spec.mounts` in order (proc, /dev tmpfs, devpts, shm, mqueue, sysfs,
//!    cgroup, binds with their options), create default devices and `/dev` symlinks.
//! 2. (create runs prestart/createRuntime hooks here: `procHooks`.)
//! 3. [`pivot`]: `pivot_root` into the rootfs and detach the old root, or with `--no-pivot`
//!    move the rootfs onto `/` and chroot.
//! 4. [`finalize`]: masked paths, read-only paths, read-only root.
//!
//! Every step reports itself through `emit` (an [`EventKind::Mount`], `Device`, …) after
//! it succeeded.
//!
//! INTERFACE STUB: the signatures are the contract; the bodies are being written.

use std::path::Path;

use oci_spec::runtime::Spec;

use crate::events::schema::EventKind;

/// What went wrong preparing the rootfs; each names the path and the step.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{step} {path}: {source}")]
    Sys {
        step: &'static str,
        path: String,
        #[source]
        source: nix::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl RootfsError {
    /// The errno, when the failure came from a syscall.
    pub fn errno(&self) -> Option<i32> {
        match self {
            RootfsError::Sys { source, .. } => Some(*source as i32),
            RootfsError::Invalid(_) => None,
        }
    }
}

/// Step 1: mounts, devices and symlinks under `rootfs` (an absolute host path), in the
/// current (new) mount namespace.
pub fn prepare(
    spec: &Spec,
    rootfs: &Path,
    emit: &mut dyn FnMut(EventKind),
) -> Result<(), RootfsError> {
    let _ = (spec, rootfs, emit);
    Ok(())
}

/// Step 3: switch the root to `rootfs`.
pub fn pivot(
    rootfs: &Path,
    no_pivot: bool,
    emit: &mut dyn FnMut(EventKind),
) -> Result<(), RootfsError> {
    let _ = no_pivot;
    nix::unistd::chroot(rootfs).map_err(|source| RootfsError::Sys {
        step: "chroot",
        path: rootfs.display().to_string(),
        source,
    })?;
    nix::unistd::chdir("/").map_err(|source| RootfsError::Sys {
        step: "chdir",
        path: "/".into(),
        source,
    })?;
    emit(EventKind::PivotRoot {
        rootfs: rootfs.display().to_string(),
        method: "chroot".into(),
    });
    Ok(())
}

/// Step 4: masked paths, read-only paths, read-only root (after the root switch).
pub fn finalize(spec: &Spec, emit: &mut dyn FnMut(EventKind)) -> Result<(), RootfsError> {
    let _ = (spec, emit);
    Ok(())
}
