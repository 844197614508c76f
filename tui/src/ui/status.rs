//! The status line: mode, sources, events, lost events, elapsed time, the main keys.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use crate::labels::fmt_dur;
use crate::session::Session;
use crate::view::{Mode, View, SPEEDS};

pub fn draw(f: &mut Frame, area: Rect, s: &Session, v: &View) {
    let m = &s.model;
    let theme = v.theme;
    let at = v.at(m);
    let mut spans = Vec::new();
    if let Some(input) = &v.search_input {
        spans.push(Span::styled(format!("/{input}▏"), theme.key()));
        spans.push(Span::styled("  Enter find · Esc cancel", theme.dim()));
        f.render_widget(Line::from(spans), area);
        return;
    }
    match v.mode {
        Mode::Replay => {
            let state = if v.playing {
                format!("▶ {}/s", SPEEDS[v.speed])
            } else {
                "❚❚".to_string()
            };
            spans.push(Span::styled(format!("{state} "), theme.key()));
            spans.push(Span::raw(format!("event {}/{} ", at, m.len())));
        }
        Mode::Live if v.live_paused => {
            spans.push(Span::styled("❚❚ paused ", theme.warn()));
            spans.push(Span::raw(format!("({} new held back) ", s.held_back())));
        }
        Mode::Live => {
            spans.push(Span::styled("● live ", theme.exec()));
            spans.push(Span::raw(format!("{} events ", m.len())));
        }
    }
    let [rt, k] = m.counts;
    spans.push(Span::styled(format!("rt {rt} k {k} "), theme.dim()));
    let lost = m.lost_at(at);
    if lost.kernel + lost.runtime > 0 || s.bad_lines > 0 {
        let mut t = format!("lost {}", lost.kernel + lost.runtime);
        if s.bad_lines > 0 {
            t.push_str(&format!(" bad {}", s.bad_lines));
        }
        spans.push(Span::styled(t + " ", theme.warn()));
    } else {
        spans.push(Span::styled("lost 0 ", theme.dim()));
    }
    let elapsed = match v.mode {
        Mode::Replay => m.ts_at(at).saturating_sub(m.first_ts.unwrap_or(0)),
        Mode::Live => v.started.elapsed().as_nanos() as u64,
    };
    spans.push(Span::raw(format!("{} ", fmt_dur(elapsed))));
    // The stuck processes that wait for no other stuck one come first: they are the
    // cause; the others are counted.
    let stuck_pids: Vec<i32> = m.stuck.iter().map(|&l| m.lane(l).pid).collect();
    let (cause, waiting): (Vec<u32>, Vec<u32>) = m.stuck.iter().partition(|&&l| {
        m.lane(l)
            .diagnosis
            .as_ref()
            .and_then(|d| d.blocked_by)
            .is_none_or(|b| !stuck_pids.contains(&b))
    });
    let stuck: Vec<String> = cause
        .iter()
        .map(|&l| {
            let lane = m.lane(l);
            let d = lane
                .diagnosis
                .as_ref()
                .map(|d| d.waits_on.as_str())
                .unwrap_or("");
            format!("{} {} {d}", m.lane_title(l, at), lane.pid)
        })
        .collect();
    if !stuck.is_empty() {
        let more = match waiting.len() {
            0 => String::new(),
            n => format!(" (+{n} waiting on it)"),
        };
        spans.push(Span::styled(
            format!("stuck: {}{more} ", stuck.join(", ")),
            theme.stuck(),
        ));
    }
    if let Some((msg, _)) = &v.message {
        spans.push(Span::styled(format!("{msg} "), theme.warn()));
    }
    let keys = match v.mode {
        Mode::Replay => "?help q quit ←→ step space play +- speed f filter / find e export",
        Mode::Live => "?help q quit space pause ↑↓ select Tab pane f filter / find",
    };
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let room = (area.width as usize).saturating_sub(used + 1);
    if room > 10 {
        let k: String = keys.chars().take(room).collect();
        spans.push(Span::styled(format!("{k:>room$}"), theme.dim()));
    }
    f.render_widget(Line::from(spans), area);
}
