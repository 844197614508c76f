//! Syscall tracepoints are attached by id, and the ids are only published in tracefs.
//! Where tracefs is not mounted (this project's VMs: systemd is not there to do it), the
//! attaching is done in a short-lived thread that gets a private mount namespace and
//! mounts tracefs there: the host's mount table never changes and nothing is left behind.

use std::path::Path;

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

const MOUNT_POINT: &str = "/sys/kernel/tracing";

/// Is tracefs visible where aya looks for it (a non-empty directory)?
pub(crate) fn mounted() -> bool {
    [MOUNT_POINT, "/sys/kernel/debug/tracing"].iter().any(|p| {
        Path::new(p)
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    })
}

/// Run `f` where tracefs is mounted: here if it is, else on a thread with its own mount
/// namespace. `f`'s attachments (perf event fds) outlive that namespace.
pub(crate) fn with_tracefs<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, String> {
    if mounted() {
        return Ok(f());
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            // CLONE_NEWNS from one thread unshares only that thread's view (it implies
            // CLONE_FS, which a thread may unshare alone).
            unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))?;
            // private first, or the new mount would propagate back to the host
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .map_err(|e| format!("making / private in the probe's mount namespace: {e}"))?;
            mount(
                Some("tracefs"),
                MOUNT_POINT,
                Some("tracefs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .map_err(|e| format!("mounting tracefs on {MOUNT_POINT}: {e}"))?;
            Ok(f())
        })
        .join()
        .map_err(|_| "the tracefs thread panicked".to_string())?
    })
}
