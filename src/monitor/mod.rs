//! Probes: one real check per target kind. A probe never fails: a timeout,
//! a refused connection or garbage is reported as an unhealthy [`Observation`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{ProbeSpec, ProcessProbe};

pub mod host;
pub mod http;
mod http1;
pub mod process;
pub mod tcp;
pub mod watch;

/// What one probe saw. `signature` names the failure (`DB_TIMEOUT`,
/// `CONNECTION_REFUSED`, `HTTP_503`, `CPU_HIGH`, ...) and is `None` when healthy.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observation {
    pub healthy: bool,
    pub signature: Option<String>,
    /// One line for humans: "503 Service Unavailable: pool exhausted", "connect: refused".
    pub detail: String,
    pub latency: Duration,
    /// HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// The start of the body (at most 4 KiB), for playbook `body_contains` matching.
    pub body: Option<String>,
    pub cpu_percent: Option<f32>,
    pub memory_percent: Option<f32>,
    pub disk_percent: Option<f32>,
    /// The host's one-minute load average per core, when a threshold asks for it.
    pub load_per_core: Option<f32>,
    /// Which check of a target with several saw this (`process`, `http`,
    /// `tcp`); `None` for a target's only check.
    pub check: Option<&'static str>,
}

impl Observation {
    pub(crate) fn healthy(detail: impl Into<String>, latency: Duration) -> Self {
        Observation {
            healthy: true,
            detail: detail.into(),
            latency,
            ..Default::default()
        }
    }

    pub(crate) fn unhealthy(signature: &str, detail: impl Into<String>, latency: Duration) -> Self {
        Observation {
            healthy: false,
            signature: Some(signature.to_string()),
            detail: detail.into(),
            latency,
            ..Default::default()
        }
    }
}

/// Signature for "the probe itself could not run" (a sampler that failed to
/// start, a worker thread that died): not the target's fault, but not healthy either.
pub const PROBE_ERROR: &str = "PROBE_ERROR";

/// Runs probes. Holds what is worth keeping between probes: one HTTP client,
/// and the sysinfo state (CPU usage is a difference between two samples, so
/// the previous sample must survive). Share it behind an `Arc`.
pub struct Prober {
    /// `Err` only if the TLS backend could not start; HTTP probes then report it.
    http: Result<reqwest::Client, String>,
    host: host::Sampler,
    processes: process::ProcessTable,
}

impl Default for Prober {
    fn default() -> Self {
        Self::new()
    }
}

impl Prober {
    pub fn new() -> Prober {
        Prober {
            http: http::client().map_err(|e| e.to_string()),
            host: host::Sampler::default(),
            processes: process::ProcessTable::default(),
        }
    }

    /// Runs one probe on a lane of its own (a one-off check; a target that is
    /// probed again and again uses [`Prober::probe_on`] with its own lane).
    /// Never takes much longer than `timeout`.
    pub async fn probe(&self, spec: &ProbeSpec, timeout: Duration) -> Observation {
        self.probe_on(&Lane::default(), spec, timeout).await
    }

    /// Runs a target's checks on its lane: its `process` check first (when it
    /// has one besides `spec`), and `spec` only if that passed. One
    /// observation either way, so one target never opens two incidents.
    pub async fn probe_checks(
        &self,
        lane: &Lane,
        process: Option<&ProcessProbe>,
        spec: &ProbeSpec,
        timeout: Duration,
    ) -> Observation {
        let Some(process) = process else {
            return self.probe_on(lane, spec, timeout).await;
        };
        let first = self.processes.probe(lane, process, timeout).await;
        if !first.healthy {
            return Observation {
                check: Some("process"),
                ..first
            };
        }
        let mut obs = self.probe_on(lane, spec, timeout).await;
        obs.check = Some(spec.kind());
        obs.latency = obs.latency.saturating_add(first.latency);
        obs
    }

    /// Runs one probe of the target that owns `lane` (see [`Lane`]).
    pub async fn probe_on(&self, lane: &Lane, spec: &ProbeSpec, timeout: Duration) -> Observation {
        match spec {
            ProbeSpec::Http(p) => {
                let client = self.http.as_ref().map_err(String::as_str);
                http::probe(client, &lane.http, p, timeout).await
            }
            ProbeSpec::Tcp(p) => tcp::probe(p, timeout).await,
            ProbeSpec::Host(p) => self.host.probe(lane, p, timeout).await,
            ProbeSpec::Process(p) => self.processes.probe(lane, p, timeout).await,
            // The engine never probes a passive target; this answer is only for completeness.
            ProbeSpec::Passive(_) => Observation {
                healthy: true,
                detail: "passive: failures arrive through the API".into(),
                ..Default::default()
            },
        }
    }
}

