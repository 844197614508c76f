//! The kernel probe as a source: its ring buffer fd wakes the loop, each wake drains it.

use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use initscope_probe::schema::KernelEvent;
use initscope_probe::Probe;

use super::Source;

pub struct ProbeSource {
    pub probe: Probe,
    batch: Vec<KernelEvent>,
    what: String,
}

impl ProbeSource {
    pub fn new(probe: Probe, what: impl Into<String>) -> ProbeSource {
        ProbeSource {
            probe,
            batch: Vec::new(),
            what: what.into(),
        }
    }
}

impl Source for ProbeSource {
    fn fd(&self) -> Option<RawFd> {
        Some(self.probe.as_raw_fd())
    }

    fn drain(&mut self, out: &mut Vec<String>) -> std::io::Result<bool> {
        self.batch.clear();
        self.probe
            .poll(Duration::ZERO, &mut self.batch)
            .map_err(std::io::Error::other)?;
        out.extend(self.batch.iter().map(KernelEvent::to_json));
        Ok(true)
    }

    fn describe(&self) -> String {
        format!("kernel: {}", self.what)
    }
}
