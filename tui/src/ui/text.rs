//! The diagram as plain text, for runs without a terminal (`demo --print`, `replay` into a
//! pipe): the same widget the screen shows, drawn into an off-screen buffer tall enough
//! for every row, without colours, one string per line.

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use unicode_width::UnicodeWidthStr;

use super::diagram;
use crate::model::Seq;
use crate::session::Session;
use crate::ui::theme::Theme;
use crate::view::{Mode, View};

/// Rows drawn in one go; a longer history is printed in pages, each with its own lane heads.
const PAGE_ROWS: usize = 1000;
/// Room right of the last lane for the labels of its steps.
const LAST_LABEL: u16 = 48;

/// A width at which every lane is as wide as the screen ever draws it (room for a sync
/// message's name on its arrow) and the last lane's labels fit; lines are trimmed, so a
/// narrow diagram stays narrow.
pub fn print_width(s: &Session) -> u16 {
    let m = &s.model;
    let lanes = m
        .lanes
        .iter()
        .filter(|l| l.visible_at(m.len() as Seq))
        .count() as u16;
    (diagram::TIME_W + lanes.max(1) * diagram::MAX_LANE_W + LAST_LABEL).clamp(80, 240)
}

/// The whole diagram as of the last event: lane heads (title, pid, status) and one line
/// per row; trailing spaces trimmed.
pub fn diagram_lines(s: &Session, width: u16) -> Vec<String> {
    let m = &s.model;
    let mut v = View::new(Mode::Replay, "");
    v.theme = Theme::plain();
    v.cursor = m.len() as Seq;
    v.follow = false;
    v.sel = None;
    let n = m.visible_rows(v.cursor);
    let mut out = Vec::new();
    let mut top = 0;
    loop {
        let rows = PAGE_ROWS.min(n - top);
        // The pane's top border, the heads, the rows.
        let height = (1 + diagram::HEAD_H as usize + rows.max(1)) as u16;
        // Drawing into memory cannot fail (the test backend's error type is empty).
        let Ok(mut t) = Terminal::new(TestBackend::new(width, height));
        v.diagram_top = top;
        let Ok(_) = t.draw(|f| diagram::draw(f, f.area(), s, &mut v));
        let buf = t.backend().buffer();
        if top > 0 {
            out.push(String::new());
        }
        for y in 1..height {
            let mut line = String::new();
            let mut skip = 0usize;
            for x in 0..width {
                let sym = buf[(x, y)].symbol();
                if skip == 0 {
                    line.push_str(sym);
                }
                // A wide character covers the cells after it.
                skip = skip.max(sym.width()).saturating_sub(1);
            }
            out.push(line.trim_end().to_string());
        }
        top += rows;
        if top >= n {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    #[test]
    fn the_whole_bootstrap_prints_as_text_with_its_lanes_and_messages() {
        let s = Session::from_events(&synth::initscope_bootstrap(synth::Options::default()));
        let lines = diagram_lines(&s, print_width(&s));
        let heads = &lines[0];
        for lane in ["create", "[0:PARENT]", "[1:CHILD]", "[2:INIT]"] {
            assert!(heads.contains(lane), "{heads}");
        }
        assert_eq!(
            lines.len(),
            diagram::HEAD_H as usize + s.model.visible_rows(u32::MAX),
            "one line per row after the heads"
        );
        let text = lines.join("\n");
        let pos = |m: &str| {
            text.find(m)
                .unwrap_or_else(|| panic!("{m} missing:\n{text}"))
        };
        assert!(pos("SYNC_USERMAP_PLS") < pos("SYNC_USERMAP_ACK"));
        assert!(pos("SYNC_USERMAP_ACK") < pos("SYNC_RECVPID_PLS"));
        assert!(pos("SYNC_RECVPID_PLS") < pos("SYNC_GRANDCHILD"));
        assert!(!text.contains('\x1b'), "no colour codes");
        assert!(lines.iter().all(|l| !l.ends_with(' ')));
    }
}
