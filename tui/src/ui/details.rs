//! Details of the selected event (every field, and what it means) and of its process
//! (what the events say, and — live — what /proc says right now).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use crate::event::fields;
use crate::explain::explain;
use crate::labels::fmt_dur;
use crate::model::{LaneId, Model, Seq};
use crate::procinfo::ProcInfo;
use crate::session::Session;
use crate::ui::namespaces::{cell, NS_ROWS};
use crate::ui::theme::Theme;
use crate::view::{Pane, View};

pub fn draw(f: &mut Frame, area: Rect, s: &Session, v: &mut View) {
    let title = super::pane_title(v, Pane::Details, "Enter: full screen");
    let block = Block::new().borders(Borders::TOP).title(title);
    v.hits.panes.push((Pane::Details, area));
    let lines = match v.sel {
        Some(seq) => lines_for(s, seq, v),
        None => vec![Line::styled("Nothing selected yet.", v.theme.dim())],
    };
    let p = Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false })
        .scroll((v.details_scroll, 0));
    f.render_widget(p, area);
}

fn heading<'a>(t: &Theme, s: &'a str) -> Line<'a> {
    Line::styled(s, t.title())
}

pub fn lines_for(s: &Session, seq: Seq, v: &View) -> Vec<Line<'static>> {
    let m = &s.model;
    let t = v.theme;
    let at = v.at(m);
    let mut out = Vec::new();
    let Some(meta) = m.events.get(seq as usize) else {
        return out;
    };
    let ev = s.event(seq);
    let rel = fmt_dur(meta.ts.saturating_sub(m.first_ts.unwrap_or(0)));
    out.push(Line::from(vec![
        Span::styled(format!("{} ", m.str(meta.kind)), t.title()),
        Span::styled(
            format!("{} ", meta.source.as_str()),
            t.source(meta.source == crate::model::Source::Kernel),
        ),
        Span::raw(format!(
            "· {} · pid {} · +{rel} · #{seq}",
            meta.stage.map_or("-", |s| s.as_str()),
            meta.pid
        )),
    ]));
    // A verdict about this process comes first: it is what an operator came for; then
    // those about the other stuck processes.
    if let Some(d) = meta.lane.and_then(|l| m.lane(l).diagnosis.as_ref()) {
        out.push(Line::raw(""));
        out.extend(diagnosis_lines(d, None, v.now_ns(m), &t));
    }
    for &other in m.stuck.iter().filter(|&&l| Some(l) != meta.lane).take(4) {
        if let Some(d) = m.lane(other).diagnosis.as_ref() {
            out.push(Line::raw(""));
            let who = format!("{} {}", m.lane_title(other, at), m.lane(other).pid);
            out.extend(diagnosis_lines(d, Some(&who), v.now_ns(m), &t));
        }
    }
    if let Some(ev) = &ev {
        for para in explain(m, seq, ev) {
            out.push(Line::raw(""));
            out.push(Line::raw(para));
        }
    }
    // What the process is (and, live, is doing now) before the raw fields.
    if let Some(lane) = meta.lane {
        out.push(Line::raw(""));
        out.extend(process_lines(m, lane, at, v.now_ns(m), &t));
        if let Some(info) = v.procinfo.as_ref().filter(|p| p.pid == m.lane(lane).pid) {
            out.extend(proc_lines(info, &t));
        }
    }
    if let Some(ev) = &ev {
        out.push(Line::raw(""));
        out.push(heading(&t, "Fields"));
        for (k, val) in fields(&ev.to_json()) {
            let text = match &val {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push(Line::from(vec![
                Span::styled(format!("  {k}: "), t.dim()),
                Span::raw(text),
            ]));
        }
        // The other source's report of the same step.
        if let Some(row) = meta.row.map(|r| m.row(r)) {
            let other = if Some(seq) == row.rt { row.k } else { row.rt };
            if let Some(o) = other.filter(|&o| o != seq) {
                out.push(Line::styled(
                    format!(
                        "  also reported by the {} (event #{o})",
                        m.events[o as usize].source.as_str()
                    ),
                    t.dim(),
                ));
            }
        }
    }
    out
}

