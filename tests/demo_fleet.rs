//! The demo fleet over real sockets: faults show on /health, fixes clear only
//! their own fault, CRASH closes the port and restart rebinds it.

use autoheal::demo::{AUTO_FIXABLE, DemoFleet, FAULTS};
use serde_json::Value;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

const SERVICES: &[&str] = &["payments-api", "orders-db", "edge-proxy"];
/// Fix endpoint (under /admin) and the fault it clears.
const FIXES: &[(&str, &str)] = &[
    ("flush-pool", "DB_TIMEOUT"),
    ("restart-worker", "MEM_LEAK"),
    ("waf/enable", "NET_SPIKE"),
];

thread_local! {
    // Like the engine's probe client: no pooled connections. One per test thread,
    // since building a client (TLS roots) costs more than a loopback request.
    static CLIENT: reqwest::Client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
}

fn client() -> reqwest::Client {
    CLIENT.with(Clone::clone)
}

async fn get(url: &str) -> (u16, Value) {
    let response = client().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn post(url: &str) -> (u16, Value) {
    let response = client().post(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Status code and `error` field of a service's /health.
async fn health(fleet: &DemoFleet, service: &str) -> (u16, Value) {
    let (status, body) = get(&format!("{}/health", fleet.service_url(service).unwrap())).await;
    (status, body["error"].clone())
}

async fn chaos(fleet: &DemoFleet, service: &str, fault: &str) -> u16 {
    post(&format!(
        "{}/services/{service}/chaos/{fault}",
        fleet.supervisor_url()
    ))
    .await
    .0
}

async fn restart(fleet: &DemoFleet, service: &str) -> u16 {
    post(&format!(
        "{}/services/{service}/restart",
        fleet.supervisor_url()
    ))
    .await
    .0
}

fn addr(url: &str) -> String {
    url.trim_start_matches("http://").to_string()
}

/// Waits (briefly) until connecting to `addr` is refused.
async fn refused(addr: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match tokio::net::TcpStream::connect(addr).await {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return true,
            _ if Instant::now() > deadline => return false,
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

#[tokio::test]
async fn every_service_is_healthy_at_start() {
    let fleet = DemoFleet::start().await.unwrap();
    for service in SERVICES {
        let url = format!("{}/health", fleet.service_url(service).unwrap());
        let (status, body) = get(&url).await;
        assert_eq!(status, 200, "{service}: {body}");
        assert_eq!(body["status"], "ok");
        assert_eq!(body["service"], *service);
    }
    let (status, list) = get(&format!("{}/services", fleet.supervisor_url())).await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert!(
        list.iter().all(|s| s["up"] == true && s["fault"].is_null()),
        "{list:?}"
    );
    assert!(fleet.service_url("nope").is_none());
}

#[tokio::test]
async fn each_fault_shows_on_health_with_a_detail() {
    let fleet = DemoFleet::start().await.unwrap();
    // DISK_FILLING fails only once the disk is full, about a minute later.
    for fault in FAULTS
        .iter()
        .filter(|f| !["CRASH", "DISK_FILLING"].contains(*f))
    {
        assert_eq!(chaos(&fleet, "orders-db", fault).await, 200);
        let url = format!("{}/health", fleet.service_url("orders-db").unwrap());
        let (status, body) = get(&url).await;
        assert_eq!(status, 503, "{fault}");
        assert_eq!(body["status"], "error");
        assert_eq!(body["service"], "orders-db");
        assert_eq!(body["error"], *fault);
        assert!(!body["detail"].as_str().unwrap().is_empty());
        let (_, status) = get(&format!(
            "{}/admin/status",
            fleet.service_url("orders-db").unwrap()
        ))
        .await;
        assert_eq!(status["fault"], *fault);
        assert_eq!(restart(&fleet, "orders-db").await, 200);
        assert_eq!(health(&fleet, "orders-db").await.0, 200);
    }
    assert!(AUTO_FIXABLE.iter().all(|f| FAULTS.contains(f)));
}

#[tokio::test]
async fn each_fix_clears_its_own_fault_and_no_other() {
    let fleet = DemoFleet::start().await.unwrap();
    let admin = format!("{}/admin", fleet.service_url("payments-api").unwrap());
    for (endpoint, fault) in FIXES {
        assert_eq!(chaos(&fleet, "payments-api", fault).await, 200);
        for (other, _) in FIXES.iter().filter(|(e, _)| e != endpoint) {
            let (status, body) = post(&format!("{admin}/{other}")).await;
            assert_eq!(status, 200, "{other} is idempotent");
            assert!(body["cleared"].is_null(), "{other} cleared {fault}");
            assert_eq!(
                health(&fleet, "payments-api").await,
                (503, Value::from(*fault))
            );
        }
        let (status, body) = post(&format!("{admin}/{endpoint}")).await;
        assert_eq!(status, 200);
        assert_eq!(body["cleared"], *fault);
        assert_eq!(
            health(&fleet, "payments-api").await.0,
            200,
            "{endpoint} should clear {fault}"
        );
        // Again, with nothing to clear: still 200.
        assert_eq!(post(&format!("{admin}/{endpoint}")).await.0, 200);
    }
}

// The engine runs on a multi-thread runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_refuses_connections_until_restart_rebinds_the_same_port() {
    let fleet = DemoFleet::start().await.unwrap();
    let url = fleet.service_url("edge-proxy").unwrap();
    assert_eq!(chaos(&fleet, "edge-proxy", "CRASH").await, 200);
    // The listener is closed before the supervisor answers.
    let err = tokio::net::TcpStream::connect(addr(&url))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    // A crashed service cannot take another fault, but can crash "again".
    assert_eq!(chaos(&fleet, "edge-proxy", "DB_TIMEOUT").await, 409);
    assert_eq!(chaos(&fleet, "edge-proxy", "CRASH").await, 200);
    let (_, list) = get(&format!("{}/services", fleet.supervisor_url())).await;
    let edge = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "edge-proxy")
        .unwrap()
        .clone();
    assert_eq!(
        (edge["up"].clone(), edge["fault"].clone()),
        (Value::from(false), Value::from("CRASH"))
    );
    // The other services are unaffected.
    assert_eq!(health(&fleet, "orders-db").await.0, 200);

    assert_eq!(restart(&fleet, "edge-proxy").await, 200);
    assert_eq!(fleet.service_url("edge-proxy").unwrap(), url);
    assert_eq!(health(&fleet, "edge-proxy").await.0, 200);
    // And it can crash and come back again.
    assert_eq!(chaos(&fleet, "edge-proxy", "CRASH").await, 200);
    assert_eq!(restart(&fleet, "edge-proxy").await, 200);
    assert_eq!(health(&fleet, "edge-proxy").await.0, 200);
}

#[tokio::test]
async fn disk_full_is_cleared_only_by_restart() {
    let fleet = DemoFleet::start().await.unwrap();
    let url = fleet.service_url("orders-db").unwrap();
    assert_eq!(chaos(&fleet, "orders-db", "DISK_FULL").await, 200);
    let (_, body) = get(&format!("{url}/health")).await;
    assert_eq!(
        body["detail"],
        "/var/lib/orders-db 100% full, writes failing"
    );
    for (endpoint, _) in FIXES {
        assert_eq!(post(&format!("{url}/admin/{endpoint}")).await.0, 200);
        assert_eq!(
            health(&fleet, "orders-db").await,
            (503, Value::from("DISK_FULL"))
        );
    }
    assert_eq!(restart(&fleet, "orders-db").await, 200);
    assert_eq!(health(&fleet, "orders-db").await.0, 200);
}

#[tokio::test]
async fn unknown_fault_is_400_and_unknown_service_404() {
    let fleet = DemoFleet::start().await.unwrap();
    let supervisor = fleet.supervisor_url();
    let (status, body) = post(&format!("{supervisor}/services/orders-db/chaos/GREMLINS")).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("GREMLINS"));
    let (status, body) = post(&format!("{supervisor}/services/nope/chaos/CRASH")).await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("nope"));
    assert_eq!(
        post(&format!("{supervisor}/services/nope/restart")).await.0,
        404
    );
    assert_eq!(health(&fleet, "orders-db").await.0, 200);
}

#[tokio::test]
async fn config_describes_the_fleet_and_its_urls_work() {
    let fleet = DemoFleet::start().await.unwrap();
    let config = fleet.config();
    let targets = config.resolve_targets().unwrap();
    assert_eq!(targets.len(), 4);
    assert!(config.policy.problems().is_empty());
    assert_eq!(config.policy.verify_within, Duration::from_secs(3));
    assert!(config.journal.is_none());
    for t in &targets {
        assert_eq!(t.labels.get("fleet").map(String::as_str), Some("demo"));
        assert_eq!(t.critical, t.name == "payments-api", "{}", t.name);
    }
    let host = targets.iter().find(|t| t.name == "localhost").unwrap();
    assert_eq!(host.probe.kind(), "host");
    assert_eq!(host.interval, Duration::from_secs(5));
    assert!(host.chaos.is_none());

    for t in config.targets.iter().filter(|t| t.name != "localhost") {
        let probe = &t.http.as_ref().unwrap().url;
        let chaos = t.chaos.as_ref().unwrap();
        assert_eq!(chaos.faults, FAULTS);
        assert_eq!(t.vars["service"], t.name);
        assert_eq!(t.vars["supervisor_url"], fleet.supervisor_url());
        assert_eq!(get(probe).await.0, 200);
        assert_eq!(post(&format!("{}/MEM_LEAK", chaos.url)).await.0, 200);
        let (status, body) = get(probe).await;
        assert_eq!(
            (status, body["error"].clone()),
            (503, Value::from("MEM_LEAK"))
        );
        assert_eq!(
            post(&format!("{}/restart-worker", t.vars["admin_url"]))
                .await
                .0,
            200
        );
        assert_eq!(get(probe).await.0, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_port() {
    let fleet = DemoFleet::start().await.unwrap();
    let mut addrs: Vec<String> = SERVICES
        .iter()
        .map(|s| addr(&fleet.service_url(s).unwrap()))
        .collect();
    addrs.push(addr(&fleet.supervisor_url()));
    fleet.shutdown();
    for a in &addrs {
        assert!(refused(a).await, "{a} still accepts connections");
    }
    drop(fleet);

    let fleet = DemoFleet::start().await.unwrap();
    let a = addr(&fleet.supervisor_url());
    drop(fleet);
    assert!(
        refused(&a).await,
        "dropping the fleet closes the supervisor"
    );
}

#[tokio::test]
async fn crash_also_closes_kept_alive_connections() {
    let fleet = DemoFleet::start().await.unwrap();
    let health = format!("{}/health", fleet.service_url("orders-db").unwrap());
    // A pooling client, unlike the engine's: its idle connection must not outlive a crash.
    let pooled = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    assert_eq!(pooled.get(&health).send().await.unwrap().status(), 200);
    assert_eq!(chaos(&fleet, "orders-db", "CRASH").await, 200);
    let deadline = Instant::now() + Duration::from_secs(1);
    while pooled.get(&health).send().await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "a kept-alive connection still answers after CRASH"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
