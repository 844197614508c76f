//! The sequence diagram: one lane per process, time flowing down, arrows for clones, sync
//! messages and id-map writes, steps on the lane where they happen. Only the rows in the
//! window are looked at, so a frame costs the same at 1k or 1M events.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders};
use ratatui::Frame;

use crate::labels::{fmt_dur, row_label};
use crate::model::{LaneId, Model, RowId, RowKind, Seq, Status};
use crate::session::Session;
use crate::ui::theme::Theme;
use crate::view::{Pane, View};

pub const TIME_W: u16 = 8;
const MIN_LANE_W: u16 = 12;
pub const MAX_LANE_W: u16 = 26;
pub const HEAD_H: u16 = 3;

pub fn draw(f: &mut Frame, area: Rect, s: &Session, v: &mut View) {
    let m = &s.model;
    let at = v.at(m);
    let n = m.visible_rows(at);
    let title = super::pane_title(v, Pane::Diagram, &format!("{} rows", n));
    let block = Block::new().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    v.hits.panes.push((Pane::Diagram, area));
    if inner.height <= HEAD_H || inner.width < TIME_W + MIN_LANE_W {
        return;
    }
    let body_h = (inner.height - HEAD_H) as usize;
    let sel_pos = v
        .selected_row(m)
        .map(|r| m.row_position(r))
        .filter(|&p| p < n);
    let top = scroll(v.diagram_top, sel_pos, n, body_h, v.follow);
    v.diagram_top = top;
    let window: Vec<RowId> = m.order[top..(top + body_h).min(n)].to_vec();
    if window.is_empty() {
        let text = match v.mode {
            crate::view::Mode::Replay => {
                "→ shows the next event · space plays · End jumps to the end · ? help"
            }
            crate::view::Mode::Live => "waiting for the first event…",
        };
        let msg = Line::styled(text, v.theme.dim());
        f.render_widget(
            msg,
            Rect {
                y: inner.y + HEAD_H,
                height: 1,
                ..inner
            },
        );
        return;
    }
    let sel_lane = v
        .sel
        .and_then(|s| m.events.get(s as usize))
        .and_then(|e| e.lane);
    let lanes = lanes_in_window(
        m,
        at,
        &window,
        sel_lane,
        (inner.width - TIME_W) / MIN_LANE_W,
    );
    let lane_w = ((inner.width - TIME_W) / lanes.len().max(1) as u16).clamp(MIN_LANE_W, MAX_LANE_W);
    v.hits.diagram_lanes = lanes.clone();
    let cols = Columns {
        x0: inner.x + TIME_W,
        w: lane_w,
        lanes: &lanes,
    };
    let now = v.now_ns(m);
    let buf = f.buffer_mut();
    let theme = v.theme;
    draw_heads(buf, inner, m, at, now, &cols, &theme);
    let sel_row = sel_pos.map(|p| m.order[p]);
    for (i, &r) in window.iter().enumerate() {
        let y = inner.y + HEAD_H + i as u16;
        draw_row(buf, inner, y, m, at, r, &cols, &theme);
        if Some(r) == sel_row {
            buf.set_style(
                Rect {
                    x: inner.x,
                    y,
                    width: inner.width,
                    height: 1,
                },
                theme.selected(),
            );
        }
        v.hits.diagram_rows.push((y, r));
    }
}

/// The first row to show so that the selection stays in view (or the end, when following).
pub fn scroll(top: usize, sel: Option<usize>, n: usize, h: usize, follow: bool) -> usize {
    let max_top = n.saturating_sub(h);
    let top = match sel {
        _ if follow => max_top,
        Some(p) if p < top => p,
        Some(p) if p >= top + h => p + 1 - h,
        _ => top,
    };
    top.min(max_top)
}

struct Columns<'a> {
    x0: u16,
    w: u16,
    lanes: &'a [LaneId],
}

impl Columns<'_> {
    /// The lifeline's x of a lane, if it is shown.
    fn x(&self, lane: LaneId) -> Option<u16> {
        let i = self.lanes.iter().position(|&l| l == lane)?;
        Some(self.x0 + i as u16 * self.w + 1)
    }
}

