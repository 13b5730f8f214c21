//! When each target is probed: one timer structure for every target.
//!
//! Ticks are fixed-rate (the next is due one interval after the previous was
//! due, never after the probe finished), so the period never drifts by the
//! probe's latency. Targets sharing an interval get evenly spread phases. A
//! kick (a watcher saw the service die, a suspect needs confirming, a fix needs
//! verifying) probes at once through the same structure. A target's probes run
//! one at a time: a tick that finds the previous probe still running is
//! skipped and counted as an overrun, never silently stretching the period.

use jiff::Timestamp;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

use crate::clock::deadline;
use crate::engine::now_ms;

/// One probe to run now.
#[derive(Debug, Clone, Copy)]
pub(super) struct Job {
    pub target: usize,
    pub started: Instant,
    /// When what this probe checks was seen: an exit event's time for a kick
    /// from a watcher, else when the probe starts.
    pub at: Timestamp,
}

/// Runs one probe of a target and hands its result on.
pub(super) type Probe = Arc<dyn Fn(Job) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Whom the scheduler tells what went wrong.
pub(super) trait Jobs: Send + Sync + 'static {
    /// A probe panicked: the target is no longer watched.
    fn died(&self, target: usize, why: String);
    /// A tick of `target` found its previous probe still running (`count` so far).
    fn overrun(&self, _target: usize, _count: u64) {}
}

enum Order {
    Add {
        target: usize,
        name: Arc<str>,
        interval: Duration,
        probe: Probe,
    },
    Remove {
        target: usize,
    },
    Kick {
        target: usize,
        after: Duration,
        seen: Option<Timestamp>,
    },
}

/// The handle to the scheduler task; the task stops when this is dropped or stopped.
pub(super) struct Schedule {
    tx: mpsc::UnboundedSender<Order>,
    task: AbortHandle,
}

/// Asks for an immediate probe; cheap to clone into watcher tasks.
#[derive(Clone)]
pub(super) struct Kicker(mpsc::UnboundedSender<Order>);

/// After an event, the second look: a server dying closes the connection
/// that told us a moment before its listening socket, so a probe at once may
/// still get in.
const SECOND_LOOK: Duration = Duration::from_millis(25);

impl Kicker {
    /// Probes `target` at once and again [`SECOND_LOOK`] later; `seen` is
    /// when the event that asks for it happened.
    pub fn kick(&self, target: usize, seen: Option<Timestamp>) {
        for after in [Duration::ZERO, SECOND_LOOK] {
            let _ = self.0.send(Order::Kick {
                target,
                after,
                seen,
            });
        }
    }
}

impl Schedule {
    pub fn start(jobs: impl Jobs) -> Schedule {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(Scheduler::new(jobs).run(rx)).abort_handle();
        Schedule { tx, task }
    }

    /// Probes `target` (called `name` in logs) every `interval` from now on, at its phase.
    pub fn add(&self, target: usize, name: &str, interval: Duration, probe: Probe) {
        let _ = self.tx.send(Order::Add {
            target,
            name: name.into(),
            interval,
            probe,
        });
    }

    /// No more probes of `target`; one running is abandoned.
    pub fn remove(&self, target: usize) {
        let _ = self.tx.send(Order::Remove { target });
    }

    /// Probes `target` after `after` (at once for zero), besides its ticks.
    pub fn kick_after(&self, target: usize, after: Duration) {
        let _ = self.tx.send(Order::Kick {
            target,
            after,
            seen: None,
        });
    }

    pub fn kicker(&self) -> Kicker {
        Kicker(self.tx.clone())
    }

    /// Stops every tick and abandons every running probe.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Schedule {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An overrun is logged at most this often per target (the first one always).
const OVERRUN_LOG_EVERY: Duration = Duration::from_secs(60);

struct Slot {
    /// Tells this slot's heap entries from those of an earlier target in the same place.
    id: u64,
    name: Arc<str>,
    interval: Duration,
    probe: Probe,
    next_due: Instant,
    running: Option<AbortHandle>,
    /// A kick came while a probe ran: probe again when it ends (the earliest event's time).
    kicked: Option<Option<Timestamp>>,
    overruns: u64,
    logged: Option<Instant>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    due: Instant,
    target: usize,
    slot: u64,
    kick: Option<KickAt>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
struct KickAt(Option<Timestamp>);

struct Scheduler<J> {
    jobs: J,
    slots: HashMap<usize, Slot>,
    heap: BinaryHeap<Reverse<Entry>>,
    running: JoinSet<(usize, u64)>,
    /// Which target each running task probes, to name it if it panics.
    tasks: HashMap<tokio::task::Id, usize>,
    /// How many targets were given each interval, for their phases.
    phases: HashMap<Duration, u64>,
    epoch: Instant,
    next_slot: u64,
}

impl<J: Jobs> Scheduler<J> {
    fn new(jobs: J) -> Self {
        Scheduler {
            jobs,
            slots: HashMap::new(),
            heap: BinaryHeap::new(),
            running: JoinSet::new(),
            tasks: HashMap::new(),
            phases: HashMap::new(),
            epoch: Instant::now(),
            next_slot: 0,
        }
    }

