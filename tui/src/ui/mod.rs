//! Drawing. Reads the session and the view; writes only the view's scroll offsets and
//! the geometry the mouse needs.

pub mod details;
pub mod diagram;
pub mod events;
pub mod help;
pub mod namespaces;
pub mod status;
pub mod text;
pub mod theme;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use crate::session::Session;
use crate::view::{Hits, Pane, View};

/// Screens at least this big show all four panes.
const WIDE: (u16, u16) = (120, 32);

pub fn draw(f: &mut Frame, s: &Session, v: &mut View) {
    v.hits = Hits::default();
    let area = f.area();
    let [main, status_area] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    if v.zoom {
        details::draw(f, main, s, v);
    } else if main.width >= WIDE.0 && main.height >= WIDE.1 {
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(64), Constraint::Min(8)]).areas(main);
        let split = [Constraint::Percentage(62), Constraint::Min(30)];
        let [diag, det] = Layout::horizontal(split).areas(top);
        let [ev, ns] = Layout::horizontal(split).areas(bottom);
        diagram::draw(f, diag, s, v);
        details::draw(f, det, s, v);
        events::draw(f, ev, s, v);
        namespaces::draw(f, ns, s, v);
    } else {
        let bottom_h = (main.height * 2 / 5).clamp(4, 12);
        let [diag, bottom] =
            Layout::vertical([Constraint::Min(4), Constraint::Length(bottom_h)]).areas(main);
        diagram::draw(f, diag, s, v);
        match v.bottom {
            Pane::Events => events::draw(f, bottom, s, v),
            Pane::Namespaces => namespaces::draw(f, bottom, s, v),
            _ => details::draw(f, bottom, s, v),
        }
    }
    status::draw(f, status_area, s, v);
    if v.filter_open {
        help::draw_filter(f, main, &s.model, v);
    }
    if v.help {
        help::draw_help(f, main, v);
    }
}

/// A pane's title on its top border: name, focus marker, and a short note.
pub fn pane_title(v: &View, pane: Pane, info: &str) -> Line<'static> {
    let focused = v.focus == pane;
    let name = format!(" {} ", pane.title());
    let mut spans = vec![Span::styled(
        name,
        if focused {
            v.theme.focus_title()
        } else {
            v.theme.title()
        },
    )];
    if pane == Pane::Diagram {
        spans.push(Span::styled(format!(" {} ", v.title), v.theme.dim()));
    }
    spans.push(Span::styled(format!(" {info} "), v.theme.dim()));
    Line::from(spans)
}

/// The rectangle of a pane from the last frame.
pub fn pane_rect(v: &View, pane: Pane) -> Option<Rect> {
    v.hits
        .panes
        .iter()
        .find(|(p, _)| *p == pane)
        .map(|(_, r)| *r)
}
