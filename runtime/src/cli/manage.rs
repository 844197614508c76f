//! Commands that act on a live container through its cgroup: `pause`, `resume`, `ps`,
//! `update`, `events`. Each reports what it did as events (stage `manage`) in the
//! container's `events.jsonl` and the live sink.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use oci_spec::runtime::LinuxResources;

use super::lifecycle::{command_emitter, load};
use super::{Cli, ListFormat};
use crate::bootstrap::plan::parse_named;
use crate::cgroups::Cgroup;
use crate::error::RuntimeError;
use crate::events::schema::{EventKind, Stage};
use crate::state::{ContainerState, StateDir, Status};

fn wrong(id: &str, status: Status, what: &str) -> RuntimeError {
    RuntimeError::WrongStatus {
        id: id.to_string(),
        status,
        what: what.to_string(),
    }
}

fn cgroup_of<'a>(id: &str, st: &'a ContainerState) -> Result<&'a Cgroup, RuntimeError> {
    st.cgroup.as_ref().ok_or_else(|| {
        RuntimeError::Usage(format!(
            "container {id:?} has no cgroup of its own (state written by an older create?)"
        ))
    })
}

/// `pause ID`: freeze every process of the container (runc allows created and running).
pub fn pause(cli: &Cli, id: &str) -> Result<(), RuntimeError> {
    let (dir, st) = load(cli, id)?;
    let status = st.status(&dir);
    if !matches!(status, Status::Running | Status::Created) {
        return Err(wrong(
            id,
            status,
            "only a running or created container can be paused",
        ));
    }
    freeze(cli, &dir, &st, true, "paused")
}

/// `resume ID`: thaw a paused container.
pub fn resume(cli: &Cli, id: &str) -> Result<(), RuntimeError> {
    let (dir, st) = load(cli, id)?;
    let status = st.status(&dir);
    if status != Status::Paused {
        return Err(wrong(id, status, "only a paused container can be resumed"));
    }
    let after = if dir.fifo().exists() {
        "created"
    } else {
        "running"
    };
    freeze(cli, &dir, &st, false, after)
}

fn freeze(
    cli: &Cli,
    dir: &StateDir,
    st: &ContainerState,
    frozen: bool,
    status: &str,
) -> Result<(), RuntimeError> {
    let cg = cgroup_of(&st.id, st)?;
    let mut em = command_emitter(cli, dir, Stage::Manage, true);
    match cg.set_frozen(frozen) {
        Ok(()) => {
            em.emit(EventKind::State {
                status: status.into(),
            });
            em.exit(0);
            Ok(())
        }
        Err(e) => {
            em.error(
                if frozen { "pause" } else { "resume" },
                e.errno(),
                &e.to_string(),
            );
            em.exit(1);
            Err(e.into())
        }
    }
}

