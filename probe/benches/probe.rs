//! The probe's benchmark (not a test): `cargo bench -p initscope-probe --bench probe`, as
//! root. Prints markdown tables for the README:
//!
//! 1. events/s sustained with zero loss (a tracked process calling `unshare(0)` at paced
//!    rates; each call is one event), and the reader's CPU per event;
//! 2. the ring buffer's wakeup policy at 150k events/s (kernel default vs batched);
//! 3. kernel ns per event (`kernel.bpf_stats_enabled`, restored afterwards);
//! 4. userspace ns per decoded record (pure decode);
//! 5. the wall time of a 20,000-process fork/exec loop with and without the probe,
//!    interleaved, medians and ratio.
//!
//! `INITSCOPE_BENCH_PAIRS` (default 3) sets the number of interleaved pairs in 5;
//! `INITSCOPE_BENCH_LOOP` (default 20000) the loop's length.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use initscope_probe::held::HeldChild;
use initscope_probe::schema::{KernelEvent, KernelKind};
use initscope_probe::{wire, Probe, ProbeOptions};

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("the probe benchmark loads eBPF: run it as root");
        std::process::exit(1);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let load = compile_load(dir.path());
    let pairs: usize = env_or("INITSCOPE_BENCH_PAIRS", 3);
    let loop_len: u64 = env_or("INITSCOPE_BENCH_LOOP", 20_000);

    println!("## Probe benchmark ({})\n", uname());
    sustained(&load);
    wakeups(&load);
    kernel_cost(&load);
    decode_cost();
    fork_exec_ratio(&load, pairs, loop_len);
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn uname() -> String {
    let u = nix::sys::utsname::uname().expect("uname");
    format!(
        "Linux {}, {} CPUs",
        u.release().to_string_lossy(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )
}

fn compile_load(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/load.c");
    let bin = dir.join("load");
    let st = Command::new("gcc")
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("gcc (scripts/setup installs it)");
    assert!(st.success(), "compiling {}", src.display());
    bin
}

/// What one traced run of the workload gave.
struct Run {
    wall: Duration,
    /// CPU time of the workload and its children (user + sys; BPF programs run as sys).
    work_cpu: Duration,
    received: u64,
    lost: u64,
    reader_cpu: Duration,
    polls: u64,
    stdout: String,
}

/// Run `argv` held and tracked by `probe` (or untraced when `None`), reading events until
/// it exits.
fn run(probe: Option<&mut Probe>, argv: &[String]) -> Run {
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let script = format!(
        "exec {} > {}",
        argv.iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        out.path().display()
    );
    let mut child = HeldChild::spawn(&["sh".into(), "-c".into(), script]).expect("spawn");
    let cpu0 = thread_cpu();
    let work0 = children_cpu();
    let mut received = 0u64;
    let mut polls = 0u64;
    let lost0 = probe.as_ref().map_or(0, |p| p.lost());
    let t0;
    let exit;
    match probe {
        Some(p) => {
            p.track_pid(child.pid()).expect("track");
            t0 = Instant::now();
            child.release().expect("exec");
            let mut buf: Vec<KernelEvent> = Vec::with_capacity(1 << 16);
            let mut done = None;
            let mut quiet = 0;
            loop {
                buf.clear();
                let n = p.poll(Duration::from_millis(20), &mut buf).expect("poll");
                polls += 1;
                received += buf
                    .iter()
                    .filter(|e| {
                        !matches!(
                            e.kind,
                            KernelKind::Lost { .. } | KernelKind::Namespaces { .. }
                        )
                    })
                    .count() as u64;
                if done.is_none() {
                    done = child.try_wait().expect("wait").map(|_| Instant::now());
                }
                quiet = if n == 0 { quiet + 1 } else { 0 };
                if done.is_some() && quiet >= 3 {
                    break;
                }
            }
            exit = done.unwrap();
            let lost = p.lost() - lost0;
            return Run {
                wall: exit - t0,
                work_cpu: children_cpu() - work0,
                received,
                lost,
                reader_cpu: thread_cpu() - cpu0,
                polls,
                stdout: std::fs::read_to_string(out.path()).unwrap_or_default(),
            };
        }
        None => {
            t0 = Instant::now();
            child.release().expect("exec");
            child.wait().expect("wait");
            exit = Instant::now();
        }
    }
    Run {
        wall: exit - t0,
        work_cpu: children_cpu() - work0,
        received,
        lost: 0,
        reader_cpu: Duration::ZERO,
        polls,
        stdout: std::fs::read_to_string(out.path()).unwrap_or_default(),
    }
}

/// user + sys of every reaped child so far.
fn children_cpu() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    let u = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let tv =
        |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    tv(u.user_time()) + tv(u.system_time())
}

