//! The HTTP API over real sockets: commands in, the event stream out.

mod common;

use std::time::Duration;

use autoheal::api::{Api, BODY_LIMIT};
use autoheal::config::ApiKey;

/// The demo engine with its API on an ephemeral loopback port.
async fn serve(token: Option<&str>) -> (common::Run, String) {
    serve_with(|api| api.keys = token.map(ApiKey::token).into_iter().collect()).await
}

async fn serve_with(tune: impl FnOnce(&mut Api)) -> (common::Run, String) {
    let run = common::demo(|_, _| {}).await;
    let mut api = run.api();
    tune(&mut api);
    let base = common::serve(api).await;
    (run, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_posted_heals_and_the_stream_shows_it() {
    let (run, base) = serve(None).await;
    let http = reqwest::Client::new();
    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let sent = http
        .post(format!("{base}/api/commands"))
        .header("content-type", "application/json")
        .body(r#"{"command":"inject_chaos","target":"orders-db","fault":"DB_TIMEOUT"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);

    // From seq 0: history first (engine_started...), then live until the fix is verified.
    let mut stream = http
        .get(format!("{base}/api/events?since=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "application/x-ndjson");
    let (mut text, mut seqs) = (String::new(), Vec::new());
    let found = tokio::time::timeout(Duration::from_secs(8), async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find('\n') {
                let line: serde_json::Value = serde_json::from_str(&text[..end]).unwrap();
                text.drain(..=end);
                seqs.push(line["seq"].as_u64().unwrap());
                if line["kind"] == "incident_resolved" {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "seqs seen: {seqs:?}");
    assert_eq!(seqs[0], 1, "history starts at the first event");
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap, no duplicate: {seqs:?}"
    );

    // Resuming after a seq sends only what came after it.
    let last = *seqs.last().unwrap();
    let mut resumed = http
        .get(format!("{base}/api/events?since={}", last - 1))
        .send()
        .await
        .unwrap();
    let chunk = resumed.chunk().await.unwrap().unwrap();
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&chunk).lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], last);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error() {
    let (run, base) = serve(None).await;
    let http = reqwest::Client::new();
    let post = |body: String| {
        http.post(format!("{base}/api/commands"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let missing = post(r#"{"command":"approve","by":"alice"}"#.into())
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let error: serde_json::Value = missing.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("missing field `incident_id`"),
        "{error}"
    );

    let unknown = post(r#"{"command":"rm -rf /"}"#.into()).await.unwrap();
    assert_eq!(unknown.status(), 400);

    let huge = post(format!(
        r#"{{"command":"pause","by":"{}"}}"#,
        "x".repeat(BODY_LIMIT)
    ))
    .await
    .unwrap();
    assert_eq!(huge.status(), 413);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_every_api_call_but_not_health() {
    let (run, base) = serve(Some("s3cret")).await;
    let http = reqwest::Client::new();
    let pause = r#"{"command":"pause","by":"ci"}"#;

    let anonymous = http
        .post(format!("{base}/api/commands"))
        .header("content-type", "application/json")
        .body(pause)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let error: serde_json::Value = anonymous.json().await.unwrap();
    assert_eq!(
        error["error"],
        "missing or wrong API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`"
    );
    let wrong = http
        .get(format!("{base}/api/events"))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let right = http
        .post(format!("{base}/api/commands"))
        .bearer_auth("s3cret")
        .header("content-type", "application/json")
        .body(pause)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 202);
    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (state, ..) = run.stop().await;
    assert!(state.paused, "the authorized pause reached the engine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engines_own_commands_are_unreachable() {
    let (run, base) = serve(None).await;
    for internal in [
        r#"{"command":"shutdown","reason":"bye"}"#,
        r#"{"command":"record_notification_failure","url":"http://x","error":"forged"}"#,
        r#"{"command":"ingest","source":"x","target":"orders-db","signature":"S","labels":{"autoheal.restart":"systemd"},"firing":true}"#,
    ] {
        let (status, error) = common::command(&base, internal).await;
        assert_eq!(status, 400, "{internal}");
        assert!(
            error.contains(
                "the API accepts approve, reject, retry, acknowledge, close, inject_chaos, pause, resume, silence, unsilence"
            ),
            "{error}"
        );
    }
    let (status, error) = common::command(
        &base,
        r#"{"command":"silence","target":"orders-db","duration":1000000000000,"by":"x"}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(error.contains("at most 315360000 (10 years)"), "{error}");

    // Still running and obeying: a public command goes through.
    let (status, _) = common::command(&base, r#"{"command":"pause","by":"ops\u001b[2J"}"#).await;
    assert_eq!(status, 202);
    let (state, journal, _dir) = run.stop().await;
    assert!(state.paused, "the pause reached the engine");
    let journal = std::fs::read_to_string(journal).unwrap();
    assert!(!journal.contains("forged"), "no forged audit line");
    assert!(
        !journal.contains("\\u001b"),
        "control characters stripped from `by`"
    );
    assert!(journal.contains(r#""by":"ops[2J""#), "{journal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_about_an_unknown_target_is_404_naming_the_known_ones() {
    let (run, base) = serve(None).await;
    for unknown in [
        r#"{"command":"silence","target":"orders-dbb","duration":600,"by":"ops"}"#,
        r#"{"command":"unsilence","target":"orders-dbb","by":"ops"}"#,
        r#"{"command":"inject_chaos","target":"orders-dbb","fault":"DB_TIMEOUT"}"#,
    ] {
        let (status, error) = common::command(&base, unknown).await;
        assert_eq!(status, 404, "{unknown}");
        assert!(error.starts_with("no target named orders-dbb"), "{error}");
        assert!(error.contains("orders-db, "), "names the known: {error}");
    }
    let (status, _) = common::command(
        &base,
        r#"{"command":"silence","target":"orders-db","duration":600,"by":"ops"}"#,
    )
    .await;
    assert_eq!(status, 202);
    let (state, ..) = run.stop().await;
    let silenced: Vec<_> = state
        .targets
        .iter()
        .filter(|(_, t)| t.silenced_until.is_some())
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(silenced, ["orders-db"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_page_cannot_drive_or_read_the_api() {
    let (run, base) = serve_with(|api| {
        api.allowed_hosts = vec!["autoheal.internal".into()];
        api.allowed_origins = vec!["https://ops.example.com".into()];
    })
    .await;
    let http = reqwest::Client::new();
    let pause = r#"{"command":"pause","by":"web"}"#;

    // A form or a no-cors fetch can only send text/plain: refused.
    let plain = http
        .post(format!("{base}/api/commands"))
        .header("content-type", "text/plain")
        .body(pause)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 415);
    let from_page = http
        .post(format!("{base}/api/commands"))
        .header("content-type", "text/plain")
        .header("origin", "https://evil.example")
        .body(pause)
        .send()
        .await
        .unwrap();
    assert_eq!(from_page.status(), 403);
    let json_from_page = http
        .post(format!("{base}/api/commands"))
        .header("content-type", "application/json; charset=utf-8")
        .header("origin", "https://evil.example")
        .body(pause)
        .send()
        .await
        .unwrap();
    assert_eq!(json_from_page.status(), 403);
    let error: serde_json::Value = json_from_page.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("api.allowed_origins"),
        "{error}"
    );

    // DNS rebinding: the page's own name arrives as Host.
    for path in ["/api/state", "/health", "/api/events"] {
        let rebound = http
            .get(format!("{base}{path}"))
            .header("host", "evil.example:7311")
            .send()
            .await
            .unwrap();
        assert_eq!(rebound.status(), 403, "{path}");
    }
    let named = http
        .get(format!("{base}/health"))
        .header("host", "autoheal.internal")
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), 200, "a listed name is served");
    let localhost = http
        .get(format!("{base}/health"))
        .header("host", "localhost:7311")
        .send()
        .await
        .unwrap();
    assert_eq!(localhost.status(), 200);

    let (state, ..) = run.stop().await;
    assert!(!state.paused, "no refused request reached the engine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_origin_may_call() {
    let (run, base) = serve_with(|api| {
        api.allowed_origins = vec!["https://ops.example.com".into()];
    })
    .await;
    let allowed = reqwest::Client::new()
        .post(format!("{base}/api/commands"))
        .header("content-type", "application/json; charset=utf-8")
        .header("origin", "https://ops.example.com")
        .body(r#"{"command":"pause","by":"dashboard"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 202);
    let (state, ..) = run.stop().await;
    assert!(state.paused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_tells_a_running_engine_from_a_stopped_one() {
    let (run, base) = serve(None).await;
    let http = reqwest::Client::new();
    let ok = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert!(body["engine_age_ms"].as_u64().unwrap() < 2000, "{body}");

    run.stop().await;
    let stopped = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(stopped.status(), 503);
    let body: serde_json::Value = stopped.json().await.unwrap();
    assert_eq!(body["status"], "stopped", "{body}");
    assert!(body["engine_age_ms"].is_u64(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_get_4xx_on_every_endpoint_and_break_nothing() {
    let (run, base) = serve(None).await;
    let http = reqwest::Client::new();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bodies: Vec<Vec<u8>> = [
        "",
        "null",
        "[]",
        "{",
        "1e400",
        r#"{"command":"approve","incident_id":-1,"by":"x"}"#,
        r#"{"command":"approve","incident_id":18446744073709551616,"by":"x"}"#,
        r#"{"command":"silence","target":"orders-db","duration":-5,"by":"x"}"#,
        r#"{"command":"silence","target":"orders-db","duration":1.5e300,"by":"x"}"#,
        r#"{"command":{"nested":true}}"#,
        r#"{"service":"orders-db","error":""}"#,
        r#"{"service":"orders-db","error":"x","status":"maybe"}"#,
        r#"{"type":"x","payload":{"service":["orders-db"]}}"#,
        r#"{"alerts":null}"#,
        r#"{"alerts":[{"status":"firing","labels":{"alertname":1}}]}"#,
        r#"{"alerts":[{"status":7}]}"#,
    ]
    .iter()
    .map(|b| b.as_bytes().to_vec())
    .chain([vec![0xff, 0xfe, 0x00, b'{'], deep.into_bytes()])
    .collect();
    for path in [
        "/api/commands",
        "/api/incidents",
        "/api/events/publish",
        "/api/alertmanager",
    ] {
        for body in &bodies {
            let answer = http
                .post(format!("{base}{path}"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = answer.status();
            assert!(
                status.is_client_error(),
                "{path} {:?}: {status}",
                String::from_utf8_lossy(&body[..body.len().min(80)])
            );
        }
    }
    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the engine is alive");
    let (state, ..) = run.stop().await;
    assert!(
        state.incidents.is_empty(),
        "no hostile body reached the engine"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_does_what_its_role_allows_and_commands_name_the_key() {
    use autoheal::config::Role;
    let key = |name: &str, role| ApiKey {
        name: name.into(),
        key: format!("{name}-key-0123456789"),
        role,
    };
    let keys = vec![
        key("grafana", Role::Read),
        key("ci", Role::Intake),
        key("ops", Role::Operate),
    ];
    let (mut run, base) = serve_with(|api| api.keys = keys).await;
    let http = reqwest::Client::new();
    let get = |path: &str, key: &str| {
        http.get(format!("{base}{path}"))
            .header("x-api-key", key)
            .send()
    };
    let post = |path: &str, key: &str, body: &'static str| {
        http.post(format!("{base}{path}"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let pause = r#"{"command":"pause","by":"alice"}"#;
    let report = r#"{"service":"orders-db","error":"DB_TIMEOUT"}"#;

    assert_eq!(
        get("/api/events", "grafana-key-0123456789")
            .await
            .unwrap()
            .status(),
        200
    );
    let refused = post("/api/commands", "grafana-key-0123456789", pause)
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(
        error["error"],
        "key `grafana` has role read; POST /api/commands needs operate"
    );
    assert_eq!(
        post("/api/incidents", "ci-key-0123456789", report)
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        get("/api/events", "ci-key-0123456789")
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        post("/api/commands", "ci-key-0123456789", pause)
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(get("/api/events", "nobody").await.unwrap().status(), 401);

    assert_eq!(
        post("/api/commands", "ops-key-0123456789", pause)
            .await
            .unwrap()
            .status(),
        202
    );
    let paused = run
        .wait_for(Duration::from_secs(5), "pause", |k| {
            matches!(k, autoheal::event::EventKind::AutomationPaused { .. })
        })
        .await;
    let line = serde_json::to_value(&paused).unwrap();
    assert_eq!(line["by"], "alice (key ops)");
    run.stop().await;
}
