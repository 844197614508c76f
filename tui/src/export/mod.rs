//! Pictures of a bootstrap for teaching material: an SVG sequence diagram that looks like
//! the terminal diagram, and Mermaid `sequenceDiagram` text. Both are drawn from the same
//! flat description of lanes and rows, taken from the model as of `at`.

pub mod mermaid;
pub mod svg;

use initscope_runtime::events::schema::Stage;

use crate::labels::{exit_label, fmt_dur, row_label};
use crate::model::{LaneId, Model, RowKind, Seq};

/// How a row is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Clone,
    Sync { done: bool },
    IdMap,
    Namespace,
    Exec,
    Exit { ok: bool },
    Error,
    Step,
    Lost,
}

pub struct LaneDesc {
    pub id: LaneId,
    pub title: String,
    pub role: Option<Stage>,
    pub pid: i32,
    pub ns_pid: Option<i32>,
    pub status: String,
    /// Index of the row where the lane begins (its clone arrow, or its first step).
    pub first_row: usize,
    /// Index of the row where it exits, if it did.
    pub exit_row: Option<usize>,
}

pub struct RowDesc {
    pub time: String,
    /// Lane index (into `lanes`) acting, and the other end for arrows.
    pub from: Option<usize>,
    pub to: Option<usize>,
    pub shape: Shape,
    pub label: String,
}

pub struct Diagram {
    pub title: String,
    pub lanes: Vec<LaneDesc>,
    pub rows: Vec<RowDesc>,
}

/// Lanes and rows shown at `at`, in the terminal's order.
pub fn describe(m: &Model, at: Seq) -> Diagram {
    let n = m.visible_rows(at);
    let lane_ids: Vec<LaneId> = (0..m.lanes.len() as LaneId)
        .filter(|&l| m.lane(l).visible_at(at))
        .collect();
    let index = |l: LaneId| lane_ids.iter().position(|&x| x == l);
    let first = m.first_ts.unwrap_or(0);
    let mut rows = Vec::with_capacity(n);
    let mut first_row = vec![usize::MAX; lane_ids.len()];
    let mut exit_row = vec![None; lane_ids.len()];
    for (i, &r) in m.order[..n].iter().enumerate() {
        let row = m.row(r);
        let from = row.lane.and_then(index);
        let to = row.target().and_then(index);
        let shape = match row.kind {
            RowKind::Clone { .. } => Shape::Clone,
            RowKind::Sync { recv, .. } => Shape::Sync {
                done: recv.is_some_and(|s| s < at),
            },
            RowKind::IdMap { .. } => Shape::IdMap,
            RowKind::Unshare { failed: false, .. } | RowKind::Setns { failed: false, .. } => {
                Shape::Namespace
            }
            RowKind::Unshare { .. } | RowKind::Setns { .. } | RowKind::Error { .. } => Shape::Error,
            RowKind::Exec { failed, .. } => {
                if failed {
                    Shape::Error
                } else {
                    Shape::Exec
                }
            }
            RowKind::Exit { code, signal } => Shape::Exit {
                ok: signal.is_none() && code.is_none_or(|c| c == 0),
            },
            RowKind::Group { .. } | RowKind::Note { .. } | RowKind::ExecMisses { .. } => {
                Shape::Step
            }
            RowKind::Lost { .. } => Shape::Lost,
        };
        for l in [from, if shape == Shape::Clone { to } else { None }]
            .into_iter()
            .flatten()
        {
            first_row[l] = first_row[l].min(i);
        }
        if let (Some(f), Shape::Exit { .. }) = (from, shape) {
            exit_row[f] = Some(i);
        }
        rows.push(RowDesc {
            time: format!("+{}", fmt_dur(row.ts.saturating_sub(first))),
            from,
            to,
            shape,
            label: row_label(m, r, at),
        });
    }
    let lanes = lane_ids
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let l = m.lane(id);
            let mut title = m.lane_title(id, at);
            if let Some(prog) = m.program(id, at) {
                title = format!("{title} → {prog}");
            }
            let end = l.exit_at(at).map_or(m.ts_at(at), |x| x.ts);
            let status = match l.exit_at(at) {
                Some(x) => format!(
                    "{} after {}",
                    exit_label(x.code, m.str(x.signal)),
                    fmt_dur(end.saturating_sub(l.start_ts))
                ),
                None => format!("running {}", fmt_dur(end.saturating_sub(l.start_ts))),
            };
            LaneDesc {
                id,
                title,
                role: l.role,
                pid: l.pid,
                ns_pid: l.ns_pid,
                status,
                first_row: if first_row[i] == usize::MAX {
                    0
                } else {
                    first_row[i]
                },
                exit_row: exit_row[i],
            }
        })
        .collect();
    let title = match m.boots.first() {
        Some(b) => format!(
            "container {} — {} events",
            m.str(b.container),
            at.min(m.len() as Seq)
        ),
        None => {
            let rt = m
                .lanes
                .iter()
                .find_map(|l| l.runtime)
                .map_or("a", |r| r.as_str());
            format!(
                "{rt} bootstrap seen by the kernel — {} events",
                at.min(m.len() as Seq)
            )
        }
    };
    Diagram { title, lanes, rows }
}
