//! `linux.seccomp` with libseccomp's semantics, in two steps that run in different stages.
//!
//! 1. [`compile`] (in `create`, before the first clone): validates the profile — every
//!    error names its field (`linux.seccomp.syscalls[3].args[0].index: …`) — and has
//!    libseccomp build the BPF program exactly as runc does (unknown syscall names are
//!    skipped, a rule whose action equals the default is dropped, several conditions on
//!    the same argument become one rule each, more than 32 names switch on libseccomp's
//!    binary tree, runc's `-ENOSYS` stub for syscalls newer than the profile). The result, [`Filter`], is plain data: the BPF instructions and the
//!    `seccomp(2)` flags, so the stages inherit it through the clones.
//! 2. [`Filter::load`] (in `[2:INIT]`, as late as runc does it): one `seccomp(2)` call. It
//!    returns the notify listener fd when a rule uses `SCMP_ACT_NOTIFY`; the runtime then
//!    hands that fd to the agent at `listenerPath` with [`notify::send_to_listener`].
//!
//! [`check_json`] gives the same field-named errors for what the typed config cannot even
//! hold (an unknown action, architecture, flag or operator), for a config loader whose
//! deserialization failed.

mod check;
mod compile;
mod enosys;
mod load;
pub mod notify;

pub use check::check_json;
pub use compile::compile;

use crate::events::schema::EventKind;

/// A compiled seccomp profile, ready to be loaded by [`Filter::load`].
#[derive(Debug, Clone)]
pub struct Filter {
    /// The BPF program libseccomp generated (host byte order `sock_filter`s).
    program: Vec<libc::sock_filter>,
    /// `SECCOMP_FILTER_FLAG_*` to pass to `seccomp(2)`.
    flags: libc::c_ulong,
    /// SPEC_ALLOW was added by default (no `flags` in the config, as runc does): dropped
    /// again, silently, if the kernel does not know it.
    spec_allow_default: bool,
    summary: Summary,
}

/// What the profile amounts to, for the `seccomp` event and for people.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// The default action with its errno, as in the config (`SCMP_ACT_ERRNO(EPERM)`).
    pub default_action: String,
    /// Syscall names that got a rule.
    pub syscalls: usize,
    /// Architectures added besides the native one (`SCMP_ARCH_X86`).
    pub architectures: Vec<String>,
    /// `SECCOMP_FILTER_FLAG_*` names passed to the kernel.
    pub flags: Vec<String>,
    /// Names libseccomp does not know on this architecture, skipped as runc does.
    pub skipped: Vec<String>,
    /// A rule uses `SCMP_ACT_NOTIFY`: loading returns a listener fd.
    pub notify: bool,
    /// runc's stub answers ENOSYS for syscalls newer than the profile (see `enosys.rs`).
    pub enosys_stub: bool,
    /// BPF instructions in the program.
    pub instructions: usize,
}

impl Filter {
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The `seccomp` event describing this filter. Emit it *before* [`Filter::load`]: after
    /// the load the profile may forbid the very write that would carry it.
    pub fn event(&self) -> EventKind {
        let s = &self.summary;
        EventKind::Seccomp {
            default_action: s.default_action.clone(),
            syscalls: s.syscalls,
            architectures: s.architectures.clone(),
            flags: s.flags.clone(),
            skipped: s.skipped.clone(),
            notify: s.notify,
        }
    }

    /// The BPF program (for tests and `features`-like introspection).
    pub fn program(&self) -> &[libc::sock_filter] {
        &self.program
    }

    /// The `seccomp(2)` flags this filter is loaded with.
    pub fn flags(&self) -> libc::c_ulong {
        self.flags
    }
}

/// Everything that can go wrong, each naming the field or the step.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The profile is wrong; `field` is its path in config.json.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// libseccomp refused a part of the profile.
    #[error("{field}: libseccomp refused it: {message}")]
    Libseccomp { field: String, message: String },
    /// Exporting the generated program failed (memfd, read).
    #[error("seccomp: exporting the BPF program: {0}")]
    Export(String),
    /// `seccomp(2)` refused the program.
    #[error("seccomp: loading the filter: {message}")]
    Load { errno: i32, message: String },
    /// Copying the listener fd out of init failed.
    #[error("seccomp: taking the listener fd from init: {message}")]
    Handover { errno: i32, message: String },
    /// Handing the notify fd to the agent at `listenerPath` failed.
    #[error("linux.seccomp.listenerPath ({path}): {message}")]
    Listener { path: String, message: String },
}

impl SeccompError {
    /// The errno behind the error, when there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            SeccompError::Load { errno, .. } | SeccompError::Handover { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        SeccompError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
