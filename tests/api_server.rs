//! The API server under a crowd of hostile or careless clients, over real
//! sockets: idle connections are closed, the connection cap holds, `/health`
//! still answers (whether the crowd idles, streams or stalls), refused clients
//! read a 503, and event streams outlive every timeout.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use autoheal::api::{self, Api, Limits, router};
use autoheal::engine::Heartbeat;
use common::Rig;

struct Daemon {
    addr: SocketAddr,
    base: String,
    rig: Rig,
}

/// An engine watching one passive target, its API served with `limits`.
async fn start(limits: Limits, tune: impl FnOnce(&mut Api)) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let config = "targets:\n  - name: checkout\n    passive: {}\n";
    let rig = Rig::start(common::settings(dir.path(), config), dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut api = rig.api();
    tune(&mut api);
    tokio::spawn(api::serve(listener, router(api), limits));
    Daemon {
        addr,
        base: format!("http://{addr}"),
        rig,
    }
}

fn limits(max_connections: usize, timeout: Duration) -> Limits {
    Limits {
        max_connections,
        header_timeout: timeout,
        request_timeout: timeout,
    }
}

/// How long until the server closes `stream` (whatever it sent before), if within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

/// Reads until `needle` has arrived; returns everything read.
async fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&text).contains(needle) {
        let n = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf))
            .await
            .expect("answer in time")
            .unwrap();
        assert!(
            n > 0,
            "closed before {needle:?}: {}",
            String::from_utf8_lossy(&text)
        );
        text.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&text).into_owned()
}

async fn health(base: &str) -> reqwest::Result<reqwest::StatusCode> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    Ok(client.get(format!("{base}/health")).send().await?.status())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_connections_are_closed_after_the_header_timeout() {
    let timeout = Duration::from_millis(400);
    let d = start(limits(64, timeout), |_| {}).await;

    let mut silent = TcpStream::connect(d.addr).await.unwrap();
    let closed = closed_within(&mut silent, Duration::from_secs(3)).await;
    let closed = closed.expect("a silent connection is closed");
    assert!(closed >= timeout - Duration::from_millis(50), "{closed:?}");
    assert!(closed < Duration::from_millis(1500), "{closed:?}");

    // Half a request line, then nothing (slowloris).
    let mut trickle = TcpStream::connect(d.addr).await.unwrap();
    trickle
        .write_all(b"GET /health HTTP/1.1\r\nHo")
        .await
        .unwrap();
    assert!(
        closed_within(&mut trickle, Duration::from_secs(3))
            .await
            .is_some()
    );

    // A keep-alive connection with no next request is idle: closed the same way.
    let mut idle = TcpStream::connect(d.addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut idle, r#""status":"ok""#).await;
    let closed = closed_within(&mut idle, Duration::from_secs(3))
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(closed < Duration::from_millis(1500), "{closed:?}");
    d.rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_idle_sockets_cannot_keep_health_out() {
    // A long header timeout: only the cap and eviction are at work here.
    let d = start(limits(8, Duration::from_secs(30)), |_| {}).await;
    let mut crowd = Vec::new();
    for _ in 0..100 {
        crowd.push(TcpStream::connect(d.addr).await.unwrap());
    }
    let asked = Instant::now();
    assert_eq!(health(&d.base).await.unwrap(), 200);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );

    let mut still_open = 0;
    for socket in &mut crowd {
        if closed_within(socket, Duration::from_millis(20))
            .await
            .is_none()
        {
            still_open += 1;
        }
    }
    assert!(
        still_open <= 8,
        "{still_open} idle sockets held past the cap of 8"
    );
    d.rig.stop().await;
}

/// Asks for `/api/events` on a new socket; returns it with the answer so far:
/// a stream's first event, or a refusal's whole body.
async fn open_stream(addr: SocketAddr) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /api/events?since=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut answer = read_until(&mut s, "\r\n\r\n").await;
    let needle = match answer.starts_with("HTTP/1.1 200") {
        true => "engine_started",
        false => "}",
    };
    if !answer.contains(needle) {
        answer.push_str(&read_until(&mut s, needle).await);
    }
    (s, answer)
}

