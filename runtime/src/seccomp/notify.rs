//! Handing the `SCMP_ACT_NOTIFY` listener fd to the seccomp agent at `listenerPath`, with
//! the runtime spec's protocol (runc's `sendContainerProcessState`): one `SCM_RIGHTS`
//! message whose data is the `ContainerProcessState` JSON and whose fd list is
//! `["seccompFd"]`.
//!
//! The fd is born in `[2:INIT]` (from [`super::Filter::load`]) but `listenerPath` resolves
//! in the runtime's namespaces: as in current runc, init sends only the fd's *number*
//! (`procSeccomp`), `create` copies the fd out of init with [`take_fd_from`]
//! (`pidfd_getfd`) and answers `procSeccompDone`. Init thus needs no `sendmsg` after the
//! filter is in place (a profile may notify on it).

use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use oci_spec::runtime::{ContainerProcessState, State, SECCOMP_FD_NAME};

use super::SeccompError;
use crate::fdpass;

/// The JSON the agent receives with the fd: `pid` is the container process's host pid,
/// `metadata` is `linux.seccomp.listenerMetadata`, `state` the container state.
pub fn process_state_json(pid: i32, metadata: Option<&str>, state: &State) -> String {
    let mut s = ContainerProcessState::default();
    s.set_version(state.version().clone());
    s.set_fds(vec![SECCOMP_FD_NAME.to_string()]);
    s.set_pid(pid);
    s.set_metadata(metadata.map(str::to_string));
    s.set_state(state.clone());
    // Plain data with string keys: serializing cannot fail.
    serde_json::to_string(&s).expect("container process state serializes")
}

/// Connect to `listener_path` and send `fd` with `process_state_json` as its data. Run in
/// `create` (the runtime namespace), where `listenerPath` resolves.
pub fn send_to_listener(
    listener_path: &Path,
    fd: impl AsFd,
    process_state_json: &str,
) -> Result<(), SeccompError> {
    let err = |e: fdpass::FdPassError| SeccompError::Listener {
        path: listener_path.display().to_string(),
        message: e.to_string(),
    };
    let sock = fdpass::connect_unix(listener_path).map_err(err)?;
    fdpass::send_fd(&sock, fd.as_fd(), process_state_json.as_bytes()).map_err(err)
}

/// Copy fd number `remote_fd` out of process `pid` (`pidfd_open` + `pidfd_getfd`; the
/// caller needs ptrace rights over `pid`, which `create` has over its own init).
pub fn take_fd_from(pid: i32, remote_fd: RawFd) -> Result<OwnedFd, SeccompError> {
    let err = |op: &str| SeccompError::Handover {
        errno: nix::errno::Errno::last_raw(),
        message: format!("{op} (fd {remote_fd} of pid {pid}): {}", nix::Error::last()),
    };
    // SAFETY: pidfd_open takes a pid and flags; no memory is passed.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return Err(err("pidfd_open"));
    }
    // SAFETY: the kernel just returned this fd; nobody else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    // SAFETY: pidfd_getfd takes two fds and flags and returns a new fd (close-on-exec).
    let fd = unsafe {
        libc::syscall(
            libc::SYS_pidfd_getfd,
            std::os::fd::AsRawFd::as_raw_fd(&pidfd),
            remote_fd,
            0,
        )
    };
    if fd < 0 {
        return Err(err("pidfd_getfd"));
    }
    // SAFETY: the kernel just returned this fd; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::ContainerState;

    #[test]
    fn the_agent_gets_the_spec_shape() {
        let mut st = State::default();
        st.set_version("1.2.0".into());
        st.set_id("c1".into());
        st.set_status(ContainerState::Creating);
        st.set_pid(Some(42));
        let v: serde_json::Value =
            serde_json::from_str(&process_state_json(42, Some("meta"), &st)).unwrap();
        assert_eq!(v["fds"], serde_json::json!(["seccompFd"]));
        assert_eq!(v["pid"], 42);
        assert_eq!(v["metadata"], "meta");
        assert_eq!(v["ociVersion"], "1.2.0");
        assert_eq!(v["state"]["id"], "c1");
        assert_eq!(v["state"]["status"], "creating");
    }

    #[test]
    fn an_fd_is_copied_out_of_a_process_by_number() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let copy = take_fd_from(
            std::process::id() as i32,
            std::os::fd::AsRawFd::as_raw_fd(&r),
        )
        .unwrap();
        drop(r);
        nix::unistd::write(&w, b"k").unwrap();
        let mut b = [0u8; 1];
        nix::unistd::read(&copy, &mut b).unwrap();
        assert_eq!(&b, b"k");
        assert!(take_fd_from(std::process::id() as i32, 999_999).is_err());
    }

    #[test]
    fn a_missing_listener_names_the_field_and_path() {
        let (r, _w) = nix::unistd::pipe().unwrap();
        let e = send_to_listener(Path::new("/nonexistent/agent.sock"), &r, "{}").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.seccomp.listenerPath (/nonexistent/agent.sock): connect"),
            "{e}"
        );
    }
}
