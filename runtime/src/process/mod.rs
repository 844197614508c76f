//! What init applies to itself before it becomes the container's process: rlimits, the
//! user and groups, umask, capabilities (all five sets), noNewPrivileges, oom_score_adj,
//! and finding and exec'ing the program with its env and cwd.

pub mod caps;
pub mod exec;
pub mod oom;
pub mod rlimits;
pub mod user;
