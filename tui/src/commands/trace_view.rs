//! `initscope trace -- COMMAND` on a terminal: the diagram from the probe alone, for any
//! runtime (`initscope trace -- runc run ID`). The text and JSON forms are in
//! `trace_cmd.rs`.

use initscope_probe::held::HeldChild;
use initscope_probe::{Probe, ProbeOptions};

use super::CmdError;
use crate::app::{self, Hooks};
use crate::session::Session;
use crate::sources::probe::ProbeSource;
use crate::sources::stdio::with_redirected;
use crate::sources::Source;
use crate::trace_cmd::TraceArgs;
use crate::view::{Mode, View};

/// The recording that ships with the repository, to point people without root at.
pub const SHIPPED_RUNC: &str = "tui/recordings/runc.jsonl";

pub fn run(args: TraceArgs) -> Result<(), CmdError> {
    if args.command.is_empty() && args.pid.is_empty() && args.comm.is_empty() {
        return Err(CmdError::Usage(
            "nothing to trace: give `-- COMMAND…`, --pid PID or --comm PREFIX".into(),
        ));
    }
    super::need_bpf()?;
    let store = super::watch::open_store(args.record.as_ref())?;
    let mut probe = Probe::load(ProbeOptions {
        pids: args.pid.clone(),
        comm_prefixes: args.comm.clone(),
        ring_bytes: args.ring_bytes,
        ..Default::default()
    })
    .map_err(|e| CmdError::Usage(format!("loading the probe: {e}")))?;
    let what = if args.command.is_empty() {
        let mut w: Vec<String> = args.pid.iter().map(|p| format!("pid {p}")).collect();
        w.extend(args.comm.iter().map(|c| format!("comm {c}*")));
        w.join(", ")
    } else {
        args.command.join(" ")
    };
    let log = std::env::temp_dir().join(format!("initscope-trace-{}.log", std::process::id()));
    let mut child = if args.command.is_empty() {
        None
    } else {
        let spawned = with_redirected(&log, || HeldChild::spawn(&args.command))
            .map_err(|e| CmdError::io(log.display().to_string(), e))?;
        let mut c = spawned.map_err(|e| CmdError::Usage(e.to_string()))?;
        probe
            .track_pid(c.pid())
            .map_err(|e| CmdError::Usage(e.to_string()))?;
        c.release().map_err(|e| CmdError::Usage(e.to_string()))?;
        Some(c)
    };
    let mut session = Session::new(store);
    let mut view = View::new(Mode::Live, format!("trace {what}"));
    if child.is_some() {
        view.flash(format!("the command's output goes to {}", log.display()));
    }
    let mut sources: Vec<Box<dyn Source>> = vec![Box::new(ProbeSource::new(probe, what))];
    let mut reported = false;
    let mut every_turn = |v: &mut View| {
        if let (Some(c), false) = (child.as_mut(), reported) {
            if let Ok(Some(exit)) = c.try_wait() {
                reported = true;
                v.flash(format!(
                    "command exited with status {}; q quits",
                    exit.status()
                ));
            }
        }
    };
    let r = app::run(
        &mut session,
        &mut view,
        &mut sources,
        Hooks {
            export: None,
            every_turn: Some(&mut every_turn),
        },
    );
    // Quitting while the command runs ends it, as Ctrl-C in `trace --text` would.
    if let Some(c) = child.as_mut() {
        if !reported && c.try_wait().ok().flatten().is_none() {
            c.signal(nix::sys::signal::Signal::SIGTERM);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while c.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            c.signal(nix::sys::signal::Signal::SIGKILL);
            let _ = c.wait();
        }
    }
    drop(sources); // detaches the probe
    if child.is_some() {
        match std::fs::metadata(&log) {
            Ok(m) if m.len() > 0 => eprintln!(
                "initscope: the traced command's output is in {}",
                log.display()
            ),
            _ => {
                let _ = std::fs::remove_file(&log);
            }
        }
    }
    r.map_err(|e| CmdError::io("terminal", e))
}
