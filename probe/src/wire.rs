//! Decoding the ring buffer's records (`bpf/events.h`) into [`KernelEvent`]s.
//!
//! The layouts are mirrored here as byte offsets and read with a bounds-checked cursor, so
//! a short or unknown record is an error, never undefined behaviour.

use initscope_runtime::events::flags::{clone_flag_names, signal_name};

use crate::schema::{KernelEvent, KernelKind, KernelSource, Namespaces, SCHEMA_VERSION};

/// `enum ev_kind` in events.h.
pub(crate) const EV_FORK: u32 = 1;
pub(crate) const EV_CLONE_EXIT: u32 = 2;
pub(crate) const EV_UNSHARE: u32 = 3;
pub(crate) const EV_SETNS: u32 = 4;
pub(crate) const EV_EXEC: u32 = 5;
pub(crate) const EV_EXIT: u32 = 6;
pub(crate) const EV_RENAME: u32 = 7;

const HDR_LEN: usize = 64;
const COMM_LEN: usize = 16;
const FILENAME_LEN: usize = 256;
const ARGS_LEN: usize = 512;

/// Why a record could not be decoded (a loader/program mismatch: a bug, not user error).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("kernel record of {len} bytes is too short for kind {kind}")]
    Short { kind: u32, len: usize },
    #[error("kernel record has unknown kind {0}")]
    UnknownKind(u32),
}

/// `enum ev_syscall` in events.h, as the schema spells it.
pub(crate) fn syscall_name(sc: u32) -> &'static str {
    match sc {
        1 => "clone",
        2 => "clone3",
        3 => "fork",
        4 => "vfork",
        5 => "unshare",
        6 => "setns",
        7 => "execve",
        8 => "execveat",
        _ => "unknown",
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], pos: usize) -> Self {
        Cursor { buf, pos }
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        // Callers check the record length against the kind's size first.
        let b: [u8; N] = self.buf[self.pos..self.pos + N]
            .try_into()
            .expect("length checked");
        self.pos += N;
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_ne_bytes(self.bytes())
    }
    fn i32(&mut self) -> i32 {
        i32::from_ne_bytes(self.bytes())
    }
    fn u64(&mut self) -> u64 {
        u64::from_ne_bytes(self.bytes())
    }
    fn i64(&mut self) -> i64 {
        i64::from_ne_bytes(self.bytes())
    }
    fn slice(&mut self, n: usize) -> &'a [u8] {
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        s
    }
    fn ns(&mut self) -> Namespaces {
        let mut v = [0u64; 10];
        for x in &mut v {
            *x = u64::from(self.u32());
        }
        Namespaces {
            pid: v[0],
            pid_for_children: v[1],
            mnt: v[2],
            net: v[3],
            uts: v[4],
            ipc: v[5],
            cgroup: v[6],
            user: v[7],
            time: v[8],
        }
    }
}

/// A NUL-terminated C string in a fixed buffer.
fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// `-errno` → `"ENOENT"`; `None` for a success.
pub(crate) fn errno_name(ret: i64) -> Option<String> {
    if ret >= 0 {
        return None;
    }
    let errno = i32::try_from(-ret).unwrap_or(i32::MAX);
    Some(format!("{:?}", nix::errno::Errno::from_raw(errno)))
}

/// The smallest record of each kind, from events.h.
fn record_len(kind: u32) -> Option<usize> {
    Some(match kind {
        EV_FORK => HDR_LEN + 24 + 8 + 40,
        EV_CLONE_EXIT => HDR_LEN + 8 + 8 + 8,
        EV_UNSHARE => HDR_LEN + 16 + 40,
        EV_SETNS => HDR_LEN + 8 + 8 + 8 + 40,
        EV_EXEC => HDR_LEN + 16 + 40 + FILENAME_LEN + ARGS_LEN,
        EV_EXIT => HDR_LEN + 8,
        EV_RENAME => HDR_LEN + COMM_LEN,
        _ => return None,
    })
}

