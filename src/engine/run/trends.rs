//! Prediction in the engine: each probe's figures feed the trends
//! ([`crate::predict`]); a new prediction is journaled, and one a playbook
//! can act on (`PREDICTED_<signature>`) opens an incident that waits for a
//! human. Nothing here ever runs a fix on its own.

use tokio::time::Instant;

use super::{Runner, now_ms};
use crate::config::{Predict, ProbeSpec, Target};
use crate::event::EventKind;
use crate::monitor::Observation;
use crate::predict::{self, Change, Forecast, Metric, PREDICTION, Reading, Trends};
use crate::trace;

/// What prediction needs in the engine: its settings and every target's series.
pub(super) struct Foresight {
    config: Predict,
    trends: Trends,
    /// Samples are placed on the monotonic clock, counted from here: a wall
    /// clock stepped back would make every sample look older than the last.
    origin: Instant,
}

impl Foresight {
    /// `None` when `predict.enabled` is off.
    pub(super) fn new(config: Predict) -> Option<Foresight> {
        config.enabled.then(|| Foresight {
            trends: Trends::new(config.window, config.horizon),
            config,
            origin: Instant::now(),
        })
    }

    /// The figures of `obs` worth a trend, each with the level at which `target` fails.
    fn readings(&self, target: &Target, obs: &Observation) -> Vec<Reading> {
        let reading = |metric, value: Option<f32>, threshold: f32| {
            value.map(|v| Reading {
                metric,
                value: f64::from(v),
                threshold: f64::from(threshold),
            })
        };
        let c = &self.config;
        let mut out: Vec<Reading> = match &target.probe {
            ProbeSpec::Host(h) => [
                reading(Metric::Cpu, obs.cpu_percent, h.cpu_percent),
                reading(Metric::Memory, obs.memory_percent, h.memory_percent),
                reading(Metric::Disk, obs.disk_percent, h.disk_percent),
                h.load_per_core
                    .and_then(|max| reading(Metric::Load, obs.load_per_core, max as f32)),
            ]
            .into_iter()
            .flatten()
            .collect(),
            // What a health endpoint reports about itself.
            _ => [
                reading(Metric::Cpu, obs.cpu_percent, c.cpu_percent),
                reading(Metric::Memory, obs.memory_percent, c.memory_percent),
                reading(Metric::Disk, obs.disk_percent, c.disk_percent),
            ]
            .into_iter()
            .flatten()
            .collect(),
        };
        if c.latency
            && obs.healthy
            && matches!(target.probe, ProbeSpec::Http(_) | ProbeSpec::Tcp(_))
        {
            out.push(Reading {
                metric: Metric::Latency,
                value: obs.latency.as_secs_f64() * 1000.0,
                threshold: target.timeout.as_secs_f64() * 1000.0,
            });
        }
        out
    }
}

impl Runner {
    /// Feeds one probe's figures to the trends and acts on what changed.
    pub(super) fn on_trend(&mut self, idx: usize, obs: &Observation, started: Instant) {
        let Some(foresight) = &mut self.foresight else {
            return;
        };
        let readings = foresight.readings(&self.settings.targets[idx], obs);
        if readings.is_empty() {
            return;
        }
        let seconds = started
            .saturating_duration_since(foresight.origin)
            .as_secs_f64();
        for change in foresight.trends.observe(idx, seconds, &readings) {
            match change {
                Change::Predicted {
                    metric,
                    threshold,
                    forecast,
                } => self.predicted(idx, metric, threshold, forecast),
                Change::Ended { metric } => self.prediction_ended(idx, metric),
            }
        }
    }

    /// The target in slot `idx` turned bad: its predictions end (see [`Trends::failed`]).
    pub(super) fn target_failed(&mut self, idx: usize) {
        let Some(foresight) = &mut self.foresight else {
            return;
        };
        for metric in foresight.trends.failed(idx) {
            self.prediction_ended(idx, metric);
        }
    }

    /// Slot `idx` is gone or holds another target: its series start anew.
    pub(super) fn forget_trends(&mut self, idx: usize) {
        if let Some(foresight) = &mut self.foresight {
            foresight.trends.forget(idx);
        }
    }

    fn predicted(&mut self, idx: usize, metric: Metric, threshold: f64, forecast: Forecast) {
        let target = self.settings.targets[idx].name.clone();
        let (value, per_hour) = (
            round(forecast.now, 10.0),
            round(forecast.slope * 3600.0, 1000.0),
        );
        let eta_s = forecast.eta.as_secs();
        let text = predict::words(metric, value, threshold, per_hour, eta_s);
        tracing::info!(target = %target, "prediction: {text}");
        self.emit(EventKind::Prediction {
            target: target.clone(),
            metric,
            signature: metric.signature().to_string(),
            value,
            threshold,
            per_hour,
            eta_s,
        });
        // A fix before the failure, if a playbook offers one: always a human's call.
        let signature = metric.predicted_signature();
        if self
            .state
            .read()
            .open_incident(&target, &signature)
            .is_some()
        {
            return;
        }
        let Some(playbook) = self.find_playbook(idx, &signature) else {
            return;
        };
        if playbook.steps.is_empty() {
            return;
        }
        let severity = playbook.severity;
        let Some(incident_id) = self.state.read().next_incident_id() else {
            return self.fail(format!(
                "cannot open an incident on {target}: id {} is the largest there is",
                u64::MAX
            ));
        };
        self.emit(EventKind::IncidentDetected {
            incident_id,
            target,
            signature,
            severity,
            started_at: now_ms(),
            chaos: false,
            trace_id: trace::new_id(),
            reported_by: Some(PREDICTION.to_string()),
            text: Some(text),
        });
        self.plan(incident_id);
    }

    /// At start the trends begin anew (the predictions of the last run are
    /// cleared): a fix the last run only offered is withdrawn, and offered
    /// again if the fresh samples still foresee the failure.
    pub(super) fn withdraw_stale_offers(&mut self) {
        let offered: Vec<_> = self
            .state
            .read()
            .incidents
            .values()
            .filter(|i| i.predicted() && i.status.is_open() && !i.status.is_acting())
            .map(|i| i.id)
            .collect();
        for incident_id in offered {
            self.emit(EventKind::IncidentClosed {
                incident_id,
                note: "autoheal restarted: its prediction is made anew from fresh samples".into(),
                by: "autoheal".into(),
            });
        }
    }

    /// The trend stopped or the level was reached: a fix that was only offered
    /// is moot (a running one finishes and is verified as usual).
    fn prediction_ended(&mut self, idx: usize, metric: Metric) {
        let target = self.settings.targets[idx].name.clone();
        self.emit(EventKind::PredictionEnded {
            target: target.clone(),
            metric,
        });
        let offered = self
            .state
            .read()
            .open_incident(&target, &metric.predicted_signature())
            .filter(|i| i.predicted() && !i.status.is_acting())
            .map(|i| i.id);
        if let Some(incident_id) = offered {
            self.emit(EventKind::IncidentClosed {
                incident_id,
                note: format!(
                    "the {metric} prediction ended: the trend stopped or the level was reached"
                ),
                by: "autoheal".into(),
            });
        }
    }
}

fn round(value: f64, per_unit: f64) -> f64 {
    (value * per_unit).round() / per_unit
}
