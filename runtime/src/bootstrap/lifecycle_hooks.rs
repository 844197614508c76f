//! Running the config's hooks from the runtime's own processes: `create` (prestart,
//! createRuntime), `[2:INIT]` (createContainer, startContainer), `start` (poststart) and
//! `delete` (poststop). The hook module runs one list; this adds what every caller needs:
//! nothing at all when the list is empty (no syscall on the hot path), the bundle as the
//! working directory where runc has it (runc chdirs into the bundle for its whole run),
//! and warnings printed the way a client shows them.

use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::{Hooks, State};

use crate::events::emitter::Emitter;
use crate::hooks::{self, HookError, HookKind};

/// Run the `kind` hooks of `hooks` with `state` (its status set for `kind`) on stdin, in
/// `cwd` when given (restored afterwards). For poststart/poststop the failures come back as
/// warnings; for the others the first failure is the error.
pub fn run(
    kind: HookKind,
    hooks: Option<&Hooks>,
    state: &State,
    cwd: Option<&Path>,
    em: &mut Emitter,
) -> Result<Vec<HookError>, HookError> {
    let list = match hooks {
        Some(h) if !kind.of(h).is_empty() => kind.of(h),
        _ => return Ok(Vec::new()),
    };
    let json = hooks::state_json(kind, state);
    let back = match cwd {
        Some(dir) => Some(enter(dir).map_err(|errno| HookError::Sys {
            kind,
            index: 0,
            path: dir.display().to_string(),
            op: "chdir to the bundle",
            errno,
        })?),
        None => None,
    };
    let r = hooks::run_hooks(kind, list, &json, &mut |k| {
        // A hook may take its time: show that it runs before waiting for it.
        let started = matches!(k, crate::events::schema::EventKind::HookStart { .. });
        em.emit(k);
        if started {
            em.flush();
        }
    });
    if let Some(fd) = back {
        let _ = nix::unistd::fchdir(&fd);
    }
    r
}

/// Print each warning as a client shows it: one line on stderr.
pub fn warn(warnings: &[HookError]) {
    for w in warnings {
        eprintln!("initscope-runtime: warning: {w}");
    }
}

/// chdir to `dir`, returning the previous working directory to go back to.
fn enter(dir: &Path) -> Result<std::os::fd::OwnedFd, nix::Error> {
    let here = open(
        ".",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    nix::unistd::chdir(dir)?;
    Ok(here)
}
