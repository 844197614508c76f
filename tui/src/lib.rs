//! initscope: joins the runtime's and the kernel's events into one model and draws it.

pub mod event;
pub mod labels;
pub mod model;
pub mod session;
pub mod store;
pub mod synth;
