//! `demo` and `run` without a terminal (or with `--print`): the same launch, without a
//! screen. Each step goes to stderr as it happens; at the end — once the container's
//! process has exited, `create` or `start` failed, or SIGINT/SIGTERM came — the diagram as
//! text and a summary go to stdout, and the exit status is the container's.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::launch::{last_line, Driver, Launch};
use super::CmdError;
use crate::session::Session;
use crate::sources::{self, Source};
use crate::terminal;

/// How often the sources and the runtime commands are looked at.
const TICK: Duration = Duration::from_millis(50);
/// After the end, events still arriving are waited for this long (the kernel's report of
/// the exit, the runtime's last lines).
const GRACE: Duration = Duration::from_millis(300);

/// How a headless launch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The container's process exited with this status (128+N for signal N).
    Exited(i32),
    /// `create` or `start` failed with this status.
    Failed(i32),
    /// SIGINT/SIGTERM/SIGHUP: 128+N.
    Interrupted(i32),
}

/// Fold events as they arrive and move the runtime commands on, until the end.
pub(crate) fn drive(
    session: &mut Session,
    sources: &mut [Box<dyn Source>],
    driver: &mut Driver,
    who: &str,
) -> Result<Ended, CmdError> {
    terminal::install_handlers();
    let mut open = vec![true; sources.len()];
    let mut lines = Vec::new();
    let mut ended: Option<(Ended, Instant)> = None;
    loop {
        if terminal::QUIT.load(Ordering::SeqCst) {
            let sig = terminal::QUIT_SIGNAL.load(Ordering::SeqCst);
            return Ok(ended.map_or(Ended::Interrupted(128 + sig), |(e, _)| e));
        }
        wait(sources, &open, TICK);
        for (i, src) in sources.iter_mut().enumerate() {
            if !open[i] {
                continue;
            }
            lines.clear();
            match src.drain(&mut lines) {
                Ok(still) => open[i] = still,
                Err(e) => {
                    open[i] = false;
                    eprintln!("initscope {who}: {}: {e}", src.describe());
                }
            }
            for l in &lines {
                session.push_line(l);
            }
        }
        if let Some(msg) = driver.turn() {
            eprintln!("initscope {who}: {msg}");
        }
        match ended {
            None => {
                if let Some(status) = driver.failed() {
                    ended = Some((Ended::Failed(status), Instant::now()));
                } else if let Some(status) = driver.container_exit(&session.model) {
                    eprintln!("initscope {who}: the container's process exited (status {status})");
                    ended = Some((Ended::Exited(status), Instant::now()));
                }
            }
            Some((e, t)) if t.elapsed() >= GRACE => return Ok(e),
            Some(_) => {}
        }
    }
}

/// Wait until a source has something, or `wait` passes.
fn wait(sources: &[Box<dyn Source>], open: &[bool], wait: Duration) {
    sources::wait_readable(&sources::open_fds(None, sources, open), wait);
}

/// Print the diagram, the summary, what the container and the runtime wrote, and how it
/// ended; return the exit status.
pub(crate) fn finish(
    session: &Session,
    driver: &Driver,
    l: &Launch,
    ended: Ended,
) -> Result<i32, CmdError> {
    use std::io::Write;
    let mut out = crate::printout::report(session);
    let log = driver.log();
    if !log.trim().is_empty() {
        out.push_str("\noutput (the container's and the runtime's stdout and stderr)\n");
        for line in log.lines() {
            out.push_str(&format!("  | {line}\n"));
        }
    }
    let (status, last) = match ended {
        Ended::Exited(s) => (s, format!("the container exited with status {s}")),
        Ended::Failed(s) => (
            s,
            format!(
                "the container did not start (status {s}): {}",
                last_line(&log)
            ),
        ),
        Ended::Interrupted(s) => (s, "interrupted: the container was deleted".to_string()),
    };
    out.push('\n');
    out.push_str(&last);
    out.push('\n');
    if let Some(r) = &l.record {
        out.push_str(&format!(
            "recorded to {0}; step through it with: {1} replay {0}\n",
            r.display(),
            super::invoked_as()
        ));
    }
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| CmdError::io("stdout", e))?;
    Ok(status)
}
