//! initscope-runtime: an OCI runtime whose bootstrap mirrors runc's
//! `create` → `[0:PARENT]` → `[1:CHILD]` → `[2:INIT]` dance and reports every step
//! as a structured event (see [`events::schema`]).

pub mod bootstrap;
pub mod cgroups;
pub mod cli;
pub mod error;
pub mod events;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod state;
pub mod sys;
pub mod sysctl;
pub mod timefmt;
