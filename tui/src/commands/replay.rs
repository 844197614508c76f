//! `initscope replay FILE.jsonl`: a recording, step by step.

use std::path::Path;

use super::CmdError;
use crate::app::{self, ExportTarget, Hooks};
use crate::session::Session;
use crate::view::{Mode, View, SPEEDS};

pub struct ReplayOpts {
    /// Start playing at this many events per second.
    pub play: Option<u32>,
    /// Start at the end instead of the beginning.
    pub at_end: bool,
    /// Print the diagram as text and a summary instead (also without a terminal).
    pub print: bool,
}

pub fn run(path: &Path, opts: ReplayOpts) -> Result<(), CmdError> {
    let mut session = Session::load(path)?;
    if opts.print || !crate::terminal::available() {
        return super::print_report(&session);
    }
    let mut view = View::new(Mode::Replay, format!("replay {}", path.display()));
    view.cursor = if opts.at_end {
        session.model.len() as u32
    } else {
        0
    };
    if let Some(speed) = opts.play {
        view.playing = true;
        view.speed = SPEEDS
            .iter()
            .position(|&s| s >= speed)
            .unwrap_or(SPEEDS.len() - 1);
    }
    let target = ExportTarget {
        base: path.with_extension(""),
    };
    app::run(
        &mut session,
        &mut view,
        &mut [],
        Hooks {
            export: Some(&target),
            every_turn: None,
        },
    )
    .map_err(|e| CmdError::io("terminal", e))
}
