//! Actions against real child processes and real loopback HTTP servers.
//! Timing asserts are upper bounds with wide margins: CI machines are noisy.

use autoheal::action::vars::Vars;
use autoheal::action::{ExecAction, HttpAction, OUTPUT_LIMIT, exec, http};
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The operator's values: trusted, so they may hold anything (and are still quoted).
fn vars(pairs: &[(&str, &str)]) -> Vars {
    let mut vars = Vars::default();
    for (name, value) in pairs {
        vars.trusted(*name, *value);
    }
    vars
}

fn argv(args: &[&str]) -> ExecAction {
    ExecAction {
        argv: args.iter().map(|a| a.to_string()).collect(),
        shell: false,
        timeout: Duration::from_secs(10),
        env: BTreeMap::new(),
    }
}

fn script(text: &str) -> ExecAction {
    ExecAction {
        shell: true,
        ..argv(&[text])
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Polls `condition` for up to `limit`.
async fn eventually(limit: Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

fn read_pid(file: &Path) -> u32 {
    let text = std::fs::read_to_string(file).expect("the script wrote its pid file");
    text.trim().parse().expect("pid file holds a pid")
}

/// Kills a background process a test started, even if the test fails.
struct Reap(u32);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-9", &self.0.to_string()])
            .status();
    }
}

#[tokio::test]
async fn argv_values_are_passed_literally_never_through_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let evil = format!(
        "$(touch {}); `touch {}`",
        path_str(&marker),
        path_str(&marker)
    );

    let out = exec::run(&argv(&["echo", "{{x}}"]), &vars(&[("x", &evil)])).await;

    assert!(out.ok, "{out:?}");
    assert_eq!(out.output, evil);
    assert!(!marker.exists(), "the value was run by a shell");
}

#[tokio::test]
async fn shell_values_stay_inert_while_the_script_works() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let created = dir.path().join("my file");
    let evil = format!(
        "a'b; touch {} $(touch {})",
        path_str(&marker),
        path_str(&marker)
    );
    let v = vars(&[("x", &evil), ("file", path_str(&created))]);

    let out = exec::run(&script("touch {{file}} && echo {{x}}"), &v).await;

    assert!(out.ok, "{out:?}");
    assert_eq!(out.output, evil);
    assert!(created.exists(), "the script itself did not run");
    assert!(!marker.exists(), "the injected value ran");
}

#[tokio::test]
async fn every_accepted_shell_placement_keeps_hostile_values_inert() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let m = path_str(&marker);
    let hostile = [
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!("'; touch {m}; '"),
        format!("\\'$(touch {m})"),
        "a\\".to_string(),
        format!("x\ntouch {m}"),
        format!("\"; touch {m} #"),
        format!("a[$(touch {m})]"),
    ];
    let scripts = [
        "printf '%s\\n' {{x}}",
        "printf '%s\\n' pre{{x}}post {{x}}",
        "echo $(printf %s {{x}})",
        "echo \"$(printf %s {{x}})\"",
        "echo \"$(echo \"$(printf %s {{x}})\")\"",
        "n=$((1 + 2)); (( 1 )) 2>/dev/null; echo $n {{x}}",
        "echo \"a\" {{x}} 'b' # it's fine",
        "# it's a comment\necho {{x}}",
        "echo $'plain' {{x}}",
        "A={{x}}; echo \"$A\"",
        "case {{x}} in *) echo {{x}};; esac",
    ];
    for value in &hostile {
        for text in scripts {
            let out = exec::run(&script(text), &vars(&[("x", value)])).await;
            assert!(out.ok, "{text} with {value:?}: {out:?}");
            assert!(!marker.exists(), "{text} ran {value:?}: {out:?}");
        }
        let exact = exec::run(&script("printf '%s\\n' {{x}}"), &vars(&[("x", value)])).await;
        assert_eq!(exact.output, value.trim_end());
    }
}

#[tokio::test]
async fn a_shell_placeholder_inside_quotes_is_refused_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let evil = format!("$(touch {})", path_str(&marker));

    let out = exec::run(&script("echo \"restarting {{x}}\""), &vars(&[("x", &evil)])).await;

    assert!(!out.ok);
    assert!(out.output.contains("template error"), "{}", out.output);
    assert!(out.output.contains("`x`"), "{}", out.output);
    assert!(!marker.exists());
}

#[tokio::test]
async fn a_nonzero_exit_fails_with_its_status_and_both_streams() {
    let out = exec::run(
        &script("echo to-stdout; echo to-stderr >&2; exit 3"),
        &vars(&[]),
    )
    .await;

    assert!(!out.ok);
    assert!(out.output.contains("exit status 3"), "{}", out.output);
    let stdout_at = out.output.find("to-stdout").expect("stdout kept");
    let stderr_at = out.output.find("to-stderr").expect("stderr kept");
    assert!(stdout_at < stderr_at, "stdout comes first: {}", out.output);
}

