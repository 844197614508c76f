//! The runtime benchmark (`scripts/bench` runs it; as root, release builds): one busybox
//! bundle running `/bin/true`, every runtime interleaved round by round, medians and
//! ratios, printed as Markdown.
//!
//! 1. `run` to exit, and create → start → wait → delete, for initscope-runtime, runc and
//!    youki (when installed) under this machine's hybrid cgroups;
//! 2. initscope-runtime streaming its events to a live viewer (`initscope watch` on
//!    `$INITSCOPE_BENCH_VIEWER_SOCKET`) against streaming to nothing;
//! 3. where initscope-runtime's time goes, from its own events' timestamps;
//! 4. in a private mount namespace with `/sys/fs/cgroup/unified` unmounted (the only way
//!    crun runs here), crun against initscope-runtime under the same conditions.
//!
//! Environment: `INITSCOPE_BENCH_RUNS` (rounds, default 30), `INITSCOPE_BENCH_OURS`
//! (default `target/release/initscope-runtime`), `INITSCOPE_BENCH_YOUKI` (default
//! `~/.cache/initscope-bench/youki/bin/youki`), `INITSCOPE_BENCH_VIEWER_SOCKET`.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use initscope_tests::soak::{run_measured_within, Measured};
use initscope_tests::Bundle;

struct Peer {
    name: &'static str,
    bin: PathBuf,
    /// Global flags this peer always gets.
    global: Vec<String>,
}

/// initscope-runtime's flag for "no live sink" (opening it fails), so that a viewer
/// someone runs on the well-known socket does not change the figures.
const NO_SINK: &str = "--events=/nonexistent/initscope-bench/no-sink";

/// One round of one peer.
#[derive(Default, Clone)]
struct Sample {
    run: Duration,
    run_cpu: Duration,
    create: Duration,
    start: Duration,
    wait: Duration,
    delete: Duration,
}

impl Sample {
    fn lifecycle(&self) -> Duration {
        self.create + self.start + self.wait + self.delete
    }
}

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median and quartiles, in ms.
fn stats(v: &[Duration]) -> (f64, f64, f64) {
    let mut s: Vec<f64> = v.iter().map(|d| ms(*d)).collect();
    if s.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |f: f64| s[((s.len() - 1) as f64 * f).round() as usize];
    (q(0.5), q(0.25), q(0.75))
}

struct Bench {
    bundle: Bundle,
    work: tempfile::TempDir,
    seq: usize,
    /// What went wrong, per runtime: those rounds are left out of its figures.
    trouble: BTreeMap<&'static str, Vec<String>>,
}

/// How long one command may take before the benchmark calls it hung.
const LIMIT: Duration = Duration::from_secs(20);

impl Bench {
    fn id(&mut self, peer: &str) -> String {
        self.seq += 1;
        format!("bench-{peer}-{}-{}", std::process::id(), self.seq)
    }

    fn root(&self, peer: &str) -> PathBuf {
        self.work.path().join(format!("root-{peer}"))
    }

    fn cmd(&self, p: &Peer, extra_global: &[&str], args: &[&str]) -> Command {
        let mut c = Command::new(&p.bin);
        c.arg("--root")
            .arg(self.root(p.name))
            .args(if extra_global.is_empty() {
                &p.global[..]
            } else {
                &[]
            })
            .args(extra_global)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env_remove("INITSCOPE_EVENTS")
            .env_remove("INITSCOPE_PAUSE_AT");
        c
    }

    /// One command of container `id`; on failure or a hang, note it and force-delete
    /// the container.
    fn step(&mut self, p: &Peer, extra: &[&str], args: &[&str], id: &str) -> Option<Measured> {
        let r = run_measured_within(&mut self.cmd(p, extra, args), Some(LIMIT));
        let what = match r {
            Some(m) if m.code == 0 => return Some(m),
            Some(m) => format!("`{}` exited {}", args[0], m.code),
            None => format!("`{}` hung for {LIMIT:?} and was killed", args[0]),
        };
        self.trouble.entry(p.name).or_default().push(what);
        let _ = run_measured_within(
            &mut self.cmd(p, extra, &["delete", "--force", id]),
            Some(LIMIT),
        );
        None
    }