/// Decode one ring buffer record.
pub fn decode(rec: &[u8]) -> Result<KernelEvent, DecodeError> {
    if rec.len() < HDR_LEN {
        return Err(DecodeError::Short {
            kind: 0,
            len: rec.len(),
        });
    }
    let mut c = Cursor::new(rec, 0);
    let ts_ns = c.u64();
    let cgroup_id = c.u64();
    let kind = c.u32();
    let need = record_len(kind).ok_or(DecodeError::UnknownKind(kind))?;
    if rec.len() < need {
        return Err(DecodeError::Short {
            kind,
            len: rec.len(),
        });
    }
    let pid = c.i32();
    let tgid = c.i32();
    let ppid = c.i32();
    let uid = c.u32();
    let ns_pid = c.i32();
    let ns_level = c.u32();
    let _pad = c.u32();
    let comm = cstr(c.slice(COMM_LEN));
    debug_assert_eq!(c.pos, HDR_LEN);

    let kind = match kind {
        EV_FORK => {
            let child_pid = c.i32();
            let child_tgid = c.i32();
            let parent_tgid = c.i32();
            let child_ns_pid = c.i32();
            let syscall = c.u32();
            let _child_level = c.u32();
            let flags = c.u64();
            KernelKind::Fork {
                child_pid,
                child_tgid,
                parent_tgid,
                syscall: syscall_name(syscall).to_string(),
                flags: clone_flag_names(flags),
                flags_raw: flags,
                child_ns: Some(c.ns()),
                child_ns_pid,
            }
        }
        EV_CLONE_EXIT => {
            let syscall = c.u32();
            let _pad = c.u32();
            let flags = c.u64();
            let ret = c.i64();
            KernelKind::CloneExit {
                syscall: syscall_name(syscall).to_string(),
                flags: clone_flag_names(flags),
                flags_raw: flags,
                ret,
                errno: errno_name(ret),
            }
        }
        EV_UNSHARE => {
            let flags = c.u64();
            let ret = c.i64();
            KernelKind::Unshare {
                flags: clone_flag_names(flags),
                flags_raw: flags,
                ret,
                errno: errno_name(ret),
                ns: Some(c.ns()),
            }
        }
        EV_SETNS => {
            let fd = c.i32();
            let _pad = c.u32();
            let nstype = c.u64();
            let ret = c.i64();
            KernelKind::Setns {
                fd,
                nstype: if nstype == 0 {
                    vec!["any".to_string()]
                } else {
                    clone_flag_names(nstype)
                },
                nstype_raw: nstype,
                ret,
                errno: errno_name(ret),
                ns: Some(c.ns()),
            }
        }
        EV_EXEC => {
            let ret = c.i64();
            let _old_pid = c.i32();
            let args_len = (c.u32() as usize).min(ARGS_LEN);
            let ns = c.ns();
            let filename = cstr(c.slice(FILENAME_LEN));
            let args = &c.slice(ARGS_LEN)[..args_len];
            let argv = args
                .split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>();
            KernelKind::Exec {
                filename,
                argv: trim_trailing_empty(argv),
                ret,
                errno: errno_name(ret),
                // a failed exec does not read them (nothing changed)
                ns: (ret == 0).then_some(ns),
            }
        }
        EV_EXIT => {
            let status = c.i32();
            let sig = status & 0x7f;
            if sig == 0 {
                KernelKind::Exit {
                    code: Some((status >> 8) & 0xff),
                    signal: None,
                    core_dumped: false,
                }
            } else {
                KernelKind::Exit {
                    code: None,
                    signal: Some(signal_name(sig)),
                    core_dumped: status & 0x80 != 0,
                }
            }
        }
        EV_RENAME => KernelKind::Rename {
            old_comm: comm.clone(),
            new_comm: cstr(c.slice(COMM_LEN)),
        },
        other => return Err(DecodeError::UnknownKind(other)),
    };
    Ok(KernelEvent {
        v: SCHEMA_VERSION,
        ts_ns,
        source: KernelSource::Kernel,
        pid,
        tgid,
        ppid,
        comm,
        uid,
        cgroup_id,
        ns_pid,
        ns_level,
        kind,
    })
}