fn thread_cpu() -> Duration {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .expect("thread cpu clock");
    Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32)
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn sustained(load: &Path) {
    println!("### Sustained rate (tracked `unshare(0)` loop, 2 s per rate, 8 MiB ring)\n");
    println!("| target ev/s | achieved ev/s | produced | received | lost | reader CPU ns/event |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut probe = Probe::load(ProbeOptions::default()).expect("load probe");
    let mut best = 0.0f64;
    for rate in [
        50_000u64, 100_000, 150_000, 200_000, 300_000, 500_000, 1_000_000, 4_000_000,
    ] {
        let n = rate * 2;
        let r = run(
            Some(&mut probe),
            &args(&[
                &load.display().to_string(),
                "unshare",
                &n.to_string(),
                &rate.to_string(),
            ]),
        );
        let achieved: f64 = r.stdout.trim().parse().unwrap_or(0.0);
        // per run: the unshares, and the root's exec of sh, sh's exec of the workload, its exit
        let produced = n + 3;
        assert_eq!(r.received + r.lost, produced, "received + lost = produced");
        if r.lost == 0 {
            best = best.max(achieved);
        }
        println!(
            "| {rate} | {achieved:.0} | {produced} | {} | {} | {:.0} |",
            r.received,
            r.lost,
            r.reader_cpu.as_nanos() as f64 / r.received.max(1) as f64
        );
    }
    println!("\nHighest rate with zero loss: **{best:.0} events/s**.\n");
}

fn wakeups(load: &Path) {
    println!("### Wakeup policy at 150k events/s (300k events)\n");
    println!("| wakeup_bytes | reader polls | reader CPU ns/event | lost |");
    println!("|---:|---:|---:|---:|");
    for wake in [0usize, 64 << 10, 1 << 20] {
        let mut probe = Probe::load(ProbeOptions {
            wakeup_bytes: wake,
            ..Default::default()
        })
        .expect("load probe");
        let r = run(
            Some(&mut probe),
            &args(&[&load.display().to_string(), "unshare", "300000", "150000"]),
        );
        println!(
            "| {} | {} | {:.0} | {} |",
            if wake == 0 {
                "0 (kernel default)".to_string()
            } else {
                wake.to_string()
            },
            r.polls,
            r.reader_cpu.as_nanos() as f64 / r.received.max(1) as f64,
            r.lost
        );
    }
    println!();
}

/// `kernel.bpf_stats_enabled` on for this scope, restored on drop (also when unwinding).
struct BpfStats(String);

impl BpfStats {
    const PATH: &'static str = "/proc/sys/kernel/bpf_stats_enabled";
    fn enable() -> BpfStats {
        let old = std::fs::read_to_string(Self::PATH).expect("read bpf_stats_enabled");
        std::fs::write(Self::PATH, "1").expect("enable bpf_stats_enabled");
        BpfStats(old.trim().to_string())
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write(Self::PATH, &self.0);
    }
}

/// (name, run_time_ns, run_cnt) of every program this process holds.
fn prog_stats() -> HashMap<u64, (String, u64, u64)> {
    let mine: Vec<u64> = std::fs::read_dir("/proc/self/fdinfo")
        .expect("fdinfo")
        .flatten()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f.path()).ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix("prog_id:")?.trim().parse().ok())
        })
        .collect();
    let out = Command::new("bpftool")
        .args(["-j", "prog", "show"])
        .output()
        .expect("bpftool");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    v.as_array()
        .expect("array")
        .iter()
        .filter_map(|p| {
            let id = p["id"].as_u64()?;
            mine.contains(&id).then(|| {
                (
                    id,
                    (
                        p["name"].as_str().unwrap_or("?").to_string(),
                        p["run_time_ns"].as_u64().unwrap_or(0),
                        p["run_cnt"].as_u64().unwrap_or(0),
                    ),
                )
            })
        })
        .collect()
}

fn kernel_cost(load: &Path) {
    let _stats = BpfStats::enable();
    for (policy, wakeup_bytes) in [
        ("batched wakeups (the default, 64 KiB)", 64 << 10),
        ("kernel-default wakeups", 0),
    ] {
        let mut probe = Probe::load(ProbeOptions {
            wakeup_bytes,
            ..Default::default()
        })
        .expect("load probe");
        println!("### Kernel cost, {policy} (`kernel.bpf_stats_enabled=1`, restored afterwards)\n");
        kernel_cost_runs(load, &mut probe);
    }
}

