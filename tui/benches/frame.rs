//! Frame time against history size: load a recording of 1k, 100k and 1M events (many
//! bootstraps one after another), then draw the full 160×48 screen at the end (live view)
//! and in the middle (replay), many times; report medians, and memory per event.
//!
//! Run: `cargo bench -p initscope --bench frame` (add sizes as arguments: `-- 1000 50000`).

use std::io::Write;
use std::time::{Duration, Instant};

use initscope::session::Session;
use initscope::synth;
use initscope::ui;
use initscope::view::{Mode, View};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn rss_mb() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / 1e6
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect::<Vec<_>>();
    let sizes = if sizes.is_empty() {
        vec![1_000, 100_000, 1_000_000]
    } else {
        sizes
    };
    let dir = tempfile::tempdir().unwrap();
    println!(
        "{:>9} {:>9} {:>10} {:>12} {:>12} {:>9}",
        "events", "load", "rss MB", "frame(end)", "frame(mid)", "B/event"
    );
    for n in sizes {
        let per = synth::initscope_bootstrap(synth::Options::default()).len();
        let path = dir.path().join(format!("{n}.jsonl"));
        {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            let mut written = 0;
            let mut i = 0;
            while written < n {
                let evs = synth::many_from(i, 1);
                for e in evs.iter().take(n - written) {
                    writeln!(f, "{}", e.to_json()).unwrap();
                }
                written += evs.len().min(n - written);
                i += 1;
            }
        }
        let _ = per;
        let before = rss_mb();
        let t = Instant::now();
        let s = Session::load(&path).unwrap();
        let load = t.elapsed();
        let mem = rss_mb() - before;
        let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
        let mut frame = |at: u32| {
            let mut v = View::new(Mode::Replay, "bench");
            v.cursor = at;
            v.sync(&s.model);
            let mut times = Vec::new();
            for _ in 0..31 {
                let t = Instant::now();
                term.draw(|f| ui::draw(f, &s, &mut v)).unwrap();
                times.push(t.elapsed());
            }
            median(times)
        };
        let end = frame(u32::MAX);
        let mid = frame(s.model.len() as u32 / 2);
        println!(
            "{:>9} {:>8.0}ms {:>10.0} {:>10.2}ms {:>10.2}ms {:>9.0}",
            s.model.len(),
            load.as_secs_f64() * 1e3,
            mem,
            end.as_secs_f64() * 1e3,
            mid.as_secs_f64() * 1e3,
            mem * 1e6 / s.model.len() as f64
        );
    }
}
