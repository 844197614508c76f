//! initscope: joins the runtime's and the kernel's events into one model and draws it.

pub mod event;
pub mod trace_cmd;