/// argv as kept in memory ends with a NUL, and a truncated copy may end mid-string.
fn trim_trailing_empty(mut v: Vec<String>) -> Vec<String> {
    while v.last().is_some_and(|s| s.is_empty()) {
        v.pop();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(kind: u32, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[0..8].copy_from_slice(&42u64.to_ne_bytes());
        b[8..16].copy_from_slice(&7u64.to_ne_bytes());
        b[16..20].copy_from_slice(&kind.to_ne_bytes());
        b[20..24].copy_from_slice(&100i32.to_ne_bytes()); // pid
        b[24..28].copy_from_slice(&100i32.to_ne_bytes()); // tgid
        b[28..32].copy_from_slice(&1i32.to_ne_bytes()); // ppid
        b[36..40].copy_from_slice(&1i32.to_ne_bytes()); // ns_pid
        b[40..44].copy_from_slice(&1u32.to_ne_bytes()); // ns_level
        b[48..48 + 14].copy_from_slice(b"runc:[1:CHILD]");
        b
    }

    #[test]
    fn decodes_a_fork_under_clone_parent() {
        let mut b = hdr(EV_FORK, record_len(EV_FORK).unwrap());
        b[64..68].copy_from_slice(&101i32.to_ne_bytes());
        b[68..72].copy_from_slice(&101i32.to_ne_bytes());
        b[72..76].copy_from_slice(&99i32.to_ne_bytes()); // parent: not the caller
        b[76..80].copy_from_slice(&1i32.to_ne_bytes());
        b[80..84].copy_from_slice(&1u32.to_ne_bytes()); // clone
        b[88..96].copy_from_slice(&0x8000u64.to_ne_bytes());
        b[96..100].copy_from_slice(&4026531836u32.to_ne_bytes()); // child_ns.pid
        let e = decode(&b).unwrap();
        assert_eq!(e.ts_ns, 42);
        assert_eq!(e.comm, "runc:[1:CHILD]");
        assert_eq!((e.ns_pid, e.ns_level), (1, 1));
        match e.kind {
            KernelKind::Fork {
                child_tgid,
                parent_tgid,
                syscall,
                flags,
                child_ns,
                ..
            } => {
                assert_eq!((child_tgid, parent_tgid), (101, 99));
                assert_eq!(syscall, "clone");
                assert_eq!(flags, vec!["CLONE_PARENT"]);
                assert_eq!(child_ns.unwrap().pid, 4026531836);
            }
            k => panic!("not a fork: {k:?}"),
        }
    }

    #[test]
    fn decodes_exit_status_and_signal() {
        let mut b = hdr(EV_EXIT, record_len(EV_EXIT).unwrap());
        b[64..68].copy_from_slice(&(3i32 << 8).to_ne_bytes());
        assert!(matches!(
            decode(&b).unwrap().kind,
            KernelKind::Exit {
                code: Some(3),
                signal: None,
                ..
            }
        ));
        b[64..68].copy_from_slice(&(9i32 | 0x80).to_ne_bytes());
        match decode(&b).unwrap().kind {
            KernelKind::Exit {
                code,
                signal,
                core_dumped,
            } => {
                assert_eq!(code, None);
                assert_eq!(signal.as_deref(), Some("SIGKILL"));
                assert!(core_dumped);
            }
            k => panic!("not an exit: {k:?}"),
        }
    }

    #[test]
    fn decodes_exec_argv_and_failed_errno() {
        let mut b = hdr(EV_EXEC, record_len(EV_EXEC).unwrap());
        let args = b"runc\0run\0-b\0";
        b[76..80].copy_from_slice(&(args.len() as u32).to_ne_bytes());
        let fname = 64 + 16 + 40;
        b[fname..fname + 13].copy_from_slice(b"/usr/bin/runc");
        let a = fname + FILENAME_LEN;
        b[a..a + args.len()].copy_from_slice(args);
        match decode(&b).unwrap().kind {
            KernelKind::Exec {
                filename,
                argv,
                ns,
                errno,
                ..
            } => {
                assert_eq!(filename, "/usr/bin/runc");
                assert_eq!(argv, vec!["runc", "run", "-b"]);
                assert!(ns.is_some());
                assert_eq!(errno, None);
            }
            k => panic!("not an exec: {k:?}"),
        }
        b[64..72].copy_from_slice(&(-2i64).to_ne_bytes());
        match decode(&b).unwrap().kind {
            KernelKind::Exec { ret, errno, ns, .. } => {
                assert_eq!(ret, -2);
                assert_eq!(errno.as_deref(), Some("ENOENT"));
                assert_eq!(ns, None);
            }
            k => panic!("not an exec: {k:?}"),
        }
    }

    #[test]
    fn short_and_unknown_records_are_errors() {
        assert_eq!(
            decode(&[0u8; 10]),
            Err(DecodeError::Short { kind: 0, len: 10 })
        );
        let b = hdr(EV_EXEC, 100);
        assert_eq!(
            decode(&b),
            Err(DecodeError::Short {
                kind: EV_EXEC,
                len: 100
            })
        );
        let b = hdr(99, 200);
        assert_eq!(decode(&b), Err(DecodeError::UnknownKind(99)));
    }

    #[test]
    fn setns_any_and_rename() {
        let mut b = hdr(EV_SETNS, record_len(EV_SETNS).unwrap());
        b[64..68].copy_from_slice(&5i32.to_ne_bytes());
        match decode(&b).unwrap().kind {
            KernelKind::Setns { fd, nstype, .. } => {
                assert_eq!(fd, 5);
                assert_eq!(nstype, vec!["any"]);
            }
            k => panic!("not a setns: {k:?}"),
        }
        let mut b = hdr(EV_RENAME, record_len(EV_RENAME).unwrap());
        b[64..64 + 15].copy_from_slice(b"runc:[0:PARENT]");
        match decode(&b).unwrap().kind {
            KernelKind::Rename { old_comm, new_comm } => {
                assert_eq!(old_comm, "runc:[1:CHILD]");
                assert_eq!(new_comm, "runc:[0:PARENT]");
            }
            k => panic!("not a rename: {k:?}"),
        }
    }
}
