//! A channel between two stages: one end of a `SOCK_SEQPACKET` socketpair (`SOCK_CLOEXEC`).
//!
//! One message is one packet: the first byte is the [`SyncMsg`], the rest an optional small
//! JSON payload (pids, an error). Every send and receive is an event (`sync_send` /
//! `sync_recv` naming the `peer`). A peer that dies closes its end: `recv` sees EOF at once
//! and nobody hangs.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use serde_json::Value;

use super::failure::StageFailure;
use super::sync::SyncMsg;
use crate::events::emitter::Emitter;
use crate::events::schema::{EventKind, Stage};
use crate::sys::monotonic_ns;

/// The largest packet (message byte + payload).
const MAX_PACKET: usize = 4096;

/// What went wrong on a channel.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChannelError {
    #[error("{peer} closed the channel while we waited for {waiting}")]
    PeerGone { peer: &'static str, waiting: String },
    #[error("{op} to {peer}: {errno}")]
    Sys {
        op: &'static str,
        peer: &'static str,
        errno: Errno,
    },
    #[error("expected {want} from {peer}, got {got}")]
    Unexpected {
        peer: &'static str,
        want: &'static str,
        got: String,
    },
}

impl ChannelError {
    /// As the failure of `stage` at step `sync_recv`/`sync_send`.
    pub fn into_failure(self, stage: Stage) -> StageFailure {
        let (step, errno, peer_gone) = match &self {
            ChannelError::PeerGone { .. } => ("sync_recv", None, true),
            ChannelError::Sys { op, errno, .. } => (*op, Some(*errno as i32), false),
            ChannelError::Unexpected { .. } => ("sync_recv", None, false),
        };
        StageFailure {
            stage,
            step: step.to_string(),
            errno,
            message: self.to_string(),
            peer_gone,
        }
    }
}

/// One end of a stage-to-stage channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
    peer: Stage,
}

