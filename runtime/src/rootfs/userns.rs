//! A user namespace that carries one id mapping, for `mount_setattr(MOUNT_ATTR_IDMAP)`.
//!
//! The kernel takes a mount's idmapping from a user namespace, and a user namespace's
//! maps can only be written from outside it, for a process inside it. So a short-lived
//! helper is forked: it unshares `CLONE_NEWUSER` and waits; we (privileged, outside)
//! write its `uid_map`/`gid_map`, open `/proc/PID/ns/user`, then kill and reap it. The
//! namespace lives on as long as that descriptor. runc does the same with a helper it
//! forks and stops.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

use super::sys;

#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    #[error("{op}: {errno}")]
    Sys {
        op: &'static str,
        #[source]
        errno: Errno,
    },
    #[error("the helper process could not unshare a user namespace")]
    Unshare,
    #[error("the kernel refused {file} \"{lines}\" for the helper user namespace: {errno}")]
    Map {
        file: &'static str,
        lines: String,
        #[source]
        errno: Errno,
    },
}

impl UsernsError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            UsernsError::Sys { errno, .. } | UsernsError::Map { errno, .. } => Some(*errno as i32),
            UsernsError::Unshare => None,
        }
    }
}

/// Kills and reaps the helper however we leave: no process and no zombie stays behind.
struct Helper(Pid);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGKILL);
        while let Err(Errno::EINTR) = waitpid(self.0, Some(WaitPidFlag::__WALL)) {}
    }
}

/// A new user namespace whose maps are `uid_lines`/`gid_lines` (`"containerID hostID
/// size"` each), as an open `/proc/PID/ns/user` descriptor.
pub fn with_maps(uid_lines: &[String], gid_lines: &[String]) -> Result<OwnedFd, UsernsError> {
    let sys_err = |op| move |errno| UsernsError::Sys { op, errno };
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys_err("pipe2"))?;
    let pid = sys::fork_userns_holder(ready_w.as_fd()).map_err(sys_err("fork"))?;
    let helper = Helper(pid);
    drop(ready_w);
    let mut msg = [0u8; 24];
    let n = loop {
        match nix::unistd::read(&ready_r, &mut msg) {
            Err(Errno::EINTR) => continue,
            other => break other.map_err(sys_err("read from the helper"))?,
        }
    };
    if n == 0 || msg[0] != 1 {
        return Err(UsernsError::Unshare);
    }
    // Its pid as /proc knows it (see fork_userns_holder), else fork's.
    let pid = std::str::from_utf8(&msg[1..n])
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Pid::from_raw)
        .unwrap_or(pid);
    write_map(pid, "uid_map", uid_lines)?;
    write_map(pid, "gid_map", gid_lines)?;
    let ns = open(
        format!("/proc/{pid}/ns/user").as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys_err("open the helper's /proc/PID/ns/user"))?;
    drop(helper);
    Ok(ns)
}

/// The whole map in one write, as the kernel requires.
fn write_map(pid: Pid, file: &'static str, lines: &[String]) -> Result<(), UsernsError> {
    let content = lines.join("\n") + "\n";
    let map_err = |errno| UsernsError::Map {
        file,
        lines: lines.join(", "),
        errno,
    };
    let fd = open(
        format!("/proc/{pid}/{file}").as_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(map_err)?;
    match nix::unistd::write(&fd, content.as_bytes()) {
        Ok(n) if n == content.len() => Ok(()),
        Ok(_) => Err(map_err(Errno::EIO)),
        Err(e) => Err(map_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// Helpers (alive or zombie) whose parent is this test process.
    fn helpers_of_ours() -> Vec<String> {
        let me = std::process::id().to_string();
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter(|st| st.contains("(isc:userns)"))
            .filter(|st| {
                st.rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().nth(1))
                    == Some(&me)
            })
            .collect()
    }

    #[test]
    fn a_helper_namespace_carries_the_map_and_the_helper_is_gone() {
        if !nix::unistd::geteuid().is_root() {
            return; // writing another uid's mapping needs root
        }
        let ns = with_maps(&["0 100000 65536".into()], &["0 100000 65536".into()]).unwrap();
        // A user namespace, not ours.
        let ours = std::fs::metadata("/proc/self/ns/user").unwrap();
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&ns));
        let theirs = std::fs::metadata(&path).unwrap();
        assert_ne!(ours.ino(), theirs.ino());
        assert!(helpers_of_ours().is_empty());
    }

    #[test]
    fn a_refused_map_names_the_file_and_leaves_no_helper() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        // Overlapping ranges are refused by the kernel.
        let e = with_maps(
            &["0 1000 10".into(), "5 2000 10".into()],
            &["0 1000 1".into()],
        )
        .unwrap_err();
        assert!(e.to_string().contains("uid_map"), "{e}");
        assert!(helpers_of_ours().is_empty());
    }
}
