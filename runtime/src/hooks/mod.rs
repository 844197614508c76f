//! OCI hooks: prestart, createRuntime, createContainer, startContainer, poststart, poststop.
//!
//! Each hook is a process: `path` executed with `args` (`args[0]` is its argv[0]; `path`
//! when there are no args), exactly `env` as its environment (nothing inherited), the
//! container state JSON on stdin, and `timeout` seconds to finish before it — and every
//! process of its process group — is killed. No threads: one fork+exec, then a `poll` on
//! the pidfd and the pipes, so `[2:INIT]` can run createContainer/startContainer hooks too.
//!
//! Who calls which, with which state `status` ([`HookKind::status`], runc's choices):
//!
//! | hook | where it runs | status on stdin | a failure |
//! |---|---|---|---|
//! | prestart (deprecated) | `create`, runtime namespaces, after the container's namespaces exist, before pivot_root | `creating` | fails create |
//! | createRuntime | `create`, right after prestart | `creating` | fails create |
//! | createContainer | `[2:INIT]`, container namespaces, before pivot_root | `creating` | fails create |
//! | startContainer | `[2:INIT]`, after `start` opened exec.fifo, before execve | `created` | fails start |
//! | poststart | `start`, after the user process was started | `running` | a warning |
//! | poststop | `delete`, after the container process is gone | `stopped` | a warning |

mod spawn;

use std::path::Path;

use oci_spec::runtime::{ContainerState, Hook, Hooks, State};

use crate::events::schema::EventKind;

pub use spawn::run_hook;

/// The six hook lists of the runtime spec, in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookKind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl HookKind {
    pub const ALL: [HookKind; 6] = [
        HookKind::Prestart,
        HookKind::CreateRuntime,
        HookKind::CreateContainer,
        HookKind::StartContainer,
        HookKind::Poststart,
        HookKind::Poststop,
    ];

    /// The name used in config.json and in the `hook`/`hook_start` events.
    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        }
    }

    /// The container status the state on the hook's stdin carries.
    pub fn status(self) -> ContainerState {
        match self {
            HookKind::Prestart | HookKind::CreateRuntime | HookKind::CreateContainer => {
                ContainerState::Creating
            }
            HookKind::StartContainer => ContainerState::Created,
            HookKind::Poststart => ContainerState::Running,
            HookKind::Poststop => ContainerState::Stopped,
        }
    }

    /// createContainer and startContainer run in the container's namespaces (their path
    /// resolves there); the others in the runtime's.
    pub fn in_container_namespaces(self) -> bool {
        matches!(self, HookKind::CreateContainer | HookKind::StartContainer)
    }

    /// The hooks of this kind in `hooks` (empty when absent).
    pub fn of(self, hooks: &Hooks) -> &[Hook] {
        #[allow(deprecated)] // prestart is deprecated in the spec, still honoured (runc does)
        let list = match self {
            HookKind::Prestart => hooks.prestart(),
            HookKind::CreateRuntime => hooks.create_runtime(),
            HookKind::CreateContainer => hooks.create_container(),
            HookKind::StartContainer => hooks.start_container(),
            HookKind::Poststart => hooks.poststart(),
            HookKind::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or_default()
    }
}

