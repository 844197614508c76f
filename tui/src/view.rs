//! What the screen shows and how keys and the mouse change it: the cursor (how many events
//! are shown), the selection, the focused pane, filters, search, playback. Pure state:
//! no terminal here, so every key can be tested.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use initscope_runtime::events::schema::Stage;
use ratatui::layout::Rect;

use crate::model::{Model, RowId, Seq, Source, Sym};
use crate::procinfo::ProcInfo;
use crate::session::Session;
use crate::ui::theme::Theme;

/// `--stuck-after` as given on the command line (default 2 s), for views made later.
static STUCK_AFTER_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(2000);

/// Set the threshold new views start with (`--stuck-after`).
pub fn set_default_stuck_after(d: Duration) {
    STUCK_AFTER_MS.store(
        d.as_millis().min(u64::MAX as u128) as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Live,
    Replay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    Diagram,
    Events,
    Details,
    Namespaces,
}

impl Pane {
    const ALL: [Pane; 4] = [Pane::Diagram, Pane::Events, Pane::Details, Pane::Namespaces];
    pub fn title(self) -> &'static str {
        match self {
            Pane::Diagram => "diagram",
            Pane::Events => "events",
            Pane::Details => "details",
            Pane::Namespaces => "namespaces",
        }
    }
}

/// Replay speeds in events per second.
pub const SPEEDS: [u32; 8] = [1, 2, 4, 8, 16, 32, 100, 1000];

/// What the event list hides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub hide_sources: HashSet<Source>,
    pub hide_stages: HashSet<Option<Stage>>,
    pub hide_kinds: HashSet<Sym>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.hide_sources.is_empty() && self.hide_stages.is_empty() && self.hide_kinds.is_empty()
    }
    pub fn passes(&self, m: &Model, seq: Seq) -> bool {
        let e = &m.events[seq as usize];
        !self.hide_sources.contains(&e.source)
            && !self.hide_stages.contains(&e.stage)
            && !self.hide_kinds.contains(&e.kind)
    }
}

/// One line of the filter popup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterItem {
    Source(Source),
    Stage(Option<Stage>),
    Kind(Sym),
}

/// Screen geometry from the last frame, for the mouse.
#[derive(Debug, Clone, Default)]
pub struct Hits {
    pub panes: Vec<(Pane, Rect)>,
    /// Screen row → diagram row.
    pub diagram_rows: Vec<(u16, RowId)>,
    /// Screen row → event.
    pub event_rows: Vec<(u16, Seq)>,
    /// Lanes the diagram shows, left to right (the namespaces pane follows them).
    pub diagram_lanes: Vec<crate::model::LaneId>,
}

pub enum Action {
    None,
    Quit,
    Export,
    /// Send SIGCONT to a stage stopped at a pause point.
    Continue(i32),
    /// Hold new live events back from the screen (true) or let them through (false).
    PauseLive(bool),
}

pub struct View {
    pub mode: Mode,
    pub theme: Theme,
    /// `replay FILE`, `demo`, …
    pub title: String,
    /// One line per attached source ("runtime: socket …").
    pub sources: Vec<String>,
    /// Events shown in replay.
    pub cursor: Seq,
    pub live_paused: bool,
    pub playing: bool,
    pub speed: usize,
    pub next_step: Option<Instant>,
    pub focus: Pane,
    /// The pane in the bottom slot on small screens.
    pub bottom: Pane,
    pub zoom: bool,
    pub help: bool,
    /// The selected event; `follow` keeps it on the newest one.
    pub sel: Option<Seq>,
    pub follow: bool,
    pub diagram_top: usize,
    pub events_top: usize,
    pub details_scroll: u16,
    pub ns_scroll: usize,
    pub filter: Filter,
    pub filter_open: bool,
    pub filter_pos: usize,
    pub filter_items: Vec<FilterItem>,
    filtered: Option<(usize, Vec<Seq>)>,
    pub search_input: Option<String>,
    pub search: String,
    pub message: Option<(String, Instant)>,
    pub hits: Hits,
    /// /proc facts about the selected process (live only; gathered by the app loop).
    pub procinfo: Option<ProcInfo>,
    /// Started at (for the elapsed time of live sessions).
    pub started: Instant,
    /// No progress for this long turns a stage red.
    pub stuck_after: Duration,
}

