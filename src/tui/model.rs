//! What the console shows: the engine's `State` (folded from events), probe
//! telemetry, and the console's own UI state. Rendering reads only this.

use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use super::theme::Theme;
use crate::engine::Sample;
use crate::event::{Event, EventKind, IncidentId};
use crate::state::{Incident, State};

/// How many events the activity feed keeps.
pub const FEED_LEN: usize = 500;
/// How many points each target's latency sparkline keeps.
pub const TREND_LEN: usize = 120;
/// Samples folded into one sparkline point (their maximum). At a 1 s probe
/// interval the sparkline moves every 5 s instead of every second, which is
/// most of what an idle console would otherwise write to the terminal.
pub const TREND_BUCKET: u32 = 5;

pub struct Model {
    pub state: State,
    pub telemetry: Telemetry,
    /// Recent events, oldest first (the feed shows them newest first).
    pub feed: VecDeque<Event>,
    pub meta: Meta,
    pub ui: UiState,
    pub themes: Vec<Theme>,
}

/// Facts about this run that are not events.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// "demo" or the config file path.
    pub mode: String,
    pub started_at: Option<Timestamp>,
    /// Targets that offer chaos, with their faults (the demo fleet).
    pub chaos: BTreeMap<String, Vec<String>>,
    /// Who approves from this console, e.g. `alice@ssh:10.0.0.7`.
    pub operator: String,
}

/// Probe samples: telemetry, never journaled.
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    /// Per target, the worst latency of each [`TREND_BUCKET`] samples in
    /// microseconds (loopback answers in well under 1 ms), oldest first.
    pub trend_us: HashMap<String, VecDeque<u64>>,
    /// Per target, the bucket being filled: its maximum so far and its sample count.
    open_bucket: HashMap<String, (u64, u32)>,
    pub last: HashMap<String, Sample>,
    pub cpu_percent: Option<f32>,
    pub memory_percent: Option<f32>,
}

impl Telemetry {
    pub fn record(&mut self, sample: Sample) {
        let us = u64::try_from(sample.latency.as_micros()).unwrap_or(u64::MAX);
        let bucket = self.open_bucket.entry(sample.target.clone()).or_default();
        *bucket = (bucket.0.max(us), bucket.1 + 1);
        if bucket.1 == TREND_BUCKET {
            let ring = self.trend_us.entry(sample.target.clone()).or_default();
            if ring.len() == TREND_LEN {
                ring.pop_front();
            }
            ring.push_back(bucket.0);
            *bucket = (0, 0);
        }
        if let Some(cpu) = sample.cpu_percent {
            self.cpu_percent = Some(cpu);
        }
        if let Some(mem) = sample.memory_percent {
            self.memory_percent = Some(mem);
        }
        self.last.insert(sample.target.clone(), sample);
    }

    pub fn last_latency(&self, target: &str) -> Option<Duration> {
        self.last.get(target).map(|s| s.latency)
    }
}

/// The panes that take focus, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    Targets,
    Feed,
    Incidents,
    Approvals,
}

impl Pane {
    pub const ALL: [Pane; 4] = [Pane::Targets, Pane::Feed, Pane::Incidents, Pane::Approvals];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modal {
    Help,
    /// The timeline of one incident; `scroll` lines down.
    Detail {
        incident: IncidentId,
        scroll: usize,
    },
    /// The faults a target offers, picked by number.
    Chaos {
        target: String,
    },
    /// Typing a filter for the feed and the incident list.
    Filter,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiState {
    pub focus: Pane,
    /// Selected row per pane (0 = top).
    pub selected: HashMap<Pane, usize>,
    /// Modals open, the last on top.
    pub modals: Vec<Modal>,
    pub filter: String,
    pub theme: usize,
    /// A short message for the status line ("approved #7", "no pending fix").
    pub flash: Option<String>,
}

impl Default for UiState {
    fn default() -> Self {
        UiState {
            focus: Pane::Targets,
            selected: HashMap::new(),
            modals: Vec::new(),
            filter: String::new(),
            theme: 0,
            flash: None,
        }
    }
}

impl UiState {
    pub fn selected(&self, pane: Pane) -> usize {
        self.selected.get(&pane).copied().unwrap_or(0)
    }
}

impl Model {
    pub fn new(state: State, meta: Meta, themes: Vec<Theme>) -> Model {
        let themes = if themes.is_empty() {
            vec![Theme::dark()]
        } else {
            themes
        };
        Model {
            state,
            telemetry: Telemetry::default(),
            feed: VecDeque::new(),
            meta,
            ui: UiState::default(),
            themes,
        }
    }

    /// Folds one engine event into the state and the feed.
    pub fn apply(&mut self, event: Event) {
        self.state.apply(&event);
        if let EventKind::EngineStarted { chaos, .. } = &event.kind {
            self.meta.chaos = chaos.clone();
            // The selection starts on the first target that offers chaos, so `c` works at once.
            if !self.ui.selected.contains_key(&Pane::Targets)
                && let Some(i) = self.targets().iter().position(|t| chaos.contains_key(*t))
            {
                self.ui.selected.insert(Pane::Targets, i);
            }
        }
        if self.feed.len() == FEED_LEN {
            self.feed.pop_front();
        }
        self.feed.push_back(event);
    }

    pub fn theme(&self) -> &Theme {
        &self.themes[self.ui.theme % self.themes.len()]
    }

    /// Target names in display order.
    pub fn targets(&self) -> Vec<&str> {
        self.state.targets.keys().map(String::as_str).collect()
    }

    /// Incidents for the list, newest first, matching the filter.
    pub fn incidents(&self) -> Vec<&Incident> {
        let filter = self.ui.filter.to_lowercase();
        self.state
            .incidents
            .values()
            .rev()
            .filter(|i| filter.is_empty() || incident_matches(i, &filter))
            .collect()
    }

    /// Feed events, newest first, matching the filter.
    pub fn feed(&self) -> Vec<&Event> {
        let filter = self.ui.filter.to_lowercase();
        self.feed
            .iter()
            .rev()
            .filter(|e| filter.is_empty() || event_matches(e, &filter, &self.state))
            .collect()
    }

    pub fn selected_target(&self) -> Option<&str> {
        self.targets().get(self.ui.selected(Pane::Targets)).copied()
    }

    pub fn selected_incident(&self) -> Option<&Incident> {
        match self.ui.focus {
            Pane::Approvals => self
                .state
                .approval_queue()
                .get(self.ui.selected(Pane::Approvals))
                .copied(),
            _ => self
                .incidents()
                .get(self.ui.selected(Pane::Incidents))
                .copied(),
        }
    }
}

fn incident_matches(i: &Incident, filter: &str) -> bool {
    [
        i.target.as_str(),
        i.signature.as_str(),
        i.status.label(),
        i.playbook.as_deref().unwrap_or(""),
    ]
    .iter()
    .any(|f| f.to_lowercase().contains(filter))
        || i.id.to_string().contains(filter)
}

fn event_matches(e: &Event, filter: &str, state: &State) -> bool {
    let line = serde_json::to_string(&e.kind)
        .unwrap_or_default()
        .to_lowercase();
    line.contains(filter)
        || e.kind
            .incident_id()
            .and_then(|id| state.incidents.get(&id))
            .is_some_and(|i| i.target.to_lowercase().contains(filter))
}