#[tokio::test]
async fn a_missing_program_says_which_and_why() {
    let out = exec::run(
        &argv(&["/nonexistent/autoheal-no-such-tool", "x"]),
        &vars(&[]),
    )
    .await;

    assert!(!out.ok);
    assert!(
        out.output
            .starts_with("cannot run `/nonexistent/autoheal-no-such-tool`: "),
        "{}",
        out.output
    );
    assert!(out.output.contains("No such file"), "{}", out.output);
}

#[tokio::test]
async fn bad_specs_fail_with_a_message_instead_of_panicking() {
    let empty = exec::run(&argv(&[]), &vars(&[])).await;
    assert!(!empty.ok);
    assert!(empty.output.contains("empty argv"), "{}", empty.output);

    let two = exec::run(
        &ExecAction {
            shell: true,
            ..argv(&["echo", "a"])
        },
        &vars(&[]),
    )
    .await;
    assert!(!two.ok);
    assert!(two.output.contains("exactly one script"), "{}", two.output);

    let unknown = exec::run(&argv(&["echo", "{{nope}}"]), &vars(&[])).await;
    assert!(!unknown.ok);
    assert!(
        unknown.output.contains("unknown template variable `nope`"),
        "{}",
        unknown.output
    );
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let spec = ExecAction {
        timeout: Duration::from_millis(300),
        ..script("echo partial; sleep 30 & echo $! > {{pidfile}}; wait")
    };

    let started = Instant::now();
    let out = exec::run(&spec, &vars(&[("pidfile", path_str(&pidfile))])).await;
    let elapsed = started.elapsed();

    let grandchild = read_pid(&pidfile);
    let _reap = Reap(grandchild);
    assert!(!out.ok);
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert!(
        out.output.starts_with("timed out after 300ms"),
        "{}",
        out.output
    );
    assert!(out.output.contains("partial"), "{}", out.output);
    assert!(
        eventually(Duration::from_secs(2), || !alive(grandchild)).await,
        "the backgrounded sleep {grandchild} survived the timeout"
    );
}

#[tokio::test]
async fn cancelling_a_running_action_kills_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let spec = script("sleep 30 & echo $! > {{pidfile}}; wait");
    let v = vars(&[("pidfile", path_str(&pidfile))]);

    let cancelled = tokio::time::timeout(Duration::from_millis(500), exec::run(&spec, &v)).await;

    assert!(cancelled.is_err(), "the 30s command cannot have finished");
    let grandchild = read_pid(&pidfile);
    let _reap = Reap(grandchild);
    assert!(
        eventually(Duration::from_secs(2), || !alive(grandchild)).await,
        "the backgrounded sleep {grandchild} survived cancellation"
    );
}

#[tokio::test]
async fn a_started_daemon_holding_stdout_neither_blocks_nor_dies() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    // The daemon writes to the inherited stdout after the action returned:
    // if that pipe had been closed, SIGPIPE would kill it.
    let spec = script("(sleep 0.5; echo late; exec sleep 5) & echo $! > {{pidfile}}; echo started");

    let started = Instant::now();
    let out = exec::run(&spec, &vars(&[("pidfile", path_str(&pidfile))])).await;
    let elapsed = started.elapsed();

    let daemon = read_pid(&pidfile);
    let _reap = Reap(daemon);
    assert!(out.ok, "{out:?}");
    assert!(out.output.starts_with("started"), "{}", out.output);
    assert!(
        elapsed < Duration::from_secs(3),
        "waited for the daemon: {elapsed:?}"
    );
    // Past the daemon's late write, and long enough for a wrongly sent
    // SIGKILL to have landed.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(alive(daemon), "the restarted daemon was killed");
}

#[tokio::test]
async fn long_output_is_truncated_and_a_chatty_child_never_blocks() {
    // 1 MB on each stream: far more than a pipe buffer holds.
    let out = exec::run(
        &script(
            "head -c 1000000 /dev/zero | tr '\\0' a; head -c 1000000 /dev/zero | tr '\\0' b >&2",
        ),
        &vars(&[]),
    )
    .await;

    assert!(out.ok, "{:?}", out.output.get(..100));
    assert!(
        out.output.len() <= OUTPUT_LIMIT,
        "{} bytes",
        out.output.len()
    );
    assert!(out.output.ends_with("…(truncated)"), "{}", out.output);
    assert!(out.output.starts_with("aaaa"));
}

