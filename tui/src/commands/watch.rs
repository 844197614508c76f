//! `initscope watch`: bind the well-known events socket and show every initscope-runtime
//! bootstrap as it happens (including ones podman or containerd start). With root, the
//! probe follows the runtime's processes by name too, so the kernel's side is there.

use std::path::PathBuf;

use initscope_probe::{Probe, ProbeOptions};

use super::CmdError;
use crate::app::{self, Hooks};
use crate::session::Session;
use crate::sources::probe::ProbeSource;
use crate::sources::socket::SocketSource;
use crate::sources::Source;
use crate::store::EventStore;
use crate::view::{Mode, View};

/// Process names of initscope-runtime's processes (comm is cut at 15 bytes).
pub const RUNTIME_COMMS: [&str; 2] = ["initscope-run", "isc:["];

pub struct WatchOpts {
    pub socket: PathBuf,
    pub record: Option<PathBuf>,
    pub probe: bool,
}

pub fn run(o: WatchOpts) -> Result<(), CmdError> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return Err(CmdError::Usage(
            "watch draws the bootstraps live and needs a terminal; without one, each \
             container's record is <root>/<id>/events.jsonl (`initscope replay --print` or \
             `initscope diagnose` read it)"
                .into(),
        ));
    }
    let store = open_store(o.record.as_ref())?;
    let sock = SocketSource::bind(&o.socket).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            // Not root, and no $XDG_RUNTIME_DIR: the default is root's socket.
            CmdError::Usage(format!(
                "binding {}: permission denied; run as root, or give a socket you may make with --socket PATH (and the runtime INITSCOPE_EVENTS=PATH)",
                o.socket.display()
            ))
        } else {
            CmdError::io(format!("binding {}", o.socket.display()), e)
        }
    })?;
    let mut sources: Vec<Box<dyn Source>> = vec![Box::new(sock)];
    let mut note = None;
    if o.probe {
        match load_probe(&RUNTIME_COMMS) {
            Ok(p) => sources.push(Box::new(ProbeSource::new(
                p,
                "initscope-runtime processes by name",
            ))),
            Err(e) => note = Some(format!("kernel side off: {e}")),
        }
    }
    let mut session = Session::new(store);
    let mut view = View::new(Mode::Live, format!("watch {}", o.socket.display()));
    if let Some(n) = note {
        view.flash(n);
    }
    let r = app::run(
        &mut session,
        &mut view,
        &mut sources,
        Hooks {
            export: None,
            every_turn: None,
        },
    );
    drop(sources);
    r.map_err(|e| CmdError::io("terminal", e))
}

pub fn open_store(record: Option<&PathBuf>) -> Result<EventStore, CmdError> {
    Ok(match record {
        Some(p) => EventStore::create(p)
            .map_err(|e| CmdError::io(format!("--record {}", p.display()), e))?,
        None => EventStore::temp().map_err(|e| CmdError::io("temp file for events", e))?,
    })
}

fn load_probe(comms: &[&str]) -> Result<Probe, String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("the probe needs root".into());
    }
    Probe::load(ProbeOptions {
        comm_prefixes: comms.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
    .map_err(|e| e.to_string())
}
