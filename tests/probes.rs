//! Probes against real things: loopback servers that answer well, badly or not
//! at all, real child processes, and the real host.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use autoheal::config::{HostProbe, HttpProbe, ProbeSpec, ProcessProbe, TcpProbe};
use autoheal::monitor::{Observation, Prober};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TIMEOUT: Duration = Duration::from_secs(2);

/// How a test server treats each connection, after reading the request.
#[derive(Clone)]
enum Reply {
    /// A well-formed HTTP/1.1 response, sent after `delay`.
    Http {
        status: &'static str,
        body: Vec<u8>,
        delay: Duration,
    },
    /// Keeps the connection open and never says a word.
    Silent,
    /// Writes these bytes as they are.
    Raw(&'static [u8]),
}

fn http(status: &'static str, body: impl Into<Vec<u8>>) -> Reply {
    Reply::Http {
        status,
        body: body.into(),
        delay: Duration::ZERO,
    }
}

/// Starts a loopback server; it lives as long as the test's runtime.
async fn serve(reply: Reply) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(answer(socket, reply.clone()));
        }
    });
    addr
}

async fn answer(mut socket: TcpStream, reply: Reply) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    // Write errors are expected: the prober hangs up once it has read enough.
    match reply {
        Reply::Http {
            status,
            body,
            delay,
        } => {
            tokio::time::sleep(delay).await;
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&body).await;
        }
        Reply::Silent => {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Reply::Raw(bytes) => {
            let _ = socket.write_all(bytes).await;
        }
    }
}

fn get(addr: SocketAddr) -> HttpProbe {
    HttpProbe {
        url: format!("http://{addr}/health"),
        expect_status: None,
        max_latency: None,
        body_contains: None,
        fresh_every: None,
    }
}

async fn probe(spec: ProbeSpec) -> Observation {
    Prober::new().probe(&spec, TIMEOUT).await
}

fn signature(o: &Observation) -> Option<&str> {
    o.signature.as_deref()
}

/// A port on loopback with nothing listening (bound once, then released).
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn http_200_is_healthy_with_status_body_and_latency() {
    let addr = serve(http("200 OK", "all good")).await;
    let o = probe(ProbeSpec::Http(get(addr))).await;
    assert!(o.healthy, "{o:?}");
    assert_eq!(o.signature, None);
    assert_eq!(o.status, Some(200));
    assert_eq!(o.body.as_deref(), Some("all good"));
    assert!(o.detail.starts_with("200 OK"), "{}", o.detail);
    assert!(o.latency > Duration::ZERO);
}

