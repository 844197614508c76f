//! The probe: eBPF programs (C, CO-RE, in `bpf/`) that watch one process subtree clone,
//! unshare, setns, exec, rename and exit from the kernel's side, the [`Probe`] that loads
//! them with aya and decodes what they report, and the schema of those events ([`schema`]).
//!
//! ```no_run
//! use initscope_probe::{Probe, ProbeOptions};
//! let mut probe = Probe::load(ProbeOptions { pids: vec![1234], ..Default::default() })?;
//! let mut events = Vec::new();
//! probe.poll(std::time::Duration::from_millis(100), &mut events)?;
//! for e in &events { println!("{}", e.to_json()); }
//! # Ok::<(), initscope_probe::ProbeError>(())
//! ```

pub mod error;
pub mod held;
mod loader;
mod procfs;
pub mod schema;
mod tracefs;
pub mod wire;

pub use error::ProbeError;
pub use loader::{Probe, ProbeOptions};
