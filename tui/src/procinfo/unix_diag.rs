//! Which unix socket is connected to which: the kernel's sock_diag netlink interface
//! (`UNIX_DIAG_PEER`), the same source `ss -x` uses. /proc shows only one end's inode.

use std::collections::HashMap;

use nix::sys::socket::{
    recv, sendto, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const AF_UNIX: u8 = 1;
const UDIAG_SHOW_NAME: u32 = 0x1;
const UDIAG_SHOW_PEER: u32 = 0x4;
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_PEER: u16 = 2;

/// One unix socket: its peer's inode (connected sockets) and the path it is bound to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnixSock {
    pub peer: Option<u64>,
    /// `/run/…/notify.sock`; an abstract name starts with `@`.
    pub name: Option<String>,
}

/// Socket inode → the inode of its peer, for every connected unix socket on the host.
pub fn unix_peers() -> nix::Result<HashMap<u64, u64>> {
    Ok(unix_sockets()?
        .into_iter()
        .filter_map(|(ino, s)| Some((ino, s.peer?)))
        .collect())
}

/// Every unix socket on the host, by inode.
pub fn unix_sockets() -> nix::Result<HashMap<u64, UnixSock>> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )?;
    let mut req = Vec::with_capacity(40);
    req.extend_from_slice(&40u32.to_ne_bytes());
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes()); // seq
    req.extend_from_slice(&0u32.to_ne_bytes()); // pid
    req.extend_from_slice(&[AF_UNIX, 0, 0, 0]);
    req.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
    req.extend_from_slice(&0u32.to_ne_bytes()); // any inode
    req.extend_from_slice(&(UDIAG_SHOW_PEER | UDIAG_SHOW_NAME).to_ne_bytes());
    req.extend_from_slice(&u32::MAX.to_ne_bytes());
    req.extend_from_slice(&u32::MAX.to_ne_bytes());
    use std::os::fd::AsRawFd;
    sendto(
        fd.as_raw_fd(),
        &req,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )?;

    let mut socks = HashMap::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
        if n == 0 {
            return Ok(socks);
        }
        let mut off = 0;
        while off + 16 <= n {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
            if len < 16 || off + len > n {
                return Ok(socks);
            }
            match ty {
                NLMSG_DONE => return Ok(socks),
                NLMSG_ERROR => return Err(nix::Error::EINVAL),
                _ => parse_msg(&buf[off + 16..off + len], &mut socks),
            }
            off += (len + 3) & !3;
        }
    }
}

/// One `unix_diag_msg` and its attributes.
fn parse_msg(b: &[u8], socks: &mut HashMap<u64, UnixSock>) {
    if b.len() < 16 {
        return;
    }
    let ino = u32::from_ne_bytes(b[4..8].try_into().unwrap()) as u64;
    let sock = socks.entry(ino).or_default();
    let mut off = 16;
    while off + 4 <= b.len() {
        let len = u16::from_ne_bytes(b[off..off + 2].try_into().unwrap()) as usize;
        let ty = u16::from_ne_bytes(b[off + 2..off + 4].try_into().unwrap());
        if len < 4 || off + len > b.len() {
            return;
        }
        if ty == UNIX_DIAG_PEER && len >= 8 {
            sock.peer = Some(u32::from_ne_bytes(b[off + 4..off + 8].try_into().unwrap()) as u64);
        }
        if ty == UNIX_DIAG_NAME && len > 4 {
            let raw = &b[off + 4..off + len];
            // An abstract name starts with a NUL byte; a path is NUL-terminated.
            let name = match raw.split_first() {
                Some((0, rest)) => format!("@{}", String::from_utf8_lossy(rest)),
                _ => {
                    let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
                    String::from_utf8_lossy(&raw[..end]).into_owned()
                }
            };
            sock.name = Some(name);
        }
        off += (len + 3) & !3;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::net::UnixStream;

    #[test]
    fn finds_the_other_end_of_a_socketpair() {
        let (a, b) = UnixStream::pair().unwrap();
        let ino = |s: &UnixStream| {
            use std::os::fd::AsRawFd;
            std::fs::metadata(format!("/proc/self/fd/{}", s.as_raw_fd()))
                .unwrap()
                .ino()
        };
        let peers = unix_peers().unwrap();
        assert_eq!(peers.get(&ino(&a)), Some(&ino(&b)));
        assert_eq!(peers.get(&ino(&b)), Some(&ino(&a)));
    }

    #[test]
    fn names_a_bound_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let c = UnixStream::connect(&path).unwrap();
        let (s, _) = l.accept().unwrap();
        let ino = |fd: i32| {
            std::fs::metadata(format!("/proc/self/fd/{fd}"))
                .unwrap()
                .ino()
        };
        use std::os::fd::AsRawFd;
        let all = unix_sockets().unwrap();
        let mine = &all[&ino(c.as_raw_fd())];
        let peer = mine.peer.unwrap();
        assert_eq!(peer, ino(s.as_raw_fd()));
        assert_eq!(all[&peer].name.as_deref(), Some(path.to_str().unwrap()));
    }
}