#[tokio::test]
async fn http_503_with_json_error_names_the_failure() {
    let addr = serve(http("503 Service Unavailable", r#"{"error":"DB_TIMEOUT"}"#)).await;
    let o = probe(ProbeSpec::Http(get(addr))).await;
    assert!(!o.healthy);
    assert_eq!(signature(&o), Some("DB_TIMEOUT"));
    assert_eq!(o.status, Some(503));
    assert!(
        o.detail.starts_with("503 Service Unavailable: "),
        "{}",
        o.detail
    );
}

#[tokio::test]
async fn http_500_in_plain_words_falls_back_to_the_status() {
    let addr = serve(http("500 Internal Server Error", "something broke, sorry")).await;
    let o = probe(ProbeSpec::Http(get(addr))).await;
    assert_eq!(signature(&o), Some("HTTP_500"));
    assert_eq!(o.body.as_deref(), Some("something broke, sorry"));
}

#[tokio::test]
async fn http_token_in_plain_text_is_the_signature() {
    let addr = serve(http("502 Bad Gateway", "upstream: POOL_EXHAUSTED after 5s")).await;
    let o = probe(ProbeSpec::Http(get(addr))).await;
    assert_eq!(signature(&o), Some("POOL_EXHAUSTED"));
}

#[tokio::test]
async fn http_expected_non_2xx_status_is_healthy() {
    let addr = serve(http("418 I'm a teapot", "")).await;
    let o = probe(ProbeSpec::Http(HttpProbe {
        expect_status: Some(418),
        ..get(addr)
    }))
    .await;
    assert!(o.healthy, "{o:?}");
}

#[tokio::test]
async fn http_nothing_listening_is_connection_refused() {
    let o = probe(ProbeSpec::Http(get(closed_port()))).await;
    assert_eq!(signature(&o), Some("CONNECTION_REFUSED"), "{o:?}");
    assert_eq!(o.detail, "connect: connection refused");
    assert_eq!(o.status, None);
}

#[tokio::test]
async fn http_server_that_never_answers_times_out_on_time() {
    let addr = serve(Reply::Silent).await;
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let o = Prober::new()
        .probe(&ProbeSpec::Http(get(addr)), timeout)
        .await;
    let elapsed = started.elapsed();
    assert_eq!(signature(&o), Some("TIMEOUT"));
    assert_eq!(o.detail, "no answer within 300ms");
    assert!(
        elapsed >= timeout && elapsed < timeout + Duration::from_secs(1),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn http_garbage_is_a_connection_error() {
    let addr = serve(Reply::Raw(b"\x00\x01 this is not HTTP at all\r\n\r\n")).await;
    let o = probe(ProbeSpec::Http(get(addr))).await;
    assert_eq!(signature(&o), Some("CONNECTION_ERROR"), "{o:?}");
    assert!(!o.detail.is_empty());
}

#[tokio::test]
async fn http_hang_up_without_answer_is_a_connection_error() {
    let addr = serve(Reply::Raw(b"")).await;
    let o = probe(ProbeSpec::Http(get(addr))).await;
    assert_eq!(signature(&o), Some("CONNECTION_ERROR"), "{o:?}");
}

#[tokio::test]
async fn http_huge_body_is_read_only_up_to_the_cap() {
    let addr = serve(http("200 OK", vec![b'x'; 1024 * 1024])).await;
    let o = probe(ProbeSpec::Http(get(addr))).await;
    assert!(o.healthy, "{o:?}");
    let body = o.body.unwrap();
    assert!(body.len() <= 4096 && body.len() >= 4000, "{}", body.len());
}

#[tokio::test]
async fn http_slow_answer_is_latency_high() {
    let slow = Reply::Http {
        status: "200 OK",
        body: b"ok".to_vec(),
        delay: Duration::from_millis(250),
    };
    let addr = serve(slow).await;
    let spec = HttpProbe {
        max_latency: Some(Duration::from_millis(50)),
        ..get(addr)
    };
    let o = probe(ProbeSpec::Http(spec)).await;
    assert_eq!(signature(&o), Some("LATENCY_HIGH"), "{o:?}");
    assert!(o.latency >= Duration::from_millis(250));
}

#[tokio::test]
async fn http_body_contains_is_checked() {
    let addr = serve(http("200 OK", "status: ready")).await;
    let wanted = HttpProbe {
        body_contains: Some("ready".into()),
        ..get(addr)
    };
    assert!(probe(ProbeSpec::Http(wanted)).await.healthy);
    let missing = HttpProbe {
        body_contains: Some("serving".into()),
        ..get(addr)
    };
    let o = probe(ProbeSpec::Http(missing)).await;
    assert_eq!(signature(&o), Some("BODY_MISMATCH"));
    assert_eq!(o.status, Some(200));
}

#[tokio::test]
async fn http_bad_url_is_reported_not_raised() {
    for url in ["not a url", "ftp://127.0.0.1/x", ""] {
        let spec = HttpProbe {
            url: url.into(),
            expect_status: None,
            max_latency: None,
            body_contains: None,
            fresh_every: None,
        };
        let o = probe(ProbeSpec::Http(spec)).await;
        assert_eq!(signature(&o), Some("BAD_URL"), "{url}: {o:?}");
    }
}

fn tcp(address: impl ToString) -> ProbeSpec {
    ProbeSpec::Tcp(TcpProbe {
        address: address.to_string(),
    })
}

#[tokio::test]
async fn tcp_open_refused_and_bad_address() {
    let addr = serve(Reply::Silent).await;
    let open = probe(tcp(addr)).await;
    assert!(open.healthy, "{open:?}");

    let closed = closed_port();
    let refused = probe(tcp(closed)).await;
    assert_eq!(
        signature(&refused),
        Some("CONNECTION_REFUSED"),
        "{refused:?}"
    );
    assert_eq!(
        refused.detail,
        format!("connect {closed}: connection refused")
    );

    for address in ["no-port-here", "127.0.0.1:notaport"] {
        let o = probe(tcp(address)).await;
        assert_eq!(signature(&o), Some("BAD_ADDRESS"), "{address}: {o:?}");
    }
}

#[tokio::test]
async fn host_thresholds_decide_health_and_fields_are_filled() {
    let prober = Prober::new();
    let strict = HostProbe {
        cpu_percent: 0.0,
        memory_percent: 0.0,
        disk_percent: 0.0,
        ..HostProbe::default()
    };
    let o = prober.probe(&ProbeSpec::Host(strict), TIMEOUT).await;
    assert!(!o.healthy);
    // An idle CPU can read exactly 0%, so memory may be the first threshold crossed.
    assert!(
        matches!(signature(&o), Some("CPU_HIGH" | "MEMORY_HIGH")),
        "{o:?}"
    );

    let lax = HostProbe {
        cpu_percent: 100.0,
        memory_percent: 100.0,
        disk_percent: 100.0,
        disk_path: "/".into(),
        load_per_core: None,
    };
    let o = prober.probe(&ProbeSpec::Host(lax), TIMEOUT).await;
    assert!(o.healthy, "{o:?}");
    for value in [o.cpu_percent, o.memory_percent, o.disk_percent] {
        let value = value.expect("every host figure is filled");
        assert!((0.0..=100.0).contains(&value), "{o:?}");
    }

    // A load average can read 0.00 on an idle machine, so only a negative limit is always crossed.
    let loaded = HostProbe {
        load_per_core: Some(-1.0),
        ..lax_defaults()
    };
    let o = prober.probe(&ProbeSpec::Host(loaded), TIMEOUT).await;
    assert_eq!(signature(&o), Some("LOAD_HIGH"), "{o:?}");
}

fn lax_defaults() -> HostProbe {
    HostProbe {
        cpu_percent: 100.0,
        memory_percent: 100.0,
        disk_percent: 100.0,
        ..HostProbe::default()
    }
}

/// A child process that is killed and reaped when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn pid_probe(pid_file: &Path) -> ProbeSpec {
    ProbeSpec::Process(ProcessProbe {
        name: None,
        pid_file: Some(pid_file.to_path_buf()),
    })
}

/// Waits until the kernel shows `pid` as a zombie (killed, not yet reaped).
fn wait_for_zombie(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("pid {pid} never became a zombie");
}

#[tokio::test]
async fn process_by_pid_file_follows_a_real_child() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("sleep.pid");
    let mut child = Reaped(Command::new("sleep").arg("30").spawn().unwrap());
    let pid = child.0.id();
    std::fs::write(&pid_file, format!("{pid}\n")).unwrap();

    let o = probe(pid_probe(&pid_file)).await;
    assert!(o.healthy, "{o:?}");

    // Killed but not yet reaped: the pid still exists, as a zombie. That is down.
    child.0.kill().unwrap();
    wait_for_zombie(pid);
    let o = probe(pid_probe(&pid_file)).await;
    assert_eq!(signature(&o), Some("PROCESS_DOWN"), "{o:?}");

    child.0.wait().unwrap();
    let o = probe(pid_probe(&pid_file)).await;
    assert_eq!(signature(&o), Some("PROCESS_DOWN"));
    assert_eq!(
        o.detail,
        format!("pid {pid} from {} is not running", pid_file.display())
    );
}

#[tokio::test]
async fn process_pid_file_missing_or_garbage_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pid");
    std::fs::write(&garbage, "not-a-pid\n").unwrap();
    let zero = dir.path().join("zero.pid");
    std::fs::write(&zero, "0").unwrap();
    for file in [garbage, zero, dir.path().join("missing.pid")] {
        let o = probe(pid_probe(&file)).await;
        assert_eq!(signature(&o), Some("PID_FILE_INVALID"), "{o:?}");
        assert!(
            o.detail.starts_with(&file.display().to_string()),
            "{}",
            o.detail
        );
    }
}

#[tokio::test]
async fn process_by_name_sees_a_uniquely_named_child_come_and_go() {
    // A symlink to sleep under a unique name: the kernel names the process
    // after the path it was started from, so no other process can match.
    let dir = tempfile::tempdir().unwrap();
    let name = format!("ahp{}", std::process::id());
    let link = dir.path().join(&name);
    let sleep = which_sleep();
    std::os::unix::fs::symlink(&sleep, &link).unwrap();
    let by_name = ProbeSpec::Process(ProcessProbe {
        name: Some(name.clone()),
        pid_file: None,
    });

    let prober = Prober::new();
    let o = prober.probe(&by_name, TIMEOUT).await;
    assert_eq!(signature(&o), Some("PROCESS_DOWN"), "{o:?}");
    assert_eq!(o.detail, format!("no process named {name}"));

    // argv[0] stays "sleep" for multi-call binaries that dispatch on it.
    let mut child = Reaped(Command::new(&link).arg0("sleep").arg("30").spawn().unwrap());
    let o = prober.probe(&by_name, TIMEOUT).await;
    assert!(o.healthy, "{o:?}");

    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let o = prober.probe(&by_name, TIMEOUT).await;
    assert_eq!(signature(&o), Some("PROCESS_DOWN"), "{o:?}");
}

fn which_sleep() -> std::path::PathBuf {
    ["/bin/sleep", "/usr/bin/sleep"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .expect("a sleep binary")
}

#[tokio::test]
async fn one_prober_serves_many_tasks_at_once() {
    let prober = Arc::new(Prober::new());
    let up = serve(http("200 OK", "ok")).await;
    let specs = [
        ProbeSpec::Http(get(up)),
        ProbeSpec::Http(get(closed_port())),
        tcp(up),
        ProbeSpec::Host(lax_defaults()),
        ProbeSpec::Process(ProcessProbe {
            name: Some("no-such-proc-x".into()),
            pid_file: None,
        }),
    ];
    let tasks: Vec<_> = specs
        .into_iter()
        .map(|spec| {
            let prober = Arc::clone(&prober);
            tokio::spawn(async move { prober.probe(&spec, TIMEOUT).await })
        })
        .collect();
    let mut healthy = Vec::new();
    for task in tasks {
        healthy.push(task.await.unwrap().healthy);
    }
    assert_eq!(healthy, [true, false, true, true, false]);
}
