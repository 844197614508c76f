//! What the live diagnosis costs. On the drawing thread: choosing the lanes to judge
//! (`live::batches`) every 0.5 s, against history size — sessions of back-to-back
//! bootstraps, all finished, or the last one cut mid-way (three stages silent). On the
//! worker: reading one blocked process from /proc (`procinfo::inspect`: state, stack,
//! syscall, and the scan of every process's fds for the other end of its pipe).
//!
//! Run: `cargo bench -p initscope --bench diagnose` (sizes as arguments: `-- 1000 100000`).

use std::io::Write;
use std::time::{Duration, Instant};

use initscope::diagnose::live;
use initscope::event::Event;
use initscope::session::Session;
use initscope::synth;
use initscope_runtime::events::schema::EventKind;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(mut f: impl FnMut()) -> Duration {
    let mut times = Vec::new();
    for _ in 0..31 {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    median(times)
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 100_000]
    } else {
        sizes
    };
    let dir = tempfile::tempdir().unwrap();
    println!(
        "{:>9} {:>16} {:>16}",
        "events", "batches(done)", "batches(stuck)"
    );
    for n in sizes {
        let mut cols = Vec::new();
        for cut in [false, true] {
            let path = dir.path().join(format!("{n}-{cut}.jsonl"));
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            let per = synth::initscope_bootstrap(synth::Options::default()).len();
            let boots = n.div_ceil(per);
            for i in 0..boots {
                let evs = synth::many_from(i, 1);
                let keep = if cut && i + 1 == boots {
                    // The last one stops once [1:CHILD] asked for its uid map.
                    evs.iter()
                        .position(|e| matches!(e, Event::Runtime(r) if matches!(&r.kind, EventKind::SyncSend { msg, .. } if msg == "SYNC_USERMAP_PLS")))
                        .unwrap()
                        + 1
                } else {
                    evs.len()
                };
                for e in &evs[..keep] {
                    writeln!(f, "{}", e.to_json()).unwrap();
                }
            }
            drop(f);
            let s = Session::load(&path).unwrap();
            let now = s.model.last_ts + 10_000_000_000;
            let mut asked = 0;
            let t = time(|| {
                asked = live::batches(&s, 2_000_000_000, now)
                    .iter()
                    .map(|b| b.items.len())
                    .sum::<usize>();
            });
            cols.push(format!("{:.3}ms ({asked})", t.as_secs_f64() * 1e3));
        }
        println!("{:>9} {:>16} {:>16}", n, cols[0], cols[1]);
    }
    // One blocked process, read from /proc as the worker does.
    let (r, w) = nix::unistd::pipe().unwrap();
    let mut cat = std::process::Command::new("cat")
        .stdin(std::process::Stdio::from(r))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let pid = cat.id() as i32;
    let procs = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<i32>().is_ok())
        .count();
    let t = time(|| {
        let i = initscope::procinfo::inspect(pid).unwrap();
        assert!(i.waits_on.is_some());
    });
    println!(
        "procinfo::inspect of a process blocked on a pipe ({procs} processes scanned): {:.2}ms",
        t.as_secs_f64() * 1e3
    );
    drop(w);
    let _ = cat.wait();
}