/// `ps [--format table|json] ID [ps options]`: runc's: the container's host pids as a JSON
/// array, or `ps` (default `-ef`) filtered to the container's processes.
pub fn ps(cli: &Cli, id: &str, format: ListFormat, ps_args: &[String]) -> Result<(), RuntimeError> {
    let (_, st) = load(cli, id)?;
    let pids: Vec<i32> = match &st.cgroup {
        Some(cg) => cg.pids()?.into_iter().map(|p| p.as_raw()).collect(),
        None => Vec::new(),
    };
    match format {
        ListFormat::Json => {
            if !ps_args.is_empty() {
                return Err(RuntimeError::Usage(
                    "ps: options for ps(1) go with --format table only".into(),
                ));
            }
            println!("{}", serde_json::to_string(&pids).expect("json"));
            Ok(())
        }
        ListFormat::Table => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| RuntimeError::io("ps: run ps(1) (Debian: procps)", e))?;
            if !out.status.success() {
                return Err(RuntimeError::Usage(format!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            print!(
                "{}",
                filter_ps(&String::from_utf8_lossy(&out.stdout), &pids)?
            );
            Ok(())
        }
    }
}

/// The header and the lines of `ps` output whose PID column is one of `pids`.
pub fn filter_ps(text: &str, pids: &[i32]) -> Result<String, RuntimeError> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| {
            RuntimeError::Usage("ps: its output has no PID column; keep PID in the -o list".into())
        })?;
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// `update`'s options: `--resources F|-` (OCI `linux.resources` JSON) and runc's
/// individual flags; the flags override the file's values.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// `linux.resources` as JSON, from a file or `-` for stdin.
    #[arg(short = 'r', long, value_name = "FILE|-")]
    pub resources: Option<PathBuf>,
    /// Memory limit (bytes, or 512k, 64m, 1g; -1 unlimited).
    #[arg(short = 'm', long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Soft memory limit (bytes, or 512k, 64m, 1g; -1 unlimited).
    #[arg(
        long = "memory-reservation",
        value_name = "BYTES",
        allow_hyphen_values = true
    )]
    pub memory_reservation: Option<String>,
    /// Memory + swap limit (-1 unlimited).
    #[arg(long = "memory-swap", value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// CPU shares (relative weight; v2: converted to cpu.weight).
    #[arg(long = "cpu-share", value_name = "SHARES")]
    pub cpu_share: Option<u64>,
    /// CFS period in microseconds.
    #[arg(long = "cpu-period", value_name = "US")]
    pub cpu_period: Option<u64>,
    /// CFS quota in microseconds per period (-1 unlimited).
    #[arg(long = "cpu-quota", value_name = "US", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Real-time period in microseconds (cgroup v1).
    #[arg(long = "cpu-rt-period", value_name = "US")]
    pub cpu_rt_period: Option<u64>,
    /// Real-time runtime in microseconds per period (cgroup v1).
    #[arg(long = "cpu-rt-runtime", value_name = "US", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs the container may use (0-1,3).
    #[arg(long = "cpuset-cpus", value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use (0-1,3).
    #[arg(long = "cpuset-mems", value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes (-1: unlimited).
    #[arg(long = "pids-limit", value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block I/O weight.
    #[arg(long = "blkio-weight", value_name = "10..1000")]
    pub blkio_weight: Option<u16>,
    /// Container id.
    pub id: String,
}

/// `update`: rewrite the given resource limits of the container's cgroup.
pub fn update(cli: &Cli, a: &UpdateArgs) -> Result<(), RuntimeError> {
    let (dir, st) = load(cli, &a.id)?;
    let status = st.status(&dir);
    if matches!(status, Status::Stopped | Status::Creating) {
        return Err(wrong(
            &a.id,
            status,
            "only a created, running or paused container can be updated",
        ));
    }
    let r = resources_of(a)?;
    let cg = cgroup_of(&a.id, &st)?;
    let mut em = command_emitter(cli, &dir, Stage::Manage, true);
    match cg.update(&r, &mut |k| em.emit(k)) {
        Ok(()) => {
            // Keep the config in step with the cgroup, as runc does: later commands (a
            // second update, exec, delete's hooks) read the limits from the state.
            let mut st = st;
            let linux = st.config.linux().clone().unwrap_or_default();
            let merged = merge_resources(linux.resources().as_ref(), &r);
            st.config
                .set_linux(Some(linux.clone().set_resources(Some(merged)).clone()));
            let saved = dir.save(&st);
            em.exit(i32::from(saved.is_err()));
            saved
        }
        Err(e) => {
            em.error("update", e.errno(), &e.to_string());
            em.exit(1);
            Err(e.into())
        }
    }
}

