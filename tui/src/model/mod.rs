//! The model: plain data built by folding events, one at a time, in the order given.
//!
//! Lanes (processes), rows (the sequence diagram: arrows and steps, ordered by time),
//! bootstraps (container + exec id), namespaces and statuses. Every value that changes
//! over time is logged with the event sequence number (`seq`) that changed it, so the
//! screen can show the model *as of* any event (replay) by passing `at` — the number of
//! events to show — without rebuilding anything. [`Model::apply`] is deterministic:
//! applying the same events in the same order always gives the same model.
//!
//! Memory per event is a fixed-size [`EvMeta`] (the full event stays in the
//! [`crate::store::EventStore`]); rows are fixed-size with interned strings.

mod kernel;
pub mod lane;
pub mod roles;
pub mod row;
mod runtime;
pub mod strings;

use std::collections::{HashMap, VecDeque};

use initscope_runtime::events::schema::Stage;

use crate::event::Event;
pub use lane::{Diagnosis, Exit, Lane, NsNote, Status};
pub use roles::RuntimeKind;
pub use row::{MapKind, Row, RowKind, GROUP_KINDS};
pub use runtime::FIFO_MSG;
pub use strings::{Strings, Sym};

/// Index of an event in the model (0-based, in the order applied).
pub type Seq = u32;
pub type LaneId = u32;
pub type RowId = u32;
pub type BootId = u32;

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Runtime,
    Kernel,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Runtime => "runtime",
            Source::Kernel => "kernel",
        }
    }
}

/// What the model keeps per event: enough to list, filter and jump (40 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvMeta {
    pub ts: u64,
    /// Index in the event store (the full event).
    pub store: u32,
    pub lane: Option<LaneId>,
    pub row: Option<RowId>,
    pub pid: i32,
    pub kind: Sym,
    pub source: Source,
    /// The stage: the runtime's word for runtime events, the lane's role for kernel events.
    pub stage: Option<Stage>,
}

/// One bootstrap: the stages of one `create` (or one `exec`) of one container.
#[derive(Debug, Clone)]
pub struct Boot {
    pub container: Sym,
    pub exec_id: Sym,
    /// The latest lane for each stage.
    pub by_stage: HashMap<Stage, LaneId>,
    /// Lifecycle status over time (`creating`, `created`, `running`, `stopped`).
    pub state: Vec<(Seq, Sym)>,
}

/// Lost or dropped events, per source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lost {
    pub kernel: u64,
    pub runtime: u64,
}

const LANE_BUCKET: usize = 64;

/// How far apart the runtime's and the kernel's report of one step may be.
pub const JOIN_WINDOW_NS: u64 = 100_000_000;

type SyncKey = (BootId, Stage, Stage, Sym);

#[derive(Debug, Clone, Default)]
pub struct Model {
    pub strings: Strings,
    pub events: Vec<EvMeta>,
    /// Event seqs sorted by `(ts, seq)`: the event list, both sources merged by time.
    pub by_time: Vec<Seq>,
    pub lanes: Vec<Lane>,
    pub rows: Vec<Row>,
    /// Row ids sorted by `(ts, seq)`: the diagram top to bottom.
    pub order: Vec<RowId>,
    pub boots: Vec<Boot>,
    pub lost: Lost,
    pub lost_log: Vec<(Seq, Lost)>,
    pub first_ts: Option<u64>,
    pub last_ts: u64,
    pub counts: [u64; 2],
    /// Lanes whose diagnosis says they are stuck.
    pub stuck: Vec<LaneId>,
    by_pid: HashMap<i32, LaneId>,
    /// Per 64 lanes, the latest exit time (u64::MAX while one lives): lets the diagram
    /// find the lanes alive in its window without looking at every lane ever seen.
    lane_bucket_end: Vec<u64>,
    /// Per 64 lanes, the earliest start time.
    lane_bucket_start: Vec<u64>,
    boot_index: HashMap<(Sym, Sym), BootId>,
    /// Sync rows still missing their send or receive half.
    pending_sync: HashMap<SyncKey, VecDeque<RowId>>,
}