impl View {
    pub fn new(mode: Mode, title: impl Into<String>) -> View {
        View {
            mode,
            theme: Theme::from_env(),
            title: title.into(),
            sources: Vec::new(),
            cursor: 0,
            live_paused: false,
            playing: false,
            speed: 2,
            next_step: None,
            focus: Pane::Diagram,
            bottom: Pane::Details,
            zoom: false,
            help: false,
            sel: None,
            follow: true,
            diagram_top: 0,
            events_top: 0,
            details_scroll: 0,
            ns_scroll: 0,
            filter: Filter::default(),
            filter_open: false,
            filter_pos: 0,
            filter_items: Vec::new(),
            filtered: None,
            search_input: None,
            search: String::new(),
            message: None,
            hits: Hits::default(),
            procinfo: None,
            started: Instant::now(),
            stuck_after: Duration::from_millis(
                STUCK_AFTER_MS.load(std::sync::atomic::Ordering::Relaxed),
            ),
        }
    }

    /// How many events are shown now.
    pub fn at(&self, m: &Model) -> Seq {
        match self.mode {
            // Live: everything folded (a paused session holds new events back unfolded).
            Mode::Live => m.len() as Seq,
            Mode::Replay => self.cursor.min(m.len() as Seq),
        }
    }

    /// "Now" on the events' clock: the time of the last event shown in replay, the
    /// monotonic clock live (so a running stage's time keeps counting).
    pub fn now_ns(&self, m: &Model) -> u64 {
        match self.mode {
            Mode::Replay => m.ts_at(self.at(m)),
            Mode::Live => nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
                .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
                .unwrap_or_else(|_| m.ts_at(self.at(m)))
                .max(m.last_ts),
        }
    }

    /// Call after events were added or the cursor moved: keeps a following selection on
    /// the newest shown event.
    pub fn sync(&mut self, m: &Model) {
        let at = self.at(m);
        if self.follow || self.sel.is_some_and(|s| s >= at) {
            self.sel = self.latest_shown(m, at);
        }
    }

    fn latest_shown(&self, m: &Model, at: Seq) -> Option<Seq> {
        let n = m.by_time.partition_point(|&s| s < at).min(m.by_time.len());
        // by_time is a prefix in replay; live shows everything.
        if at as usize >= m.len() {
            return m.by_time.last().copied();
        }
        m.by_time[..n].last().copied()
    }

    /// The event list: events shown at the cursor that pass the filter, in time order.
    pub fn event_list<'a>(&'a mut self, m: &'a Model) -> &'a [Seq] {
        let at = self.at(m);
        let base: &[Seq] = if at as usize >= m.len() {
            &m.by_time
        } else {
            &m.by_time[..m.by_time.partition_point(|&s| s < at)]
        };
        if self.filter.is_empty() {
            return base;
        }
        let stale = self.filtered.as_ref().is_none_or(|(n, _)| *n != base.len());
        if stale {
            let list = base
                .iter()
                .copied()
                .filter(|&s| self.filter.passes(m, s))
                .collect();
            self.filtered = Some((base.len(), list));
        }
        &self.filtered.as_ref().unwrap().1
    }

    pub fn selected_row(&self, m: &Model) -> Option<RowId> {
        let sel = self.sel?;
        if let Some(r) = m.events.get(sel as usize).and_then(|e| e.row) {
            return Some(r);
        }
        // An event without a row (a namespace snapshot): the row just before it.
        let at = self.at(m);
        let n = m.visible_rows(at);
        let ts = m.events.get(sel as usize)?.ts;
        let pos = m.order[..n].partition_point(|&r| m.row(r).ts <= ts);
        pos.checked_sub(1).map(|p| m.order[p])
    }

    pub fn flash(&mut self, msg: impl Into<String>) {
        self.message = Some((msg.into(), Instant::now()));
    }

