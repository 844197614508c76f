//! What `demo`, `run` and `replay` print when there is no terminal to draw on (or with
//! `--print`): the diagram as text, then a summary a person can read in a log or a CI
//! job — the stages with their pids and times, the sync messages in order, lost events.

use std::fmt::Write;

use initscope_runtime::events::schema::Stage;

use crate::labels::{exit_label, fmt_dur};
use crate::model::{LaneId, Model, RowKind, Seq};
use crate::session::Session;
use crate::ui::text;

/// The diagram, then the summary.
pub fn report(s: &Session) -> String {
    let m = &s.model;
    if m.is_empty() {
        return "no events were received\n".to_string();
    }
    let mut out = String::new();
    for line in text::diagram_lines(s, text::print_width(s)) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&summary(s));
    out
}

/// Stages (pid, pid in its namespace, when it started, how long it lived, how it ended),
/// the other processes, the sync messages in order, lost events.
pub fn summary(s: &Session) -> String {
    let m = &s.model;
    let at = m.len() as Seq;
    let first = m.first_ts.unwrap_or(0);
    let mut out = String::new();
    let [rt, k] = m.counts;
    let what = match m.boots.first() {
        Some(b) => format!("container {}", m.str(b.container)),
        None => "bootstrap seen by the kernel".to_string(),
    };
    let runtime = m
        .lanes
        .iter()
        .find_map(|l| l.runtime)
        .map_or(String::new(), |r| format!(" ({})", r.as_str()));
    let _ = writeln!(
        out,
        "{what}{runtime}: {} events (runtime {rt}, kernel {k}) over {}",
        m.len(),
        fmt_dur(m.last_ts.saturating_sub(first))
    );
    let (stages, others): (Vec<LaneId>, Vec<LaneId>) = (0..m.lanes.len() as LaneId)
        .filter(|&l| m.lane(l).visible_at(at))
        .partition(|&l| m.lane(l).role.is_some_and(|r| r != Stage::Unknown));
    if !stages.is_empty() {
        let _ = writeln!(out, "\nstages");
        let _ = writeln!(
            out,
            "  {:<12} {:<7} {:<7} {:<8} {:<8} ended",
            "stage", "pid", "ns pid", "started", "lived"
        );
        for &l in &stages {
            let _ = writeln!(out, "{}", stage_line(m, l, at, first));
        }
    }
    if !others.is_empty() {
        let names: Vec<String> = others
            .iter()
            .map(|&l| format!("{} {}", m.lane_title(l, at), m.lane(l).pid))
            .collect();
        let _ = writeln!(out, "other processes: {}", names.join(", "));
    }
    let syncs: Vec<String> = m
        .order
        .iter()
        .filter_map(|&r| {
            let row = m.row(r);
            let RowKind::Sync { to, msg, .. } = row.kind else {
                return None;
            };
            let from = row.lane.map_or("?".to_string(), |l| m.lane_title(l, at));
            let to = to.map_or("?".to_string(), |l| m.lane_title(l, at));
            Some(format!(
                "  {:>7}  {:<24} {}",
                offset(row.ts.saturating_sub(first)),
                format!("{from} → {to}"),
                m.str(msg)
            ))
        })
        .collect();
    if !syncs.is_empty() {
        let _ = writeln!(out, "\nsync messages, in order");
        for l in syncs {
            let _ = writeln!(out, "{l}");
        }
    }
    let lost = m.lost_at(at);
    let _ = writeln!(
        out,
        "\nlost events: {} (kernel ring buffer {}, runtime dropped {}){}",
        lost.kernel + lost.runtime,
        lost.kernel,
        lost.runtime,
        if s.bad_lines > 0 {
            format!("; {} lines were not events", s.bad_lines)
        } else {
            String::new()
        }
    );
    out
}

fn stage_line(m: &Model, l: LaneId, at: Seq, first: u64) -> String {
    let lane = m.lane(l);
    let ns = lane
        .ns_pid
        .filter(|&n| n != lane.pid)
        .map_or(String::new(), |n| n.to_string());
    let end = lane.exit_at(at).map_or(m.last_ts, |x| x.ts);
    let ended = match lane.exit_at(at) {
        Some(x) => exit_label(x.code, m.str(x.signal)),
        None => "still running at the last event".to_string(),
    };
    // Init's time splits at its first execve: the bootstrap, then the container's program.
    let program = lane
        .exec
        .iter()
        .find(|(seq, _)| *seq < at)
        .filter(|_| lane.role == Some(Stage::Init))
        .map(|&(seq, path)| {
            let ts = m.events.get(seq as usize).map_or(end, |e| e.ts);
            format!(
                "; execve {} at {}",
                m.str(path),
                offset(ts.saturating_sub(first))
            )
        })
        .unwrap_or_default();
    format!(
        "  {:<12} {:<7} {:<7} {:<8} {:<8} {ended}{program}",
        m.lane_title(l, at),
        lane.pid,
        ns,
        offset(lane.start_ts.saturating_sub(first)),
        fmt_dur(end.saturating_sub(lane.start_ts)),
    )
}

/// Time since the first event: `+1.5ms` (`0` for the first).
fn offset(ns: u64) -> String {
    if ns == 0 {
        "0".to_string()
    } else {
        format!("+{}", fmt_dur(ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    #[test]
    fn the_summary_names_the_stages_and_the_messages_in_order() {
        let s = Session::from_events(&synth::initscope_bootstrap(synth::Options::default()));
        let text = summary(&s);
        for stage in ["create", "[0:PARENT]", "[1:CHILD]", "[2:INIT]"] {
            assert!(
                text.lines().any(|l| l.trim_start().starts_with(stage)),
                "{stage}:\n{text}"
            );
        }
        let init = text
            .lines()
            .find(|l| l.trim_start().starts_with("[2:INIT]"))
            .unwrap();
        assert!(
            init.split_whitespace().nth(2) == Some("1"),
            "init is pid 1 in its namespace: {init}"
        );
        let pos = |m: &str| text.find(m).unwrap_or_else(|| panic!("{m}:\n{text}"));
        assert!(pos("BOOTSTRAP_DATA") < pos("SYNC_USERMAP_PLS"));
        assert!(pos("SYNC_USERMAP_PLS") < pos("SYNC_RECVPID_PLS"));
        assert!(pos("SYNC_RECVPID_PLS") < pos("SYNC_GRANDCHILD"));
        assert!(text.contains("lost events: 0"), "{text}");
        assert_eq!(
            report(&Session::from_events(&[])),
            "no events were received\n"
        );
    }
}
