//! `/metrics` in the OpenMetrics text format (which Prometheus scrapes).
//!
//! Nothing here counts on its own: [`Metrics`] reads the engine's `State`
//! (its [`View`]: the fold of the events, exactly as the journal replay builds
//! it) and keeps the last probe [`Sample`] per target (telemetry, never
//! journaled). Every scrape derives the numbers from those two into a fresh
//! registry, so a daemon restart that replays the journal reports the same
//! counts as before it.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::engine::{Sample, View};
use crate::state::{self, KEEP_CLOSED, State, TTR_BUCKETS_MS};

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The time-to-resolve histogram, from the counts the fold keeps of every
/// sample ever (the samples themselves are bounded).
#[derive(Debug)]
struct Resolved(state::Histogram);

impl EncodeMetric for Resolved {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let bounds = TTR_BUCKETS_MS.iter().map(|ms| *ms as f64 / 1000.0);
        let buckets: Vec<(f64, u64)> = bounds
            .chain([f64::INFINITY])
            .zip(self.0.buckets.iter().copied())
            .collect();
        let sum = self.0.sum_ms as f64 / 1000.0;
        encoder.encode_histogram::<NoLabelSet>(sum, self.0.count(), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The metrics a running [`run`] task keeps up to date, shared with the HTTP API.
pub type SharedMetrics = Arc<Mutex<Metrics>>;

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
pub struct Metrics {
    state: View,
    /// The last probe sample of each target.
    samples: BTreeMap<String, Sample>,
    /// Time between the last two probes of each target: its real period.
    cycles: BTreeMap<String, Duration>,
}

impl Metrics {
    /// The metrics of the engine whose state `state` shows.
    pub fn new(state: View) -> Metrics {
        Metrics {
            state,
            samples: BTreeMap::new(),
            cycles: BTreeMap::new(),
        }
    }

    /// The metrics of a state alone (no engine, no samples): tools and tests.
    pub fn of(state: State) -> Metrics {
        Metrics::new(View::of(state))
    }

    pub fn observe(&mut self, sample: Sample) {
        if let Some(last) = self.samples.get(&sample.target)
            && let Ok(cycle) = Duration::try_from(sample.at.duration_since(last.at))
        {
            self.cycles.insert(sample.target.clone(), cycle);
        }
        self.samples.insert(sample.target.clone(), sample);
    }

    /// The whole exposition, `# EOF` included.
    pub fn render(&self) -> String {
        let s = &*self.state.read();
        let mut registry = Registry::with_prefix("autoheal");

        let incidents = Family::<Labels, Gauge>::default();
        let mut by_status: HashMap<Labels, i64> = HashMap::new();
        for inc in s.incidents.values() {
            let labels = vec![
                ("status", inc.status.label().replace(' ', "_")),
                ("signature", inc.signature.clone()),
            ];
            *by_status.entry(labels).or_default() += 1;
        }
        for (labels, n) in &by_status {
            incidents.get_or_create(labels).set(*n);
        }
        registry.register(
            "incidents",
            format!("Incidents in memory (open, and the last {KEEP_CLOSED} closed) by status and signature"),
            incidents,
        );

        let detected = Counter::<u64>::default();
        detected.inc_by(s.counts.detected as u64);
        registry.register(
            "incidents_detected",
            "Incidents detected since the journal began",
            detected,
        );
        // Exact, unlike the gauge above once closed incidents leave memory.
        for (name, help, n) in [
            (
                "incidents_resolved",
                "Incidents resolved since the journal began",
                s.counts.resolved,
            ),
            (
                "incidents_escalated",
                "Escalations since the journal began",
                s.counts.escalated,
            ),
            (
                "incidents_closed",
                "Incidents closed by hand since the journal began",
                s.counts.closed,
            ),
        ] {
            let counter = Counter::<u64>::default();
            counter.inc_by(n as u64);
            registry.register(name, help, counter);
        }

        let actions = Family::<Labels, Counter>::default();
        for (result, n) in [
            ("ok", s.counts.actions_ok),
            ("failed", s.counts.actions_failed),
        ] {
            actions
                .get_or_create(&vec![("result", result.to_string())])
                .inc_by(n as u64);
        }
        registry.register("actions", "Remediation actions by result", actions);

        let analyst = Family::<Labels, Counter>::default();
        for (model, r) in &s.analyst {
            let outcomes = [
                ("proposed", r.proposed),
                ("approved", r.approved),
                ("worked", r.worked),
                ("failed", r.failed),
            ];
            for (outcome, n) in outcomes {
                let labels = vec![("model", model.clone()), ("outcome", outcome.to_string())];
                analyst.get_or_create(&labels).inc_by(n);
            }
        }
        registry.register(
            "analyst_proposals",
            "AI analyst answers by model: proposed, approved by an operator, worked (verified), failed (no usable answer)",
            analyst,
        );

        let ttr = Resolved(s.ttr_histogram.clone());
        registry.register_with_unit(
            "time_to_resolve",
            "Time from the first bad probe to the good one, per resolved incident",
            Unit::Seconds,
            ttr,
        );

        let latency = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        let up = Family::<Labels, Gauge>::default();
        for (target, sample) in &self.samples {
            let labels = vec![("target", target.clone())];
            latency
                .get_or_create(&labels)
                .set(sample.latency.as_secs_f64());
            up.get_or_create(&labels).set(i64::from(sample.healthy));
        }
        let cycle = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        for (target, period) in &self.cycles {
            cycle
                .get_or_create(&vec![("target", target.clone())])
                .set(period.as_secs_f64());
        }
        registry.register_with_unit(
            "probe_cycle",
            "Time between the last two probes of each target (its real period)",
            Unit::Seconds,
            cycle,
        );
        let arrival = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        for (target, t) in &s.targets {
            for (metric, p) in &t.predictions {
                let labels = vec![("target", target.clone()), ("metric", metric.to_string())];
                let at = p.arrives.as_millisecond() as f64 / 1000.0;
                arrival.get_or_create(&labels).set(at);
            }
        }
        registry.register(
            "prediction_arrival_timestamp_seconds",
            "When each predicted figure reaches its threshold at its current rate (unix time; `- time()` for the seconds left)",
            arrival,
        );
        let rate = Gauge::<f64, AtomicU64>::default();
        rate.set(s.counts.success_rate().unwrap_or(f64::NAN));
        registry.register(
            "remediation_success_rate",
            "Share of finished remediation actions that succeeded (NaN before any)",
            rate,
        );
        registry.register_with_unit(
            "probe_latency",
            "Latency of the last probe of each target",
            Unit::Seconds,
            latency,
        );
        registry.register(
            "probe_up",
            "Whether the last probe of each target was healthy (1) or not (0)",
            up,
        );

        for (name, help, value) in [
            (
                "approval_queue",
                "Incidents waiting for an operator's approval",
                s.approval_queue().len() as i64,
            ),
            (
                "running_actions",
                "Remediation actions running now",
                s.running_actions as i64,
            ),
            (
                "automation_paused",
                "Whether automation is paused (1) or not (0)",
                i64::from(s.paused),
            ),
            (
                "dry_run",
                "Whether the engine plans without executing (1) or not (0)",
                i64::from(s.dry_run),
            ),
            (
                "last_event_seq",
                "Sequence number of the last event folded in",
                s.last_seq as i64,
            ),
        ] {
            let gauge = Gauge::<i64>::default();
            gauge.set(value);
            registry.register(name, help, gauge);
        }

        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &registry);
        text
    }
}

/// The metrics of the engine whose state `state` shows, kept up to date with
/// its probe samples by a task of their own until the engine stops.
pub fn spawn(state: View, samples: broadcast::Receiver<Sample>) -> SharedMetrics {
    let metrics = Arc::new(Mutex::new(Metrics::new(state)));
    tokio::spawn(run(metrics.clone(), samples));
    metrics
}

/// Records each sample in `metrics` until the sample stream closes.
pub async fn run(metrics: SharedMetrics, mut samples: broadcast::Receiver<Sample>) {
    loop {
        match samples.recv().await {
            Ok(sample) => lock(&metrics).observe(sample),
            // Samples are only the latest value: missing some loses nothing.
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// The metrics stay usable even if a holder panicked: they are only numbers.
pub fn lock(metrics: &SharedMetrics) -> std::sync::MutexGuard<'_, Metrics> {
    metrics.lock().unwrap_or_else(PoisonError::into_inner)
}
