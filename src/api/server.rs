//! The listening side of the API, built so that no client can starve the daemon:
//! a cap on open connections sized from the descriptor limit (probes and actions
//! keep a reserve), a deadline for request headers that also ends idle keep-alive
//! connections, and, when every place is taken, the connection idle the longest
//! gives its place to the newcomer ([`Places`]). Streams may hold at most half the
//! places, so neither a crowd of idle sockets nor a crowd of streams keeps
//! `/health` out.

use axum::body::Body;
use axum::http::StatusCode;
use axum::{Extension, Router};
use futures_util::future::BoxFuture;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::places::{Guarded, Places};

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
    /// twice, for the descriptors of at most half as many streams (each reads
    /// the journal) and refused sockets being drained.
    pub fn for_fd_limit(fd_limit: u64, targets: usize) -> Limits {
        let reserve = FD_RESERVE.saturating_add(FDS_PER_TARGET.saturating_mul(targets as u64));
        let spare = usize::try_from(fd_limit.saturating_sub(reserve) / 2).unwrap_or(usize::MAX);
        Limits {
            max_connections: spare.clamp(MIN_CONNECTIONS, MAX_CONNECTIONS),
            ..Limits::default()
        }
    }

    /// The most `/api/events` streams at once: half the places, so the other
    /// half always frees up for `/health` and commands.
    pub fn max_streams(&self) -> usize {
        (self.max_connections / 2).max(1)
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
    let app = app.layer(Extension(Streams(Arc::new(Semaphore::new(
        limits.max_streams(),
    )))));
    let places = Arc::new(Places::default());
    let refusing = Arc::new(Semaphore::new(limits.max_streams()));
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
        let Some(evicted) = places.admit(id, limits.max_connections) else {
            refuse(stream, &refusing);
            continue;
        };
        let service = PerConnection {
            app: TowerToHyperService::new(app.clone()),
            places: places.clone(),
            id,
            request_timeout: limits.request_timeout,
        };
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let leave = Leave {
            places: places.clone(),
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

/// A refused client gets this long to send its request head (up to this many
/// bytes) and have the rest drained, before its socket closes.
const REFUSAL_TIME: Duration = Duration::from_secs(1);
const REFUSAL_BYTES: usize = 16 * 1024;

/// Every place holds a request in flight: tell this client with a 503, then
/// close. The answer waits for the request head (HTTP clients such as hyper's
/// take an answer that comes before it as an error), and the write side is
/// shut and the rest of the input drained before closing, since closing with
/// input unread resets the connection and discards the 503 unread. This runs
/// in a task (the accept loop never waits), bounded in time and bytes, and for
/// only as many sockets at once as `refusing` allows: beyond that, a socket is
/// closed at once rather than allowed to pile up descriptors.
fn refuse(mut stream: TcpStream, refusing: &Arc<Semaphore>) {
    let Ok(turn) = refusing.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _turn = turn;
        let _ = tokio::time::timeout(REFUSAL_TIME, async {
            let mut input = Vec::new();
            let mut buf = [0u8; 4096];
            let head_read = |input: &[u8]| input.windows(4).any(|w| w == b"\r\n\r\n");
            while !head_read(&input) && input.len() < REFUSAL_BYTES {
                match stream.read(&mut buf).await? {
                    0 => break,
                    n => input.extend_from_slice(&buf[..n]),
                }
            }
            stream.write_all(REFUSED).await?;
            stream.shutdown().await?;
            while input.len() < REFUSAL_BYTES {
                match stream.read(&mut buf).await? {
                    0 => break,
                    n => input.extend_from_slice(&buf[..n]),
                }
            }
            Ok::<_, std::io::Error>(())
        })
        .await;
    });
}

/// Gives a connection's place back when its task ends, however it ends.
struct Leave {
    places: Arc<Places>,
    id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        self.places.leave(self.id);
    }
}

/// Places for `/api/events` streams, handed to the app by [`serve`]: at most
/// [`Limits::max_streams`] at once, so streams can never hold every place.
#[derive(Clone)]
pub struct Streams(Arc<Semaphore>);

impl Streams {
    /// A place for one more stream, held until the permit is dropped.
    pub fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }
}

/// The app as one connection sees it: each request is in flight (its
/// connection not evictable) until its response body is dropped, and gets
/// [`Limits::request_timeout`] to be read and answered. The timeout ends when
/// the response starts, so a stream (`/api/events`) is not cut.
struct PerConnection {
    app: TowerToHyperService<Router>,
    places: Arc<Places>,
    id: u64,
    request_timeout: Duration,
}

impl hyper::service::Service<hyper::Request<Incoming>> for PerConnection {
    type Response = hyper::Response<Guarded<Body>>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let in_flight = self.places.begin(self.id);
        let response = self.app.call(request);
        let limit = self.request_timeout;
        Box::pin(async move {
            let response = match tokio::time::timeout(limit, response).await {
                Ok(Ok(response)) => response,
                Err(_) => super::error(
                    StatusCode::REQUEST_TIMEOUT,
                    format!("the request took longer than {}s", limit.as_secs_f64()),
                ),
            };
            Ok(response.map(|body| Guarded {
                body,
                _in_flight: in_flight,
            }))
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
