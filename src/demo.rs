//! The embedded demo fleet: real HTTP services on loopback that break on request
//! (chaos) and are really fixed over HTTP. With no config file the engine watches
//! this fleet, so every probe, action and verification crosses a real socket.
//!
//! Each service answers `GET /health`, `GET /admin/status` and three fixes:
//! `POST /admin/flush-pool` (DB_TIMEOUT), `/admin/restart-worker` (MEM_LEAK) and
//! `/admin/waf/enable` (NET_SPIKE). A supervisor on its own port injects faults
//! (`POST /services/{name}/chaos/{fault}`), restarts services
//! (`POST /services/{name}/restart`) and lists them (`GET /services`). CRASH closes
//! the service's listener, so connections are refused until a restart rebinds the
//! same port; DISK_FULL is cleared only by a restart. DISK_FILLING makes the disk
//! every health answer reports (`disk_percent`) grow by [`FILL_PER_SECOND`] until
//! it is full at [`DISK_FULL_AT`], unless `POST /admin/rotate-logs` (or a restart)
//! frees it first: autoheal predicts it. While orders-db is crashed, the others'
//! health checks fail too (`UPSTREAM_DOWN`): they depend on it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::future::IntoFuture;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;

/// Faults the demo playbooks fix without a human.
pub const AUTO_FIXABLE: &[&str] = &["DB_TIMEOUT", "MEM_LEAK", "NET_SPIKE", "CRASH"];
/// Every fault a demo service offers.
pub const FAULTS: &[&str] = &[
    "DB_TIMEOUT",
    "MEM_LEAK",
    "NET_SPIKE",
    "CRASH",
    "DISK_FULL",
    "DISK_FILLING",
];

/// The disk a healthy demo service reports, in percent.
pub const DISK_BASE: f64 = 41.0;
/// How fast DISK_FILLING fills it: full about a minute after the injection.
pub const FILL_PER_SECOND: f64 = 1.0;
/// From here the health check fails with DISK_FULL.
pub const DISK_FULL_AT: f64 = 95.0;

/// The services of the fleet; only the first is critical.
const SERVICES: &[&str] = &["payments-api", "orders-db", "edge-proxy"];
/// The service the others need: while it is down (CRASH), their health checks
/// fail too, and autoheal's root-cause view shows them as its symptoms.
const DATABASE: &str = "orders-db";
/// How long the database takes to start again after a crash.
const DATABASE_START: std::time::Duration = std::time::Duration::from_millis(1500);

type Services = Arc<[Arc<Service>]>;

/// A running axum server. Its task owns the listener, so ending the task closes the port.
struct Server {
    stop: watch::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

impl Server {
    fn spawn(listener: TcpListener, router: Router) -> Server {
        let (stop, mut stopped) = watch::channel(());
        // Either a stop or the sender's drop tells open connections to close.
        let signal = async move { stopped.changed().await.unwrap_or(()) };
        let serve = axum::serve(listener, router).with_graceful_shutdown(signal);
        Server {
            stop,
            task: tokio::spawn(serve.into_future()),
        }
    }

    /// Aborts the accept loop (dropping the listener) and tells open connections to
    /// finish their request and close. Await `task` to know the port is free.
    fn abort(&self) {
        self.stop.send_replace(());
        self.task.abort();
    }
}

/// One demo service: its fault and its server, behind a lock never held across an await.
struct Service {
    name: &'static str,
    critical: bool,
    port: u16,
    state: Mutex<ServiceState>,
    /// Serialises crash and restart, which await between their steps.
    ops: tokio::sync::Mutex<()>,
    /// The service this one needs; it fails while that one is down.
    upstream: Option<Arc<Service>>,
}

#[derive(Default)]
struct ServiceState {
    fault: Option<&'static str>,
    /// `None` while crashed: nothing listens on the port.
    server: Option<Server>,
    /// Set by shutdown: never serve again.
    closed: bool,
    /// Since when the disk has been filling (DISK_FILLING), until logs are rotated.
    filling_since: Option<std::time::Instant>,
}

impl ServiceState {
    /// The disk in use, in percent: [`DISK_BASE`], plus what filling added.
    fn disk_percent(&self) -> f64 {
        let filled = self
            .filling_since
            .map_or(0.0, |since| since.elapsed().as_secs_f64() * FILL_PER_SECOND);
        (DISK_BASE + filled).min(100.0)
    }