    /// `run` to exit.
    fn run(&mut self, p: &Peer, extra_global: &[&str]) -> Option<Measured> {
        let id = self.id(p.name);
        let b = self.bundle.path_str().to_string();
        self.step(p, extra_global, &["run", "-b", &b, &id], &id)
    }

    /// create → start → wait (pidfd on init) → delete, each step timed.
    fn lifecycle(&mut self, p: &Peer, extra_global: &[&str]) -> Option<Sample> {
        let id = self.id(p.name);
        let b = self.bundle.path_str().to_string();
        let pid_file = self.work.path().join(format!("{id}.pid"));
        let pf = pid_file.display().to_string();
        let create = self
            .step(
                p,
                extra_global,
                &["create", "-b", &b, "--pid-file", &pf, &id],
                &id,
            )?
            .wall;
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let pidfd = pidfd_open(pid);
        let start = self.step(p, extra_global, &["start", &id], &id)?.wall;
        let t0 = Instant::now();
        if !wait_readable(&pidfd, LIMIT) {
            self.trouble
                .entry(p.name)
                .or_default()
                .push("the container's process did not exit after `start`".into());
            let _ = self.step(p, extra_global, &["delete", "--force", &id], &id);
            return None;
        }
        let wait = t0.elapsed();
        let delete = self.step(p, extra_global, &["delete", &id], &id)?.wall;
        Some(Sample {
            create,
            start,
            wait,
            delete,
            ..Sample::default()
        })
    }
}

