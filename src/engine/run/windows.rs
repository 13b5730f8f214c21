//! Time-driven changes no probe or command brings: maintenance windows that
//! begin and end, and silences that run out. Checked on every pulse of the
//! loop; when a window ends or a silence expires, the incidents it held get a
//! fresh decision, so no fix is silently dropped.

use jiff::tz::TimeZone;

use super::Runner;
use crate::config::Maintenance;
use crate::config::maintenance::covers;
use crate::engine::now_ms;
use crate::event::EventKind;

/// The config's windows and the zone their times are in (the host's).
pub(super) struct Windows {
    pub(super) all: Vec<Maintenance>,
    tz: TimeZone,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            all: Vec::new(),
            tz: TimeZone::system(),
        }
    }
}

impl Runner {
    pub(super) fn on_clock(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        let now = now_ms();
        // Windows in force now, by name (a name given twice is one window).
        let mut due: Vec<(String, Vec<String>, jiff::Timestamp)> = Vec::new();
        for w in &self.windows.all {
            if let Some((_, until)) = w.span_at(now, &self.windows.tz)
                && !due.iter().any(|(name, ..)| *name == w.name())
            {
                due.push((w.name(), w.targets.clone(), until));
            }
        }
        let (ended, silences_over): (Vec<(String, Vec<String>)>, Vec<String>) = {
            let state = self.state.read();
            let ended = (state.maintenance.iter())
                .filter(|(name, _)| !due.iter().any(|(n, ..)| n == *name))
                .map(|(name, w)| (name.clone(), w.targets.clone()))
                .collect();
            let over = (state.targets.iter())
                .filter(|(_, t)| t.silenced_until.is_some_and(|until| until <= now))
                .map(|(name, _)| name.clone())
                .collect();
            due.retain(|(name, ..)| !state.maintenance.contains_key(name));
            (ended, over)
        };
        for (window, targets, until) in due {
            self.emit(EventKind::MaintenanceStarted {
                window,
                targets,
                until,
            });
        }
        for (window, targets) in ended {
            self.emit(EventKind::MaintenanceEnded { window });
            self.replan_suppressed(|target| covers(&targets, target));
        }
        for target in silences_over {
            self.emit(EventKind::TargetUnsilenced {
                target: target.clone(),
                by: "its silence ran out".into(),
            });
            self.replan_suppressed(|t| t == target);
        }
    }
}
