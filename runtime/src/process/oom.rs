//! `oom_score_adj`, written early (by `[0:PARENT]`, as runc's nsexec does) so every later
//! stage inherits it. Lowering it needs CAP_SYS_RESOURCE, which this machine's root lacks:
//! that fails with a clear error.

use crate::bootstrap::failure::StageFailure;
use crate::events::emitter::Emitter;
use crate::events::schema::EventKind;

pub fn set_oom_score_adj(value: i32, em: &mut Emitter) -> Result<(), StageFailure> {
    let path = "/proc/self/oom_score_adj";
    std::fs::write(path, value.to_string()).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        let mut f = StageFailure::sys(
            em.stage(),
            "oom_score_adj",
            format!("write {value} to {path}"),
            nix::Error::from_raw(errno),
        );
        if errno == libc::EACCES || errno == libc::EPERM {
            f.message
                .push_str(" (lowering oom_score_adj needs CAP_SYS_RESOURCE)");
        }
        f
    })?;
    em.emit(EventKind::OomScoreAdj { value });
    Ok(())
}
