//! Words for what a blocked process waits on: the fd, who holds its other end, what it
//! does now; and small formatting helpers of the verdict.

use super::verdict::Ctx;
use crate::procinfo::{FdInfo, FdKind, ProcInfo};

pub(super) fn is_exec_fifo(w: &FdInfo) -> bool {
    matches!(&w.kind, FdKind::Fifo(p) if p.ends_with("exec.fifo"))
}

/// Of the fds a process waits on, the one `peer` holds the other end of (a poll on
/// several channels: the sync socket before an error or log pipe both ends share), else
/// the most telling one.
pub(super) fn pick_fd(p: &ProcInfo, peer: Option<i32>) -> Option<FdInfo> {
    if let Some(q) = peer {
        let candidates: Vec<&FdInfo> = p.polled.iter().chain(p.waits_on.iter()).collect();
        let held = |w: &&&FdInfo| w.others.iter().any(|h| h.pid == q);
        let socket = candidates
            .iter()
            .filter(held)
            .find(|w| matches!(w.kind, FdKind::Socket(_)));
        let other = candidates
            .iter()
            .filter(held)
            .find(|w| matches!(w.kind, FdKind::Pipe(_) | FdKind::Fifo(_)));
        if let Some(w) = socket.or(other) {
            return Some((**w).clone());
        }
    }
    p.waits_on.clone()
}

/// What a blocked process waits on (`w`), and who holds the other end.
pub(super) fn describe_wait(
    p: &ProcInfo,
    w: Option<&FdInfo>,
    ctx: &Ctx,
) -> (String, Option<String>) {
    let Some(w) = w else {
        return (
            p.syscall
                .as_ref()
                .map_or("nothing".into(), |s| s.decoded.clone()),
            None,
        );
    };
    let what = match &w.kind {
        FdKind::Pipe(ino) => format!("pipe:[{ino}] (fd {})", w.fd),
        FdKind::Socket(ino) => match &w.peer_name {
            Some(n) if n.contains("notify") => {
                format!(
                    "socket:[{ino}] (fd {}), connected to the notify socket {n}",
                    w.fd
                )
            }
            Some(n) => format!("socket:[{ino}] (fd {}), connected to {n}", w.fd),
            None => format!("unix socket:[{ino}] (fd {})", w.fd),
        },
        FdKind::Fifo(path) => format!("FIFO {path}"),
        FdKind::File(path) => match &w.mount {
            Some(m) => format!("file {path} on {m}"),
            None => format!("file {path}"),
        },
        FdKind::Pidfd(q) => format!("a pidfd of pid {q} (fd {})", w.fd),
        FdKind::Epoll(_) => format!("epoll (fd {})", w.fd),
        FdKind::Other(t) => format!("{t} (fd {})", w.fd),
    };
    let others: Vec<String> = w
        .others
        .iter()
        .filter(|h| h.pid != p.pid)
        .map(|h| holder_text(h, ctx))
        .collect();
    let holders = if others.is_empty() {
        match &w.kind {
            FdKind::Pipe(_) | FdKind::Socket(_) | FdKind::Fifo(_) => {
                Some("nobody (it will read end-of-file)".to_string())
            }
            _ => None,
        }
    } else {
        Some(others.join(", "))
    };
    (what, holders)
}

pub(super) fn holder_text(h: &crate::procinfo::Holder, ctx: &Ctx) -> String {
    let fd = if h.fd >= 0 {
        format!(
            ", fd {}{}",
            h.fd,
            if h.mode.is_empty() {
                String::new()
            } else {
                format!(" {}", h.mode)
            }
        )
    } else {
        String::new()
    };
    match ctx.label_of(h.pid) {
        Some(l) => format!("{l} (pid {}{fd})", h.pid),
        None => format!(
            "pid {} {}{}",
            h.pid,
            h.comm,
            if fd.is_empty() {
                String::new()
            } else {
                format!(" ({})", &fd[2..])
            }
        ),
    }
}

/// What a process does now, in a few words (for a hook).
pub(super) fn doing(p: &ProcInfo, ctx: &Ctx) -> String {
    match (&p.syscall, p.state) {
        (_, 'D') => format!("is in D state in {}", p.wchan.as_deref().unwrap_or("?")),
        (Some(sc), _) => {
            let (what, holders) = describe_wait(p, p.waits_on.as_ref(), ctx);
            match holders {
                Some(h) if p.waits_on.is_some() => format!(
                    "sleeps in {} on {what}; the other end is held by {h}",
                    sc.decoded
                ),
                _ => format!("sleeps in {}", sc.decoded),
            }
        }
        (None, s) => format!("is running ({s})"),
    }
}

pub(super) fn command_line(path: &str, args: &[String]) -> String {
    if args.is_empty() {
        return path.to_string();
    }
    let mut v = vec![path.to_string()];
    v.extend(args.iter().skip(1).cloned());
    v.join(" ")
}

/// `/sys/fs/cgroup/freezer/initscope/c1/freezer.state` → `/initscope/c1`.
pub(super) fn cgroup_dir(file: &str) -> String {
    let dir = file.rsplit_once('/').map_or(file, |(d, _)| d);
    for root in [
        "/sys/fs/cgroup/freezer",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup",
    ] {
        if let Some(rest) = dir.strip_prefix(root) {
            return if rest.is_empty() {
                "/".into()
            } else {
                rest.to_string()
            };
        }
    }
    dir.to_string()
}
