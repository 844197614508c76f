//! The console for real: a child in a new session and a private mount namespace with its
//! own devpts instance (as a container has) sets up the pty through `setup_console`; the
//! test, as the `--console-socket` client, receives the master and talks to the child
//! through it. Needs root (mounts).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use initscope_runtime::console::{
    connect_console_socket, recv_console_fd, setup_console, ConsoleSetup, WinSize,
};
use initscope_runtime::events::schema::EventKind;
use nix::mount::{mount, MsFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Write straight to fd 1: the test harness captures `println!` in memory, not on fd 1.
fn say(s: &str) {
    let _ = nix::unistd::write(std::io::stdout(), s.as_bytes());
}

/// The container side: everything init does, then a report on the terminal.
fn child(dir: &Path) -> i32 {
    if nix::unistd::setsid().is_err() {
        return 10;
    }
    if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).is_err() {
        return 11;
    }
    let none: Option<&str> = None;
    if mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none).is_err() {
        return 12;
    }
    let pts = dir.join("pts");
    if mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )
    .is_err()
    {
        return 13;
    }
    let Ok(socket) = connect_console_socket(&dir.join("console.sock")) else {
        return 14;
    };
    let mut events = Vec::new();
    let console = dir.join("console");
    let name = match setup_console(
        ConsoleSetup {
            socket,
            ptmx: &pts.join("ptmx"),
            console: Some(&console),
            size: Some(WinSize {
                rows: 40,
                cols: 120,
            }),
        },
        &mut |k| events.push(k),
    ) {
        Ok(n) => n,
        Err(_) => return 15,
    };
    // From here on stdio is the pty: report what the container's process would see.
    let stdin = std::io::stdin();
    let ctty = nix::sys::termios::tcgetsid(stdin.as_fd()).ok() == nix::unistd::getsid(None).ok();
    let rdev0 = nix::sys::stat::fstat(stdin.as_fd()).map(|s| s.st_rdev).ok();
    let rdev_console = nix::sys::stat::stat(&console).map(|s| s.st_rdev).ok();
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct, which outlives the call.
    unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) };
    let event = matches!(events.as_slice(), [EventKind::Console { pty, rows: Some(40), cols: Some(120) }] if *pty == name);
    say(&format!(
        "REPORT name={name} ctty={ctty} console={} size={}x{} event={event}\n",
        rdev0.is_some() && rdev0 == rdev_console,
        ws.ws_row,
        ws.ws_col
    ));
    let mut line = String::new();
    let _ = stdin.read_line(&mut line);
    say(&format!("GOT:{}\n", line.trim()));
    0
}

/// Read from the master until `needle` shows up (or 10 s pass).
fn read_until(master: &OwnedFd, seen: &mut String, needle: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    while !seen.contains(needle) {
        assert!(
            Instant::now() < until,
            "no {needle:?} on the pty; got {seen:?}"
        );
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(200u16)).unwrap_or(0) == 0 {
            continue;
        }
        let mut buf = [0u8; 512];
        match nix::unistd::read(master, &mut buf) {
            Ok(0) | Err(nix::Error::EIO) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(nix::Error::EINTR | nix::Error::EAGAIN) => {}
            Err(e) => panic!("read pty master: {e}"),
        }
    }
    assert!(
        seen.contains(needle),
        "no {needle:?} on the pty; got {seen:?}"
    );
}

#[test]
fn a_process_gets_its_terminal_through_the_console_socket() {
    if !is_root() {
        eprintln!("skipped: needs root (devpts mount)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pts")).unwrap();
    let listener = UnixListener::bind(dir.path().join("console.sock")).unwrap();

    // SAFETY: the child only makes syscalls and leaves with _exit.
    let pid = match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            let code = std::panic::catch_unwind(|| child(dir.path())).unwrap_or(101);
            // SAFETY: leaving the child without the harness's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    let ready = {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(10_000u16)).unwrap_or(0) > 0
    };
    if !ready {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        panic!(
            "the child never connected: {:?}",
            waitpid(pid, None).unwrap()
        );
    }
    let (master, name) = recv_console_fd(&listener).expect("the pty master arrives");
    assert_eq!(
        name,
        dir.path().join("pts/ptmx").display().to_string(),
        "runc's payload: the master's path"
    );

    let mut seen = String::new();
    read_until(&master, &mut seen, "event=");
    assert!(
        seen.contains("ctty=true"),
        "the pty is the controlling terminal: {seen}"
    );
    assert!(
        seen.contains("console=true"),
        "the pty is bound over the console: {seen}"
    );
    assert!(seen.contains("size=40x120"), "consoleSize applied: {seen}");
    assert!(
        seen.contains("event=true"),
        "the console event was emitted: {seen}"
    );
    assert!(
        seen.contains("name=/dev/pts/0"),
        "first pty of a fresh devpts: {seen}"
    );

    // The master's view of the size, and input typed into the master reaching the child.
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct, which outlives the call.
    assert_eq!(
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) },
        0
    );
    assert_eq!((ws.ws_row, ws.ws_col), (40, 120));
    nix::unistd::write(&master, b"ping\n").unwrap();
    read_until(&master, &mut seen, "GOT:ping");
    assert_eq!(waitpid(pid, None).unwrap(), WaitStatus::Exited(pid, 0));
}

#[test]
fn a_missing_ptmx_is_named() {
    let (a, _b) = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Stream,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .unwrap();
    let e = setup_console(
        ConsoleSetup {
            socket: a,
            ptmx: Path::new("/nonexistent/ptmx"),
            console: None,
            size: None,
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "console: open /nonexistent/ptmx: ENOENT: No such file or directory"
    );
}
