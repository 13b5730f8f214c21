//! What the console shows: the engine's `State` (folded from events), probe
//! telemetry, and the console's own UI state. Rendering reads only this.

use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use super::Glyphs;
use super::listing::{Sort, StatusFilter};
use super::log_ring::LogRing;
use super::theme::Theme;
use crate::engine::Sample;
use crate::event::{Event, EventKind, IncidentId};
use crate::remote::LinkStatus;
use crate::state::{Incident, State, Status};

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
    /// The characters frames, bars and charts are drawn with, for this terminal.
    pub glyphs: Glyphs,
    /// Attached to a daemon: whether it answers, and who else is attached.
    pub link: Option<LinkStatus>,
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
    /// Where the events are journaled (none when attached: the daemon's is).
    pub journal: Option<PathBuf>,
    /// Where this console logs (a daily file in this directory).
    pub log_dir: Option<PathBuf>,
    /// The recent warnings and errors of this process, for the `L` overlay.
    pub recent_log: LogRing,
    /// Where the theme picked with `t` is remembered; none: not remembered.
    pub theme_file: Option<PathBuf>,
    /// Where `e` writes incident exports.
    pub export_dir: Option<PathBuf>,
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
    /// "Approve restart on orders-db?": a second key before a fix runs or is turned down.
    Confirm {
        incident: IncidentId,
        verdict: Verdict,
    },
    /// Typing the note an incident is closed with by hand.
    Note {
        incident: IncidentId,
        text: String,
    },
    /// Recent warnings and errors from the log; `scroll` lines down.
    Log {
        scroll: usize,
    },
}

/// What the operator is about to say to a pending fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject,
    /// Send an escalated or rejected incident through the planner again.
    Retry,
}

