//! How a stage's failure reaches `create`: a [`StageFailure`] (stage, step, errno,
//! message), written as one JSON packet to the shared error pipe (runc's log pipe plays
//! this role) — or, for init, sent as `procError` on its channel. Packets are at most
//! `PIPE_BUF` bytes, so writes from several stages never interleave.

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};

use serde::{Deserialize, Serialize};

use crate::events::emitter::Emitter;
use crate::events::schema::Stage;
use crate::sys::errno_text;

/// A failed step inside a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageFailure {
    pub stage: Stage,
    /// Short name of the step (`setns`, `uid_map`, `mount`, `exec-lookup`).
    pub step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
    /// One line: what failed, on which path/value, and why.
    pub message: String,
    /// True when this stage only noticed that its peer went away: the peer's own report
    /// (or its death) is the cause to show.
    #[serde(default)]
    pub peer_gone: bool,
}

impl StageFailure {
    /// A failure of a syscall: `"{what}: {errno words}"`.
    pub fn sys(stage: Stage, step: &str, what: impl fmt::Display, err: nix::Error) -> Self {
        StageFailure {
            stage,
            step: step.to_string(),
            errno: Some(err as i32),
            message: format!("{what}: {}", errno_text(err as i32)),
            peer_gone: false,
        }
    }

    /// A failure without an errno.
    pub fn new(stage: Stage, step: &str, message: impl Into<String>) -> Self {
        StageFailure {
            stage,
            step: step.to_string(),
            errno: None,
            message: message.into(),
            peer_gone: false,
        }
    }

    /// The role's display name (`[1:CHILD]`).
    pub fn stage_label(stage: Stage) -> &'static str {
        match stage {
            Stage::Parent => "[0:PARENT]",
            Stage::Child => "[1:CHILD]",
            Stage::Init => "[2:INIT]",
            _ => stage.as_str(),
        }
    }

    /// Emit this failure as an `error` event.
    pub fn emit(&self, em: &mut Emitter) {
        em.error(&self.step, self.errno, &self.message);
    }

    /// Encode as one pipe packet (≤ PIPE_BUF).
    pub fn to_packet(&self) -> Vec<u8> {
        let mut f = self.clone();
        if f.message.len() > 3000 {
            let mut end = 3000;
            while !f.message.is_char_boundary(end) {
                end -= 1;
            }
            f.message.truncate(end);
            f.message.push('…');
        }
        serde_json::to_vec(&f).expect("failure serializes")
    }

    pub fn from_packet(data: &[u8]) -> Option<StageFailure> {
        serde_json::from_slice(data).ok()
    }

    /// Write to the error pipe (best effort: if create is gone, nobody is left to tell).
    pub fn send(&self, pipe: &OwnedFd) {
        let _ = nix::unistd::write(pipe, &self.to_packet());
    }
}

impl fmt::Display for StageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stage {
            Stage::Init => write!(f, "container init failed: {}", self.message),
            s => write!(f, "{} failed: {}", Self::stage_label(s), self.message),
        }
    }
}

/// Read every packet available on the error pipe without blocking.
pub fn drain(pipe: impl AsFd) -> Vec<StageFailure> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(pipe.as_fd(), &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(f) = StageFailure::from_packet(&buf[..n]) {
                    out.push(f);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_messages_name_the_stage() {
        let f = StageFailure::sys(
            Stage::Init,
            "mount",
            "mount proc on /proc",
            nix::Error::EACCES,
        );
        assert_eq!(
            f.to_string(),
            "container init failed: mount proc on /proc: permission denied"
        );
        let f = StageFailure::new(Stage::Child, "setns", "boom");
        assert_eq!(f.to_string(), "[1:CHILD] failed: boom");
    }

    #[test]
    fn packets_fit_pipe_buf_and_round_trip() {
        let f = StageFailure::new(Stage::Parent, "uid_map", "x".repeat(10_000));
        let p = f.to_packet();
        assert!(p.len() <= 4096);
        let back = StageFailure::from_packet(&p).unwrap();
        assert_eq!(back.stage, Stage::Parent);
        assert!(back.message.ends_with('…'));
    }

    #[test]
    fn packets_stay_whole_through_a_packet_pipe() {
        use nix::fcntl::OFlag;
        let (r, w) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_DIRECT | OFlag::O_NONBLOCK).unwrap();
        StageFailure::new(Stage::Child, "a", "first").send(&w);
        StageFailure::new(Stage::Parent, "b", "second").send(&w);
        let got = drain(&r);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].message, "first");
        assert_eq!(got[1].stage, Stage::Parent);
    }
}
