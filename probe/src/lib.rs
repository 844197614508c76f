//! The probe: eBPF programs that watch one process subtree from the kernel's side, and the
//! schema of the events they produce ([`schema`]).

pub mod schema;