impl Model {
    pub fn new() -> Model {
        Model::default()
    }

    /// Fold a whole stream.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Model {
        let mut m = Model::new();
        for (i, e) in events.into_iter().enumerate() {
            m.apply(e, i as u32);
        }
        m
    }

    /// Apply one event; `store` is its index in the event store.
    pub fn apply(&mut self, ev: &Event, store: u32) {
        self.apply_named(ev, store, None)
    }

    /// [`Model::apply`] for an event whose kind this reader does not know (`other`):
    /// `kind` is the name the line carried, shown instead of "other".
    pub fn apply_named(&mut self, ev: &Event, store: u32, raw_kind: Option<&str>) {
        let seq = self.events.len() as Seq;
        let ts = ev.ts_ns();
        self.first_ts = Some(self.first_ts.map_or(ts, |f| f.min(ts)));
        self.last_ts = self.last_ts.max(ts);
        let (source, pid, kind) = match ev {
            Event::Runtime(e) => (Source::Runtime, e.pid, e.kind.name()),
            Event::Kernel(e) => (Source::Kernel, e.tgid, e.kind.name()),
        };
        let kind = self.strings.intern(raw_kind.unwrap_or(kind));
        self.counts[source as usize] += 1;
        self.events.push(EvMeta {
            ts,
            store,
            lane: None,
            row: None,
            pid,
            kind,
            source,
            stage: None,
        });
        let mut pos = self.by_time.len();
        while pos > 0 && self.events[self.by_time[pos - 1] as usize].ts > ts {
            pos -= 1;
        }
        self.by_time.insert(pos, seq);
        let (lane, row) = match ev {
            Event::Runtime(e) => self.apply_runtime(seq, e),
            Event::Kernel(e) => self.apply_kernel(seq, e),
        };
        let stage = match ev {
            Event::Runtime(e) => Some(e.stage),
            Event::Kernel(_) => lane.and_then(|l| self.lanes[l as usize].role),
        };
        let meta = &mut self.events[seq as usize];
        meta.lane = lane;
        meta.row = row;
        meta.stage = stage;
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn lane(&self, id: LaneId) -> &Lane {
        &self.lanes[id as usize]
    }

    pub fn row(&self, id: RowId) -> &Row {
        &self.rows[id as usize]
    }

    pub fn str(&self, s: Sym) -> &str {
        self.strings.get(s)
    }

    /// The lane's title as of `at` (stage name, or comm for unknown processes).
    pub fn lane_title(&self, id: LaneId, at: Seq) -> String {
        let lane = self.lane(id);
        lane.title(self.str(lane.name_at(at)))
    }

    /// What init runs now, once it has exec'd the container's program: its process name
    /// (`sh`; busybox and others rename themselves as they go).
    pub fn program(&self, id: LaneId, at: Seq) -> Option<&str> {
        let l = self.lane(id);
        if l.role != Some(Stage::Init) {
            return None;
        }
        l.exec_at(at)?;
        Some(self.str(l.name_at(at))).filter(|n| !n.is_empty())
    }

    /// Rows visible once `at` events are shown: a prefix of `order` when events were
    /// applied in time order (replay sorts them), all rows otherwise.
    pub fn visible_rows(&self, at: Seq) -> usize {
        if at as usize >= self.events.len() {
            return self.order.len();
        }
        self.order
            .partition_point(|&r| self.rows[r as usize].seq < at)
    }

    /// Position of a row in `order`.
    pub fn row_position(&self, id: RowId) -> usize {
        let key = self.rows[id as usize].key();
        self.order
            .partition_point(|&r| self.rows[r as usize].key() < key)
    }

    /// Lost counts as of `at`.
    pub fn lost_at(&self, at: Seq) -> Lost {
        lane::last_before(&self.lost_log, at)
            .copied()
            .unwrap_or_default()
    }

    /// Time of the last event shown at `at`.
    pub fn ts_at(&self, at: Seq) -> u64 {
        if at == 0 {
            return self.first_ts.unwrap_or(0);
        }
        let i = (at as usize).min(self.events.len()) - 1;
        self.events
            .get(i)
            .map_or(0, |e| e.ts)
            .max(self.first_ts.unwrap_or(0))
    }

    /// Group-row counts as of `at` (a group grows over several events).
    pub fn group_counts_at(&self, id: RowId, at: Seq) -> [u32; GROUP_KINDS.len()] {
        let row = self.row(id);
        let RowKind::Group { last, counts } = row.kind else {
            return [0; GROUP_KINDS.len()];
        };
        if last < at {
            return counts;
        }
        let mut partial = [0; GROUP_KINDS.len()];
        for seq in row.seq..at.min(self.events.len() as Seq) {
            let meta = &self.events[seq as usize];
            if meta.row == Some(id) {
                if let Some(i) = GROUP_KINDS.iter().position(|k| *k == self.str(meta.kind)) {
                    partial[i] += 1;
                }
            }
        }
        partial
    }

    /// Record a verdict about a process (from `diagnose`; not part of the event fold).
    pub fn set_diagnosis(&mut self, lane: LaneId, diagnosis: Option<Diagnosis>) {
        let stuck = diagnosis.as_ref().is_some_and(|d| d.stuck);
        if let Some(l) = self.lanes.get_mut(lane as usize) {
            l.diagnosis = diagnosis;
            self.stuck.retain(|&x| x != lane);
            if stuck {
                self.stuck.push(lane);
            }
        }
    }

    /// The current lane of a host pid.
    pub fn lane_of_pid(&self, pid: i32) -> Option<LaneId> {
        self.by_pid.get(&pid).copied()
    }

    // ---- building blocks for the fold ----

    /// The lane for `pid` at time `ts`. `birth` events (clone targets, stage_start) start a
    /// new lane when the previous process with that pid has already exited.
    fn lane_for(&mut self, pid: i32, ts: u64, seq: Seq, birth: bool) -> LaneId {
        if let Some(&id) = self.by_pid.get(&pid) {
            let lane = &mut self.lanes[id as usize];
            let gone = lane
                .exit
                .is_some_and(|e| e.ts < ts && (birth || e.by_kernel));
            if !gone {
                if (ts, seq) < (lane.start_ts, lane.start_seq) {
                    lane.start_ts = ts;
                    lane.start_seq = seq;
                }
                lane.last_ts = lane.last_ts.max(ts);
                let b = id as usize / LANE_BUCKET;
                self.lane_bucket_start[b] = self.lane_bucket_start[b].min(ts);
                return id;
            }
        }
        self.new_lane(pid, ts, seq)
    }

    fn new_lane(&mut self, pid: i32, ts: u64, seq: Seq) -> LaneId {
        let id = self.lanes.len() as LaneId;
        self.lanes.push(Lane::new(pid, ts, seq));
        self.by_pid.insert(pid, id);
        let b = id as usize / LANE_BUCKET;
        if b == self.lane_bucket_end.len() {
            self.lane_bucket_end.push(u64::MAX);
            self.lane_bucket_start.push(ts);
        }
        self.lane_bucket_end[b] = u64::MAX;
        self.lane_bucket_start[b] = self.lane_bucket_start[b].min(ts);
        id
    }

    /// A lane got its exit: refresh its bucket's latest end.
    fn lane_exited(&mut self, lane: LaneId) {
        let b = lane as usize / LANE_BUCKET;
        let end = self.lanes[b * LANE_BUCKET..((b + 1) * LANE_BUCKET).min(self.lanes.len())]
            .iter()
            .map(|l| l.exit.map_or(u64::MAX, |x| x.ts))
            .max()
            .unwrap_or(0);
        self.lane_bucket_end[b] = end;
    }

    /// Lanes (ascending ids) alive at some time in `[t0, t1]`, as of `at`.
    pub fn lanes_overlapping(&self, t0: u64, t1: u64, at: Seq) -> Vec<LaneId> {
        let mut out = Vec::new();
        for (b, &end) in self.lane_bucket_end.iter().enumerate() {
            if end < t0 || self.lane_bucket_start[b] > t1 {
                continue;
            }
            let lo = b * LANE_BUCKET;
            let hi = (lo + LANE_BUCKET).min(self.lanes.len());
            for id in lo..hi {
                let l = &self.lanes[id];
                if l.visible_at(at) && l.start_ts <= t1 && l.exit_at(at).is_none_or(|x| x.ts >= t0)
                {
                    out.push(id as LaneId);
                }
            }
        }
        out
    }

    fn boot_for(&mut self, container: &str, exec_id: Option<&str>) -> BootId {
        let c = self.strings.intern(container);
        let x = self.strings.intern(exec_id.unwrap_or(""));
        if let Some(&b) = self.boot_index.get(&(c, x)) {
            return b;
        }
        let id = self.boots.len() as BootId;
        self.boots.push(Boot {
            container: c,
            exec_id: x,
            by_stage: HashMap::new(),
            state: Vec::new(),
        });
        self.boot_index.insert((c, x), id);
        id
    }

    fn set_role(&mut self, lane: LaneId, stage: Stage, runtime: RuntimeKind) {
        if stage == Stage::Unknown {
            return;
        }
        let l = &mut self.lanes[lane as usize];
        l.role = Some(stage);
        l.runtime.get_or_insert(runtime);
        if let Some(b) = l.boot {
            self.boots[b as usize].by_stage.insert(stage, lane);
        }
    }

    fn add_row(&mut self, row: Row) -> RowId {
        let id = self.rows.len() as RowId;
        let key = row.key();
        if let Some(l) = row.lane {
            self.lanes[l as usize].rows.push(id);
        }
        self.rows.push(row);
        let mut pos = self.order.len();
        while pos > 0 && self.rows[self.order[pos - 1] as usize].key() > key {
            pos -= 1;
        }
        self.order.insert(pos, id);
        id
    }

    /// A row gained an earlier event: move it to its new place in time.
    fn move_row_earlier(&mut self, id: RowId, ts: u64, seq: Seq) {
        let row = &self.rows[id as usize];
        if (ts, seq) >= row.key() {
            return;
        }
        let pos = self.row_position(id);
        self.order.remove(pos);
        let row = &mut self.rows[id as usize];
        row.ts = ts;
        row.seq = seq;
        let key = row.key();
        let new_pos = self
            .order
            .partition_point(|&r| self.rows[r as usize].key() < key);
        self.order.insert(new_pos, id);
    }

    /// The lane's most recent row matching `pred` within [`JOIN_WINDOW_NS`] of `ts`: a
    /// step reported by both sources lands on one row.
    fn find_recent_row(&self, lane: LaneId, ts: u64, pred: impl Fn(&Row) -> bool) -> Option<RowId> {
        self.lanes[lane as usize]
            .rows
            .iter()
            .rev()
            .take(512)
            .copied()
            .find(|&r| {
                let row = &self.rows[r as usize];
                row.ts.abs_diff(ts) <= JOIN_WINDOW_NS && pred(row)
            })
    }

    fn add_lost(&mut self, seq: Seq, kernel: u64, runtime: u64) {
        self.lost.kernel += kernel;
        self.lost.runtime += runtime;
        self.lost_log.push((seq, self.lost));
    }

    /// The row just above where a row with key `(ts, seq)` would go.
    fn row_before(&self, ts: u64, seq: Seq) -> Option<RowId> {
        let mut pos = self.order.len();
        while pos > 0 && self.rows[self.order[pos - 1] as usize].key() > (ts, seq) {
            pos -= 1;
        }
        pos.checked_sub(1).map(|p| self.order[p])
    }
}

#[cfg(test)]
mod tests;