/// A verdict: what it waits on (for how long), who holds the other end, what to do.
fn diagnosis_lines(
    d: &crate::model::Diagnosis,
    who: Option<&str>,
    now: u64,
    t: &Theme,
) -> Vec<Line<'static>> {
    let head = if d.stuck { "STUCK" } else { "diagnosis" };
    let who = who.map(|w| format!("{w} ")).unwrap_or_default();
    let mut out = vec![Line::styled(
        format!(
            "{head}: {who}waits on {} for {}",
            d.waits_on,
            fmt_dur(now.saturating_sub(d.since_ns))
        ),
        t.stuck(),
    )];
    if let Some(o) = &d.other_end {
        out.push(Line::from(vec![
            Span::styled("  other end  ", t.dim()),
            Span::raw(o.clone()),
        ]));
    }
    out.push(Line::raw(d.verdict.clone()));
    if let Some(n) = &d.next {
        out.push(Line::from(vec![
            Span::styled("  next  ", t.dim()),
            Span::styled(n.clone(), t.key()),
        ]));
    }
    out
}

fn process_lines(m: &Model, lane: LaneId, at: Seq, now: u64, t: &Theme) -> Vec<Line<'static>> {
    let l = m.lane(lane);
    let mut out = vec![heading(t, "Process")];
    let mut kv = |k: &str, v: String| {
        out.push(Line::from(vec![
            Span::styled(format!("  {k:<14}"), t.dim()),
            Span::raw(v),
        ]))
    };
    kv("stage", m.lane_title(lane, at));
    kv(
        "pid",
        format!(
            "{}{}",
            l.pid,
            l.ns_pid
                .filter(|&n| n != l.pid)
                .map(|n| format!(" (pid {n} in its namespace)"))
                .unwrap_or_default()
        ),
    );
    kv("comm", m.str(l.name_at(at)).to_string());
    if let Some(x) = l.exec_at(at) {
        kv("program", m.str(x).to_string());
    }
    if let Some(c) = l.creator {
        kv(
            "created by",
            format!("{} ({})", m.lane_title(c, at), m.lane(c).pid),
        );
    }
    if let Some(p) = l.kernel_parent {
        // Under CLONE_PARENT the kernel's parent is not the creator: say who it is.
        let who = m
            .lane_of_pid(p)
            .filter(|&pl| Some(pl) != l.creator)
            .map(|pl| format!(" ({})", m.lane_title(pl, at)))
            .unwrap_or_default();
        kv("kernel parent", format!("{p}{who}"));
    }
    if let Some(r) = l.runtime {
        kv("runtime", r.as_str().to_string());
    }
    if let Some(b) = l.boot {
        kv(
            "container",
            m.str(m.boots[b as usize].container).to_string(),
        );
    }
    let end = l.exit_at(at).map_or(now, |x| x.ts);
    kv("lifetime", fmt_dur(end.saturating_sub(l.start_ts)));
    let new: Vec<&str> = (0..NS_ROWS.len())
        .filter(|&r| cell(m, lane, r, at).1)
        .map(|r| NS_ROWS[r].0)
        .collect();
    if !new.is_empty() {
        kv("new ns", new.join(" "));
    }
    out
}

fn proc_lines(p: &ProcInfo, t: &Theme) -> Vec<Line<'static>> {
    let mut out = vec![heading(t, "Now (/proc)")];
    let mut kv = |k: &str, v: String| {
        out.push(Line::from(vec![
            Span::styled(format!("  {k:<14}"), t.dim()),
            Span::raw(v),
        ]))
    };
    kv("state", format!("{} ({})", p.state, p.state_name()));
    if let Some(w) = &p.wchan {
        kv("wchan", w.clone());
    }
    match &p.syscall {
        Some(sc) => kv("syscall", sc.decoded.clone()),
        None => kv("syscall", "none (running in user space)".into()),
    }
    if let Some(fd) = &p.waits_on {
        let what = match &fd.kind {
            crate::procinfo::FdKind::Fifo(path) if path.ends_with("exec.fifo") => {
                format!("{path} — exec.fifo: waits for `start`")
            }
            _ => fd.target.clone(),
        };
        kv("waits on", what);
        if fd.others.is_empty() {
            kv("other end", "nobody holds it".into());
        }
        for h in fd.others.iter().take(6) {
            kv(
                "other end",
                format!("{} {} (fd {} {})", h.pid, h.comm, h.fd, h.mode),
            );
        }
    }
    if let Some(c) = p.waits_for_child {
        kv("waits for", format!("child {c}"));
    }
    if let Some(fz) = &p.freezer {
        kv("freezer", fz.clone());
    }
    for c in p
        .cgroups
        .iter()
        .filter(|c| c.starts_with("0::") || c.contains("freezer") || c.contains("pids"))
        .take(3)
    {
        kv("cgroup", c.clone());
    }
    if !p.stack.is_empty() {
        kv(
            "kernel stack",
            p.stack
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ← "),
        );
    }
    if let Some(a) = p.age_s {
        kv("age", format!("{a:.1}s"));
    }
    out
}
