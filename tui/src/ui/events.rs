//! The event list: both sources merged by time, filtered, searchable. Only the visible
//! lines are read back from the store.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};
use ratatui::Frame;

use crate::labels::{event_summary, fmt_dur};
use crate::model::Source;
use crate::session::Session;
use crate::ui::diagram::scroll;
use crate::view::{Pane, View};

pub fn draw(f: &mut Frame, area: Rect, s: &Session, v: &mut View) {
    let m = &s.model;
    let filtered = !v.filter.is_empty();
    let sel = v.sel;
    let follow = v.follow;
    let list = v.event_list(m);
    let n = list.len();
    let sel_pos = sel.and_then(|x| {
        let key = (m.events[x as usize].ts, x);
        let p = list.partition_point(|&s| (m.events[s as usize].ts, s) < key);
        (list.get(p) == Some(&x)).then_some(p)
    });
    let info = format!("{n}{}", if filtered { " shown (filtered: f)" } else { "" });
    let title = super::pane_title(v, Pane::Events, &info);
    let block = Block::new().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    v.hits.panes.push((Pane::Events, area));
    let h = inner.height as usize;
    let top = scroll(v.events_top, sel_pos, n, h, follow || sel_pos.is_none());
    v.events_top = top;
    let list = v.event_list(m);
    let window: Vec<u32> = list[top..(top + h).min(n)].to_vec();
    let first = m.first_ts.unwrap_or(0);
    let theme = v.theme;
    for (i, seq) in window.into_iter().enumerate() {
        let y = inner.y + i as u16;
        let meta = &m.events[seq as usize];
        let stage = meta.stage.map_or("-", |s| s.as_str());
        let src = match meta.source {
            Source::Runtime => "rt",
            Source::Kernel => "k ",
        };
        let summary = s
            .event(seq)
            .map(|e| event_summary(&e))
            .unwrap_or_else(|| "(unreadable)".into());
        let line = Line::from(vec![
            Span::styled(
                format!(
                    "{:>8} ",
                    format!("+{}", fmt_dur(meta.ts.saturating_sub(first)))
                ),
                theme.time(),
            ),
            Span::styled(
                format!("{src} "),
                theme.source(meta.source == Source::Kernel),
            ),
            Span::styled(format!("{stage:<7} "), theme.role(meta.stage)),
            Span::styled(format!("{:>6} ", meta.pid), theme.dim()),
            Span::styled(format!("{:<13} ", m.str(meta.kind)), theme.title()),
            Span::raw(summary),
        ]);
        let row = Rect {
            x: inner.x,
            y,
            width: inner.width,
            height: 1,
        };
        f.render_widget(line, row);
        if Some(seq) == sel {
            f.buffer_mut().set_style(row, theme.selected());
        }
        v.hits.event_rows.push((y, seq));
    }
}
