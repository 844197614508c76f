//! A session: the event store plus the model folded from it. Replay loads a recording
//! and folds it in time order; live sources push lines as they arrive.

use std::path::Path;

use crate::event::{is_other, raw_kind, Event};
use crate::model::{Model, Seq};
use crate::store::{EventStore, StoreError};

pub struct Session {
    pub store: EventStore,
    pub model: Model,
    /// Lines a live source sent that were not events.
    pub bad_lines: u64,
    /// While paused, live events are stored (and recorded) but not folded yet.
    paused: bool,
    backlog: Vec<(Event, u32, Option<String>)>,
}

/// Fold one event; a kind this reader does not know keeps the name its line carried.
fn fold(model: &mut Model, ev: &Event, idx: u32, line: &str) {
    let name = if is_other(ev) { raw_kind(line) } else { None };
    model.apply_named(ev, idx, name.as_deref());
}

impl Session {
    pub fn new(store: EventStore) -> Session {
        Session {
            store,
            model: Model::new(),
            bad_lines: 0,
            paused: false,
            backlog: Vec::new(),
        }
    }

    /// Load a recording and fold it in time order (both sources merged by `ts_ns`;
    /// lines with equal times keep their file order).
    pub fn load(path: &Path) -> Result<Session, StoreError> {
        let mut model = Model::new();
        let mut times = Vec::new();
        let mut sorted = true;
        let store = EventStore::open(path, |idx, ev, line| {
            let ts = ev.ts_ns();
            if times.last().is_some_and(|&(last, _)| ts < last) {
                sorted = false;
            }
            times.push((ts, idx));
            if sorted {
                fold(&mut model, &ev, idx, line);
            }
        })?;
        if !sorted {
            // Arrival order differs from time order (two sources): fold again, sorted.
            times.sort_by_key(|&(ts, idx)| (ts, idx));
            model = Model::new();
            for &(_, idx) in &times {
                let Some(line) = store.raw(idx) else { continue };
                if let Ok(ev) = Event::parse_line(&line) {
                    fold(&mut model, &ev, idx, &line);
                }
            }
        }
        Ok(Session {
            store,
            model,
            bad_lines: 0,
            paused: false,
            backlog: Vec::new(),
        })
    }

    /// A session over events held in memory, folded in time order.
    pub fn from_events(events: &[Event]) -> Session {
        let mut idx: Vec<usize> = (0..events.len()).collect();
        idx.sort_by_key(|&i| (events[i].ts_ns(), i));
        let mut store = EventStore::memory();
        for e in events {
            // Memory stores cannot fail to append.
            let _ = store.push(&e.to_json());
        }
        let mut model = Model::new();
        for i in idx {
            model.apply(&events[i], i as u32);
        }
        Session {
            store,
            model,
            bad_lines: 0,
            paused: false,
            backlog: Vec::new(),
        }
    }

    /// A line from a live source, in arrival order.
    pub fn push_line(&mut self, line: &str) {
        let line = line.trim_end();
        if line.is_empty() {
            return;
        }
        match Event::parse_line(line) {
            Ok(ev) => match self.store.push(line) {
                Ok(idx) if self.paused => {
                    let name = if is_other(&ev) { raw_kind(line) } else { None };
                    self.backlog.push((ev, idx, name))
                }
                Ok(idx) => fold(&mut self.model, &ev, idx, line),
                Err(_) => self.bad_lines += 1,
            },
            Err(_) => self.bad_lines += 1,
        }
    }

    /// Hold live events back from the model (the screen stands still), or fold what was
    /// held back, in arrival order, and carry on.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        if !paused {
            for (ev, idx, name) in std::mem::take(&mut self.backlog) {
                self.model.apply_named(&ev, idx, name.as_deref());
            }
        }
    }

    /// Events that arrived while paused.
    pub fn held_back(&self) -> usize {
        self.backlog.len()
    }

    /// The full event at a model position.
    pub fn event(&self, seq: Seq) -> Option<Event> {
        let meta = self.model.events.get(seq as usize)?;
        self.store.get(meta.store)
    }
}
