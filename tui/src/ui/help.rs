//! Popups: the key help and the filter list.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::model::Model;
use crate::view::{FilterItem, View};

const KEYS: &[(&str, &str)] = &[
    ("q  Ctrl-C", "quit (the terminal is restored)"),
    ("?", "this help (any key closes it)"),
    (
        "↑↓  j k",
        "select the previous/next row or event in the focused pane",
    ),
    ("PgUp PgDn", "ten at a time"),
    ("g  G / End", "first / newest (G follows new events)"),
    (
        "←→",
        "replay: one event back / forward; live: lane left / right",
    ),
    ("h l", "the nearest step on the lane to the left / right"),
    ("Home End", "replay: to the start / the end"),
    (
        "space",
        "replay: play / pause; live: pause / resume updates",
    ),
    ("+ -  ] [", "replay speed (events per second)"),
    (
        "Tab S-Tab",
        "next / previous pane (diagram, events, details, namespaces)",
    ),
    ("Enter  Esc", "details full screen / back"),
    ("f", "filter the event list by source, stage and kind"),
    ("/  n N", "search event text; next / previous match"),
    (
        "e",
        "export the diagram as SVG and Mermaid (next to the recording)",
    ),
    (
        "c",
        "continue a stage paused by INITSCOPE_PAUSE_AT (SIGCONT)",
    ),
    (
        "mouse",
        "click selects a row or an event; wheel scrolls the pane under it",
    ),
];

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub fn draw_help(f: &mut Frame, area: Rect, v: &View) {
    let r = centered(area, 78, KEYS.len() as u16 + 4);
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, d)| {
            Line::from(vec![
                Span::styled(format!(" {k:<11}"), v.theme.key()),
                Span::raw(*d),
            ])
        })
        .chain([
            Line::raw(""),
            Line::styled(
                " Colours follow NO_COLOR. Recordings: initscope replay FILE.jsonl",
                v.theme.dim(),
            ),
        ])
        .collect();
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" initscope keys ")),
        r,
    );
}

pub fn draw_filter(f: &mut Frame, area: Rect, m: &Model, v: &View) {
    let h = (v.filter_items.len() as u16 + 3).min(area.height);
    let r = centered(area, 44, h);
    let visible = h.saturating_sub(3) as usize;
    let top = v.filter_pos.saturating_sub(visible.saturating_sub(1));
    let mut lines = Vec::new();
    for (i, item) in v.filter_items.iter().enumerate().skip(top).take(visible) {
        let (shown, text) = match item {
            FilterItem::Source(s) => (
                !v.filter.hide_sources.contains(s),
                format!("source  {}", s.as_str()),
            ),
            FilterItem::Stage(s) => (
                !v.filter.hide_stages.contains(s),
                format!("stage   {}", s.map_or("(none)", |s| s.as_str())),
            ),
            FilterItem::Kind(k) => (
                !v.filter.hide_kinds.contains(k),
                format!("kind    {}", m.str(*k)),
            ),
        };
        let mark = if shown { "[x]" } else { "[ ]" };
        let style = if i == v.filter_pos {
            v.theme.selected()
        } else {
            v.theme.step()
        };
        lines.push(Line::styled(format!(" {mark} {text}"), style));
    }
    lines.push(Line::styled(
        " space toggle · a show all · Enter close",
        v.theme.dim(),
    ));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(" show events ")),
        r,
    );
}
