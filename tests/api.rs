//! The HTTP API over real sockets: commands in, the event stream out.

mod common;

use std::time::Duration;

use autoheal::api::{self, Api, BODY_LIMIT, Limits, router};

/// The demo engine with its API on an ephemeral loopback port.
async fn serve(token: Option<&str>) -> (common::Run, String) {
    let run = common::demo(|_, _| {}).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(Api {
        journal: Some(run.journal.clone()),
        token: token.map(str::to_string),
        targets: run
            .fleet
            .config()
            .targets
            .into_iter()
            .map(|t| t.name)
            .collect(),
        ..Api::new(&run.handle)
    });
    tokio::spawn(api::serve(listener, app, Limits::default()));
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
    assert_eq!(error["error"], "missing or wrong bearer token");
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