impl Channel {
    /// A connected pair: the first end is held by `left` (its peer is `right`), the second
    /// by `right`.
    pub fn pair(left: Stage, right: Stage) -> nix::Result<(Channel, Channel)> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        Ok((
            Channel { fd: a, peer: right },
            Channel { fd: b, peer: left },
        ))
    }

    pub fn peer(&self) -> Stage {
        self.peer
    }

    fn peer_label(&self) -> &'static str {
        StageFailure::stage_label(self.peer)
    }

    /// Send `msg` with an optional payload; emits `sync_send` after the send succeeded,
    /// stamped with the time just before it (so the receiver's event sorts after).
    pub fn send(
        &self,
        em: &mut Emitter,
        msg: SyncMsg,
        data: Option<Value>,
    ) -> Result<(), ChannelError> {
        let mut packet = vec![msg as u8];
        if let Some(d) = &data {
            packet.extend_from_slice(d.to_string().as_bytes());
        }
        packet.truncate(MAX_PACKET);
        let ts = monotonic_ns();
        loop {
            match nix::sys::socket::send(self.fd.as_raw_fd(), &packet, MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => break,
                Err(Errno::EINTR) => continue,
                Err(Errno::EPIPE | Errno::ECONNRESET) => {
                    return Err(ChannelError::PeerGone {
                        peer: self.peer_label(),
                        waiting: format!("{} to be received", msg.name()),
                    })
                }
                Err(errno) => {
                    return Err(ChannelError::Sys {
                        op: "sync_send",
                        peer: self.peer_label(),
                        errno,
                    })
                }
            }
        }
        em.emit_at(
            ts,
            EventKind::SyncSend {
                msg: msg.name().to_string(),
                peer: self.peer,
                data,
            },
        );
        Ok(())
    }

    /// Receive the next message (writing the pending events first: this may block); emits
    /// `sync_recv`. `waiting` names what we expect, for the error when the peer is gone.
    pub fn recv(
        &self,
        em: &mut Emitter,
        waiting: &str,
    ) -> Result<(SyncMsg, Option<Value>), ChannelError> {
        // We may wait here: what we did so far must be visible first.
        em.flush();
        let mut buf = vec![0u8; MAX_PACKET];
        let n = loop {
            match nix::sys::socket::recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(n) => break n,
                Err(Errno::EINTR) => continue,
                Err(Errno::ECONNRESET) => break 0,
                Err(errno) => {
                    return Err(ChannelError::Sys {
                        op: "sync_recv",
                        peer: self.peer_label(),
                        errno,
                    })
                }
            }
        };
        if n == 0 {
            return Err(ChannelError::PeerGone {
                peer: self.peer_label(),
                waiting: waiting.to_string(),
            });
        }
        let Some(msg) = SyncMsg::from_byte(buf[0]) else {
            return Err(ChannelError::Unexpected {
                peer: self.peer_label(),
                want: "a sync message",
                got: format!("byte {:#04x}", buf[0]),
            });
        };
        let data = (n > 1)
            .then(|| serde_json::from_slice::<Value>(&buf[1..n]).ok())
            .flatten();
        em.emit(EventKind::SyncRecv {
            msg: msg.name().to_string(),
            peer: self.peer,
            data: data.clone(),
        });
        Ok((msg, data))
    }

    /// Receive and insist on `want`.
    pub fn expect(&self, em: &mut Emitter, want: SyncMsg) -> Result<Option<Value>, ChannelError> {
        let (msg, data) = self.recv(em, want.name())?;
        if msg != want {
            return Err(ChannelError::Unexpected {
                peer: self.peer_label(),
                want: want.name(),
                got: msg.name().to_string(),
            });
        }
        Ok(data)
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_payloads_and_emit_both_sides() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("ev.jsonl");
        let mut em = Emitter::new("c", Stage::Child);
        em.open_log(&log).unwrap();
        let (child, parent) = Channel::pair(Stage::Child, Stage::Parent).unwrap();
        assert_eq!(child.peer(), Stage::Parent);
        child
            .send(
                &mut em,
                SyncMsg::RecvpidPls,
                Some(serde_json::json!({"stage2_pid": 9})),
            )
            .unwrap();
        em.flush(); // as a clone does
        em.become_stage(Stage::Parent, 1);
        let data = parent.expect(&mut em, SyncMsg::RecvpidPls).unwrap();
        assert_eq!(data.unwrap()["stage2_pid"], 9);
        em.flush();
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["kind"], "sync_send");
        assert_eq!(lines[0]["msg"], "SYNC_RECVPID_PLS");
        assert_eq!(lines[0]["peer"], "parent");
        assert_eq!(lines[1]["kind"], "sync_recv");
        assert_eq!(lines[1]["peer"], "child");
    }

    #[test]
    fn a_closed_peer_is_eof_not_a_hang() {
        let mut em = Emitter::new("c", Stage::Parent);
        let (parent, child) = Channel::pair(Stage::Parent, Stage::Child).unwrap();
        drop(child);
        let e = parent.expect(&mut em, SyncMsg::UsermapPls).unwrap_err();
        assert!(matches!(e, ChannelError::PeerGone { .. }));
        assert_eq!(
            e.to_string(),
            "[1:CHILD] closed the channel while we waited for SYNC_USERMAP_PLS"
        );
        let f = e.into_failure(Stage::Parent);
        assert!(f.peer_gone);
        let e = parent.send(&mut em, SyncMsg::UsermapAck, None).unwrap_err();
        assert!(matches!(e, ChannelError::PeerGone { .. }));
    }

    #[test]
    fn wrong_message_is_named() {
        let mut em = Emitter::new("c", Stage::Init);
        let (a, b) = Channel::pair(Stage::Init, Stage::Parent).unwrap();
        b.send(&mut em, SyncMsg::ChildFinish, None).unwrap();
        let e = a.expect(&mut em, SyncMsg::Grandchild).unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected SYNC_GRANDCHILD from [0:PARENT], got SYNC_CHILD_FINISH"
        );
    }
}