    async fn run(mut self, mut orders: mpsc::UnboundedReceiver<Order>) {
        let sleep = tokio::time::sleep_until(self.epoch);
        tokio::pin!(sleep);
        loop {
            let next = self.heap.peek().map(|Reverse(e)| e.due);
            if let Some(next) = next {
                sleep.as_mut().reset(next);
            }
            tokio::select! {
                order = orders.recv() => match order {
                    Some(order) => self.on_order(order),
                    None => return,
                },
                Some(done) = self.running.join_next_with_id(), if !self.running.is_empty() => {
                    self.on_done(done);
                }
                _ = &mut sleep, if next.is_some() => self.fire(Instant::now()),
            }
        }
    }

    fn on_order(&mut self, order: Order) {
        match order {
            Order::Add {
                target,
                name,
                interval,
                probe,
            } => {
                self.remove(target);
                let interval = interval.max(Duration::from_millis(1));
                let k = self.phases.entry(interval).or_default();
                let phase = interval.mul_f64(spread(*k));
                *k = k.wrapping_add(1);
                // The first tick on this target's grid (epoch + phase + n * interval) from now on.
                let now = Instant::now();
                let next_due = on_grid(deadline(self.epoch, phase), now, interval);
                let id = self.next_slot;
                self.next_slot = self.next_slot.wrapping_add(1);
                self.slots.insert(
                    target,
                    Slot {
                        id,
                        name,
                        interval,
                        probe,
                        next_due,
                        running: None,
                        kicked: None,
                        overruns: 0,
                        logged: None,
                    },
                );
                self.push(next_due, target, id, None);
            }
            Order::Remove { target } => self.remove(target),
            Order::Kick {
                target,
                after,
                seen,
            } => {
                let Some(slot) = self.slots.get(&target) else {
                    return;
                };
                if after.is_zero() {
                    self.kick(target, seen);
                } else {
                    let id = slot.id;
                    let due = deadline(Instant::now(), after);
                    self.push(due, target, id, Some(KickAt(seen)));
                }
            }
        }
    }

    fn remove(&mut self, target: usize) {
        if let Some(slot) = self.slots.remove(&target)
            && let Some(task) = slot.running
        {
            task.abort();
        }
    }

    fn push(&mut self, due: Instant, target: usize, slot: u64, kick: Option<KickAt>) {
        self.heap.push(Reverse(Entry {
            due,
            target,
            slot,
            kick,
        }));
    }

    /// Everything due by `now`: ticks on their grid, delayed kicks.
    fn fire(&mut self, now: Instant) {
        while self.heap.peek().is_some_and(|Reverse(e)| e.due <= now) {
            let Some(Reverse(entry)) = self.heap.pop() else {
                return;
            };
            let Some(slot) = self
                .slots
                .get_mut(&entry.target)
                .filter(|s| s.id == entry.slot)
            else {
                continue; // of a removed target
            };
            if let Some(KickAt(seen)) = entry.kick {
                self.kick(entry.target, seen);
                continue;
            }
            if entry.due != slot.next_due {
                continue; // superseded
            }
            // Fixed rate: the next tick follows this one's due time, not the probe.
            // If the scheduler itself fell behind, skip to the grid's next tick
            // rather than firing a burst.
            let next = deadline(entry.due, slot.interval);
            slot.next_due = on_grid(next, now, slot.interval);
            let (due, id) = (slot.next_due, slot.id);
            self.push(due, entry.target, id, None);
            if self
                .slots
                .get(&entry.target)
                .is_some_and(|s| s.running.is_some())
            {
                self.overrun(entry.target, now);
            } else {
                self.start(entry.target, None);
            }
        }
    }