    /// The fault health reports: the injected one, else a disk filled up.
    fn fault(&self) -> Option<&'static str> {
        self.fault
            .or_else(|| (self.disk_percent() >= DISK_FULL_AT).then_some("DISK_FULL"))
    }
}

impl Service {
    fn lock(&self) -> MutexGuard<'_, ServiceState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn status(&self) -> Value {
        let state = self.lock();
        json!({
            "service": self.name,
            "port": self.port,
            "url": self.url(),
            "critical": self.critical,
            "up": state.server.is_some(),
            "fault": state.fault(),
            "disk_percent": round(state.disk_percent()),
        })
    }

    /// Injects `fault`; CRASH returns once the listener is closed.
    async fn inject(&self, fault: &'static str) -> Result<(), String> {
        let _ops = self.ops.lock().await;
        let crashed = {
            let mut state = self.lock();
            if state.server.is_none() && fault != "CRASH" {
                return Err(format!("{} is down; restart it first", self.name));
            }
            if fault == "DISK_FILLING" {
                // Not a failure yet: the disk only starts to grow.
                state
                    .filling_since
                    .get_or_insert_with(std::time::Instant::now);
                return Ok(());
            }
            state.fault = Some(fault);
            state.server.take_if(|_| fault == "CRASH")
        };
        if let Some(server) = crashed {
            // As a real crash: the port refuses before the open connections
            // close, so no client sees a listener that accepts but never answers.
            server.task.abort();
            let _ = server.task.await;
            server.stop.send_replace(());
        }
        Ok(())
    }

    /// Clears every fault and, if crashed, serves again on the same port.
    async fn restart(self: &Arc<Self>) -> io::Result<()> {
        let _ops = self.ops.lock().await;
        if self.lock().server.is_none() {
            // A database takes a moment to start: long enough for its
            // dependents' probes to see it gone (the root-cause view).
            if self.name == DATABASE {
                tokio::time::sleep(DATABASE_START).await;
            }
            // Crash awaited the old listener's end; SO_REUSEADDR covers TIME_WAIT.
            let listener = TcpListener::bind(("127.0.0.1", self.port)).await?;
            let mut state = self.lock();
            if !state.closed {
                state.server = Some(Server::spawn(listener, service_router(self.clone())));
            }
        }
        let mut state = self.lock();
        (state.fault, state.filling_since) = (None, None);
        Ok(())
    }

    /// A fix endpoint: clears `fault` only if it is the current one.
    fn fix(&self, action: &str, fault: &'static str) -> Json<Value> {
        let mut state = self.lock();
        let cleared = state.fault == Some(fault);
        if cleared {
            state.fault = None;
            tracing::info!(service = self.name, action, "demo fix cleared {fault}");
        }
        Json(json!({
            "service": self.name,
            "action": action,
            "cleared": cleared.then_some(fault),
            "message": fixed(fault),
        }))
    }

    /// Frees the disk DISK_FILLING filled (and ends a DISK_FULL it caused).
    fn rotate_logs(&self) -> Json<Value> {
        let mut state = self.lock();
        let freed = round(state.disk_percent() - DISK_BASE);
        state.filling_since = None;
        tracing::info!(service = self.name, "demo logs rotated, {freed}% freed");
        Json(json!({
            "service": self.name,
            "action": "rotate-logs",
            "freed_percent": freed,
            "disk_percent": DISK_BASE,
        }))
    }

    fn stop(&self) {
        let mut state = self.lock();
        state.closed = true;
        if let Some(server) = state.server.take() {
            server.abort();
        }
    }
}

