//! The terminal: raw mode, alternate screen and mouse capture on the way in; all of it
//! undone on the way out — on quit, on error (Drop) and on panic (a hook that restores
//! before the panic message is printed). SIGTERM/SIGHUP ask the loop to quit cleanly.

use std::io::{self, Stdout};
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Once;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// Set by SIGTERM/SIGHUP/SIGINT: the loop quits at its next turn.
pub static QUIT: AtomicBool = AtomicBool::new(false);
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

pub struct Tui {
    /// Never dropped: ratatui's `Drop` shows the cursor and, when that fails (the terminal
    /// hung up), `eprintln!`s — which panics on a dead tty and skips the caller's cleanup
    /// (the demo's `delete`). [`restore`] shows the cursor itself, ignoring errors.
    pub terminal: ManuallyDrop<Terminal<CrosstermBackend<Stdout>>>,
}

extern "C" fn on_signal(sig: libc::c_int) {
    QUIT_SIGNAL.store(sig, Ordering::SeqCst);
    QUIT.store(true, Ordering::SeqCst);
}

/// Can the screen be drawn here? stdout must be a terminal, and there must be a
/// controlling terminal to read keys from (crossterm opens /dev/tty when stdin is not one).
pub fn available() -> bool {
    use std::io::IsTerminal;
    io::stdout().is_terminal()
        && std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .is_ok()
}

/// The signal that set [`QUIT`] (for an exit status of 128+N).
pub static QUIT_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Restore the terminal on panic; SIGTERM, SIGHUP and SIGINT set [`QUIT`]. Once.
pub fn install_handlers() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        let action = nix::sys::signal::SigAction::new(
            nix::sys::signal::SigHandler::Handler(on_signal),
            nix::sys::signal::SaFlags::empty(),
            nix::sys::signal::SigSet::empty(),
        );
        for sig in [
            nix::sys::signal::SIGTERM,
            nix::sys::signal::SIGHUP,
            nix::sys::signal::SIGINT,
        ] {
            // SAFETY: the handler only stores to atomics, which is async-signal-safe.
            let _ = unsafe { nix::sys::signal::sigaction(sig, &action) };
        }
    });
}

pub fn enter() -> io::Result<Tui> {
    install_handlers();
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut out = io::stdout();
    if let Err(e) = execute!(out, EnterAlternateScreen, EnableMouseCapture) {
        restore();
        return Err(e);
    }
    let mut terminal = Terminal::new(CrosstermBackend::new(out))?;
    terminal.hide_cursor()?;
    terminal.clear()?;
    Ok(Tui {
        terminal: ManuallyDrop::new(terminal),
    })
}

/// Put the terminal back as it was; harmless when called twice.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
}

impl Drop for Tui {
    fn drop(&mut self) {
        restore();
    }
}