    fn kick(&mut self, target: usize, seen: Option<Timestamp>) {
        let Some(slot) = self.slots.get_mut(&target) else {
            return;
        };
        if slot.running.is_some() {
            // One at a time: probe again as soon as this one ends.
            let earliest = match (slot.kicked.flatten(), seen) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            slot.kicked = Some(earliest);
        } else {
            self.start(target, seen);
        }
    }

    fn overrun(&mut self, target: usize, now: Instant) {
        let Some(slot) = self.slots.get_mut(&target) else {
            return;
        };
        slot.overruns = slot.overruns.saturating_add(1);
        if slot
            .logged
            .is_none_or(|at| now.saturating_duration_since(at) >= OVERRUN_LOG_EVERY)
        {
            slot.logged = Some(now);
            tracing::warn!(
                service = %slot.name,
                overruns = slot.overruns,
                "probe of {} still running at its next tick (every {:?}): tick skipped, \
                 {} skipped so far",
                slot.name,
                slot.interval,
                slot.overruns
            );
        }
        self.jobs.overrun(target, slot.overruns);
    }

    fn start(&mut self, target: usize, seen: Option<Timestamp>) {
        let Some(slot) = self.slots.get_mut(&target) else {
            return;
        };
        let now = now_ms();
        let job = Job {
            target,
            started: Instant::now(),
            at: seen.map_or(now, |seen| seen.min(now)),
        };
        let id = slot.id;
        let probe = (slot.probe)(job);
        let handle = self.running.spawn(async move {
            probe.await;
            (target, id)
        });
        self.tasks.insert(handle.id(), target);
        slot.running = Some(handle);
    }