/// Lanes alive during the window (or acting in it), in creation order; at most `max`,
/// keeping the selected lane in view.
fn lanes_in_window(
    m: &Model,
    at: Seq,
    window: &[RowId],
    sel: Option<LaneId>,
    max: u16,
) -> Vec<LaneId> {
    let first = m.row(window[0]).key();
    let last = m.row(*window.last().unwrap()).key();
    let mut lanes: Vec<LaneId> = m
        .lanes_overlapping(first.0, last.0, at)
        .into_iter()
        .filter(|&l| {
            let lane = m.lane(l);
            (lane.start_ts, lane.start_seq) <= last
        })
        .collect();
    for &r in window {
        let row = m.row(r);
        for l in [row.lane, row.target()].into_iter().flatten() {
            if !lanes.contains(&l) {
                lanes.push(l);
            }
        }
    }
    lanes.sort_unstable();
    let max = max.max(1) as usize;
    if lanes.len() > max {
        let centre = sel
            .and_then(|s| lanes.iter().position(|&l| l == s))
            .unwrap_or(0);
        let start = centre.saturating_sub(max / 2).min(lanes.len() - max);
        lanes = lanes[start..start + max].to_vec();
    }
    lanes
}

fn put(buf: &mut Buffer, area: Rect, x: u16, y: u16, s: &str, style: Style) {
    if x >= area.right() || y >= area.bottom() {
        return;
    }
    buf.set_stringn(x, y, s, (area.right() - x) as usize, style);
}

fn status_text(m: &Model, lane: LaneId, at: Seq, now: u64) -> (String, bool) {
    let l = m.lane(lane);
    let end = l.exit_at(at).map_or(now, |x| x.ts);
    let dur = fmt_dur(end.saturating_sub(l.start_ts));
    let text = match l.status_at(at) {
        Status::Running => format!("running {dur}"),
        Status::WaitingSync { msg, .. } => {
            format!("waits {}", m.str(msg).trim_start_matches("SYNC_"))
        }
        Status::WaitingFifo => "waits exec.fifo".to_string(),
        Status::WaitingHook { hook, .. } => format!("waits hook {}", m.str(hook)),
        Status::Paused { step } => format!("paused {}", m.str(step)),
        Status::Failed { step } => format!("failed: {}", m.str(step)),
        Status::Exited { code, signal } => {
            format!("{} {dur}", crate::labels::exit_label(code, m.str(signal)))
        }
    };
    let bad = matches!(l.status_at(at), Status::Failed { .. })
        || matches!(l.status_at(at), Status::Exited { code, signal } if !signal.is_none() || code.is_some_and(|c| c != 0));
    (text, bad)
}

