//! Trend prediction: from the samples a probe already takes (disk, memory,
//! CPU, load, latency), whether a threshold will be crossed within a horizon.
//!
//! The method, chosen so that noise and a single spike predict nothing:
//! - the line is fitted with the Theil–Sen estimator: the slope is the median
//!   of the slopes between every pair of samples, the intercept the median of
//!   what is left. Up to 29 % of the samples can be wild without moving it,
//!   where a least-squares line follows every spike;
//! - a trend counts only if it is consistent: at least [`AGREEMENT`] of the
//!   pairs must rise (a Kendall-style test), so a flat series with noise, a
//!   plateau or a sawtooth has no trend;
//! - the samples must span at least half the window, so a burst of samples
//!   after start-up does not extrapolate from seconds to hours;
//! - the forecast starts from the fitted line now, not the last sample.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

/// `reported_by` of an incident opened to offer a preventive fix: a prediction's.
pub const PREDICTION: &str = "prediction";

/// The share of pairs of samples that must rise for a trend to count.
pub const AGREEMENT: f64 = 0.75;
/// Fewest samples a trend is fitted on.
pub const MIN_SAMPLES: usize = 12;
/// Samples kept per series (older ones are thinned out first): bounds the
/// pairwise fit to about 8,000 slopes.
const MAX_SAMPLES: usize = 128;

/// One series of samples of one figure of one target, over a sliding window.
#[derive(Debug, Clone)]
pub struct Series {
    window: Duration,
    /// (seconds since an arbitrary origin, value), oldest first.
    points: VecDeque<(f64, f64)>,
}

/// A threshold that the current trend crosses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// The fitted value now.
    pub now: f64,
    /// Units per second.
    pub slope: f64,
    /// How long until the threshold is reached at that rate.
    pub eta: Duration,
}

impl Series {
    pub fn new(window: Duration) -> Series {
        Series {
            window,
            points: VecDeque::new(),
        }
    }

    /// Adds a sample taken at `at` seconds; non-finite values are ignored.
    pub fn push(&mut self, at: f64, value: f64) {
        if !at.is_finite() || !value.is_finite() {
            return;
        }
        if self.points.back().is_some_and(|(t, _)| at < *t) {
            return; // out of order: a clock step back
        }
        self.points.push_back((at, value));
        let horizon = at - self.window.as_secs_f64();
        while self.points.front().is_some_and(|(t, _)| *t < horizon) {
            self.points.pop_front();
        }
        if self.points.len() > MAX_SAMPLES {
            // Thin the older half: every other sample of it goes, the oldest stays.
            let half = self.points.len() / 2;
            let mut i = 0;
            self.points.retain(|_| {
                i += 1;
                i > half || i % 2 == 1
            });
        }
    }

    /// When `threshold` will be reached at the current trend, if it will be
    /// within `horizon` and the trend is real (see the module's method).
    pub fn forecast(&self, threshold: f64, horizon: Duration) -> Option<Forecast> {
        let n = self.points.len();
        let (first, last) = (self.points.front()?.0, self.points.back()?.0);
        if n < MIN_SAMPLES || last - first < self.window.as_secs_f64() / 2.0 {
            return None;
        }
        let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
        let mut rising = 0usize;
        for (i, (t1, v1)) in self.points.iter().enumerate() {
            for (t2, v2) in self.points.iter().skip(i + 1) {
                let dt = t2 - t1;
                if dt > 0.0 {
                    let s = (v2 - v1) / dt;
                    rising += usize::from(s > 0.0);
                    slopes.push(s);
                }
            }
        }
        if slopes.is_empty() || (rising as f64) < AGREEMENT * slopes.len() as f64 {
            return None;
        }
        let slope = median(&mut slopes)?;
        if slope <= 0.0 {
            return None;
        }
        let mut rests: Vec<f64> = self.points.iter().map(|(t, v)| v - slope * t).collect();
        let now = median(&mut rests)? + slope * last;
        if now >= threshold {
            return None; // already there: that is an incident, not a prediction
        }
        let eta = Duration::try_from_secs_f64((threshold - now) / slope).ok()?;
        (eta <= horizon).then_some(Forecast { now, slope, eta })
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(match values.len() % 2 {
        1 => values[mid],
        _ => (values[mid - 1] + values[mid]) / 2.0,
    })
}

/// A figure whose trend is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Cpu,
    Memory,
    Disk,
    Load,
    Latency,
}