/// What the operator picked in a pane: the item, never its row, so a list that
/// grows under the cursor keeps acting on what was picked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pick {
    /// A target, by name (the targets pane).
    Target(String),
    /// An event of the activity feed, by `seq`: a row that stays put while the
    /// incident it is about gathers newer events above it.
    Event(u64),
    /// An incident (the incident list and the approval queue).
    Incident(IncidentId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiState {
    pub focus: Pane,
    /// The picked item per pane; none picked yet means the top row.
    pub selected: HashMap<Pane, Pick>,
    /// Modals open, the last on top.
    pub modals: Vec<Modal>,
    pub filter: String,
    /// The incident list's order and the statuses it shows.
    pub sort: Sort,
    pub status_filter: StatusFilter,
    /// A frozen feed shows events up to this seq and stays still; none: it
    /// follows the newest.
    pub feed_frozen_at: Option<u64>,
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
            sort: Sort::default(),
            status_filter: StatusFilter::default(),
            feed_frozen_at: None,
            theme: 0,
            flash: None,
        }
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
            glyphs: Glyphs::default(),
            link: None,
        }
    }

    /// Folds one engine event into the state and the feed.
    pub fn apply(&mut self, event: Event) {
        self.state.apply(&event);
        if let EventKind::EngineStarted { chaos, .. } = &event.kind {
            self.meta.chaos = chaos.clone();
            // An attached console's uptime is its daemon's, whose last start this is.
            if self.link.is_some() {
                self.meta.started_at = Some(event.ts);
            }
            // The selection starts on the first target that offers chaos, so `c` works at once.
            if !self.ui.selected.contains_key(&Pane::Targets)
                && let Some(t) = self.targets().into_iter().find(|t| chaos.contains_key(*t))
            {
                self.ui
                    .selected
                    .insert(Pane::Targets, Pick::Target(t.to_string()));
            }
        }
        if self.feed.len() == FEED_LEN {
            self.feed.pop_front();
        }
        self.feed.push_back(event);
        self.settle_selection();
    }

    /// Keeps every pane's selection on an item it lists. A picked item that left
    /// its list (resolved out of the queue, filtered out) gives way to the row
    /// that took its place, and the focused pane says so in the status line.
    /// The focused pane's top row is picked as soon as there is one, so what is
    /// highlighted is what Enter and `a` act on, however many rows arrive later.
    pub fn settle_selection(&mut self) {
        for pane in Pane::ALL {
            let picked = self.ui.selected.get(&pane);
            if picked.is_none_or(|p| self.lists(pane, p)) {
                if picked.is_none() && pane == self.ui.focus {
                    self.select_row(pane, 0);
                }
                continue;
            }
            let gone = self.ui.selected.remove(&pane);
            let row = gone.as_ref().map_or(0, |g| self.row_of(pane, g));
            self.select_row(pane, row);
            if pane != self.ui.focus || pane == Pane::Feed {
                continue;
            }
            let (Some(gone), Some(now)) = (gone, self.ui.selected.get(&pane)) else {
                continue;
            };
            let place = match pane {
                Pane::Approvals => "left the approval queue",
                Pane::Targets => "left the fleet",
                _ if !self.ui.filter.is_empty() => "does not match the filter",
                Pane::Incidents if self.ui.status_filter != StatusFilter::All => {
                    "left the status filter"
                }
                _ => "left the list",
            };
            self.ui.flash = Some(format!("{} {place}; selected {}", name(&gone), name(now)));
        }
    }

    /// Whether `pane` lists `pick`, without building the list: this runs on every event.
    fn lists(&self, pane: Pane, pick: &Pick) -> bool {
        let filter = self.ui.filter.to_lowercase();
        match (pane, pick) {
            (Pane::Targets, Pick::Target(t)) => self.state.targets.contains_key(t),
            (Pane::Feed, Pick::Event(seq)) => self
                .feed
                .binary_search_by_key(seq, |e| e.seq)
                .is_ok_and(|i| {
                    self.ui.feed_frozen_at.is_none_or(|at| *seq <= at)
                        && (filter.is_empty() || event_matches(&self.feed[i], &filter, &self.state))
                }),
            (Pane::Incidents, Pick::Incident(id)) => {
                self.state.incidents.get(id).is_some_and(|i| {
                    self.ui.status_filter.admits(i.status)
                        && (filter.is_empty() || incident_matches(i, &filter))
                })
            }
            (Pane::Approvals, Pick::Incident(id)) => {
                self.state
                    .incidents
                    .get(id)
                    .is_some_and(|i| i.status == Status::AwaitingApproval)
                    && self.state.approval_queue().iter().any(|i| i.id == *id)
            }
            _ => false,
        }
    }

    /// The rows of `pane` as picks, in display order.
    fn picks(&self, pane: Pane) -> Vec<Pick> {
        match pane {
            Pane::Targets => self
                .targets()
                .into_iter()
                .map(|t| Pick::Target(t.to_string()))
                .collect(),
            Pane::Feed => self.feed().iter().map(|e| Pick::Event(e.seq)).collect(),
            Pane::Incidents => self
                .incidents()
                .iter()
                .map(|i| Pick::Incident(i.id))
                .collect(),
            Pane::Approvals => self
                .state
                .approval_queue()
                .iter()
                .map(|i| Pick::Incident(i.id))
                .collect(),
        }
    }

    /// The row `pick` sits on in `pane`; for an item no longer listed, the row
    /// that took its place (the next one down, else the last).
    fn row_of(&self, pane: Pane, pick: &Pick) -> usize {
        if let (Pane::Incidents, Pick::Incident(id)) = (pane, pick)
            && let Some(gone) = self.state.incidents.get(id)
        {
            // Wherever the sort puts it: its row, or the first that sorts after it.
            let list = self.incidents();
            return list
                .iter()
                .position(|i| self.ui.sort.cmp(i, gone).is_ge())
                .unwrap_or(list.len().saturating_sub(1));
        }
        let picks = self.picks(pane);
        // The feed and the incident list show the newest first; the others sort up.
        let newest_first = matches!(pane, Pane::Feed | Pane::Incidents);
        picks
            .iter()
            .position(|p| match newest_first {
                true => p <= pick,
                false => p >= pick,
            })
            .unwrap_or(picks.len().saturating_sub(1))
    }

    /// The selected row of `pane` (0 when it lists nothing).
    pub fn selected_row(&self, pane: Pane) -> usize {
        self.ui
            .selected
            .get(&pane)
            .map_or(0, |pick| self.row_of(pane, pick))
    }

    /// Picks the item on `row` of `pane` (clamped to the last); nothing when it lists nothing.
    pub fn select_row(&mut self, pane: Pane, row: usize) {
        let mut picks = self.picks(pane);
        if picks.is_empty() {
            self.ui.selected.remove(&pane);
            return;
        }
        let row = row.min(picks.len() - 1);
        self.ui.selected.insert(pane, picks.swap_remove(row));
    }

    pub fn theme(&self) -> &Theme {
        &self.themes[self.ui.theme % self.themes.len()]
    }

    /// Target names in display order.
    pub fn targets(&self) -> Vec<&str> {
        self.state.targets.keys().map(String::as_str).collect()
    }

    /// Incidents for the list, in the chosen order, of the chosen statuses,
    /// matching the filter.
    pub fn incidents(&self) -> Vec<&Incident> {
        let filter = self.ui.filter.to_lowercase();
        let mut list: Vec<&Incident> = self
            .state
            .incidents
            .values()
            .rev()
            .filter(|i| self.ui.status_filter.admits(i.status))
            .filter(|i| filter.is_empty() || incident_matches(i, &filter))
            .collect();
        if self.ui.sort != Sort::Newest {
            list.sort_by(|a, b| self.ui.sort.cmp(a, b));
        }
        under_their_roots(list)
    }

    /// Feed events, newest first (up to where it was frozen), matching the filter.
    pub fn feed(&self) -> Vec<&Event> {
        let filter = self.ui.filter.to_lowercase();
        let frozen = self.ui.feed_frozen_at.unwrap_or(u64::MAX);
        self.feed
            .iter()
            .rev()
            .skip_while(|e| e.seq > frozen)
            .filter(|e| filter.is_empty() || event_matches(e, &filter, &self.state))
            .collect()
    }

    /// Events that arrived since the feed was frozen (0 when it follows).
    pub fn feed_unseen(&self) -> usize {
        match self.ui.feed_frozen_at {
            Some(at) => self.feed.iter().rev().take_while(|e| e.seq > at).count(),
            None => 0,
        }
    }

    pub fn selected_target(&self) -> Option<&str> {
        self.targets()
            .get(self.selected_row(Pane::Targets))
            .copied()
    }

    /// The selected event of the feed.
    pub fn selected_event(&self) -> Option<&Event> {
        self.feed().get(self.selected_row(Pane::Feed)).copied()
    }

    /// The selected incident: the approval queue's when it has focus, else the list's.
    pub fn selected_incident(&self) -> Option<&Incident> {
        let pane = match self.ui.focus {
            Pane::Approvals => Pane::Approvals,
            _ => Pane::Incidents,
        };
        match self.ui.selected.get(&pane) {
            Some(Pick::Incident(id)) if self.lists(pane, &Pick::Incident(*id)) => {
                self.state.incidents.get(id)
            }
            _ if pane == Pane::Approvals => self.state.approval_queue().first().copied(),
            _ => self.incidents().first().copied(),
        }
    }
}