    fn step(&mut self, m: &Model, delta: i64) {
        let n = m.len() as i64;
        self.cursor = (self.at(m) as i64 + delta).clamp(0, n) as Seq;
        self.follow = true;
        self.sync(m);
    }

    /// Replay: advance while playing. Returns true when something changed.
    pub fn tick(&mut self, m: &Model, now: Instant) -> bool {
        if self.mode != Mode::Replay || !self.playing {
            return false;
        }
        let period = Duration::from_secs_f64(1.0 / SPEEDS[self.speed] as f64);
        let due = *self.next_step.get_or_insert(now);
        if now < due {
            return false;
        }
        let steps = 1 + ((now - due).as_secs_f64() / period.as_secs_f64()) as i64;
        self.step(m, steps);
        self.next_step = Some(due + period * steps as u32);
        if self.cursor as usize >= m.len() {
            self.playing = false;
        }
        true
    }

    pub fn handle_key(&mut self, s: &Session, key: KeyEvent) -> Action {
        let m = &s.model;
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if let Some(input) = &mut self.search_input {
            match key.code {
                KeyCode::Enter => {
                    self.search = self.search_input.take().unwrap_or_default();
                    self.find(s, true);
                }
                KeyCode::Esc => self.search_input = None,
                KeyCode::Backspace => {
                    input.pop();
                }
                KeyCode::Char(c) => input.push(c),
                _ => {}
            }
            return Action::None;
        }
        if self.help {
            self.help = false;
            return if key.code == KeyCode::Char('q') {
                Action::Quit
            } else {
                Action::None
            };
        }
        if self.filter_open {
            self.filter_key(key);
            return Action::None;
        }
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Esc => self.zoom = false,
            KeyCode::Tab => self.cycle_focus(1),
            KeyCode::BackTab => self.cycle_focus(-1),
            KeyCode::Enter => {
                self.zoom = !self.zoom;
                self.details_scroll = 0;
            }
            KeyCode::Char(' ') => match self.mode {
                Mode::Replay => {
                    if self.at(m) as usize >= m.len() {
                        self.cursor = 0;
                    }
                    self.playing = !self.playing;
                    self.next_step = None;
                }
                Mode::Live => {
                    self.live_paused = !self.live_paused;
                    return Action::PauseLive(self.live_paused);
                }
            },
            KeyCode::Char('+') | KeyCode::Char(']') => {
                self.speed = (self.speed + 1).min(SPEEDS.len() - 1)
            }
            KeyCode::Char('-') | KeyCode::Char('[') => self.speed = self.speed.saturating_sub(1),
            KeyCode::Left if self.mode == Mode::Replay => self.step(m, -1),
            KeyCode::Right if self.mode == Mode::Replay => self.step(m, 1),
            KeyCode::Home if self.mode == Mode::Replay => self.step(m, -(m.len() as i64)),
            KeyCode::End if self.mode == Mode::Replay => self.step(m, m.len() as i64),
            KeyCode::Char('h') | KeyCode::Left => self.move_lane(m, -1),
            KeyCode::Char('l') | KeyCode::Right => self.move_lane(m, 1),
            KeyCode::Up | KeyCode::Char('k') => self.move_sel(m, -1),
            KeyCode::Down | KeyCode::Char('j') => self.move_sel(m, 1),
            KeyCode::PageUp => self.move_sel(m, -10),
            KeyCode::PageDown => self.move_sel(m, 10),
            KeyCode::Char('g') | KeyCode::Home => self.move_sel(m, i64::MIN / 2),
            KeyCode::Char('G') | KeyCode::End => {
                self.follow = true;
                self.sync(m);
            }
            KeyCode::Char('f') => self.open_filter(m),
            KeyCode::Char('/') => self.search_input = Some(String::new()),
            KeyCode::Char('n') => self.find(s, true),
            KeyCode::Char('N') => self.find(s, false),
            KeyCode::Char('e') => return Action::Export,
            KeyCode::Char('c') => {
                if let Some(pid) = self.paused_pid(m) {
                    return Action::Continue(pid);
                }
            }
            _ => {}
        }
        Action::None
    }

    /// The pid of the selected process if it stopped itself at a pause point — or, when
    /// the selection is elsewhere, of the one process held at a pause point.
    fn paused_pid(&self, m: &Model) -> Option<i32> {
        let at = self.at(m);
        let held = |l: &crate::model::Lane| {
            l.exit_at(at).is_none()
                && matches!(l.status_at(at), crate::model::Status::Paused { .. })
        };
        if let Some(lane) = self
            .sel
            .and_then(|s| m.events.get(s as usize))
            .and_then(|e| e.lane)
        {
            let l = m.lane(lane);
            if held(l) {
                return Some(l.pid);
            }
        }
        let mut all = m.lanes.iter().filter(|l| held(l));
        match (all.next(), all.next()) {
            (Some(l), None) => Some(l.pid),
            _ => None,
        }
    }

    fn cycle_focus(&mut self, d: i32) {
        let i = Pane::ALL.iter().position(|p| *p == self.focus).unwrap_or(0) as i32;
        self.focus = Pane::ALL[(i + d).rem_euclid(Pane::ALL.len() as i32) as usize];
        if self.focus != Pane::Diagram {
            self.bottom = self.focus;
        }
    }

    /// Up/down in the focused pane.
    fn move_sel(&mut self, m: &Model, d: i64) {
        match self.focus {
            Pane::Details => {
                self.details_scroll =
                    (self.details_scroll as i64 + d).clamp(0, u16::MAX as i64) as u16;
            }
            Pane::Namespaces => self.ns_scroll = (self.ns_scroll as i64 + d).max(0) as usize,
            Pane::Diagram => {
                let n = m.visible_rows(self.at(m));
                if n == 0 {
                    return;
                }
                let cur = self
                    .selected_row(m)
                    .map_or(n - 1, |r| m.row_position(r).min(n - 1));
                let pos = (cur as i64 + d).clamp(0, n as i64 - 1) as usize;
                self.sel = Some(m.row(m.order[pos]).seq);
                self.follow = pos + 1 == n && d > 0;
                self.details_scroll = 0;
            }
            Pane::Events => {
                let sel = self.sel;
                let list = self.event_list(m);
                if list.is_empty() {
                    return;
                }
                let cur = sel
                    .and_then(|s| list.iter().position(|&x| x == s))
                    .unwrap_or(list.len() - 1);
                let pos = (cur as i64 + d).clamp(0, list.len() as i64 - 1) as usize;
                let last = pos + 1 == list.len();
                self.sel = Some(list[pos]);
                self.follow = last && d > 0;
                self.details_scroll = 0;
            }
        }
    }

    /// h/l: the same row on the neighbouring lane is not a thing in a sequence diagram, so
    /// jump to the nearest event of the next lane to the left/right.
    fn move_lane(&mut self, m: &Model, d: i32) {
        let at = self.at(m);
        let Some(sel) = self.sel else { return };
        let Some(lane) = m.events[sel as usize].lane else {
            return;
        };
        let target = lane as i64 + d as i64;
        let lanes: Vec<u32> = (0..m.lanes.len() as u32)
            .filter(|&l| m.lane(l).visible_at(at))
            .collect();
        let Some(&next) = (if d > 0 {
            lanes.iter().find(|&&l| l as i64 >= target)
        } else {
            lanes.iter().rev().find(|&&l| l as i64 <= target)
        }) else {
            return;
        };
        // The next lane's event closest in time to the selection.
        let ts = m.events[sel as usize].ts;
        let rows = &m.lane(next).rows;
        let best = rows
            .iter()
            .map(|&r| m.row(r))
            .filter(|r| r.seq < at)
            .min_by_key(|r| r.ts.abs_diff(ts));
        if let Some(r) = best {
            self.sel = Some(r.seq);
            self.follow = false;
            self.details_scroll = 0;
        }
    }

    fn open_filter(&mut self, m: &Model) {
        let mut items = vec![
            FilterItem::Source(Source::Runtime),
            FilterItem::Source(Source::Kernel),
        ];
        let mut stages: Vec<Option<Stage>> = Vec::new();
        let mut kinds: Vec<Sym> = Vec::new();
        for e in &m.events {
            if !stages.contains(&e.stage) {
                stages.push(e.stage);
            }
            if !kinds.contains(&e.kind) {
                kinds.push(e.kind);
            }
        }
        stages.sort_by_key(|s| s.map_or(u8::MAX, |s| s as u8));
        kinds.sort_by_key(|k| m.str(*k).to_string());
        items.extend(stages.into_iter().map(FilterItem::Stage));
        items.extend(kinds.into_iter().map(FilterItem::Kind));
        self.filter_items = items;
        self.filter_pos = self.filter_pos.min(self.filter_items.len() - 1);
        self.filter_open = true;
    }

    fn filter_key(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('f') | KeyCode::Char('q') => {
                self.filter_open = false
            }
            KeyCode::Up | KeyCode::Char('k') => self.filter_pos = self.filter_pos.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.filter_pos =
                    (self.filter_pos + 1).min(self.filter_items.len().saturating_sub(1))
            }
            KeyCode::Char(' ') | KeyCode::Char('x') => {
                if let Some(item) = self.filter_items.get(self.filter_pos).copied() {
                    self.toggle_filter(item);
                }
            }
            KeyCode::Char('a') => self.filter = Filter::default(),
            _ => {}
        }
        self.filtered = None;
    }

    pub fn toggle_filter(&mut self, item: FilterItem) {
        fn flip<T: std::hash::Hash + Eq>(set: &mut HashSet<T>, v: T) {
            if !set.remove(&v) {
                set.insert(v);
            }
        }
        match item {
            FilterItem::Source(s) => flip(&mut self.filter.hide_sources, s),
            FilterItem::Stage(s) => flip(&mut self.filter.hide_stages, s),
            FilterItem::Kind(k) => flip(&mut self.filter.hide_kinds, k),
        }
        self.filtered = None;
    }

    /// The next (or previous) event in the list whose JSON contains the search text.
    fn find(&mut self, s: &Session, forward: bool) {
        if self.search.is_empty() {
            return;
        }
        let needle = self.search.to_lowercase();
        let sel = self.sel;
        let list = self.event_list(&s.model).to_vec();
        if list.is_empty() {
            return;
        }
        let cur = sel.and_then(|x| list.iter().position(|&y| y == x));
        let n = list.len();
        let start = cur.unwrap_or(if forward { n - 1 } else { 0 });
        for i in 1..=n {
            let pos = if forward {
                (start + i) % n
            } else {
                (start + n - i % n) % n
            };
            let seq = list[pos];
            let store = s.model.events[seq as usize].store;
            if s.store
                .raw(store)
                .is_some_and(|l| l.to_lowercase().contains(&needle))
            {
                self.sel = Some(seq);
                self.follow = false;
                self.details_scroll = 0;
                return;
            }
        }
        self.flash(format!("not found: {}", self.search));
    }

    pub fn handle_mouse(&mut self, s: &Session, ev: MouseEvent) {
        let m = &s.model;
        let pane = self
            .hits
            .panes
            .iter()
            .find(|(_, r)| r.contains((ev.column, ev.row).into()))
            .map(|(p, _)| *p);
        match ev.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                let Some(p) = pane else { return };
                self.focus = p;
                if p != Pane::Diagram {
                    self.bottom = p;
                }
                let hit = match p {
                    Pane::Diagram => self
                        .hits
                        .diagram_rows
                        .iter()
                        .find(|(y, _)| *y == ev.row)
                        .map(|(_, r)| m.row(*r).seq),
                    Pane::Events => self
                        .hits
                        .event_rows
                        .iter()
                        .find(|(y, _)| *y == ev.row)
                        .map(|(_, s)| *s),
                    _ => None,
                };
                if let Some(seq) = hit {
                    self.sel = Some(seq);
                    self.follow = false;
                    self.details_scroll = 0;
                }
            }
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let d = if ev.kind == MouseEventKind::ScrollUp {
                    -3
                } else {
                    3
                };
                if let Some(p) = pane {
                    let keep = self.focus;
                    self.focus = p;
                    self.move_sel(m, d);
                    self.focus = keep;
                }
            }
            _ => {}
        }
    }
}