impl Metric {
    /// The signature of the incident the probe would open at the threshold.
    pub fn signature(self) -> &'static str {
        match self {
            Metric::Cpu => "CPU_HIGH",
            Metric::Memory => "MEMORY_HIGH",
            Metric::Disk => "DISK_FULL",
            Metric::Load => "LOAD_HIGH",
            Metric::Latency => "TIMEOUT",
        }
    }

    /// What a playbook matches to offer a fix before the threshold is reached:
    /// `PREDICTED_DISK_FULL`. No playbook for the failure itself matches it.
    pub fn predicted_signature(self) -> String {
        format!("{}{}", crate::playbook::PREDICTED, self.signature())
    }

    /// `95 %`, `2.0 per core`, `800 ms`.
    pub fn show(self, value: f64) -> String {
        match self {
            Metric::Load => format!("{value:.2} per core"),
            Metric::Latency => format!("{value:.0} ms"),
            _ => format!("{value:.1} %"),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Metric::Cpu => "cpu",
            Metric::Memory => "memory",
            Metric::Disk => "disk",
            Metric::Load => "load",
            Metric::Latency => "latency",
        })
    }
}

/// A prediction in words: `disk 95.0 % in about 2 h 10 min (now 61.0 %, 15.6 % an hour)`.
pub fn words(metric: Metric, value: f64, threshold: f64, per_hour: f64, eta_s: u64) -> String {
    format!(
        "{metric} {} in about {} (now {}, {} an hour)",
        metric.show(threshold),
        about(eta_s),
        metric.show(value),
        metric.show(per_hour),
    )
}

/// `2 h 10 min`, `40 s`: how a person says a forecast.
pub fn about(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// One figure a probe read, and the level at which its target fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub metric: Metric,
    pub value: f64,
    pub threshold: f64,
}

/// What a new reading changed about a target's predictions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// A new prediction, or a faster one: its rate rose by more than a quarter.
    Predicted {
        metric: Metric,
        threshold: f64,
        forecast: Forecast,
    },
    /// A told prediction no longer holds: the trend stopped, or the threshold was reached.
    Ended { metric: Metric },
}

/// A told prediction ends after this many fits in a row without it, so one
/// sample at the edge of the agreement test does not end it and tell it again.
const ENDS_AFTER: u32 = 3;
/// A series keeps a point at most every window / this: the fit stays cheap
/// for a probe every second, and a burst of confirming probes counts once.
const POINTS_PER_WINDOW: u32 = 64;

/// Every target's series, keyed by the target's slot and the figure.
#[derive(Debug)]
pub struct Trends {
    window: Duration,
    horizon: Duration,
    tracks: HashMap<(usize, Metric), Track>,
}

#[derive(Debug)]
struct Track {
    series: Series,
    /// The rate last told, while its prediction holds.
    told: Option<f64>,
    misses: u32,
}

impl Trends {
    pub fn new(window: Duration, horizon: Duration) -> Trends {
        Trends {
            window,
            horizon,
            tracks: HashMap::new(),
        }
    }

    /// Adds what one probe of `target` read at `at` seconds; says what changed.
    pub fn observe(&mut self, target: usize, at: f64, readings: &[Reading]) -> Vec<Change> {
        let spacing = self.window.as_secs_f64() / f64::from(POINTS_PER_WINDOW);
        let mut changes = Vec::new();
        for r in readings {
            let track = self
                .tracks
                .entry((target, r.metric))
                .or_insert_with(|| Track {
                    series: Series::new(self.window),
                    told: None,
                    misses: 0,
                });
            if track
                .series
                .points
                .back()
                .is_some_and(|(t, _)| at - t < spacing)
            {
                continue;
            }
            track.series.push(at, r.value);
            match track.series.forecast(r.threshold, self.horizon) {
                Some(forecast) => {
                    track.misses = 0;
                    if track
                        .told
                        .is_none_or(|told| rate_rose(told, forecast.slope))
                    {
                        track.told = Some(forecast.slope);
                        changes.push(Change::Predicted {
                            metric: r.metric,
                            threshold: r.threshold,
                            forecast,
                        });
                    }
                }
                None if track.told.is_some() => {
                    track.misses += 1;
                    if track.misses >= ENDS_AFTER {
                        track.told = None;
                        track.misses = 0;
                        changes.push(Change::Ended { metric: r.metric });
                    }
                }
                None => {}
            }
        }
        changes
    }

