//! Freezing and thawing every process of the cgroup (`pause`, `resume`, and `kill --all`,
//! which freezes so that no process forks away while the signals go out).
//!
//! - v1: `freezer.state` takes `FROZEN`/`THAWED`; reading it shows `FREEZING` until every
//!   task has stopped, so we wait for `FROZEN`.
//! - v2: `cgroup.freeze` takes `1`/`0`; `cgroup.events` says `frozen 1` once it is done.
//!
//! On a hybrid host the v1 freezer is used when mounted, else the unified hierarchy's.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::layout::{Layout, Version};
use super::{files, CgroupError};

/// How long a freeze may take before we give up and thaw again. A task in uninterruptible
/// sleep (`D`, e.g. on a hung NFS server) cannot freeze until it wakes.
pub const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the freezer of this cgroup is.
enum Freezer {
    /// `.../freezer/<cgroup>/freezer.state`
    V1(PathBuf),
    /// `.../<cgroup>/` with `cgroup.freeze` and `cgroup.events`
    V2(PathBuf),
}

fn locate(layout: &Layout) -> Result<Freezer, CgroupError> {
    if let Some(d) = layout.v1("freezer") {
        return Ok(Freezer::V1(d.path()));
    }
    match layout.unified() {
        Some(d) if d.version == Version::V2 => Ok(Freezer::V2(d.path())),
        _ => Err(CgroupError::NoController {
            field: "pause/resume (freezing the cgroup)".into(),
            controller: "freezer".into(),
        }),
    }
}

/// Whether a freezer is available at all.
pub fn available(layout: &Layout) -> bool {
    locate(layout).is_ok()
}

/// Freeze (`true`) or thaw (`false`), returning once the kernel reports it done.
pub fn set(layout: &Layout, frozen: bool) -> Result<(), CgroupError> {
    match locate(layout)? {
        Freezer::V1(dir) => {
            let file = dir.join("freezer.state");
            let want = if frozen { "FROZEN" } else { "THAWED" };
            files::write(&file, want)?;
            wait(&file, frozen, || {
                let state = files::read(&file)?;
                if frozen && state == "FREEZING" {
                    // Re-asking makes the kernel retry tasks that were busy the first time.
                    files::write(&file, want)?;
                }
                Ok(state == want)
            })
        }
        Freezer::V2(dir) => {
            let file = dir.join("cgroup.freeze");
            files::write(&file, if frozen { "1" } else { "0" })?;
            let events = dir.join("cgroup.events");
            wait(&file, frozen, || {
                Ok(v2_frozen(&files::read(&events)?) == frozen)
            })
        }
    }
}

/// Whether the freezer reports the cgroup frozen (v1 `FREEZING` is not yet frozen).
pub fn is_frozen(layout: &Layout) -> Result<bool, CgroupError> {
    match locate(layout)? {
        Freezer::V1(dir) => Ok(files::read(&dir.join("freezer.state"))? == "FROZEN"),
        Freezer::V2(dir) => Ok(v2_frozen(&files::read(&dir.join("cgroup.events"))?)),
    }
}

fn v2_frozen(events: &str) -> bool {
    events.lines().any(|l| l.trim() == "frozen 1")
}

/// Poll `done` with a growing pause until it holds or [`FREEZE_TIMEOUT`] passes; a freeze
/// that times out is undone, so a container is never left half frozen.
fn wait(
    file: &std::path::Path,
    freezing: bool,
    mut done: impl FnMut() -> Result<bool, CgroupError>,
) -> Result<(), CgroupError> {
    let deadline = Instant::now() + FREEZE_TIMEOUT;
    let mut pause = Duration::from_micros(100);
    loop {
        if done()? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let message = if freezing {
                let undo = if file.ends_with("freezer.state") {
                    "THAWED"
                } else {
                    "0"
                };
                let _ = files::write(file, undo);
                format!(
                    "freezing did not finish within {}s (a process may be in uninterruptible sleep); the cgroup was thawed again",
                    FREEZE_TIMEOUT.as_secs()
                )
            } else {
                format!(
                    "thawing did not finish within {}s",
                    FREEZE_TIMEOUT.as_secs()
                )
            };
            return Err(CgroupError::State {
                path: file.display().to_string(),
                message,
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}
