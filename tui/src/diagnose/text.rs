//! The report as text for a terminal or a bug report.

use std::fmt::Write;

use super::report::{ProcessReport, Report};

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "container {} ({}, root {}): {}{}",
        r.container,
        r.runtime,
        r.root,
        r.status,
        match (r.stuck, r.normal) {
            (true, false) => ", STUCK",
            (_, true) if r.culprit.is_some() => " (as expected)",
            _ => "",
        }
    );
    let _ = writeln!(o, "verdict: {}", r.verdict);
    if let Some(n) = &r.next {
        let _ = writeln!(o, "next:    {n}");
    }
    for c in &r.chain {
        let _ = writeln!(o, "  · {c}");
    }
    if let Some(f) = &r.events_file {
        let _ = writeln!(o, "events:  {} ({} events)", f, r.events);
    }
    for p in &r.processes {
        o.push('\n');
        process(&mut o, p);
    }
    o
}

fn process(o: &mut String, p: &ProcessReport) {
    let ns = p
        .ns_pid
        .map(|n| format!(" ({n} in its namespace)"))
        .unwrap_or_default();
    let state = match (&p.state, &p.state_name) {
        (Some(s), Some(n)) => format!("{s} {n}"),
        _ => "gone".to_string(),
    };
    let dur = p
        .for_s
        .map(|s| format!(" for {s:.1}s (since {})", p.since))
        .unwrap_or_default();
    let flag = if p.stuck && !p.normal { "  STUCK" } else { "" };
    let _ = writeln!(o, "{} pid {}{ns} — {state}{dur}{flag}", p.stage, p.pid);
    let mut kv = |k: &str, v: &str| {
        let _ = writeln!(o, "  {k:<12} {v}");
    };
    if let Some(e) = &p.last_event {
        kv("last event", e);
    }
    if let Some(s) = &p.syscall {
        let t = s
            .thread
            .map(|t| format!(" (thread {t})"))
            .unwrap_or_default();
        kv("syscall", &format!("{}{t}", s.decoded));
    }
    if let Some(w) = &p.wchan {
        kv("wchan", w);
    }
    if !p.stack.is_empty() {
        let s: Vec<&str> = p.stack.iter().take(6).map(String::as_str).collect();
        kv("stack", &s.join(" ← "));
    }
    if !p.waits_on.is_empty() {
        kv("waits on", &p.waits_on);
    }
    if let Some(fd) = &p.fd {
        let mut what = format!("{} {}", fd.kind, fd.target);
        if fd.fd >= 0 {
            what = format!("fd {} → {what}", fd.fd);
        }
        if let Some(m) = &fd.mount {
            what.push_str(&format!(" on {m}"));
        }
        if let Some(n) = &fd.peer_name {
            what.push_str(&format!(", peer bound to {n}"));
        }
        kv("fd", &what);
    }
    if let Some(e) = &p.other_end {
        kv("other end", e);
    }
    if !p.waits_for_signals.is_empty() {
        kv("signals", &p.waits_for_signals.join(", "));
    }
    if let Some(h) = &p.hook {
        kv(
            "hook",
            &format!(
                "{} `{}` pid {} ({:.1}s)",
                h.hook,
                if h.args.is_empty() {
                    h.path.clone()
                } else {
                    h.args.join(" ")
                },
                h.pid,
                h.age_s
            ),
        );
    }
    if let Some(s) = &p.paused_at {
        kv("paused at", s);
    }
    if let Some(s) = &p.last_sent {
        kv(
            "last sent",
            &format!("{} → {} ({:.1}s ago)", s.msg, s.peer, s.ago_s),
        );
    }
    if let Some(s) = &p.last_received {
        kv(
            "last recv",
            &format!("{} ← {} ({:.1}s ago)", s.msg, s.peer, s.ago_s),
        );
    }
    if let Some(c) = p
        .cgroups
        .iter()
        .find(|c| c.contains(":freezer:"))
        .or_else(|| p.cgroups.iter().find(|c| c.starts_with("0::")))
    {
        let fz = p
            .freezer
            .as_ref()
            .map(|f| format!(" (freezer {f})"))
            .unwrap_or_default();
        kv("cgroup", &format!("{c}{fz}"));
    }
    if let Some(x) = &p.exit {
        let how = match (&x.signal, x.code) {
            (Some(s), _) => format!("killed by {s}"),
            (None, Some(c)) => format!("exit {c}"),
            _ => "exited".into(),
        };
        kv("ended", &format!("{how} ({:.1}s ago)", x.ago_s));
    }
    if let Some(e) = &p.error {
        kv("error", &format!("{}: {}", e.step, e.message));
    }
    kv("verdict", &p.verdict);
    if let Some(n) = &p.next {
        kv("next", n);
    }
}