    /// The target in `slot` failed: what was foreseen has come, or something
    /// else did. Its told predictions end (the figures it reports while failing
    /// may stop, and with them the fits that would end them).
    pub fn failed(&mut self, slot: usize) -> Vec<Metric> {
        let mut ended = Vec::new();
        for ((target, metric), track) in &mut self.tracks {
            if *target == slot && track.told.take().is_some() {
                track.misses = 0;
                ended.push(*metric);
            }
        }
        ended.sort();
        ended
    }

    /// The target in `slot` is gone (or the slot holds another now).
    pub fn forget(&mut self, slot: usize) {
        self.tracks.retain(|(target, _), _| *target != slot);
    }
}

/// Whether the rate rose by more than a quarter since it was told: a steady
/// trend is told once, however close its arrival comes, and a slowing one is
/// not told again (it ends when it no longer crosses within the horizon).
fn rate_rose(told: f64, now: f64) -> bool {
    now > 1.25 * told
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: f64 = 60.0;
    const WINDOW: Duration = Duration::from_secs(30 * 60);
    const HORIZON: Duration = Duration::from_secs(12 * 3600);

    /// A series sampled every 30 s for `minutes`, valued by `f(minute)`.
    fn series(minutes: u32, f: impl Fn(f64) -> f64) -> Series {
        let mut s = Series::new(WINDOW);
        for i in 0..minutes * 2 {
            let t = f64::from(i) * 30.0;
            s.push(t, f(t / MIN));
        }
        s
    }

    /// Deterministic white noise in [-1, 1): splitmix64 of the sample's time.
    fn noise(x: f64) -> f64 {
        let mut z = x.to_bits().wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    #[test]
    fn steady_growth_predicts_when_the_disk_fills() {
        // 50 % and 0.1 % a minute: 100 % in 500 minutes from the start.
        let s = series(30, |m| 50.0 + 0.1 * m);
        let f = s.forecast(100.0, HORIZON).expect("a forecast");
        let eta_min = f.eta.as_secs_f64() / MIN;
        assert!((eta_min - 470.5).abs() < 2.0, "{eta_min}");
        let six_hours = Duration::from_secs(6 * 3600);
        assert!(s.forecast(100.0, six_hours).is_none(), "beyond the horizon");
    }

    #[test]
    fn growth_with_noise_still_predicts() {
        let s = series(30, |m| 50.0 + 0.5 * m + 2.0 * noise(m));
        let f = s.forecast(100.0, HORIZON).expect("a forecast");
        let eta_min = f.eta.as_secs_f64() / MIN;
        // 65 % at minute 30, 0.5 % a minute: about 70 minutes.
        assert!((60.0..80.0).contains(&eta_min), "{eta_min}");
    }

    #[test]
    fn noise_alone_predicts_nothing() {
        let s = series(30, |m| 70.0 + 5.0 * noise(m));
        assert_eq!(s.forecast(100.0, HORIZON), None);
    }

    #[test]
    fn one_spike_predicts_nothing() {
        let s = series(30, |m| {
            if (20.0..20.6).contains(&m) {
                99.0
            } else {
                60.0
            }
        });
        assert_eq!(s.forecast(100.0, HORIZON), None);
        // A rise with one wild sample: the fit ignores the spike.
        let s = series(30, |m| {
            if (20.0..20.6).contains(&m) {
                99.0
            } else {
                50.0 + 0.2 * m
            }
        });
        let f = s.forecast(100.0, HORIZON).expect("still the rise");
        assert!((f.slope * MIN - 0.2).abs() < 0.02, "{}", f.slope * MIN);
    }

    #[test]
    fn a_plateau_after_growth_predicts_nothing_once_the_window_holds_it() {
        // Grew for an hour, then flat for the last 30 minutes (the window).
        let s = series(90, |m| 50.0 + 0.5 * m.min(60.0));
        assert_eq!(s.forecast(100.0, HORIZON), None);
    }

    #[test]
    fn a_drop_predicts_nothing() {
        let s = series(30, |m| 90.0 - 0.5 * m);
        assert_eq!(s.forecast(100.0, HORIZON), None);
    }

    #[test]
    fn too_short_a_history_predicts_nothing() {
        // A steep rise, but over 5 minutes of a 30-minute window.
        let s = series(5, |m| 50.0 + 5.0 * m);
        assert_eq!(s.forecast(100.0, HORIZON), None);
    }

    #[test]
    fn past_the_threshold_is_not_a_prediction() {
        let s = series(30, |m| 101.0 + 0.1 * m);
        assert_eq!(s.forecast(100.0, HORIZON), None);
    }

    #[test]
    fn memory_stays_bounded_and_the_fit_survives_thinning() {
        let mut s = Series::new(Duration::from_secs(3600));
        for i in 0..10_000 {
            s.push(f64::from(i), 10.0 + 0.001 * f64::from(i));
        }
        assert!(s.points.len() <= MAX_SAMPLES);
        let f = s
            .forecast(100.0, Duration::from_secs(365 * 24 * 3600))
            .unwrap();
        assert!((f.slope - 0.001).abs() < 1e-9, "{}", f.slope);
    }

    fn disk(value: f64) -> [Reading; 1] {
        [Reading {
            metric: Metric::Disk,
            value,
            threshold: 95.0,
        }]
    }

    #[test]
    fn a_steady_trend_is_told_once_and_ends_when_it_stops() {
        let mut trends = Trends::new(WINDOW, HORIZON);
        let mut told = Vec::new();
        // Probed every second: 0.2 % a minute for 40 minutes, then flat.
        for s in 0..90 * 60 {
            let m = f64::from(s) / MIN;
            let value = 50.0 + 0.2 * m.min(40.0);
            for change in trends.observe(0, f64::from(s), &disk(value)) {
                told.push((s / 60, change));
            }
        }
        assert_eq!(told.len(), 2, "{told:?}");
        let (minute, Change::Predicted { forecast, .. }) = told[0] else {
            panic!("{told:?}")
        };
        assert!((15..=16).contains(&minute), "after half a window: {minute}");
        assert!((forecast.slope * MIN - 0.2).abs() < 0.01, "{forecast:?}");
        let (minute, Change::Ended { metric }) = told[1] else {
            panic!("{told:?}")
        };
        assert_eq!(metric, Metric::Disk);
        assert!(
            (41..70).contains(&minute),
            "once the window is flat enough: {minute}"
        );
    }

    #[test]
    fn a_faster_trend_is_told_again_and_targets_do_not_mix() {
        let mut trends = Trends::new(WINDOW, HORIZON);
        let mut told = Vec::new();
        for s in 0..60 * 60 {
            let m = f64::from(s) / MIN;
            // 0.1 % a minute, then 1 % a minute from minute 30.
            let value = 20.0 + 0.1 * m.min(30.0) + (m - 30.0).max(0.0);
            told.extend(trends.observe(0, f64::from(s), &disk(value)));
            // Another target, flat: nothing.
            assert!(trends.observe(1, f64::from(s), &disk(60.0)).is_empty());
        }
        let rates: Vec<f64> = told
            .iter()
            .filter_map(|c| match c {
                Change::Predicted { forecast, .. } => Some(forecast.slope * MIN),
                Change::Ended { .. } => None,
            })
            .collect();
        assert!(rates.len() >= 2, "{told:?}");
        assert!(rates[0] < 0.15 && *rates.last().unwrap() > 0.8, "{rates:?}");
        assert_eq!(trends.failed(0), [Metric::Disk], "a told prediction ends");
        assert!(trends.failed(0).is_empty(), "once");
        trends.forget(0);
        assert!(trends.tracks.keys().all(|(t, _)| *t == 1));
    }

    #[test]
    fn garbage_is_ignored() {
        let mut s = series(30, |m| 50.0 + 0.1 * m);
        let before = s.points.len();
        s.push(f64::NAN, 1.0);
        s.push(1e12, f64::INFINITY);
        s.push(0.0, 1.0); // older than the last: a clock step back
        assert_eq!(s.points.len(), before);
    }
}
