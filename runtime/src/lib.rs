//! initscope-runtime: an OCI runtime whose bootstrap mirrors runc's
//! `create` → `[0:PARENT]` → `[1:CHILD]` → `[2:INIT]` dance and reports every step
//! as a structured event (see [`events::schema`]).

pub mod bootstrap;
pub mod cgroups;
pub mod cli;
pub mod console;
pub mod error;
pub mod events;
pub mod fdpass;
pub mod fds;
pub mod hooks;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod state;
pub mod sys;
pub mod sysctl;
pub mod timefmt;
