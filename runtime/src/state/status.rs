//! The lifecycle status, derived from facts rather than stored: nobody has to tell the
//! runtime that a container's process exited for `state` to say `stopped`.

use std::fmt;

use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// OCI lifecycle status (plus runc's `paused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the runtime can observe about a container right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// `state.json` still carries the "creating" mark (init has not sent procReady).
    pub creating: bool,
    /// The `create` process that holds the mark is still alive.
    pub creator_alive: bool,
    /// Init is alive: its pid exists, is not a zombie, and has the recorded start time.
    pub init_alive: bool,
    /// `exec.fifo` still exists (nobody has run `start`).
    pub fifo_present: bool,
    /// The cgroup's freezer says frozen.
    pub frozen: bool,
}

/// The status these facts mean.
pub fn derive(f: Facts) -> Status {
    if f.creating {
        // A create that died half-way leaves a container that will never be ready.
        return if f.creator_alive {
            Status::Creating
        } else {
            Status::Stopped
        };
    }
    if !f.init_alive {
        return Status::Stopped;
    }
    if f.frozen {
        return Status::Paused;
    }
    if f.fifo_present {
        Status::Created
    } else {
        Status::Running
    }
}

/// A process's start time (clock ticks since boot, `/proc/PID/stat` field 22) and its
/// state letter, or `None` if it does not exist.
pub fn proc_stat(pid: Pid) -> Option<(u64, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parse `/proc/PID/stat`: the comm field may contain spaces and parentheses, so fields
/// are counted after the last `)`.
pub fn parse_stat(text: &str) -> Option<(u64, char)> {
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3) come fields 4..; the start time is field 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((start, state))
}

/// Whether `pid` is the same live process that had `start_time` (guards against pid reuse).
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match proc_stat(Pid::from_raw(pid)) {
        Some((start, state)) => start == start_time && state != 'Z' && state != 'X',
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Facts = Facts {
        creating: false,
        creator_alive: false,
        init_alive: true,
        fifo_present: true,
        frozen: false,
    };

    #[test]
    fn lifecycle_follows_the_facts() {
        assert_eq!(derive(BASE), Status::Created);
        assert_eq!(
            derive(Facts {
                fifo_present: false,
                ..BASE
            }),
            Status::Running
        );
        assert_eq!(
            derive(Facts {
                init_alive: false,
                ..BASE
            }),
            Status::Stopped
        );
        assert_eq!(
            derive(Facts {
                frozen: true,
                fifo_present: false,
                ..BASE
            }),
            Status::Paused
        );
        assert_eq!(
            derive(Facts {
                creating: true,
                creator_alive: true,
                ..BASE
            }),
            Status::Creating
        );
        assert_eq!(
            derive(Facts {
                creating: true,
                creator_alive: false,
                ..BASE
            }),
            Status::Stopped
        );
    }

    #[test]
    fn stat_parsing_survives_odd_comm_names() {
        let line = "42 (isc:[2:INIT) x) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10 18446744073709551615";
        assert_eq!(parse_stat(line), Some((98765, 'S')));
        let me = proc_stat(nix::unistd::getpid()).unwrap();
        assert_ne!(me.1, 'Z');
        assert!(is_alive(std::process::id() as i32, me.0));
        assert!(
            !is_alive(std::process::id() as i32, me.0 + 1),
            "pid reuse is detected"
        );
    }
}