#[tokio::test]
async fn vars_and_templated_env_reach_the_child() {
    let mut spec = argv(&[
        "sh",
        "-c",
        "echo \"$AUTOHEAL_TARGET $AUTOHEAL_ADMIN_URL $EXTRA\"",
    ]);
    spec.env.insert("EXTRA".into(), "for-{{target}}".into());
    let v = vars(&[("target", "web-1"), ("admin-url", "http://10.0.0.1:9000")]);

    let out = exec::run(&spec, &v).await;

    assert!(out.ok, "{out:?}");
    assert_eq!(out.output, "web-1 http://10.0.0.1:9000 for-web-1");
}

// ---- http -------------------------------------------------------------------

/// What the test server saw of each restart request.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    service: String,
    incident: Option<String>,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn restart(
    State(log): State<Log>,
    UrlPath(service): UrlPath<String>,
    headers: HeaderMap,
    body: String,
) -> String {
    let incident = headers
        .get("x-incident")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    log.lock().unwrap().push(Seen {
        service: service.clone(),
        incident,
        body,
    });
    format!("restarting {service}")
}

/// A real server on a loopback port; it lives as long as the test's runtime.
async fn server() -> (SocketAddr, Log) {
    let log = Log::default();
    let app = Router::new()
        .route("/ok", get(|| async { "healthy" }))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database down") }),
        )
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "too late"
            }),
        )
        .route("/services/{service}/restart", post(restart))
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, log)
}

fn request(method: &str, url: &str) -> HttpAction {
    HttpAction {
        method: method.into(),
        url: url.into(),
        headers: BTreeMap::new(),
        body: None,
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn http_200_is_ok_with_the_body() {
    let (addr, _) = server().await;
    let v = vars(&[("base", &format!("http://{addr}"))]);

    let out = http::run(&request("get", "{{base}}/ok"), &v, &reqwest::Client::new()).await;

    assert!(out.ok, "{out:?}");
    assert_eq!(out.output, "HTTP 200 OK: healthy");
}

#[tokio::test]
async fn http_500_is_not_ok_and_shows_why() {
    let (addr, _) = server().await;

    let out = http::run(
        &request("GET", &format!("http://{addr}/fail")),
        &vars(&[]),
        &reqwest::Client::new(),
    )
    .await;

    assert!(!out.ok);
    assert_eq!(out.output, "HTTP 500 Internal Server Error: database down");
}

#[tokio::test]
async fn http_post_sends_the_templated_url_headers_and_body() {
    let (addr, log) = server().await;
    let mut spec = request("POST", "http://{{host}}/services/{{service}}/restart");
    spec.headers
        .insert("X-Incident".into(), "inc-{{incident}}".into());
    spec.body = Some(r#"{"reason":"{{reason}}"}"#.into());
    let v = vars(&[
        ("host", &addr.to_string()),
        ("service", "orders"),
        ("incident", "42"),
        ("reason", "connection refused"),
    ]);

    let out = http::run(&spec, &v, &reqwest::Client::new()).await;

    assert!(out.ok, "{out:?}");
    assert_eq!(out.output, "HTTP 200 OK: restarting orders");
    assert_eq!(
        *log.lock().unwrap(),
        vec![Seen {
            service: "orders".into(),
            incident: Some("inc-42".into()),
            body: r#"{"reason":"connection refused"}"#.into(),
        }]
    );
}

#[tokio::test]
async fn http_to_a_hanging_server_times_out_near_the_timeout() {
    let (addr, _) = server().await;
    let spec = HttpAction {
        timeout: Duration::from_millis(300),
        ..request("GET", &format!("http://{addr}/hang"))
    };

    let started = Instant::now();
    let out = http::run(&spec, &vars(&[]), &reqwest::Client::new()).await;
    let elapsed = started.elapsed();

    assert!(!out.ok);
    assert_eq!(out.output, "timed out after 300ms");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
}

#[tokio::test]
async fn http_body_that_never_ends_is_cut_off_at_the_timeout() {
    // A raw server: promises 100 bytes, sends 7, then stalls with the socket open.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.unwrap();
        // Read the request head first, or the client sees an unexpected message.
        let mut request = Vec::new();
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let mut chunk = [0u8; 1024];
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(n > 0, "client closed early");
            request.extend_from_slice(&chunk[..n]);
        }
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial";
        socket.write_all(head.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(socket);
    });
    let spec = HttpAction {
        timeout: Duration::from_millis(300),
        ..request("POST", &format!("http://{addr}/restart"))
    };

    let started = Instant::now();
    let out = http::run(&spec, &vars(&[]), &reqwest::Client::new()).await;
    let elapsed = started.elapsed();

    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    // The server did answer 200, so the action itself happened.
    assert!(out.ok, "{out:?}");
    assert!(
        out.output.starts_with("HTTP 200 OK: partial"),
        "{}",
        out.output
    );
    assert!(
        out.output.contains("timed out after 300ms"),
        "{}",
        out.output
    );
}

#[tokio::test]
async fn http_to_a_closed_port_is_connection_refused() {
    // Bind then close, so the port is very likely unused.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };

    let out = http::run(
        &request("POST", &format!("http://127.0.0.1:{port}/restart")),
        &vars(&[]),
        &reqwest::Client::new(),
    )
    .await;

    assert!(!out.ok);
    assert_eq!(out.output, "connection refused");
}

#[tokio::test]
async fn http_bad_method_or_template_fails_without_sending() {
    let (addr, log) = server().await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/services/x/restart");

    let typo = http::run(&request("PSOT", &url), &vars(&[]), &client).await;
    assert!(!typo.ok);
    assert!(
        typo.output.contains("invalid HTTP method `PSOT`"),
        "{}",
        typo.output
    );

    let mut spec = request("POST", &url);
    spec.body = Some("{{missing}}".into());
    let unknown = http::run(&spec, &vars(&[]), &client).await;
    assert!(!unknown.ok);
    assert!(unknown.output.contains("`missing`"), "{}", unknown.output);

    assert!(
        log.lock().unwrap().is_empty(),
        "nothing should have been sent"
    );
}

// ---- trust ------------------------------------------------------------------

/// The operator's `vars`, plus a signature from outside.
fn with_signature(pairs: &[(&str, &str)], signature: &str) -> Vars {
    let mut v = vars(pairs);
    v.untrusted("signature", signature);
    v
}

#[tokio::test]
async fn an_untrusted_value_reaches_the_environment_verbatim_but_argv_only_as_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let spec = argv(&["sh", "-c", "printf '%s' \"$AUTOHEAL_SIGNATURE\""]);
    let hostile = "../../x -rf $(id)";

    let env = exec::run(&spec, &with_signature(&[], hostile)).await;
    let marker = dir.path().join("pwned");
    let touch = argv(&["touch", "{{signature}}"]);
    let argv_out = exec::run(&touch, &with_signature(&[], path_str(&marker))).await;

    assert!(env.ok, "{env:?}");
    assert_eq!(env.output, hostile);
    assert!(!argv_out.ok);
    assert!(
        argv_out.output.contains("is not a plain token"),
        "{}",
        argv_out.output
    );
    assert!(!marker.exists(), "a refused action ran");
}