fn draw_heads(
    buf: &mut Buffer,
    area: Rect,
    m: &Model,
    at: Seq,
    now: u64,
    cols: &Columns,
    theme: &Theme,
) {
    put(buf, area, area.x, area.y, "time", theme.dim());
    for &lane in cols.lanes {
        let Some(x) = cols.x(lane) else { continue };
        let x = x - 1;
        let l = m.lane(lane);
        let w = cols.w.saturating_sub(1) as usize;
        let mut title = m.lane_title(lane, at);
        if let Some(prog) = m.program(lane, at) {
            title = format!("{title}→{prog}");
        }
        let stuck = l.diagnosis.as_ref().is_some_and(|d| d.stuck);
        let style = if stuck {
            theme.stuck()
        } else {
            theme.role(l.role)
        };
        buf.set_stringn(x, area.y, &title, w, style);
        let pid = match l.ns_pid {
            Some(ns) if ns != l.pid => format!("{} ({ns})", l.pid),
            _ => l.pid.to_string(),
        };
        buf.set_stringn(x, area.y + 1, &pid, w, theme.dim());
        let (status, bad) = if stuck {
            ("STUCK".to_string(), true)
        } else {
            status_text(m, lane, at, now)
        };
        buf.set_stringn(
            x,
            area.y + 2,
            &status,
            w,
            if bad { theme.error() } else { theme.step() },
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_row(
    buf: &mut Buffer,
    area: Rect,
    y: u16,
    m: &Model,
    at: Seq,
    r: RowId,
    cols: &Columns,
    theme: &Theme,
) {
    let row = m.row(r);
    let t = row.ts.saturating_sub(m.first_ts.unwrap_or(row.ts));
    put(
        buf,
        area,
        area.x,
        y,
        &format!("{:>7}", format!("+{}", fmt_dur(t))),
        theme.time(),
    );
    // Lifelines of the lanes alive at this row.
    for &lane in cols.lanes {
        let l = m.lane(lane);
        let Some(x) = cols.x(lane) else { continue };
        let started = (l.start_ts, l.start_seq) <= row.key();
        let ended = l.exit_at(at).is_some_and(|e| (e.ts, e.seq) < row.key());
        if started && !ended {
            let stuck = l.diagnosis.as_ref().is_some_and(|d| d.stuck);
            put(
                buf,
                area,
                x,
                y,
                "│",
                if stuck {
                    theme.error()
                } else {
                    theme.lifeline()
                },
            );
        }
    }
    let label = row_label(m, r, at);
    let Some(lane) = row.lane else {
        put(
            buf,
            area,
            area.x + TIME_W,
            y,
            &format!("⚠ {label}"),
            theme.warn(),
        );
        return;
    };
    let Some(x) = cols.x(lane) else {
        // The acting lane is scrolled off: say who acted.
        put(
            buf,
            area,
            area.x + TIME_W,
            y,
            &format!("… {}: {label}", m.lane_title(lane, at)),
            theme.dim(),
        );
        return;
    };
    match row.kind {
        RowKind::Clone { child, .. } => arrow(
            buf,
            area,
            y,
            x,
            cols.x(child),
            &label,
            theme.clone_arrow(),
            '─',
            true,
        ),
        RowKind::Sync { to, recv, .. } => {
            let done = recv.is_some_and(|s| s < at);
            let (style, line) = if done {
                (theme.sync_arrow(), '─')
            } else {
                (theme.in_flight(), '╌')
            };
            match to {
                Some(t) => arrow(buf, area, y, x, cols.x(t), &label, style, line, false),
                None => note(buf, area, y, x, "→", &label, style),
            }
        }
        RowKind::IdMap { target, .. } => match target {
            Some(t) if cols.x(t).is_some() => arrow(
                buf,
                area,
                y,
                x,
                cols.x(t),
                &label,
                theme.idmap(),
                '┈',
                false,
            ),
            _ => note(buf, area, y, x, "✎", &label, theme.idmap()),
        },
        RowKind::Unshare { failed, .. } | RowKind::Setns { failed, .. } => note(
            buf,
            area,
            y,
            x,
            "◆",
            &label,
            if failed { theme.error() } else { theme.ns() },
        ),
        RowKind::Exec { failed, .. } => note(
            buf,
            area,
            y,
            x,
            "▶",
            &label,
            if failed { theme.error() } else { theme.exec() },
        ),
        RowKind::Exit { code, signal } => {
            let ok = signal.is_none() && code.is_none_or(|c| c == 0);
            note(buf, area, y, x, "✕", &label, theme.exit(ok))
        }
        RowKind::Error { .. } => note(buf, area, y, x, "✖", &label, theme.error()),
        RowKind::ExecMisses { .. } => note(buf, area, y, x, "·", &label, theme.dim()),
        RowKind::Group { .. } | RowKind::Note { .. } => {
            note(buf, area, y, x, "•", &label, theme.step())
        }
        RowKind::Lost { .. } => note(buf, area, y, x, "⚠", &label, theme.warn()),
    }
}

fn note(buf: &mut Buffer, area: Rect, y: u16, x: u16, glyph: &str, label: &str, style: Style) {
    put(buf, area, x, y, glyph, style);
    put(buf, area, x + 2, y, label, style);
}

/// A horizontal arrow from lane x `a` to lane x `b` (or off-screen), labelled on the
/// shaft when it fits, else just past its right end.
#[allow(clippy::too_many_arguments)]
fn arrow(
    buf: &mut Buffer,
    area: Rect,
    y: u16,
    a: u16,
    b: Option<u16>,
    label: &str,
    style: Style,
    line: char,
    birth: bool,
) {
    let Some(b) = b else {
        put(buf, area, a, y, "├", style);
        put(
            buf,
            area,
            a + 1,
            y,
            &format!("{line}{line}▶ {label}"),
            style,
        );
        return;
    };
    if a == b {
        note(buf, area, y, a, "↺", label, style);
        return;
    }
    let (lo, hi) = (a.min(b), a.max(b));
    let shaft: String = std::iter::repeat_n(line, (hi - lo - 1) as usize).collect();
    put(buf, area, lo + 1, y, &shaft, style);
    if a < b {
        put(buf, area, a, y, "├", style);
        put(buf, area, b - 1, y, "▶", style);
        put(buf, area, b, y, if birth { "┐" } else { "┤" }, style);
    } else {
        put(buf, area, a, y, "┤", style);
        put(buf, area, b + 1, y, "◀", style);
        put(buf, area, b, y, if birth { "┌" } else { "├" }, style);
    }
    let len = label.chars().count() as u16;
    if hi - lo >= len + 4 {
        put(buf, area, lo + 2, y, label, style);
    } else {
        put(buf, area, hi + 2, y, label, style);
    }
}
