//! The input loop: wait on the sources and the terminal, fold new events into the model,
//! handle keys and the mouse, draw at most once per frame tick.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event as TermEvent, KeyEventKind};
use nix::poll::PollFlags;

use crate::session::Session;
use crate::sources::{self, Source};
use crate::terminal;
use crate::ui;
use crate::view::{Action, Mode, View};

/// One frame: a new event is on screen at most this long after it arrived.
pub const FRAME: Duration = Duration::from_millis(33);
/// How often the selected live process's /proc state is read again.
const PROC_EVERY: Duration = Duration::from_millis(500);

/// Where `e` (export) writes: next to the recording.
pub struct ExportTarget {
    pub base: PathBuf,
}

/// What a command adds to the loop.
pub struct Hooks<'a> {
    /// Where `e` writes pictures (replay).
    pub export: Option<&'a ExportTarget>,
    /// Called once per turn (e.g. to notice that a traced command exited).
    pub every_turn: Option<&'a mut dyn FnMut(&mut View)>,
}

pub fn run(
    session: &mut Session,
    view: &mut View,
    sources: &mut [Box<dyn Source>],
    mut hooks: Hooks,
) -> std::io::Result<()> {
    let export = hooks.export;
    // Asked once: isatty fails on a terminal that has hung up.
    let tty_in = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let mut tui = terminal::enter()?;
    let mut lines = Vec::new();
    let mut open: Vec<bool> = sources.iter().map(|_| true).collect();
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut last_proc = Instant::now() - PROC_EVERY;
    // Live: stuck stages are judged from /proc on a worker thread, off the drawing path.
    let mut monitor = (view.mode == Mode::Live).then(crate::diagnose::live::Monitor::new);
    view.sources = sources.iter().map(|s| s.describe()).collect();
    view.sync(&session.model);
    loop {
        if terminal::QUIT.load(Ordering::SeqCst) {
            break;
        }
        let wait = if dirty {
            FRAME.saturating_sub(last_draw.elapsed())
        } else {
            FRAME
        };
        if !wait_for_input(sources, &open, wait, tty_in) || terminal::QUIT.load(Ordering::SeqCst) {
            // The terminal is gone (or we were told to go): nothing more to draw.
            break;
        }
        let before = session.model.len();
        for (i, src) in sources.iter_mut().enumerate() {
            if !open[i] {
                continue;
            }
            lines.clear();
            match src.drain(&mut lines) {
                Ok(still) => open[i] = still,
                Err(e) => {
                    open[i] = false;
                    view.flash(format!("{}: {e}", src.describe()));
                }
            }
            for l in &lines {
                session.push_line(l);
            }
        }
        if session.model.len() != before {
            view.sync(&session.model);
            dirty = true;
        }
        // crossterm spins forever reading a hung-up terminal: look before it does.
        while !terminal_hung_up(tty_in) && event::poll(Duration::ZERO)? {
            match event::read()? {
                TermEvent::Key(k) if k.kind != KeyEventKind::Release => {
                    match view.handle_key(session, k) {
                        Action::Quit => return Ok(()),
                        Action::Export => export_now(session, view, export),
                        Action::Continue(pid) => continue_stage(view, pid),
                        Action::PauseLive(p) => {
                            session.set_paused(p);
                            view.sync(&session.model);
                        }
                        Action::None => {}
                    }
                }
                TermEvent::Mouse(m) => view.handle_mouse(session, m),
                _ => {}
            }
            dirty = true;
        }
        if let Some(f) = hooks.every_turn.as_mut() {
            let had = view.message.clone();
            f(view);
            if view.message != had {
                dirty = true;
            }
        }
        if view.tick(&session.model, Instant::now()) {
            dirty = true;
        }
        if let Some(mon) = monitor.as_mut() {
            let now = view.now_ns(&session.model);
            if mon.refresh(session, view.stuck_after, now) {
                dirty = true;
            }
        }
        if view.mode == Mode::Live && last_proc.elapsed() >= PROC_EVERY {
            last_proc = Instant::now();
            view.procinfo = selected_pid(session, view).and_then(crate::procinfo::inspect);
            dirty = true;
        }
        if view
            .message
            .as_ref()
            .is_some_and(|(_, t)| t.elapsed() > Duration::from_secs(4))
        {
            view.message = None;
            dirty = true;
        }
        if dirty && last_draw.elapsed() >= FRAME {
            tui.terminal.draw(|f| ui::draw(f, session, view))?;
            last_draw = Instant::now();
            dirty = false;
        }
    }
    Ok(())
}

/// Wait until a source or the terminal has input, or `wait` passes. Returns false when
/// the terminal has hung up (its window closed): crossterm would spin reading EOF.
fn wait_for_input(
    sources: &[Box<dyn Source>],
    open: &[bool],
    wait: Duration,
    tty_in: bool,
) -> bool {
    let revents = sources::wait_readable(&sources::open_fds(Some(0), sources, open), wait);
    let gone = PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL;
    !(tty_in && revents[0].intersects(gone))
}

/// Has the terminal on stdin hung up (its window closed)? (isatty fails on a hung-up
/// terminal, so look at poll's answer alone.)
fn terminal_hung_up(tty_in: bool) -> bool {
    if !tty_in {
        return false;
    }
    let gone = PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL;
    sources::wait_readable(&[0], Duration::ZERO)[0].intersects(gone)
}

fn selected_pid(s: &Session, v: &View) -> Option<i32> {
    let lane = s.model.events.get(v.sel? as usize)?.lane?;
    let l = s.model.lane(lane);
    l.exit.is_none().then_some(l.pid)
}

fn export_now(s: &Session, v: &mut View, target: Option<&ExportTarget>) {
    let Some(t) = target else {
        v.flash("export: only in replay (or use `initscope export FILE`)");
        return;
    };
    match crate::commands::export::write_pictures(&s.model, v.at(&s.model), &t.base) {
        Ok((svg, mmd)) => v.flash(format!("wrote {} and {}", svg.display(), mmd.display())),
        Err(e) => v.flash(format!("export failed: {e}")),
    }
}

fn continue_stage(v: &mut View, pid: i32) {
    let r = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGCONT);
    v.flash(match r {
        Ok(()) => format!("sent SIGCONT to {pid}"),
        Err(e) => format!("SIGCONT to {pid}: {e}"),
    });
}
