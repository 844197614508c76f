//! Handing the `SCMP_ACT_NOTIFY` listener fd to the seccomp agent at `listenerPath`, with
//! the runtime spec's protocol (runc's `sendContainerProcessState`): one `SCM_RIGHTS`
//! message whose data is the `ContainerProcessState` JSON and whose fd list is
//! `["seccompFd"]`.

use std::os::fd::AsFd;
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
