//! The staged bootstrap: `create` → `[0:PARENT]` → `[1:CHILD]` → `[2:INIT]`.

pub mod sync;
