//! Hysteresis: a target turns failing after `failure_threshold` bad probes in a
//! row and healthy after `success_threshold` good ones (monit's "for N cycles").

use jiff::Timestamp;

#[derive(Debug, Clone)]
pub struct Detector {
    failure_threshold: u32,
    success_threshold: u32,
    bad_streak: u32,
    good_streak: u32,
    /// When the current run of bad probes began: when the fault started, as far as we know.
    first_bad: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing changed.
    Steady,
    /// Bad, but not yet `failure_threshold` times: probe again at once.
    Suspect,
    /// Bad `failure_threshold` times in a row; the fault began at `since`.
    Failing { since: Timestamp },
    /// A failing target answered well `success_threshold` times in a row.
    Recovered,
}

impl Detector {
    pub fn new(failure_threshold: u32, success_threshold: u32) -> Detector {
        Detector {
            failure_threshold: failure_threshold.max(1),
            success_threshold: success_threshold.max(1),
            bad_streak: 0,
            good_streak: 0,
            first_bad: None,
        }
    }

    /// Feeds one probe result. `failing` is whether the target is failing now
    /// (from `State`, so it survives a restart); `at` is when the probe ran.
    pub fn observe(&mut self, healthy: bool, failing: bool, at: Timestamp) -> Verdict {
        if healthy {
            self.bad_streak = 0;
            self.good_streak = self.good_streak.saturating_add(1);
            if !failing {
                self.first_bad = None;
                return Verdict::Steady;
            }
            if self.good_streak >= self.success_threshold {
                self.first_bad = None;
                return Verdict::Recovered;
            }
            return Verdict::Steady;
        }
        self.good_streak = 0;
        self.bad_streak = self.bad_streak.saturating_add(1);
        let since = *self.first_bad.get_or_insert(at);
        if self.bad_streak >= self.failure_threshold {
            Verdict::Failing { since }
        } else {
            Verdict::Suspect
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    #[test]
    fn fails_after_threshold_and_measures_from_the_first_bad_probe() {
        let mut d = Detector::new(2, 1);
        assert_eq!(d.observe(false, false, t(0)), Verdict::Suspect);
        assert_eq!(
            d.observe(false, false, t(1)),
            Verdict::Failing { since: t(0) }
        );
    }

    #[test]
    fn one_good_probe_between_bad_ones_resets_the_count() {
        let mut d = Detector::new(2, 1);
        d.observe(false, false, t(0));
        d.observe(true, false, t(1));
        assert_eq!(d.observe(false, false, t(2)), Verdict::Suspect);
    }

    #[test]
    fn recovers_only_after_enough_good_probes() {
        let mut d = Detector::new(1, 2);
        assert_eq!(d.observe(true, true, t(0)), Verdict::Steady);
        assert_eq!(d.observe(true, true, t(1)), Verdict::Recovered);
    }
}
