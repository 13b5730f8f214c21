//! The listening side of the API, built so that no client can starve the daemon:
//! a cap on open connections sized from the descriptor limit (probes and actions
//! keep a reserve), a deadline for request headers that also ends idle keep-alive
//! connections, and, when every place is taken, the oldest connection that has
//! not yet sent a request gives its place to the newcomer. So a crowd of idle
//! sockets can neither exhaust descriptors nor keep `/health` out.

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use futures_util::future::BoxFuture;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A client must send a request's headers within this, and a keep-alive
/// connection with no new request is closed after it.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Reading a request's body and producing its response (not streaming it) must
/// fit in this; `/api/events` streams for hours after its response has started.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most connections the API holds open, whatever the descriptor limit.
pub const MAX_CONNECTIONS: usize = 1024;

/// Descriptors kept for the engine (journal, probes, actions, logs) before the
/// API may have any: this many, plus [`FDS_PER_TARGET`] for each target.
pub const FD_RESERVE: u64 = 128;
pub const FDS_PER_TARGET: u64 = 2;

/// Even under an absurdly low descriptor limit, the API keeps a few places.
const MIN_CONNECTIONS: usize = 4;

/// After a failed accept (out of descriptors), wait instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: MAX_CONNECTIONS,
            header_timeout: HEADER_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

impl Limits {
    /// Sized for a process allowed `fd_limit` descriptors watching `targets`
    /// targets: the reserve stays for the engine, and each connection counts
    /// twice (it may open a file, such as the journal for `/api/events`).
    pub fn for_fd_limit(fd_limit: u64, targets: usize) -> Limits {
        let reserve = FD_RESERVE.saturating_add(FDS_PER_TARGET.saturating_mul(targets as u64));
        let spare = usize::try_from(fd_limit.saturating_sub(reserve) / 2).unwrap_or(usize::MAX);
        Limits {
            max_connections: spare.clamp(MIN_CONNECTIONS, MAX_CONNECTIONS),
            ..Limits::default()
        }
    }
}

/// Raises the soft limit on open descriptors to the hard one and returns the
/// limit now in force (the old one if raising fails).
pub fn raise_fd_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass, which outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Ok(raised.rlim_cur);
        }
    }
    Ok(limit.rlim_cur)
}

/// Serves `app` on `listener` (HTTP/1.1) until the process ends.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let open = Arc::new(Mutex::new(Open::default()));
    let mut next_id = 0u64;
    loop {
        let id = next_id;
        next_id = next_id.wrapping_add(1);
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("API: cannot accept a connection: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some((heard, evicted)) = lock(&open).admit(id, limits.max_connections) else {
            // Every place is busy with a client that has spoken: tell this one
            // if its socket takes it at once, then close.
            let _ = stream.try_write(REFUSED);
            continue;
        };
        let service = PerConnection {
            app: TowerToHyperService::new(app.clone()),
            heard,
            request_timeout: limits.request_timeout,
        };
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let leave = Leave {
            open: open.clone(),
            id,
        };
        tokio::spawn(async move {
            let _leave = leave;
            tokio::select! {
                _ = connection => {}
                _ = evicted => {}
            }
        });
    }
}

const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// The open connections, oldest first.
#[derive(Default)]
struct Open {
    connections: BTreeMap<u64, Place>,
}

struct Place {
    /// Set once the client has sent a whole request head.
    heard: Arc<AtomicBool>,
    evict: oneshot::Sender<()>,
}

impl Open {
    /// A place for connection `id`, evicting the oldest silent connection when
    /// all `cap` are taken; None when every connection has spoken.
    fn admit(&mut self, id: u64, cap: usize) -> Option<(Arc<AtomicBool>, oneshot::Receiver<()>)> {
        if self.connections.len() >= cap {
            let silent = self
                .connections
                .iter()
                .find(|(_, place)| !place.heard.load(Ordering::Relaxed))
                .map(|(id, _)| *id)?;
            if let Some(place) = self.connections.remove(&silent) {
                let _ = place.evict.send(());
            }
        }
        let heard = Arc::new(AtomicBool::new(false));
        let (evict, evicted) = oneshot::channel();
        self.connections.insert(
            id,
            Place {
                heard: heard.clone(),
                evict,
            },
        );
        Some((heard, evicted))
    }
}

fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
    open.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Gives a connection's place back when its task ends, however it ends.
struct Leave {
    open: Arc<Mutex<Open>>,
    id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        lock(&self.open).connections.remove(&self.id);
    }
}

/// The app as one connection sees it: the first request marks the connection as
/// heard (no longer the first to go when the server is full), and every request
/// gets [`Limits::request_timeout`] to be read and answered. The timeout ends
/// when the response starts, so a stream (`/api/events`) is not cut.
struct PerConnection {
    app: TowerToHyperService<Router>,
    heard: Arc<AtomicBool>,
    request_timeout: Duration,
}

impl hyper::service::Service<hyper::Request<Incoming>> for PerConnection {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        self.heard.store(true, Ordering::Relaxed);
        let response = self.app.call(request);
        let limit = self.request_timeout;
        Box::pin(async move {
            match tokio::time::timeout(limit, response).await {
                Ok(response) => response,
                Err(_) => Ok(super::error(
                    StatusCode::REQUEST_TIMEOUT,
                    format!("the request took longer than {}s", limit.as_secs_f64()),
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_a_reserve_for_the_engine() {
        // 256 descriptors, 10 targets: 256 - 148 = 108 spare, each connection counts twice.
        assert_eq!(Limits::for_fd_limit(256, 10).max_connections, 54);
        assert_eq!(
            Limits::for_fd_limit(1 << 20, 10).max_connections,
            MAX_CONNECTIONS
        );
        assert_eq!(
            Limits::for_fd_limit(64, 100).max_connections,
            MIN_CONNECTIONS
        );
        // No overflow at the extremes (RLIM_INFINITY, absurd target counts).
        assert_eq!(
            Limits::for_fd_limit(u64::MAX, 10).max_connections,
            MAX_CONNECTIONS
        );
        assert_eq!(
            Limits::for_fd_limit(u64::MAX, usize::MAX).max_connections,
            MIN_CONNECTIONS
        );
    }

    #[test]
    fn a_full_server_evicts_the_oldest_silent_connection() {
        let mut open = Open::default();
        let (first, _) = open.admit(0, 2).unwrap();
        let (_, mut second_evicted) = open.admit(1, 2).unwrap();
        first.store(true, Ordering::Relaxed);
        assert!(open.admit(2, 2).is_some(), "the silent one made room");
        assert!(second_evicted.try_recv().is_ok());
        assert_eq!(open.connections.keys().copied().collect::<Vec<_>>(), [0, 2]);
        open.connections[&2].heard.store(true, Ordering::Relaxed);
        assert!(open.admit(3, 2).is_none(), "everyone has spoken");
    }

    #[test]
    fn the_fd_limit_is_raised_to_the_hard_one() {
        let now = raise_fd_limit().unwrap();
        assert!(now >= 64, "{now}");
        assert_eq!(
            raise_fd_limit().unwrap(),
            now,
            "raising twice changes nothing"
        );
    }
}