fn kernel_cost_runs(load: &Path, probe: &mut Probe) {
    for (what, argv, events_per) in [
        (
            "fork/exec loop, 2000 processes",
            args(&[&load.display().to_string(), "forkexec", "2000"]),
            "fork + clone_exit + exec + exit per process",
        ),
        (
            "unshare loop, 300k calls at 150k/s",
            args(&[&load.display().to_string(), "unshare", "300000", "150000"]),
            "one unshare event per call",
        ),
    ] {
        let before = prog_stats();
        let r = run(Some(probe), &argv);
        let after = prog_stats();
        println!(
            "{what} ({events_per}): {} events, {} lost\n",
            r.received, r.lost
        );
        println!("| program | runs | ns/run | total ms |");
        println!("|---|---:|---:|---:|");
        let mut total = 0u64;
        let mut rows: Vec<_> = after
            .iter()
            .map(|(id, (name, ns, cnt))| {
                let (_, ns0, cnt0) = before.get(id).cloned().unwrap_or_default();
                (name.clone(), ns - ns0, cnt - cnt0)
            })
            .filter(|(_, _, c)| *c > 0)
            .collect();
        rows.sort();
        for (name, ns, cnt) in &rows {
            total += ns;
            println!(
                "| {name} | {cnt} | {:.0} | {:.2} |",
                *ns as f64 / *cnt as f64,
                *ns as f64 / 1e6
            );
        }
        println!(
            "\nAll programs: **{:.0} ns of kernel time per event received** (includes runs that emit nothing: syscall entries, other processes' hooks).\n",
            total as f64 / r.received.max(1) as f64
        );
    }
}

fn decode_cost() {
    // a fork record as the kernel writes it (layout in bpf/events.h)
    let mut rec = vec![0u8; 136];
    rec[16..20].copy_from_slice(&1u32.to_ne_bytes());
    rec[48..62].copy_from_slice(b"runc:[1:CHILD]");
    rec[80..84].copy_from_slice(&1u32.to_ne_bytes());
    rec[88..96].copy_from_slice(&0x8000u64.to_ne_bytes());
    let n = 2_000_000u32;
    let t0 = Instant::now();
    let mut sum = 0i64;
    for i in 0..n {
        rec[20..24].copy_from_slice(&(i as i32).to_ne_bytes());
        let e = wire::decode(std::hint::black_box(&rec)).expect("decode");
        sum += i64::from(e.pid);
    }
    let per = t0.elapsed().as_nanos() as f64 / f64::from(n);
    std::hint::black_box(sum);
    println!("### Userspace decode\n\n`wire::decode` of a fork record into a `KernelEvent`: **{per:.0} ns**.\n");
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fork_exec_ratio(load: &Path, pairs: usize, n: u64) {
    println!(
        "### {n}-process fork/exec loop, with and without the probe ({pairs} interleaved pairs)\n"
    );
    let argv = args(&[&load.display().to_string(), "forkexec", &n.to_string()]);
    let (mut with, mut without) = (Vec::new(), Vec::new());
    let (mut with_cpu, mut without_cpu) = (Vec::new(), Vec::new());
    let mut events = 0;
    let mut lost = 0;
    for _ in 0..pairs {
        let r = run(None, &argv);
        without.push(r.wall);
        without_cpu.push(r.work_cpu);
        let mut probe = Probe::load(ProbeOptions::default()).expect("load probe");
        let r = run(Some(&mut probe), &argv);
        drop(probe);
        with.push(r.wall);
        // the reader's CPU is part of the price
        with_cpu.push(r.work_cpu + r.reader_cpu);
        events = r.received;
        lost += r.lost;
    }
    let (mw, mo) = (median(&mut with), median(&mut without));
    let (cw, co) = (median(&mut with_cpu), median(&mut without_cpu));
    println!("| | median wall time | runs (wall) | median CPU time | runs (CPU) |");
    println!("|---|---:|---|---:|---|");
    println!(
        "| without probe | {:.3} s | {:?} | {:.3} s | {:?} |",
        mo.as_secs_f64(),
        secs(&without),
        co.as_secs_f64(),
        secs(&without_cpu)
    );
    println!(
        "| with probe (tracking the loop) | {:.3} s | {:?} | {:.3} s | {:?} |",
        mw.as_secs_f64(),
        secs(&with),
        cw.as_secs_f64(),
        secs(&with_cpu)
    );
    println!(
        "\nRatio with/without: wall **{:.3}**, CPU **{:.3}** (CPU: the loop's processes plus, with the probe, the reader; {events} events per traced run, {lost} lost in all).",
        mw.as_secs_f64() / mo.as_secs_f64(),
        cw.as_secs_f64() / co.as_secs_f64()
    );
}

fn secs(v: &[Duration]) -> Vec<String> {
    v.iter()
        .map(|d| format!("{:.3}", d.as_secs_f64()))
        .collect()
}