/// What a failing health check says about each fault.
fn detail(service: &str, fault: &str) -> String {
    match fault {
        "DB_TIMEOUT" => "connection pool exhausted (50/50 in use), query waited 5000 ms".into(),
        "MEM_LEAK" => "worker RSS 3.8 GiB and rising, GC thrashing".into(),
        "NET_SPIKE" => "p99 latency 2300 ms, 12% packet loss from upstream".into(),
        "DISK_FULL" => format!("/var/lib/{service} 100% full, writes failing"),
        "CRASH" => "process exited (SIGSEGV)".into(),
        other => other.to_string(),
    }
}

/// What a fix endpoint says it did.
fn fixed(fault: &str) -> &'static str {
    match fault {
        "DB_TIMEOUT" => "connection pool flushed, 50 stale connections recycled",
        "MEM_LEAK" => "worker recycled, RSS back to 240 MiB",
        _ => "WAF enabled, abusive upstream traffic dropped",
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn round(percent: f64) -> f64 {
    (percent * 10.0).round() / 10.0
}

async fn health(State(svc): State<Arc<Service>>) -> Response {
    let (fault, disk) = {
        let state = svc.lock();
        (state.fault(), round(state.disk_percent()))
    };
    let upstream_down = (svc.upstream.as_ref()).filter(|up| up.lock().server.is_none());
    match (fault, upstream_down) {
        (None, Some(up)) => {
            let body = json!({
                "status": "error",
                "service": svc.name,
                "error": "UPSTREAM_DOWN",
                "detail": format!("{} refuses connections", up.name),
            });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
        (None, None) => Json(json!({ "status": "ok", "service": svc.name, "disk_percent": disk }))
            .into_response(),
        (Some(fault), _) => {
            let body = json!({
                "status": "error",
                "service": svc.name,
                "error": fault,
                "detail": detail(svc.name, fault),
                "disk_percent": disk,
            });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// The fix endpoints (under `/admin`), each with the one fault it clears.
const FIXES: &[(&str, &str)] = &[
    ("flush-pool", "DB_TIMEOUT"),
    ("restart-worker", "MEM_LEAK"),
    ("waf/enable", "NET_SPIKE"),
];

fn service_router(svc: Arc<Service>) -> Router {
    type S = State<Arc<Service>>;
    let mut router = Router::new().route("/health", get(health)).route(
        "/admin/status",
        get(|State(s): S| async move { Json(s.status()) }),
    );
    for &(action, fault) in FIXES {
        let fix = move |State(s): S| async move { s.fix(action, fault) };
        router = router.route(&format!("/admin/{action}"), post(fix));
    }
    let rotate = |State(s): S| async move { s.rotate_logs() };
    router = router.route("/admin/rotate-logs", post(rotate));
    router.with_state(svc)
}

fn find(services: &Services, name: &str) -> Option<Arc<Service>> {
    services.iter().find(|s| s.name == name).cloned()
}

fn unknown_service(name: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("unknown service `{name}`"))
}

async fn chaos(
    State(services): State<Services>,
    Path((name, fault)): Path<(String, String)>,
) -> Response {
    let Some(svc) = find(&services, &name) else {
        return unknown_service(&name);
    };
    let Some(&fault) = FAULTS.iter().find(|f| **f == fault) else {
        let message = format!("unknown fault `{fault}` (known: {})", FAULTS.join(", "));
        return error(StatusCode::BAD_REQUEST, message);
    };
    match svc.inject(fault).await {
        Ok(()) => Json(json!({ "injected": fault, "status": svc.status() })).into_response(),
        Err(message) => error(StatusCode::CONFLICT, message),
    }
}

async fn restart(State(services): State<Services>, Path(name): Path<String>) -> Response {
    let Some(svc) = find(&services, &name) else {
        return unknown_service(&name);
    };
    match svc.restart().await {
        Ok(()) => Json(json!({ "restarted": svc.name, "status": svc.status() })).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot rebind: {e}"),
        ),
    }
}

async fn list(State(services): State<Services>) -> Json<Vec<Value>> {
    Json(services.iter().map(|s| s.status()).collect())
}

fn supervisor_router(services: Services) -> Router {
    Router::new()
        .route("/services", get(list))
        .route("/services/{name}/chaos/{fault}", post(chaos))
        .route("/services/{name}/restart", post(restart))
        .with_state(services)
}

/// The running demo fleet: three services and their supervisor, all on 127.0.0.1.
pub struct DemoFleet {
    services: Services,
    supervisor_port: u16,
    supervisor: Server,
}

impl DemoFleet {
    /// Binds every service and the supervisor on 127.0.0.1 ephemeral ports.
    pub async fn start() -> io::Result<DemoFleet> {
        // Bind everything first, so a failure leaves nothing running.
        let supervisor_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let supervisor_port = supervisor_listener.local_addr()?.port();
        let (mut services, mut listeners) = (Vec::new(), Vec::new());
        let mut database = None;
        // The database first, so the others can name it as their upstream.
        let order = SERVICES.iter().enumerate().filter(|(_, n)| **n == DATABASE);
        for (i, &name) in order.chain(SERVICES.iter().enumerate().filter(|(_, n)| **n != DATABASE))
        {
            let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
            let (port, critical) = (listener.local_addr()?.port(), i == 0);
            let service = Arc::new(Service {
                name,
                critical,
                port,
                state: Mutex::default(),
                ops: tokio::sync::Mutex::default(),
                upstream: database.clone(),
            });
            if name == DATABASE {
                database = Some(service.clone());
            }
            services.push((i, service));
            listeners.push((i, listener));
        }
        services.sort_by_key(|(i, _)| *i);
        listeners.sort_by_key(|(i, _)| *i);
        let services: Vec<Arc<Service>> = services.into_iter().map(|(_, s)| s).collect();
        let listeners: Vec<TcpListener> = listeners.into_iter().map(|(_, l)| l).collect();
        for (svc, listener) in services.iter().zip(listeners) {
            svc.lock().server = Some(Server::spawn(listener, service_router(svc.clone())));
        }
        let services: Services = services.into();
        let supervisor = Server::spawn(supervisor_listener, supervisor_router(services.clone()));
        Ok(DemoFleet {
            services,
            supervisor_port,
            supervisor,
        })
    }

    /// The config the engine runs with in demo mode: probes every second, acts on the
    /// first failure, verifies within 3 s. Written as the config file would be, so it
    /// goes through the same schema and defaults.
    pub fn config(&self) -> Config {
        let supervisor = self.supervisor_url();
        let labels = json!({ "fleet": "demo" });
        let services = self.services.iter().map(|svc| {
            let (name, url) = (svc.name, svc.url());
            let depends_on: Vec<&str> = svc.upstream.iter().map(|up| up.name).collect();
            json!({
                "name": name,
                "http": { "url": format!("{url}/health") },
                "depends_on": depends_on,
                "critical": svc.critical,
                "labels": labels,
                "vars": {
                    "admin_url": format!("{url}/admin"),
                    "supervisor_url": supervisor,
                    "service": name,
                },
                "chaos": { "url": format!("{supervisor}/services/{name}/chaos"), "faults": FAULTS },
            })
        });
        let host = json!({ "name": "localhost", "host": {}, "labels": labels, "interval": "5s" });
        let config = json!({
            "journal": null,
            "policy": { "verify_within": "3s" },
            // A disk filling in about a minute is foreseen within seconds.
            "predict": { "window": "20s", "horizon": "10m" },
            "defaults": {
                "interval": "1s",
                "timeout": "1s",
                "failure_threshold": 1,
                "success_threshold": 1,
            },
            "targets": services.chain([host]).collect::<Vec<_>>(),
        });
        serde_json::from_value(config).expect("the demo config matches the config schema")
    }

    /// Base URL of one service (e.g. "http://127.0.0.1:40123"), for tests.
    pub fn service_url(&self, name: &str) -> Option<String> {
        find(&self.services, name).map(|s| s.url())
    }

    /// Base URL of the supervisor (chaos, restart, listing).
    pub fn supervisor_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.supervisor_port)
    }

    /// Stops every listener (also on Drop). The server tasks are aborted at once;
    /// the runtime drops them, closing their ports, as soon as it next runs them.
    pub fn shutdown(&self) {
        self.supervisor.abort();
        for svc in self.services.iter() {
            svc.stop();
        }
    }
}

impl Drop for DemoFleet {
    fn drop(&mut self) {
        self.shutdown();
    }
}