/// One target's probes, one at a time. Blocking probe work that overran its
/// timeout (a pid file on a hung NFS mount, a `statvfs` that never returns)
/// still holds a thread; until it returns, the target's next probes report a
/// timeout without starting another. Otherwise every interval would strand one
/// more thread, and once the runtime's blocking pool (512) is used up every
/// probe that needs it (process, host, DNS names) would fail on every target.
/// An HTTP target's lane also keeps its parsed URL and kept-alive connection,
/// so keep one lane per target for as long as the target is probed.
#[derive(Clone, Default)]
pub struct Lane {
    busy: Arc<AtomicBool>,
    http: Arc<Mutex<http::Kept>>,
}

/// Frees a [`Lane`] when its work ends, however it ends.
struct Busy(Arc<AtomicBool>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Runs blocking probe work (sysinfo, /proc reads) off the async threads, under
/// `timeout`. On timeout the work keeps running in the background and is simply
/// not waited for; the caller gets `TIMEOUT` on time, and so do the next probes
/// on `lane` while that work has not returned.
pub(crate) async fn run_blocking<F>(lane: &Lane, timeout: Duration, work: F) -> Observation
where
    F: FnOnce() -> Observation + Send + 'static,
{
    if lane.busy.swap(true, Ordering::AcqRel) {
        return Observation::unhealthy(
            "TIMEOUT",
            "no answer: the previous probe has still not returned",
            Duration::ZERO,
        );
    }
    let busy = Busy(lane.busy.clone());
    let start = Instant::now();
    let work = move || {
        let _busy = busy;
        work()
    };
    let mut observation =
        match tokio::time::timeout(timeout, tokio::task::spawn_blocking(work)).await {
            Ok(Ok(observation)) => observation,
            Ok(Err(e)) => Observation::unhealthy(
                PROBE_ERROR,
                format!("probe task failed: {e}"),
                Duration::ZERO,
            ),
            Err(_) => Observation::unhealthy("TIMEOUT", no_answer(timeout), Duration::ZERO),
        };
    observation.latency = start.elapsed();
    observation
}

/// "no answer within 500ms": the detail every kind of probe uses for a timeout.
pub(crate) fn no_answer(timeout: Duration) -> String {
    format!("no answer within {timeout:?}")
}

/// Milliseconds for details: "42 ms".
pub(crate) fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Locks a mutex even if an earlier holder panicked: the guarded sysinfo state
/// is only a cache, so a half-updated one is still usable and gets refreshed.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prober_is_shareable_across_tasks() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Prober>();
    }

    #[tokio::test]
    async fn blocking_work_that_overruns_is_a_timeout() {
        let timeout = Duration::from_millis(50);
        let obs = run_blocking(&Lane::default(), timeout, || {
            std::thread::sleep(Duration::from_millis(300));
            Observation::healthy("late", Duration::ZERO)
        })
        .await;
        assert_eq!(obs.signature.as_deref(), Some("TIMEOUT"));
        assert!(
            obs.latency < Duration::from_millis(250),
            "{:?}",
            obs.latency
        );
    }

    #[tokio::test]
    async fn a_target_whose_probe_is_stuck_strands_one_thread_not_one_per_probe() {
        let lane = Lane::default();
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let timeout = Duration::from_millis(20);
        let first = run_blocking(&lane, timeout, move || {
            let _ = stuck.recv();
            Observation::healthy("late", Duration::ZERO)
        })
        .await;
        assert_eq!(first.signature.as_deref(), Some("TIMEOUT"));
        let started = std::sync::Arc::new(AtomicBool::new(false));
        let ran = started.clone();
        let second = run_blocking(&lane, timeout, move || {
            ran.store(true, Ordering::SeqCst);
            Observation::healthy("ran", Duration::ZERO)
        })
        .await;
        assert!(second.detail.contains("still not returned"), "{second:?}");
        assert!(
            !started.load(Ordering::SeqCst),
            "no second thread while the first is stuck"
        );
        release.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let obs = run_blocking(&lane, Duration::from_secs(1), || {
                Observation::healthy("free again", Duration::ZERO)
            })
            .await;
            if obs.healthy {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the lane is freed once the work returns"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
