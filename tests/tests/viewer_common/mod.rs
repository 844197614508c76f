//! Shared by the viewer's end-to-end tests: the binary, and tmux as a real terminal.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

pub fn initscope() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("initscope")
}

/// A tmux session of its own (own socket), killed on drop even when the test fails.
pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    pub fn start(cmd: &str, w: u16, h: u16) -> Tmux {
        let socket = format!("isc-test-{}-{}", std::process::id(), rand_suffix());
        let st = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
                "sh",
                "-c",
                cmd,
            ])
            .status()
            .expect("tmux is installed (scripts/setup)");
        assert!(st.success());
        Tmux { socket }
    }
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", "-t", "0", k])
                .status()
                .unwrap();
            sleep(Duration::from_millis(80));
        }
    }
    pub fn capture(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    pub fn wait_for(&self, what: &str) -> String {
        let t = Instant::now();
        loop {
            let s = self.capture();
            if s.contains(what) || t.elapsed() > Duration::from_secs(10) {
                return s;
            }
            sleep(Duration::from_millis(100));
        }
    }
}

/// The screen once the viewer has ended (its shell wrapper prints ` END`): it exited 0
/// and the terminal is back in cooked mode with echo (the wrapper prints `stty -a`).
pub fn assert_ended_with_terminal_restored(t: &Tmux) -> String {
    let after = t.wait_for(" END");
    assert!(after.contains("EXIT=0"), "{after}");
    assert!(
        after.contains("icanon echo") || after.contains("echo icanon"),
        "terminal left raw:\n{after}"
    );
    after
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}