/// `base` with every value `new` sets replaced (objects merged key by key, anything
/// else — numbers, strings, lists — taken whole from `new`).
fn merge_resources(base: Option<&LinuxResources>, new: &LinuxResources) -> LinuxResources {
    fn merge(base: &mut serde_json::Value, new: &serde_json::Value) {
        match (base, new) {
            (serde_json::Value::Object(b), serde_json::Value::Object(n)) => {
                for (k, v) in n {
                    if v.is_null() {
                        continue;
                    }
                    merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
            (b, n) => *b = n.clone(),
        }
    }
    let mut out = serde_json::to_value(base.cloned().unwrap_or_default()).expect("serializes");
    merge(&mut out, &serde_json::to_value(new).expect("serializes"));
    serde_json::from_value(out).expect("a merge of two valid resources is valid")
}

/// The resources `update` was given: the file's, with the flags on top.
pub fn resources_of(a: &UpdateArgs) -> Result<LinuxResources, RuntimeError> {
    let mut r = match &a.resources {
        None => LinuxResources::default(),
        Some(p) => {
            let (what, data) = if p.as_os_str() == "-" {
                let mut d = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut d)
                    .map_err(|e| RuntimeError::io("update: read --resources from stdin", e))?;
                ("-".to_string(), d)
            } else {
                let d = std::fs::read(p)
                    .map_err(|e| RuntimeError::io(format!("--resources {}", p.display()), e))?;
                (p.display().to_string(), d)
            };
            parse_named::<LinuxResources>(&data)
                .map_err(|e| RuntimeError::Usage(format!("--resources {what}: {e}")))?
        }
    };
    let bytes = |flag: &str, v: &Option<String>| -> Result<Option<i64>, RuntimeError> {
        v.as_deref()
            .map(|s| {
                parse_bytes(s).map_err(|m| RuntimeError::Usage(format!("--{flag} {s:?}: {m}")))
            })
            .transpose()
    };
    let memory = bytes("memory", &a.memory)?;
    let reservation = bytes("memory-reservation", &a.memory_reservation)?;
    let swap = bytes("memory-swap", &a.memory_swap)?;
    if memory.is_some() || reservation.is_some() || swap.is_some() {
        let mut m = (*r.memory()).unwrap_or_default();
        if let Some(v) = memory {
            m.set_limit(Some(v));
        }
        if let Some(v) = reservation {
            m.set_reservation(Some(v));
        }
        if let Some(v) = swap {
            m.set_swap(Some(v));
        }
        r.set_memory(Some(m));
    }
    let cpu_given = a.cpu_share.is_some()
        || a.cpu_period.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpu_rt_runtime.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some();
    if cpu_given {
        let mut c = r.cpu().clone().unwrap_or_default();
        if a.cpu_share.is_some() {
            c.set_shares(a.cpu_share);
        }
        if a.cpu_period.is_some() {
            c.set_period(a.cpu_period);
        }
        if a.cpu_quota.is_some() {
            c.set_quota(a.cpu_quota);
        }
        if a.cpu_rt_period.is_some() {
            c.set_realtime_period(a.cpu_rt_period);
        }
        if a.cpu_rt_runtime.is_some() {
            c.set_realtime_runtime(a.cpu_rt_runtime);
        }
        if a.cpuset_cpus.is_some() {
            c.set_cpus(a.cpuset_cpus.clone());
        }
        if a.cpuset_mems.is_some() {
            c.set_mems(a.cpuset_mems.clone());
        }
        r.set_cpu(Some(c));
    }
    if let Some(limit) = a.pids_limit {
        let mut p = (*r.pids()).unwrap_or_default();
        p.set_limit(limit);
        r.set_pids(Some(p));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    Ok(r)
}

/// runc's (docker's units.RAMInBytes) byte sizes: `1024`, `512k`, `64m`, `1g`, `2gb`,
/// binary multiples; `-1` for unlimited.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| "not a size (like 1024, 512k, 64m, 1g, or -1)".to_string())?;
    let mult: f64 = match unit {
        "" | "b" => 1.0,
        "k" | "kb" | "ki" | "kib" => 1024.0,
        "m" | "mb" | "mi" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "ti" | "tib" => 1024.0f64.powi(4),
        "p" | "pb" | "pi" | "pib" => 1024.0f64.powi(5),
        other => return Err(format!("unknown unit {other:?} (use k, m, g, t or p)")),
    };
    let v = n * mult;
    if !(0.0..9.2e18).contains(&v) {
        return Err("out of range".into());
    }
    Ok(v as i64)
}

/// `events [--stats] [--interval D] ID`: runc's JSON stats lines (`{"type":"stats",
/// "id":…,"data":{…}}`), once with --stats, else every interval until the container stops.
pub fn events(cli: &Cli, id: &str, stats_once: bool, interval: &str) -> Result<(), RuntimeError> {
    let every = parse_interval(interval)
        .map_err(|m| RuntimeError::Usage(format!("--interval {interval:?}: {m}")))?;
    loop {
        let (dir, st) = load(cli, id)?;
        let status = st.status(&dir);
        if status == Status::Stopped {
            if stats_once {
                return Err(wrong(id, status, "a stopped container has no stats"));
            }
            return Ok(());
        }
        let s = cgroup_of(id, &st)?.stats()?;
        let line = serde_json::json!({"type": "stats", "id": id, "data": runc_stats(&s)});
        println!("{line}");
        if stats_once {
            return Ok(());
        }
        std::thread::sleep(every);
    }
}

/// Our figures in runc's `types.Stats` shape (only what we measure).
fn runc_stats(s: &crate::cgroups::Stats) -> serde_json::Value {
    let mut v = serde_json::json!({});
    if let Some(ns) = s.cpu_usage_ns {
        v["cpu"] = serde_json::json!({"usage": {"total": ns}});
    }
    if s.memory_usage.is_some() || s.memory_limit.is_some() {
        v["memory"] = serde_json::json!({"usage": {"usage": s.memory_usage.unwrap_or(0),
            "limit": s.memory_limit.unwrap_or(u64::MAX)}});
    }
    if let Some(c) = s.pids_current {
        v["pids"] = serde_json::json!({"current": c, "limit": s.pids_limit.unwrap_or(0)});
    }
    if let Some(f) = s.frozen {
        v["frozen"] = f.into();
    }
    v
}

/// Go-style durations as runc takes them: `5s`, `500ms`, `1m`, `1h`; a bare number is
/// seconds.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| "not a duration (like 5s, 500ms, 1m)".to_string())?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("unknown unit {other:?}")),
    };
    if secs <= 0.0 {
        return Err("must be positive".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_merges_into_the_configs_resources() {
        let base: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 1048576, "reservation": 524288},
            "pids": {"limit": 10},
            "devices": [{"allow": false, "access": "rwm"}]
        }))
        .unwrap();
        let new: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 2097152},
            "cpu": {"shares": 512}
        }))
        .unwrap();
        let m = serde_json::to_value(merge_resources(Some(&base), &new)).unwrap();
        assert_eq!(m["memory"]["limit"], 2097152);
        assert_eq!(m["memory"]["reservation"], 524288);
        assert_eq!(m["pids"]["limit"], 10);
        assert_eq!(m["cpu"]["shares"], 512);
        assert_eq!(m["devices"][0]["access"], "rwm");
        let m = serde_json::to_value(merge_resources(None, &new)).unwrap();
        assert_eq!(m["memory"]["limit"], 2097152);
    }

    #[test]
    fn sizes_parse_like_runc() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("512k"), Ok(512 * 1024));
        assert_eq!(parse_bytes("64m"), Ok(64 << 20));
        assert_eq!(parse_bytes("64MB"), Ok(64 << 20));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert_eq!(parse_bytes("-1"), Ok(-1));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("5x").is_err());
    }

    #[test]
    fn intervals_parse_like_go() {
        assert_eq!(parse_interval("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("2"), Ok(Duration::from_secs(2)));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("soon").is_err());
    }

    #[test]
    fn ps_output_is_filtered_on_the_pid_column() {
        let text = "UID   PID  PPID  C STIME TTY TIME CMD\nroot    1     0  0 10:00 ?   00:00:01 init\nroot  42     1  0 10:00 ?   00:00:00 sleep 100\nroot  420    1  0 10:00 ?   00:00:00 sh\n";
        let out = filter_ps(text, &[42]).unwrap();
        assert_eq!(out, "UID   PID  PPID  C STIME TTY TIME CMD\nroot  42     1  0 10:00 ?   00:00:00 sleep 100\n");
        assert!(filter_ps("USER COMMAND\nroot x\n", &[1]).is_err());
    }
}