impl std::fmt::Display for HookKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failing poststart or poststop hook is a warning (the spec: "log a warning, the
/// remaining hooks and lifecycle continue"); any other failure fails the operation.
pub fn is_warning_only(kind: HookKind) -> bool {
    matches!(kind, HookKind::Poststart | HookKind::Poststop)
}

/// `state` as JSON with the status `kind` requires ([`HookKind::status`]). `state.pid`
/// should be the container process's host pid (init cannot learn it from getpid()).
pub fn state_json(kind: HookKind, state: &State) -> String {
    let mut s = state.clone();
    s.set_status(kind.status());
    // Plain data with string keys: serializing cannot fail.
    serde_json::to_string(&s).expect("container state serializes")
}

/// What went wrong with a hook; every message starts with `hooks.<kind>[<index>] (<path>)`.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The config is wrong (checked by [`validate`] in `create`).
    #[error("hooks.{kind}[{index}].{field}: {reason}")]
    Invalid {
        kind: HookKind,
        index: usize,
        field: &'static str,
        reason: String,
    },
    /// The hook could not be started (missing, not executable, …).
    #[error("hooks.{kind}[{index}] ({path}): cannot run it: {source}")]
    Spawn {
        kind: HookKind,
        index: usize,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// It exited non-zero or was killed by a signal.
    #[error("hooks.{kind}[{index}] ({path}) failed: {status}{}", detail(.output))]
    Failed {
        kind: HookKind,
        index: usize,
        path: String,
        /// `exit status 3` or `killed by SIGTERM`.
        status: String,
        /// The first line of its stderr (or of its stdout when stderr was empty).
        output: String,
    },
    /// It ran past its timeout and was killed with its process group.
    #[error("hooks.{kind}[{index}] ({path}) ran past its timeout of {timeout}s and was killed")]
    Timeout {
        kind: HookKind,
        index: usize,
        path: String,
        timeout: i64,
    },
    /// Watching it failed (pidfd, poll, wait).
    #[error("hooks.{kind}[{index}] ({path}): {op}: {errno}")]
    Sys {
        kind: HookKind,
        index: usize,
        path: String,
        op: &'static str,
        errno: nix::Error,
    },
}

fn detail(output: &str) -> String {
    if output.is_empty() {
        String::new()
    } else {
        format!(": {output}")
    }
}

impl HookError {
    pub fn kind(&self) -> HookKind {
        match self {
            HookError::Invalid { kind, .. }
            | HookError::Spawn { kind, .. }
            | HookError::Failed { kind, .. }
            | HookError::Timeout { kind, .. }
            | HookError::Sys { kind, .. } => *kind,
        }
    }

    pub fn errno(&self) -> Option<i32> {
        match self {
            HookError::Spawn { source, .. } => source.raw_os_error(),
            HookError::Sys { errno, .. } => Some(*errno as i32),
            _ => None,
        }
    }
}

/// Check every hook of the config before anything runs: `path` absolute (the spec says
/// MUST), `timeout` greater than zero. Existence is not checked: createContainer and
/// startContainer paths resolve in the container.
pub fn validate(hooks: &Hooks) -> Result<(), HookError> {
    for kind in HookKind::ALL {
        for (index, h) in kind.of(hooks).iter().enumerate() {
            let invalid = |field, reason: String| HookError::Invalid {
                kind,
                index,
                field,
                reason,
            };
            if !Path::new(h.path()).is_absolute() {
                return Err(invalid(
                    "path",
                    format!("{:?} is not an absolute path", h.path()),
                ));
            }
            if let Some(t) = h.timeout() {
                if t <= 0 {
                    return Err(invalid(
                        "timeout",
                        format!("{t} must be greater than zero (seconds)"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Run the hooks of `kind` in order, each with `state_json` on stdin, emitting `hook_start`
/// and `hook` events. For prestart/createRuntime/createContainer/startContainer the first
/// failure stops and is returned; for poststart/poststop every hook runs and the failures
/// come back as warnings in `Ok`.
pub fn run_hooks(
    kind: HookKind,
    hooks: &[Hook],
    state_json: &str,
    emit: &mut dyn FnMut(EventKind),
) -> Result<Vec<HookError>, HookError> {
    let mut warnings = Vec::new();
    for (index, hook) in hooks.iter().enumerate() {
        match run_hook(kind, index, hook, state_json, emit) {
            Ok(()) => {}
            Err(e) if is_warning_only(kind) => warnings.push(e),
            Err(e) => return Err(e),
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks(v: serde_json::Value) -> Hooks {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn kinds_have_spec_names_and_statuses() {
        let names: Vec<_> = HookKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "prestart",
                "createRuntime",
                "createContainer",
                "startContainer",
                "poststart",
                "poststop"
            ]
        );
        assert_eq!(HookKind::CreateRuntime.status(), ContainerState::Creating);
        assert_eq!(HookKind::StartContainer.status(), ContainerState::Created);
        assert_eq!(HookKind::Poststart.status(), ContainerState::Running);
        assert_eq!(HookKind::Poststop.status(), ContainerState::Stopped);
        assert!(is_warning_only(HookKind::Poststart) && is_warning_only(HookKind::Poststop));
        assert!(!is_warning_only(HookKind::Prestart) && !is_warning_only(HookKind::StartContainer));
    }

    #[test]
    fn lists_are_picked_from_the_config() {
        let h = hooks(serde_json::json!({
            "prestart": [{"path": "/a"}],
            "createContainer": [{"path": "/b"}, {"path": "/c"}]
        }));
        assert_eq!(HookKind::Prestart.of(&h).len(), 1);
        assert_eq!(HookKind::CreateContainer.of(&h).len(), 2);
        assert!(HookKind::Poststop.of(&h).is_empty());
    }

    #[test]
    fn validation_names_the_field() {
        let e = validate(&hooks(
            serde_json::json!({"poststop": [{"path": "/ok"}, {"path": "rel/x"}]}),
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "hooks.poststop[1].path: \"rel/x\" is not an absolute path"
        );
        let e = validate(&hooks(
            serde_json::json!({"createRuntime": [{"path": "/x", "timeout": 0}]}),
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "hooks.createRuntime[0].timeout: 0 must be greater than zero (seconds)"
        );
        validate(&hooks(
            serde_json::json!({"poststart": [{"path": "/x", "timeout": 3}]}),
        ))
        .unwrap();
    }

    #[test]
    fn state_carries_the_status_of_the_hook() {
        let mut st = State::default();
        st.set_id("c1".into());
        st.set_status(ContainerState::Running);
        let v: serde_json::Value =
            serde_json::from_str(&state_json(HookKind::CreateRuntime, &st)).unwrap();
        assert_eq!(v["status"], "creating");
        assert_eq!(v["id"], "c1");
    }
}
