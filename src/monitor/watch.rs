//! Watchers: events that say a target may have just failed, so it is probed at
//! once instead of at its next tick. A watcher only asks for a probe; the
//! probe decides. Polling stays the safety net for what no event shows.
//!
//! - a process is watched through a pidfd, which turns readable when it exits;
//! - an http or tcp target through one idle connection, which its server's
//!   death closes or resets.
//!
//! Both re-arm only after a healthy probe (`probed` tells each probe's
//! verdict), so a service that stays down costs no more than its ticks.

use jiff::Timestamp;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::process;
use crate::clock::now_ms;
use crate::config::ProcessProbe;

/// Called with the time the event was seen.
pub trait Fire: Fn(Timestamp) + Send + Sync + 'static {}
impl<F: Fn(Timestamp) + Send + Sync + 'static> Fire for F {}

/// What a target's probes said: how many so far, how many of them were
/// unhealthy, and whether the last was healthy.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Probed {
    pub count: u64,
    pub bad: u64,
    pub healthy: bool,
}

impl Probed {
    /// Counts one more probe.
    pub fn record(&mut self, healthy: bool) {
        self.count = self.count.wrapping_add(1);
        self.bad = self.bad.wrapping_add(u64::from(!healthy));
        self.healthy = healthy;
    }
}

/// What the probes have said so far (to compare with what they say later).
fn now_said(probed: &watch::Receiver<Probed>) -> Probed {
    *probed.borrow()
}

/// The first verdicts after `since`: what they are once at least one probe
/// more has run; `None` once the target is gone. A watcher that wakes late
/// sees the latest, and `bad` still tells whether any of them failed.
async fn after(probed: &mut watch::Receiver<Probed>, since: Probed) -> Option<Probed> {
    loop {
        let now = *probed.borrow_and_update();
        if now.count != since.count {
            return Some(now);
        }
        probed.changed().await.ok()?;
    }
}

/// Waits until the latest probe after `since` is healthy; false once the
/// target is gone. A healthy probe that ran before the wait began counts, so
/// a fix verified in the blink of an eye re-arms at once, not a tick later.
async fn healthy_after(probed: &mut watch::Receiver<Probed>, since: Probed) -> bool {
    loop {
        let now = *probed.borrow_and_update();
        if now.count != since.count && now.healthy {
            return true;
        }
        if probed.changed().await.is_err() {
            return false;
        }
    }
}

/// Watches the process(es) `spec` names: their exit fires at once. Ends
/// quietly where pidfds are not available (polling alone then).
pub async fn process(spec: ProcessProbe, mut probed: watch::Receiver<Probed>, fire: impl Fire) {
    loop {
        let spec2 = spec.clone();
        let pids = tokio::task::spawn_blocking(move || process::pids_of(&spec2))
            .await
            .unwrap_or_default();
        let mut exits = JoinSet::new();
        for pid in pids {
            match pidfd(pid) {
                Ok(fd) => {
                    exits.spawn(async move {
                        let _ = fd.readable().await;
                    });
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return,
                Err(_) => {} // gone already: the probe will tell
            }
        }
        let mut since = now_said(&probed);
        if !exits.is_empty() {
            exits.join_next().await;
            since = now_said(&probed);
            fire(now_ms());
        }
        if !healthy_after(&mut probed, since).await {
            return;
        }
    }
}

/// A pidfd for `pid`, readable once the process has exited (a zombie included).
fn pidfd(pid: libc::pid_t) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| std::io::Error::other("fd out of range"))?;
    // SAFETY: the kernel just gave us this fd; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an OwnedFd stays open and the same fd for as long as it is owned.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

/// The first wait after a connection closes; doubled while connections close
/// young (a server that drops idle clients fast), up to [`CLOSE_BACKOFF_MAX`].
const CLOSE_BACKOFF: Duration = Duration::from_millis(100);
const CLOSE_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A connection that lived this long was not dropped for being idle too fast.
const YOUNG: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Holds one idle connection to `address` (host:port): when it closes or
/// resets, fires, then connects again after the next healthy probe and a
/// backoff, so a server that closes idle connections costs at most one probe
/// per close and never a busy loop.
pub async fn connection(address: String, mut probed: watch::Receiver<Probed>, fire: impl Fire) {
    let mut backoff = CLOSE_BACKOFF;
    loop {
        let connect = tokio::net::TcpStream::connect(address.as_str());
        let since = now_said(&probed);
        let Ok(Ok(mut stream)) = tokio::time::timeout(CONNECT_TIMEOUT, connect).await else {
            // Down (the probe sees it) or unreachable: try again once it answers.
            if !healthy_after(&mut probed, since).await {
                return;
            }
            tokio::time::sleep(backoff).await;
            continue;
        };
        let opened = Instant::now();
        let mut buf = [0u8; 256];
        // Whatever the server says unasked (a banner) is read and dropped.
        while let Ok(1..) = stream.read(&mut buf).await {}
        let since = now_said(&probed);
        fire(now_ms());
        drop(stream);
        let Some(said) = after(&mut probed, since).await else {
            return;
        };
        backoff = if said.bad != since.bad {
            // It died: watch it again as soon as it is back.
            if !healthy_after(&mut probed, since).await {
                return;
            }
            CLOSE_BACKOFF
        } else if opened.elapsed() < YOUNG {
            // A healthy service closed it: an idle timeout. Back off while
            // they come fast, so each costs one probe and no busy loop.
            backoff.saturating_mul(2).min(CLOSE_BACKOFF_MAX)
        } else {
            CLOSE_BACKOFF
        };
        tokio::time::sleep(backoff).await;
    }
}

/// `host:port` of an http(s) URL, for [`connection`].
pub fn http_address(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?;
    Some(format!("{host}:{}", url.port_or_known_default()?))
}
