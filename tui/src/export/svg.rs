//! An SVG sequence diagram drawn like the terminal one: lane heads on top (stage, pids,
//! status), lifelines that begin where the process is born and end where it exits, clone
//! arrows, sync-message arrows, id-map writes, and steps noted on their lane.

use std::fmt::Write;

use initscope_runtime::events::schema::Stage;

use super::{describe, Shape};
use crate::model::{Model, Seq};

const MARGIN: f64 = 24.0;
const TIME_W: f64 = 64.0;
const LANE_W: f64 = 200.0;
const TITLE_H: f64 = 40.0;
const HEAD_H: f64 = 64.0;
const ROW_H: f64 = 26.0;
const LEGEND_H: f64 = 36.0;
const LEGEND_W: f64 = 760.0;
/// Width of one character at 12px in a monospace font (0.6em), with a little slack.
const CHAR_W: f64 = 7.4;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// (stroke, fill) per stage, close to the terminal's colours.
fn role_colors(role: Option<Stage>) -> (&'static str, &'static str) {
    match role {
        Some(Stage::Create) => ("#0e7c86", "#e0f4f5"),
        Some(Stage::Parent) => ("#b7791f", "#fdf3dc"),
        Some(Stage::Child) => ("#9f3a9f", "#f7e6f7"),
        Some(Stage::Init) => ("#2f855a", "#e3f5ea"),
        Some(Stage::Start) => ("#2b6cb0", "#e3eefa"),
        _ => ("#4a5568", "#edf2f7"),
    }
}

fn shape_color(s: Shape) -> &'static str {
    match s {
        Shape::Clone => "#1a202c",
        Shape::Sync { .. } => "#0987a0",
        Shape::IdMap => "#b7791f",
        Shape::Namespace => "#9f3a9f",
        Shape::Exec => "#2f855a",
        Shape::Exit { ok: true } => "#4a5568",
        Shape::Exit { ok: false } | Shape::Error => "#c53030",
        Shape::Step => "#2d3748",
        Shape::Lost => "#c05621",
    }
}