/// Starts a POST to `path` whose body never comes: in flight until the request timeout.
async fn slow_post(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{{"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

async fn pause(base: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{base}/api/commands"))
        .header("content-type", "application/json")
        .body(r#"{"command":"pause","by":"ops"}"#)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_clients_gone_quiet_cannot_keep_health_out() {
    // Each of the crowd asked once and now idles on its keep-alive connection,
    // well within the (long) header timeout: all are evictable, oldest first.
    let d = start(limits(8, Duration::from_secs(30)), |_| {}).await;
    let mut crowd = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(d.addr).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        read_until(&mut s, r#""status":"ok""#).await;
        crowd.push(s);
    }
    for _ in 0..5 {
        let asked = Instant::now();
        assert_eq!(health(&d.base).await.unwrap(), 200);
        assert!(asked.elapsed() < Duration::from_secs(1));
    }
    d.rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_take_at_most_half_the_places() {
    let d = start(limits(8, Duration::from_secs(30)), |_| {}).await;
    let (mut streams, mut turned_away) = (Vec::new(), 0);
    for _ in 0..20 {
        let (s, answer) = open_stream(d.addr).await;
        if answer.starts_with("HTTP/1.1 200") {
            streams.push(s);
        } else {
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
            assert!(answer.contains("retry-after: 1"), "{answer}");
            assert!(answer.contains("too many event streams"), "{answer}");
            turned_away += 1;
        }
    }
    assert_eq!((streams.len(), turned_away), (4, 16));
    // Health and commands still get places, and the streams go on.
    assert_eq!(health(&d.base).await.unwrap(), 200);
    assert_eq!(pause(&d.base).await, 202);
    for stream in &mut streams {
        read_until(stream, "automation_paused").await;
    }
    // A stream that ends gives its place back.
    drop(streams.pop());
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (_s, head) = open_stream(d.addr).await;
        if head.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stream's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_place_is_in_flight_a_newcomer_reads_503_and_streams_outlive_timeouts() {
    let timeout = Duration::from_secs(1);
    let d = start(limits(4, timeout), |_| {}).await;
    let mut streams = Vec::new();
    for _ in 0..2 {
        let (s, answer) = open_stream(d.addr).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        streams.push(s);
    }
    let slow = [
        slow_post(d.addr, "/api/commands").await,
        slow_post(d.addr, "/api/commands").await,
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Every place has a request in flight: a newcomer is told so (a 503 it can
    // read, not a reset), at once.
    for _ in 0..5 {
        let asked = Instant::now();
        let status = health(&d.base).await.expect("a 503, not a reset");
        assert_eq!(status, 503);
        assert!(asked.elapsed() < Duration::from_millis(500));
    }

    // Past the timeouts the slow bodies are cut, the streams are still served...
    tokio::time::sleep(timeout + Duration::from_millis(200)).await;
    let deadline = Instant::now() + Duration::from_secs(2);
    while health(&d.base).await.ok() != Some(reqwest::StatusCode::OK) {
        assert!(
            Instant::now() < deadline,
            "the cut requests' places never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pause(&d.base).await, 202);
    for stream in &mut streams {
        read_until(stream, "automation_paused").await;
    }
    drop(slow);
    d.rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_few_alertmanager_batches_are_read_at_once() {
    let d = start(limits(64, Duration::from_secs(10)), |_| {}).await;
    let mut slow = Vec::new();
    for _ in 0..api::ALERTMANAGER_AT_ONCE {
        slow.push(slow_post(d.addr, "/api/alertmanager").await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let post = || {
        reqwest::Client::new()
            .post(format!("{}/api/alertmanager", d.base))
            .header("content-type", "application/json")
            .body(r#"{"alerts":[]}"#)
            .send()
    };
    let asked = Instant::now();
    let answer = post().await.unwrap();
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "1");
    let waited = asked.elapsed();
    assert!(waited >= api::ALERTMANAGER_WAIT, "{waited:?}");
    assert!(
        waited < api::ALERTMANAGER_WAIT + Duration::from_secs(1),
        "{waited:?}"
    );
    // Other routes do not wait on Alertmanager's turns.
    assert_eq!(pause(&d.base).await, 202);
    // A batch that ends gives its turn to the next.
    drop(slow.pop());
    assert_eq!(post().await.unwrap().status(), 202);
    d.rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_arrives_times_out() {
    let timeout = Duration::from_millis(300);
    let d = start(limits(64, timeout), |_| {}).await;
    let mut slow = TcpStream::connect(d.addr).await.unwrap();
    slow.write_all(
        b"POST /api/commands HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let sent = Instant::now();
    let answer = read_until(&mut slow, "\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "{:?}",
        sent.elapsed()
    );
    d.rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_with_the_age_when_the_engine_loop_stalls() {
    // A pulse nobody beats stands for an engine loop stuck in one turn.
    let d = start(Limits::default(), |api| {
        api.heartbeat = Heartbeat::default()
    })
    .await;
    assert_eq!(health(&d.base).await.unwrap(), 200);
    tokio::time::sleep(autoheal::engine::STALL + Duration::from_millis(200)).await;
    let answer = reqwest::get(format!("{}/health", d.base)).await.unwrap();
    assert_eq!(answer.status(), 503);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["status"], "stalled");
    assert!(body["engine_age_ms"].as_u64().unwrap() >= 5000, "{body}");
    d.rig.stop().await;
}

/// A free loopback port for a child process to listen on.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_low_fd_limit_500_idle_sockets_starve_neither_probes_nor_health() {
    // A healthy service for the daemon to probe, in this process.
    let web = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web_url = format!("http://{}/health", web.local_addr().unwrap());
    let app = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(web, app).await });

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - name: web\n    http: {{ url: '{web_url}' }}\n    interval: 200ms\n    timeout: 1s\n"
        ),
    )
    .unwrap();
    let journal = dir.path().join("journal.jsonl");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 256 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_autoheal-tui"))
        .args(["serve", "--listen", &addr.to_string(), "--for", "30s"])
        .arg("--config")
        .arg(&config)
        .arg("--journal")
        .arg(&journal)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://{addr}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while health(&base).await.ok() != Some(reqwest::StatusCode::OK) {
        assert!(Instant::now() < deadline, "the daemon never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut crowd = Vec::new();
    for _ in 0..500 {
        match TcpStream::connect(addr).await {
            Ok(socket) => crowd.push(socket),
            Err(e) => panic!("connect #{}: {e}", crowd.len()),
        }
    }
    // Ten probe intervals with the crowd held, /health asked throughout.
    for _ in 0..10 {
        let asked = Instant::now();
        assert_eq!(health(&base).await.unwrap(), 200);
        assert!(asked.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(crowd);

    child.start_kill().unwrap();
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("at most 63 connections; 256 descriptors"),
        "the cap keeps a reserve: {stderr}"
    );
    assert!(!stderr.contains("Too many open files"), "{stderr}");
    let journal = std::fs::read_to_string(&journal).unwrap();
    for kind in ["probe_failed", "incident_detected"] {
        assert!(
            !journal.contains(&format!(r#""kind":"{kind}""#)),
            "a healthy target got {kind}:\n{journal}"
        );
    }
}