#[tokio::test]
async fn an_untrusted_value_cannot_change_where_a_request_goes_or_add_a_header() {
    let (addr, log) = server().await;
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let url = request("POST", "{{base}}/services/{{signature}}/restart");
    let mut header = request("POST", "{{base}}/services/orders/restart");
    header
        .headers
        .insert("X-Incident".into(), "{{signature}}".into());

    let climbed = http::run(
        &url,
        &with_signature(&[("base", &base)], "../../ok"),
        &client,
    )
    .await;
    let smuggled = http::run(
        &header,
        &with_signature(&[("base", &base)], "1\r\nX-Admin: yes"),
        &client,
    )
    .await;
    let plain = http::run(&url, &with_signature(&[("base", &base)], "orders"), &client).await;

    assert!(!climbed.ok);
    assert!(climbed.output.contains("not a plain token"), "{climbed:?}");
    assert!(!smuggled.ok);
    assert!(
        smuggled.output.contains("control character '\\r'"),
        "{smuggled:?}"
    );
    assert!(plain.ok, "{plain:?}");
    let seen = log.lock().unwrap();
    assert_eq!(seen.len(), 1, "only the plain request was sent: {seen:?}");
    assert_eq!(seen[0].service, "orders");
}

#[tokio::test]
async fn a_header_with_a_line_break_is_never_sent_even_from_the_operator() {
    // reqwest refuses CR/LF in a header value; the action fails, nothing is sent.
    let (addr, log) = server().await;
    let mut spec = request("POST", &format!("http://{addr}/services/x/restart"));
    spec.headers.insert("X-Incident".into(), "{{id}}".into());

    let out = http::run(
        &spec,
        &vars(&[("id", "1\r\nX-Admin: yes")]),
        &reqwest::Client::new(),
    )
    .await;

    assert!(!out.ok);
    assert!(out.output.contains("invalid request"), "{}", out.output);
    assert!(log.lock().unwrap().is_empty());
}