pub fn render(m: &Model, at: Seq) -> String {
    let d = describe(m, at);
    let lanes = d.lanes.len().max(1) as f64;
    let lane_x = |i: usize| MARGIN + TIME_W + i as f64 * LANE_W + LANE_W / 2.0;
    // Wide enough for the lanes and for every label written to the right of a lane.
    let right = d
        .rows
        .iter()
        .filter_map(|r| {
            let x = r.from.map(lane_x)?.max(r.to.map(lane_x).unwrap_or(0.0));
            Some(x + 14.0 + r.label.chars().count() as f64 * CHAR_W)
        })
        .fold(MARGIN + TIME_W + lanes * LANE_W, f64::max);
    let width = (right + MARGIN).max(LEGEND_W);
    let top = TITLE_H + HEAD_H + 16.0;
    let height = top + d.rows.len() as f64 * ROW_H + MARGIN + LEGEND_H;
    let row_y = |i: usize| top + i as f64 * ROW_H + ROW_H / 2.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="12">"#
    );
    s.push_str("<defs>\n");
    for (id, color) in [
        ("clone", "#1a202c"),
        ("sync", "#0987a0"),
        ("idmap", "#b7791f"),
    ] {
        let _ = writeln!(
            s,
            r#"<marker id="arrow-{id}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>"#
        );
    }
    s.push_str("</defs>\n");
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="{MARGIN}" y="26" font-size="16" font-weight="bold" fill="#1a202c">{}</text>"##,
        esc(&d.title)
    );
    // Row bands and times.
    for (i, r) in d.rows.iter().enumerate() {
        if i % 2 == 1 {
            let _ = writeln!(
                s,
                r##"<rect x="{MARGIN}" y="{:.1}" width="{:.0}" height="{ROW_H}" fill="#f7f8fa"/>"##,
                row_y(i) - ROW_H / 2.0,
                width - 2.0 * MARGIN
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="{MARGIN}" y="{:.1}" fill="#a0aec0" font-size="11">{}</text>"##,
            row_y(i) + 4.0,
            esc(&r.time)
        );
    }
    // Lane heads and lifelines.
    for (i, l) in d.lanes.iter().enumerate() {
        let x = lane_x(i);
        let (stroke, fill) = role_colors(l.role);
        let hx = x - LANE_W / 2.0 + 10.0;
        let _ = writeln!(s, r#"<g class="lane" data-pid="{}">"#, l.pid);
        let _ = writeln!(
            s,
            r#"<rect x="{hx:.1}" y="{TITLE_H}" width="{:.0}" height="{HEAD_H}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>"#,
            LANE_W - 20.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" font-weight="bold" font-size="14" fill="{stroke}">{}</text>"#,
            TITLE_H + 20.0,
            esc(&l.title)
        );
        let pid = match l.ns_pid {
            Some(ns) if ns != l.pid => format!("pid {} · {ns} inside", l.pid),
            _ => format!("pid {}", l.pid),
        };
        let _ = writeln!(
            s,
            r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#4a5568">{}</text>"##,
            TITLE_H + 38.0,
            esc(&pid)
        );
        let _ = writeln!(
            s,
            r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#718096" font-size="11">{}</text>"##,
            TITLE_H + 54.0,
            esc(&l.status)
        );
        let born = row_y(l.first_row);
        let end = l.exit_row.map_or(height - MARGIN - LEGEND_H, row_y);
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{born:.1}" stroke="{stroke}" stroke-opacity="0.35" stroke-dasharray="2 4"/>"#,
            TITLE_H + HEAD_H
        );
        let _ = writeln!(
            s,
            r#"<line class="lifeline" x1="{x:.1}" y1="{born:.1}" x2="{x:.1}" y2="{end:.1}" stroke="{stroke}" stroke-width="2" stroke-opacity="0.55"/>"#
        );
        s.push_str("</g>\n");
    }
    // Rows.
    for (i, r) in d.rows.iter().enumerate() {
        let y = row_y(i);
        let color = shape_color(r.shape);
        let label = esc(&r.label);
        let Some(from) = r.from else {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" fill="{color}" font-weight="bold">⚠ {label}</text>"#,
                MARGIN + TIME_W,
                y + 4.0
            );
            continue;
        };
        let x = lane_x(from);
        match (r.shape, r.to) {
            (Shape::Clone | Shape::Sync { .. } | Shape::IdMap, Some(to)) if to != from => {
                let x2 = lane_x(to);
                let (marker, dash, w) = match r.shape {
                    Shape::Clone => ("clone", "", 2.0),
                    Shape::Sync { done: true } => ("sync", "", 1.5),
                    Shape::Sync { done: false } => ("sync", r#" stroke-dasharray="6 4""#, 1.5),
                    _ => ("idmap", r#" stroke-dasharray="2 3""#, 1.5),
                };
                let dir = if x2 > x { 1.0 } else { -1.0 };
                let _ = writeln!(
                    s,
                    r#"<line class="{marker}" x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="{w}"{dash} marker-end="url(#arrow-{marker})"/>"#,
                    x2 - dir * 3.0
                );
                if r.shape == Shape::Clone {
                    let _ = writeln!(
                        s,
                        r#"<circle cx="{x2:.1}" cy="{y:.1}" r="4" fill="{color}"/>"#
                    );
                }
                let span = (x2 - x).abs();
                let text_w = r.label.chars().count() as f64 * CHAR_W;
                let weight = if r.shape == Shape::Clone {
                    r#" font-weight="bold""#
                } else {
                    ""
                };
                if text_w + 16.0 < span {
                    let _ = writeln!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{color}"{weight}>{label}</text>"#,
                        (x + x2) / 2.0,
                        y - 5.0
                    );
                } else {
                    let _ = writeln!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" fill="{color}"{weight}>{label}</text>"#,
                        x.max(x2) + 10.0,
                        y + 4.0
                    );
                }
            }
            (Shape::Exit { .. }, _) => {
                let _ = writeln!(
                    s,
                    r#"<path d="M{:.1},{:.1} l10,10 M{:.1},{:.1} l10,-10" stroke="{color}" stroke-width="2.5"/>"#,
                    x - 5.0,
                    y - 5.0,
                    x - 5.0,
                    y + 5.0
                );
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" fill="{color}">{label}</text>"#,
                    x + 12.0,
                    y + 4.0
                );
            }
            (shape, _) => {
                let mark = match shape {
                    Shape::Namespace => format!(
                        r#"<rect x="{:.1}" y="{:.1}" width="9" height="9" transform="rotate(45 {x:.1} {y:.1})" fill="{color}"/>"#,
                        x - 4.5,
                        y - 4.5
                    ),
                    Shape::Exec => format!(
                        r#"<path d="M{:.1},{:.1} l10,6 l-10,6 z" fill="{color}"/>"#,
                        x - 4.0,
                        y - 6.0
                    ),
                    Shape::Error => {
                        format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="6" fill="{color}"/>"#)
                    }
                    _ => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{color}"/>"#),
                };
                s.push_str(&mark);
                s.push('\n');
                let weight = if matches!(shape, Shape::Exec | Shape::Error) {
                    r#" font-weight="bold""#
                } else {
                    ""
                };
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" fill="{color}"{weight}>{label}</text>"#,
                    x + 12.0,
                    y + 4.0
                );
            }
        }
    }
    legend(&mut s, height - LEGEND_H + 8.0);
    s.push_str("</svg>\n");
    s
}

/// What the marks mean, along the bottom.
fn legend(s: &mut String, y: f64) {
    let mut x = MARGIN;
    let item = |s: &mut String, x: &mut f64, mark: String, text: &str| {
        s.push_str(&mark);
        s.push('\n');
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" fill="#4a5568" font-size="11">{text}</text>"##,
            *x + 30.0,
            y + 4.0
        );
        *x += 40.0 + text.len() as f64 * 6.6;
    };
    let line = |x: f64, color: &str, dash: &str, w: f64, marker: &str| {
        format!(
            r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="{w}"{dash} marker-end="url(#arrow-{marker})"/>"#,
            x + 24.0
        )
    };
    let mk = line(x, "#1a202c", "", 2.0, "clone");
    item(s, &mut x, mk, "clone");
    let mk = line(x, "#0987a0", "", 1.5, "sync");
    item(s, &mut x, mk, "sync message");
    let mk = line(x, "#0987a0", r#" stroke-dasharray="6 4""#, 1.5, "sync");
    item(s, &mut x, mk, "sent, not yet received");
    let mk = line(x, "#b7791f", r#" stroke-dasharray="2 3""#, 1.5, "idmap");
    item(s, &mut x, mk, "id map write");
    let c = x + 12.0;
    item(
        s,
        &mut x,
        format!(
            r##"<rect x="{:.1}" y="{:.1}" width="9" height="9" transform="rotate(45 {c:.1} {y:.1})" fill="#9f3a9f"/>"##,
            c - 4.5,
            y - 4.5
        ),
        "namespaces",
    );
    let c = x + 12.0;
    item(
        s,
        &mut x,
        format!(
            r##"<path d="M{:.1},{:.1} l10,10 M{:.1},{:.1} l10,-10" stroke="#4a5568" stroke-width="2.5"/>"##,
            c - 5.0,
            y - 5.0,
            c - 5.0,
            y + 5.0
        ),
        "exit",
    );
}