    fn on_done(&mut self, done: Result<(tokio::task::Id, (usize, u64)), tokio::task::JoinError>) {
        let (task, target) = match done {
            Ok((task, (target, _))) => (task, target),
            Err(e) => {
                let target = self.tasks.remove(&e.id());
                if let (Some(target), true) = (target, e.is_panic()) {
                    self.jobs.died(target, e.to_string());
                }
                // Aborted: its slot was removed or replaced, and knows it.
                return;
            }
        };
        self.tasks.remove(&task);
        let Some(slot) = self.slots.get_mut(&target) else {
            return;
        };
        if slot.running.as_ref().is_some_and(|r| r.id() == task) {
            slot.running = None;
            if let Some(seen) = slot.kicked.take() {
                self.start(target, seen);
            }
        }
    }
}

/// The k-th phase, as a fraction of the interval: 0, 1/2, 1/4, 3/4, 1/8, ...
/// (bit-reversed k). Any number of targets is evenly spread, the same way on
/// every run, and one added later falls in the widest gap.
fn spread(k: u64) -> f64 {
    k.reverse_bits() as f64 / (u64::MAX as f64 + 1.0)
}

/// The first tick of the grid `first + n * interval` that is not before `now`.
fn on_grid(first: Instant, now: Instant, interval: Duration) -> Instant {
    let Some(late) = now.checked_duration_since(first).filter(|d| !d.is_zero()) else {
        return first;
    };
    let n = late.as_nanos().div_ceil(interval.as_nanos().max(1));
    let skip = u32::try_from(n)
        .ok()
        .and_then(|n| interval.checked_mul(n))
        .unwrap_or(late);
    deadline(first, skip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Every probe start, and every overrun, as the scheduler reports them.
    #[derive(Clone, Default)]
    struct Log {
        starts: Arc<Mutex<Vec<(usize, Instant)>>>,
        overruns: Arc<Mutex<Vec<(usize, u64)>>>,
    }

    impl Jobs for Log {
        fn died(&self, target: usize, why: String) {
            panic!("probe of {target} died: {why}");
        }
        fn overrun(&self, target: usize, count: u64) {
            self.overruns.lock().unwrap().push((target, count));
        }
    }

    impl Log {
        /// A probe that takes `takes`.
        fn probe(&self, takes: Duration) -> Probe {
            let starts = self.starts.clone();
            Arc::new(move |job: Job| {
                starts.lock().unwrap().push((job.target, job.started));
                Box::pin(tokio::time::sleep(takes))
            })
        }

        fn starts_of(&self, target: usize) -> Vec<Instant> {
            let starts = self.starts.lock().unwrap();
            starts
                .iter()
                .filter(|(t, _)| *t == target)
                .map(|(_, at)| *at)
                .collect()
        }
    }

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test(start_paused = true)]
    async fn a_slow_probe_does_not_stretch_the_period() {
        let log = Log::default();
        let schedule = Schedule::start(log.clone());
        // Each probe takes 40 % of the interval: a sleep-after-probe loop
        // would have drifted by 200 intervals * 40 ms = 8 s.
        let interval = 100 * MS;
        schedule.add(0, "t", interval, log.probe(40 * MS));
        tokio::time::sleep(interval * 200 + 50 * MS).await;
        let starts = log.starts_of(0);
        assert!(starts.len() >= 200, "{} probes", starts.len());
        let first = starts[0];
        for (k, at) in starts.iter().enumerate() {
            let due = first + interval * k as u32;
            assert!(
                at.duration_since(due) < 2 * MS,
                "probe {k} started {:?} after its tick",
                at.duration_since(due)
            );
        }
        assert!(log.overruns.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn targets_sharing_an_interval_are_spread_evenly_over_it() {
        let log = Log::default();
        let schedule = Schedule::start(log.clone());
        let interval = 400 * MS;
        for target in 0..8 {
            schedule.add(target, "t", interval, log.probe(MS));
        }
        tokio::time::sleep(interval - MS).await;
        let epoch = log.starts_of(0)[0];
        let mut offsets: Vec<u128> = (0..8)
            .map(|t| log.starts_of(t)[0].duration_since(epoch).as_millis())
            .collect();
        offsets.sort();
        assert_eq!(offsets, [0, 50, 100, 150, 200, 250, 300, 350]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_overrunning_probe_skips_its_ticks_and_they_are_counted() {
        let log = Log::default();
        let schedule = Schedule::start(log.clone());
        let interval = 100 * MS;
        schedule.add(0, "t", interval, log.probe(250 * MS));
        tokio::time::sleep(interval * 9 + 50 * MS).await;
        let starts = log.starts_of(0);
        let first = starts[0];
        // Starts at 0, 300, 600, 900 ms: each on a tick of the grid, the two
        // ticks a probe overran skipped, never a start when the probe ends.
        let offsets: Vec<u128> = starts
            .iter()
            .map(|at| at.duration_since(first).as_millis())
            .collect();
        assert_eq!(offsets, [0, 300, 600, 900]);
        let overruns = log.overruns.lock().unwrap().clone();
        assert_eq!(overruns.last(), Some(&(0, 6)), "{overruns:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_kick_probes_at_once_or_right_after_the_running_probe() {
        let log = Log::default();
        let schedule = Schedule::start(log.clone());
        let interval = Duration::from_secs(10);
        schedule.add(0, "t", interval, log.probe(30 * MS));
        tokio::time::sleep(MS).await; // the first tick (phase 0)
        let first = log.starts_of(0)[0];
        tokio::time::sleep(100 * MS).await;
        schedule.kick_after(0, Duration::ZERO);
        tokio::time::sleep(MS).await;
        // Three kicks while it runs: one more probe, as soon as it ends.
        for _ in 0..3 {
            schedule.kick_after(0, Duration::ZERO);
        }
        tokio::time::sleep(100 * MS).await;
        schedule.kick_after(0, 20 * MS);
        tokio::time::sleep(100 * MS).await;
        let offsets: Vec<u128> = log
            .starts_of(0)
            .iter()
            .map(|at| at.duration_since(first).as_millis())
            .collect();
        assert_eq!(offsets, [0, 101, 131, 222]);
    }

    #[tokio::test(start_paused = true)]
    async fn removed_and_stopped_targets_are_probed_no_more() {
        let log = Log::default();
        let schedule = Schedule::start(log.clone());
        schedule.add(0, "t", 10 * MS, log.probe(MS));
        schedule.add(1, "t", 10 * MS, log.probe(MS));
        tokio::time::sleep(55 * MS).await;
        schedule.remove(0);
        tokio::time::sleep(MS).await;
        let removed = log.starts_of(0).len();
        tokio::time::sleep(100 * MS).await;
        assert_eq!(log.starts_of(0).len(), removed);
        schedule.kick_after(0, Duration::ZERO);
        assert!(log.starts_of(1).len() > 10);
        schedule.stop();
        tokio::time::sleep(MS).await;
        let stopped = log.starts_of(1).len();
        tokio::time::sleep(100 * MS).await;
        assert_eq!(log.starts_of(0).len(), removed);
        assert_eq!(log.starts_of(1).len(), stopped);
    }

    #[test]
    fn phases_fill_the_widest_gap() {
        let phases: Vec<f64> = (0..4).map(spread).collect();
        assert_eq!(phases, [0.0, 0.5, 0.25, 0.75]);
    }
}