fn pidfd_open(pid: i32) -> OwnedFd {
    // SAFETY: pidfd_open takes integers and returns a new fd (or -1).
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    assert!(
        fd >= 0,
        "pidfd_open {pid}: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a fresh fd we own.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// Whether the process behind `fd` exited within `timeout`.
fn wait_readable(fd: &OwnedFd, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd on our stack.
    unsafe { libc::poll(&mut p, 1, timeout.as_millis() as i32) == 1 }
}

/// Interleave every peer, rotating who goes first; `run` and the lifecycle alternate.
fn compare(b: &mut Bench, peers: &[Peer], rounds: usize) -> Vec<Vec<Sample>> {
    let mut out = vec![Vec::new(); peers.len()];
    for p in peers {
        b.run(p, &[]); // warm-up: page cache, the cgroup parent
    }
    for r in 0..rounds {
        for k in 0..peers.len() {
            let i = (r + k) % peers.len();
            let Some(m) = b.run(&peers[i], &[]) else {
                continue;
            };
            let Some(mut s) = b.lifecycle(&peers[i], &[]) else {
                continue;
            };
            s.run = m.wall;
            s.run_cpu = m.cpu;
            out[i].push(s);
        }
    }
    out
}

fn report(b: &Bench, title: &str, peers: &[Peer], samples: &[Vec<Sample>], base: &[&str]) {
    println!("### {title}\n");
    println!(
        "{} interleaved rounds; medians in ms (p25–p75). `lifecycle` = create + start + wait + delete.\n",
        samples[0].len()
    );
    println!("| runtime | run | run CPU | create | start | wait | delete | lifecycle |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let col =
        |v: &[Sample], f: &dyn Fn(&Sample) -> Duration| stats(&v.iter().map(f).collect::<Vec<_>>());
    type Getter = fn(&Sample) -> Duration;
    let getters: [Getter; 7] = [
        |s| s.run,
        |s| s.run_cpu,
        |s| s.create,
        |s| s.start,
        |s| s.wait,
        |s| s.delete,
        |s| s.lifecycle(),
    ];
    let mut med: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (p, v) in peers.iter().zip(samples) {
        if v.is_empty() {
            println!("| {} | no complete round |", p.name);
            continue;
        }
        let cells: Vec<String> = getters
            .iter()
            .map(|g| {
                let (m, lo, hi) = col(v, g);
                med.entry(p.name).or_default().push(m);
                format!("{m:.2} ({lo:.1}–{hi:.1})")
            })
            .collect();
        println!("| {} | {} |", p.name, cells.join(" | "));
    }
    println!();
    for p in peers {
        if let Some(t) = b.trouble.get(p.name) {
            println!(
                "> {}: {} failed round(s) left out of its figures: {}\n",
                p.name,
                t.len(),
                t.join("; ")
            );
        }
    }
    let Some(ours) = med.get("initscope-runtime") else {
        return;
    };
    for peer in base {
        let Some(theirs) = med.get(peer) else {
            continue;
        };
        println!(
            "- initscope-runtime / {peer}: run **{:.2}**, run CPU {:.2}, lifecycle **{:.2}** (create {:.2}, start {:.2}, wait {:.2}, delete {:.2})",
            ours[0] / theirs[0],
            ours[1] / theirs[1],
            ours[6] / theirs[6],
            ours[2] / theirs[2],
            ours[3] / theirs[3],
            ours[4] / theirs[4],
            ours[5] / theirs[5],
        );
    }
    println!();
}

/// `run` in blocks, each runtime after itself: what a runtime costs when the kernel state
/// it leaves (the cgroup threadgroup lock's RCU state, above all) is its own.
fn back_to_back(b: &mut Bench, peers: &[Peer], n: usize) {
    println!("#### Back to back (each runtime after itself, {n} `run`s in a row)\n");
    println!("| runtime | run median (p25–p75) | run CPU median |");
    println!("|---|---:|---:|");
    let mut med = Vec::new();
    for p in peers {
        b.run(p, &[]);
        let v: Vec<Measured> = (0..n).filter_map(|_| b.run(p, &[])).collect();
        let (w, w0, w1) = stats(&v.iter().map(|m| m.wall).collect::<Vec<_>>());
        let (c, _, _) = stats(&v.iter().map(|m| m.cpu).collect::<Vec<_>>());
        println!("| {} | {w:.2} ({w0:.1}–{w1:.1}) | {c:.2} |", p.name);
        med.push((w, c));
    }
    if let [(ow, oc), rest @ ..] = &med[..] {
        for (p, (w, c)) in peers[1..].iter().zip(rest) {
            println!(
                "\n- initscope-runtime / {}: run **{:.2}**, run CPU {:.2}",
                p.name,
                ow / w,
                oc / c
            );
        }
    }
    println!();
}

/// `run` with events streamed to a live viewer against streamed to nothing.
fn observability(b: &mut Bench, ours: &Peer, socket: &Path, pairs: usize) {
    println!("### The price of being observable\n");
    let to_viewer = format!("--events={}", socket.display());
    let nowhere = NO_SINK;
    b.run(ours, &[&to_viewer]);
    let (mut live, mut none) = (Vec::new(), Vec::new());
    // Per pair (run back to back): streamed minus not, so that drift in the machine's
    // load cancels out.
    let (mut dw, mut dc) = (Vec::new(), Vec::new());
    for r in 0..pairs {
        let order: [bool; 2] = if r % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        let mut pair = [None, None];
        for streamed in order {
            if streamed {
                pair[0] = b.run(ours, &[&to_viewer]);
                live.extend(pair[0]);
            } else {
                pair[1] = b.run(ours, &[nowhere]);
                none.extend(pair[1]);
            }
        }
        if let [Some(l), Some(n)] = pair {
            dw.push(ms(l.wall) - ms(n.wall));
            dc.push(ms(l.cpu) - ms(n.cpu));
        }
    }
    let wall = |v: &[Measured]| stats(&v.iter().map(|m| m.wall).collect::<Vec<_>>());
    let cpu = |v: &[Measured]| stats(&v.iter().map(|m| m.cpu).collect::<Vec<_>>());
    let (lw, lw0, lw1) = wall(&live);
    let (nw, nw0, nw1) = wall(&none);
    let (lc, _, _) = cpu(&live);
    let (nc, _, _) = cpu(&none);
    println!(
        "initscope-runtime `run`, {pairs} interleaved pairs: events streamed to `initscope watch` \
         (a live viewer in a terminal, on its socket) against no live sink (`events.jsonl` in the \
         state dir is written in both).\n"
    );
    println!("| events | run median (p25–p75) | run CPU median |");
    println!("|---|---:|---:|");
    println!("| to a live viewer | {lw:.2} ms ({lw0:.1}–{lw1:.1}) | {lc:.2} ms |");
    println!("| to nothing | {nw:.2} ms ({nw0:.1}–{nw1:.1}) | {nc:.2} ms |");
    let mid = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    println!(
        "\nPrice, from the medians: wall **{:+.1} %**, CPU **{:+.1} %**; from the median of \
         the {} pairs' differences: wall **{:+.1} %**, CPU **{:+.1} %** (target < 3 %).\n",
        (lw / nw - 1.0) * 100.0,
        (lc / nc - 1.0) * 100.0,
        dw.len(),
        mid(&mut dw) / nw * 100.0,
        mid(&mut dc) / nc * 100.0,
    );
}

/// Median time from create's first event to each milestone, over `n` runs of ours.
fn breakdown(b: &mut Bench, ours: &Peer, n: usize, condition: &str) {
    let file = b.work.path().join("events.jsonl");
    let arg = format!("--events={}", file.display());
    let mut per: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    let milestones: &[(&str, &str, &str, Option<&str>)] = &[
        ("create starts", "create", "stage_start", None),
        (
            "[0:PARENT] forked (clone3 into the cgroup)",
            "create",
            "clone",
            None,
        ),
        (
            "[0:PARENT] runs (born in the cgroup)",
            "parent",
            "stage_start",
            None,
        ),
        ("[1:CHILD] runs", "child", "stage_start", None),
        ("namespaces unshared", "child", "unshare", None),
        ("[2:INIT] runs", "init", "stage_start", None),
        (
            "init released (SYNC_GRANDCHILD)",
            "init",
            "sync_recv",
            Some("SYNC_GRANDCHILD"),
        ),
        (
            "rootfs prepared (procHooks)",
            "init",
            "sync_send",
            Some("procHooks"),
        ),
        (
            "create resumes init (procResume)",
            "init",
            "sync_recv",
            Some("procResume"),
        ),
        ("pivot_root", "init", "pivot_root", None),
        (
            "init ready (procReady)",
            "init",
            "sync_send",
            Some("procReady"),
        ),
        (
            "create saw procReady",
            "create",
            "sync_recv",
            Some("procReady"),
        ),
        ("start", "start", "stage_start", None),
        ("exec of /bin/true", "init", "exec", None),
        ("delete begins", "manage", "stage_start", None),
        ("deleted (last event)", "manage", "stage_exit", None),
    ];
    for _ in 0..n {
        let _ = std::fs::remove_file(&file);
        b.run(ours, &[&arg]);
        let mut evs: Vec<serde_json::Value> = std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        evs.sort_by_key(|e| e["ts_ns"].as_u64().unwrap_or(0));
        let Some(t0) = evs.first().and_then(|e| e["ts_ns"].as_u64()) else {
            continue;
        };
        for (i, (_, stage, kind, msg)) in milestones.iter().enumerate() {
            let hit = evs.iter().find(|e| {
                e["stage"] == *stage && e["kind"] == *kind && msg.is_none_or(|m| e["msg"] == m)
            });
            if let Some(ts) = hit.and_then(|e| e["ts_ns"].as_u64()) {
                per.entry(i).or_default().push((ts - t0) as f64 / 1e6);
            }
        }
    }
    println!("### Where initscope-runtime's `run` spends its time ({condition}; its own events)\n");
    println!("Median over {n} runs of the time since `create`'s first event (ms), and the step from the previous line.\n");
    println!("| milestone | at | step |");
    println!("|---|---:|---:|");
    let mut prev = 0.0;
    for (i, (label, ..)) in milestones.iter().enumerate() {
        let Some(v) = per.get_mut(&i) else { continue };
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let m = v[v.len() / 2];
        println!("| {label} | {m:.2} | {:+.2} |", m - prev);
        prev = m;
    }
    println!();
}

/// A private mount namespace where cgroup2 is not mounted (crun refuses the hybrid
/// layout): this process and what it runs from now on.
fn enter_private_v1_namespace() -> Result<(), String> {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("make / private: {e}"))?;
    umount2("/sys/fs/cgroup/unified", MntFlags::empty())
        .map_err(|e| format!("umount /sys/fs/cgroup/unified: {e}"))
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken from the command line.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("the runtime benchmark makes containers: run it as root (scripts/bench)");
        std::process::exit(1);
    }
    let rounds: usize = env_or("INITSCOPE_BENCH_RUNS", 30);
    let ours_bin = std::env::var_os("INITSCOPE_BENCH_OURS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/release/initscope-runtime"));
    if !ours_bin.exists() {
        eprintln!(
            "{} is missing: cargo build --release -p initscope-runtime (scripts/bench does)",
            ours_bin.display()
        );
        std::process::exit(1);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let youki = std::env::var_os("INITSCOPE_BENCH_YOUKI")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache/initscope-bench/youki/bin/youki"));

    let mut b = Bench {
        bundle: Bundle::busybox(&["/bin/true"]),
        // State dirs on tmpfs, where runtimes keep them (/run/runc, /run/crun,
        // /run/initscope): on ext4, replacing state.json by rename flushes it to disk.
        work: tempfile::Builder::new()
            .prefix("isc-bench-")
            .tempdir_in("/run")
            .unwrap(),
        seq: 0,
        trouble: BTreeMap::new(),
    };
    let ours = Peer {
        name: "initscope-runtime",
        bin: ours_bin,
        global: vec![NO_SINK.to_string()],
    };
    let mut peers = vec![ours];
    match which("runc") {
        Some(bin) => peers.push(Peer {
            name: "runc",
            bin,
            global: vec![],
        }),
        None => println!("> runc is not installed: skipped (apt-get install runc)\n"),
    }
    if youki.is_file() {
        peers.push(Peer {
            name: "youki",
            bin: youki,
            global: vec![],
        });
    } else {
        println!(
            "> youki is not installed ({}): skipped (`scripts/bench --install-youki` builds it)\n",
            youki.display()
        );
    }
    let version = |p: &Peer| {
        Command::new(&p.bin)
            .arg("--version")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .unwrap_or_default()
    };
    println!("## Runtimes: busybox `/bin/true`\n");
    for p in &peers {
        println!("- {}: `{}` ({})", p.name, p.bin.display(), version(p));
    }
    println!();

    let samples = compare(&mut b, &peers, rounds);
    report(
        &b,
        "Host conditions (hybrid cgroups: v1 controllers + cgroup2 at /sys/fs/cgroup/unified)",
        &peers,
        &samples,
        &["runc", "youki"],
    );

    match std::env::var_os("INITSCOPE_BENCH_VIEWER_SOCKET").map(PathBuf::from) {
        Some(s) if s.exists() => observability(&mut b, &peers[0], &s, rounds * 4),
        _ => println!(
            "> no live viewer socket (INITSCOPE_BENCH_VIEWER_SOCKET): the price of being observable is skipped (scripts/bench starts one)\n"
        ),
    }
    back_to_back(&mut b, &peers, rounds);
    breakdown(&mut b, &peers[0], rounds, "host conditions");

    let Some(crun) = which("crun") else {
        println!("> crun is not installed: skipped (apt-get install crun)\n");
        return;
    };
    let ours = peers.swap_remove(0);
    if let Err(e) = enter_private_v1_namespace() {
        println!("> cannot make the private mount namespace crun needs ({e}): crun skipped\n");
        return;
    }
    let peers = vec![
        ours,
        Peer {
            name: "crun",
            bin: crun,
            global: vec![],
        },
    ];
    b.trouble.clear();
    let samples = compare(&mut b, &peers, rounds);
    report(
        &b,
        "Private mount namespace, /sys/fs/cgroup/unified unmounted (v1 only; crun's condition here)",
        &peers,
        &samples,
        &["crun"],
    );
    back_to_back(&mut b, &peers, rounds);
    breakdown(
        &mut b,
        &peers[0],
        rounds,
        "cgroup v1 only, private mount namespace",
    );
}