/// A pick as the status line names it: `#38`, `orders-db`, `event 12`.
fn name(pick: &Pick) -> String {
    match pick {
        Pick::Target(t) => t.clone(),
        Pick::Event(seq) => format!("event {seq}"),
        Pick::Incident(id) => id.to_string(),
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

/// `list` with each symptom moved right under its root, when the root is listed too.
fn under_their_roots(list: Vec<&Incident>) -> Vec<&Incident> {
    // Most frames have no symptom at all: nothing to build then.
    if list.iter().all(|i| i.root.is_none()) {
        return list;
    }
    let listed: std::collections::HashSet<IncidentId> = list.iter().map(|i| i.id).collect();
    let mut under: HashMap<IncidentId, Vec<&Incident>> = HashMap::new();
    let mut tops = Vec::with_capacity(list.len());
    for inc in list {
        match inc.root.filter(|r| listed.contains(r)) {
            Some(root) => under.entry(root).or_default().push(inc),
            None => tops.push(inc),
        }
    }
    let mut out = Vec::with_capacity(listed.len());
    for top in tops {
        out.push(top);
        out.extend(under.remove(&top.id).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::testkit::{self, awaiting};

    fn model() -> Model {
        testkit::started()
    }

    fn apply(m: &mut Model, kind: EventKind) {
        testkit::push(m, kind);
    }

    fn picked(m: &Model, pane: Pane) -> Option<&Pick> {
        m.ui.selected.get(&pane)
    }

    #[test]
    fn new_incidents_above_the_selection_leave_it_on_its_incident() {
        let mut m = model();
        for id in 1..=3 {
            awaiting(&mut m, id, "orders-db");
        }
        m.ui.focus = Pane::Incidents;
        m.select_row(Pane::Incidents, 1);
        assert_eq!(m.selected_incident().map(|i| i.id), Some(IncidentId(2)));

        for id in 4..=6 {
            awaiting(&mut m, id, "edge-proxy");
        }
        assert_eq!(m.selected_incident().map(|i| i.id), Some(IncidentId(2)));
        // Newest first: #6 #5 #4 #3 #2, so the cursor moved down with it.
        assert_eq!(m.selected_row(Pane::Incidents), 4);
        assert_eq!(m.ui.flash, None, "nothing left the list");
    }

    #[test]
    fn the_focused_top_row_is_picked_so_arrivals_do_not_replace_it() {
        let mut m = model();
        m.ui.focus = Pane::Incidents;
        awaiting(&mut m, 1, "orders-db");
        awaiting(&mut m, 2, "orders-db");
        assert_eq!(m.selected_incident().map(|i| i.id), Some(IncidentId(1)));
    }

    #[test]
    fn new_events_keep_the_feed_selection_on_its_event() {
        let mut m = model();
        awaiting(&mut m, 1, "orders-db");
        m.ui.focus = Pane::Feed;
        // Newest first: the analysis of #1, then its detection.
        m.select_row(Pane::Feed, 1);
        let before = m.selected_event().map(|e| e.seq);
        awaiting(&mut m, 2, "edge-proxy");
        assert_eq!(m.selected_event().map(|e| e.seq), before);
        assert_eq!(m.selected_row(Pane::Feed), 3);
    }

    #[test]
    fn an_approval_that_leaves_the_queue_gives_way_to_its_neighbour_and_says_so() {
        let mut m = model();
        for id in 1..=3 {
            awaiting(&mut m, id, "orders-db");
        }
        m.ui.focus = Pane::Approvals;
        m.select_row(Pane::Approvals, 1);
        apply(
            &mut m,
            EventKind::ApprovalGranted {
                incident_id: IncidentId(2),
                by: "bob".into(),
                analyst: None,
            },
        );
        // Oldest first: #3 took #2's place.
        assert_eq!(
            picked(&m, Pane::Approvals),
            Some(&Pick::Incident(IncidentId(3)))
        );
        assert_eq!(m.selected_incident().map(|i| i.id), Some(IncidentId(3)));
        assert_eq!(
            m.ui.flash.as_deref(),
            Some("#2 left the approval queue; selected #3")
        );
    }

    #[test]
    fn the_last_approval_leaving_the_queue_gives_way_to_the_one_above() {
        let mut m = model();
        awaiting(&mut m, 1, "orders-db");
        awaiting(&mut m, 2, "orders-db");
        m.ui.focus = Pane::Approvals;
        m.select_row(Pane::Approvals, 1);
        apply(
            &mut m,
            EventKind::ApprovalRejected {
                incident_id: IncidentId(2),
                by: "bob".into(),
            },
        );
        assert_eq!(
            picked(&m, Pane::Approvals),
            Some(&Pick::Incident(IncidentId(1)))
        );
    }

    #[test]
    fn an_emptied_queue_picks_nothing() {
        let mut m = model();
        awaiting(&mut m, 1, "orders-db");
        m.ui.focus = Pane::Approvals;
        apply(
            &mut m,
            EventKind::ApprovalGranted {
                incident_id: IncidentId(1),
                by: "bob".into(),
                analyst: None,
            },
        );
        assert_eq!(picked(&m, Pane::Approvals), None);
        assert!(m.selected_incident().is_none());
    }

    #[test]
    fn an_incident_filtered_out_gives_way_to_the_next_one_down() {
        let mut m = model();
        awaiting(&mut m, 1, "orders-db");
        awaiting(&mut m, 2, "edge-proxy");
        awaiting(&mut m, 3, "orders-db");
        m.ui.focus = Pane::Incidents;
        m.select_row(Pane::Incidents, 1);
        m.ui.filter = "orders".into();
        m.settle_selection();
        assert_eq!(m.selected_incident().map(|i| i.id), Some(IncidentId(1)));
        assert_eq!(
            m.ui.flash.as_deref(),
            Some("#2 does not match the filter; selected #1")
        );
    }

    #[test]
    fn the_targets_selection_is_a_name() {
        let mut m = model();
        m.select_row(Pane::Targets, 1);
        assert_eq!(
            picked(&m, Pane::Targets),
            Some(&Pick::Target("orders-db".into()))
        );
        apply(
            &mut m,
            EventKind::EngineStarted {
                version: "0".into(),
                targets: vec!["api".into(), "edge-proxy".into(), "orders-db".into()],
                playbooks: vec![],
                dry_run: false,
                chaos: Default::default(),
            },
        );
        assert_eq!(m.selected_target(), Some("orders-db"));
    }
}
