//! initscope: joins the runtime's and the kernel's events into one model and draws it.

pub mod app;
pub mod commands;
pub mod diagnose;
pub mod event;
pub mod explain;
pub mod export;
pub mod labels;
pub mod model;
pub mod printout;
pub mod procinfo;
pub mod session;
pub mod sources;
pub mod store;
pub mod synth;
pub mod terminal;
pub mod trace_cmd;
pub mod ui;
pub mod view;
