//! Namespaces per process: inode numbers (from the kernel) or what the runtime said it did
//! (new / joined), with the ones that differ from the creator's highlighted.

use initscope_probe::schema::Namespaces;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};
use ratatui::Frame;

use crate::model::{LaneId, Model, NsNote, Seq};
use crate::session::Session;
use crate::view::{Pane, View};

/// The rows of the table: name, the `/proc/PID/ns` entry, its CLONE_NEW* bit.
pub const NS_ROWS: [(&str, u64); 9] = [
    ("pid", 0x2000_0000),
    ("pid4kids", 0x2000_0000),
    ("user", 0x1000_0000),
    ("mnt", 0x0002_0000),
    ("net", 0x4000_0000),
    ("uts", 0x0400_0000),
    ("ipc", 0x0800_0000),
    ("cgroup", 0x0200_0000),
    ("time", 0x80),
];

pub fn get(ns: &Namespaces, row: usize) -> u64 {
    match row {
        0 => ns.pid,
        1 => ns.pid_for_children,
        2 => ns.user,
        3 => ns.mnt,
        4 => ns.net,
        5 => ns.uts,
        6 => ns.ipc,
        7 => ns.cgroup,
        _ => ns.time,
    }
}

/// One cell: the text and whether it is new compared with the creator.
pub fn cell(m: &Model, lane: LaneId, row: usize, at: Seq) -> (String, bool) {
    let l = m.lane(lane);
    if let Some(ns) = l.ns_at(at) {
        let ino = get(ns, row);
        if ino == 0 {
            return ("?".into(), false);
        }
        // Compared with the creator as it was when this process was born.
        let creator = l
            .creator
            .and_then(|c| m.lane(c).ns_at(l.start_seq + 1))
            .map(|c| get(c, row));
        return (ino.to_string(), creator.is_some_and(|c| c != 0 && c != ino));
    }
    // No inode numbers: what the runtime reported.
    let bit = NS_ROWS[row].1;
    let pid_row = row == 0;
    for &(seq, note) in l.ns_notes.iter().rev() {
        if seq >= at {
            continue;
        }
        match note {
            NsNote::New(f) if f & bit != 0 && !pid_row => return ("new".into(), true),
            NsNote::Joined(f) if f & bit != 0 => return ("joined".into(), true),
            _ => {}
        }
    }
    ("·".into(), false)
}

pub fn draw(f: &mut Frame, area: Rect, s: &Session, v: &mut View) {
    let m = &s.model;
    let at = v.at(m);
    let title = super::pane_title(v, Pane::Namespaces, "inode; highlighted = new vs creator");
    let block = Block::new().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    v.hits.panes.push((Pane::Namespaces, area));
    // The lanes the diagram shows, in order; scrolled sideways with j/k here.
    let mut lanes: Vec<LaneId> = v.hits.diagram_lanes.clone();
    if lanes.is_empty() {
        lanes = (0..m.lanes.len() as LaneId)
            .filter(|&l| m.lane(l).visible_at(at))
            .collect();
    }
    let col_w = 11usize;
    let fit = ((inner.width as usize).saturating_sub(9) / col_w).max(1);
    v.ns_scroll = v.ns_scroll.min(lanes.len().saturating_sub(fit));
    let shown: Vec<LaneId> = lanes.iter().copied().skip(v.ns_scroll).take(fit).collect();
    let theme = v.theme;
    let mut header = vec![Span::styled(format!("{:<9}", "ns"), theme.dim())];
    for &l in &shown {
        let t = m.lane_title(l, at);
        header.push(Span::styled(
            format!("{:<col_w$}", trunc(&t, col_w - 1)),
            theme.role(m.lane(l).role),
        ));
    }
    let mut lines = vec![Line::from(header)];
    for (row, (name, _)) in NS_ROWS.iter().enumerate() {
        let mut spans = vec![Span::styled(format!("{name:<9}"), theme.dim())];
        for &l in &shown {
            let (text, new) = cell(m, l, row, at);
            let style = if new { theme.new_ns() } else { theme.step() };
            spans.push(Span::styled(
                format!("{:<col_w$}", trunc(&text, col_w - 1)),
                style,
            ));
        }
        lines.push(Line::from(spans));
    }
    for (i, line) in lines.into_iter().take(inner.height as usize).enumerate() {
        f.render_widget(
            line,
            Rect {
                y: inner.y + i as u16,
                height: 1,
                ..inner
            },
        );
    }
}

fn trunc(s: &str, w: usize) -> String {
    s.chars().take(w).collect()
}
