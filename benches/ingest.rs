//! Incident intake over loopback: the sustained rate of `POST /api/incidents`, and
//! the latency from an ingest request to its fix's `action_started` event at a
//! paced rate. Run: `cargo bench --bench ingest` (prints figures; not a test).
//! `RATE` (default 1000/s) and `SECS` (default 10) set the paced phase.

use axum::Router;
use axum::routing::post;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autoheal::api::Api;
use autoheal::event::EventKind;

#[path = "../tests/common/mod.rs"]
mod common;

const PLAYBOOK: &str = "name: fix-svc\nmatch: { targets: [svc], signature: '*' }\nseverity: high\nconfidence: 0.99\nsteps:\n  - name: fix\n    http: { url: '{{control}}/fix' }\n";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let (rate, secs) = (env("RATE", 1000), env("SECS", 10));
    // The fixed service: a control endpoint that answers at once.
    let control = Router::new().route("/fix", post(|| async { "fixed" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, control).await });

    // Every report is a new incident to fix: lift the rails that would (rightly) hold them.
    let config = format!(
        "targets:\n  - name: svc\n    passive: {{}}\n    vars: {{ control: '{control_url}' }}\npolicy: {{ max_concurrent: 1000000, max_per_hour: 1000000000, flap_max: 1000000000, cooldown: 0s, backoff_base: 0s }}\n"
    );
    let rig = common::rig(tempfile::tempdir().unwrap(), &config, &[PLAYBOOK]);
    let base = common::serve(Api::new(&rig.handle)).await;
    let mut events = rig.events;

    // When each signature's fix started, as the event stream tells it.
    let started: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen = started.clone();
    tokio::spawn(async move {
        let mut signature_of = HashMap::new();
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                // The burst phase outruns the channel; only the paced phase is measured.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            };
            match event.kind {
                EventKind::IncidentDetected {
                    incident_id,
                    signature,
                    ..
                } => {
                    signature_of.insert(incident_id, signature);
                }
                EventKind::ActionStarted { incident_id, .. } => {
                    if let Some(sig) = signature_of.get(&incident_id) {
                        seen.lock().unwrap().insert(sig.clone(), Instant::now());
                    }
                }
                _ => {}
            }
        }
    });
    let client = reqwest::Client::new();
    let url = format!("{base}/api/incidents");
    let send = |client: reqwest::Client, url: String, error: String| async move {
        let body = format!(r#"{{"service":"svc","error":"{error}"}}"#);
        let status = client
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16());
        assert_eq!(status.ok(), Some(202));
    };

    // Sustained rate: 32 clients as fast as they go.
    let burst = 20_000;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..32 {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            for i in (c..burst).step_by(32) {
                send(client.clone(), url.clone(), format!("BURST_{i}")).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let took = t.elapsed();
    println!(
        "sustained: {burst} reports in {took:.2?} = {:.0} reports/s (32 concurrent clients)",
        burst as f64 / took.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Paced: `rate` per second for `secs`, each report's latency to its fix's start.
    let total = rate * secs;
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        ticker.tick().await;
        let (client, url, sent) = (client.clone(), url.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let error = format!("PACED_{i}");
            sent.lock().unwrap().insert(error.clone(), Instant::now());
            send(client, url, error).await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut latencies: Vec<Duration> = {
        let (sent, started) = (sent.lock().unwrap(), started.lock().unwrap());
        sent.iter()
            .filter_map(|(sig, at)| started.get(sig).map(|s| s.saturating_duration_since(*at)))
            .collect()
    };
    latencies.sort();
    println!(
        "paced {rate}/s for {secs}s: {} of {total} reached action_started; ingest -> action_started p50 {:.2?} p99 {:.2?} max {:.2?}",
        latencies.len(),
        pct(&latencies, 0.50),
        pct(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    rig.handle
        .shutdown("bench over")
        .await
        .expect("engine stops cleanly");
}
