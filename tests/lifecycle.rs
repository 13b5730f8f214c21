//! The daemon's life as a supervisor sees it: exit statuses, signals, the
//! journal left behind, and systemd's notify socket. The real binary, the
//! real demo fleet.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use autoheal::event::{Event, EventKind};
use autoheal::journal;

/// `autoheal-tui serve` on an ephemeral port with a fresh HOME, journaling to `journal`.
fn serve(journal: &Path, extra: &[&str], env: &[(&str, &str)]) -> Child {
    let home = journal.parent().unwrap().join("home");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autoheal-tui"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--journal"])
        .arg(journal)
        .args(extra)
        .env("HOME", &home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Waits (up to `within`) for the child to exit.
fn wait(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

fn stderr(child: &mut Child) -> String {
    use std::io::Read;
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    text
}

fn events(path: &Path) -> Vec<Event> {
    let mut all = Vec::new();
    journal::replay(path, |e| all.push(e)).unwrap();
    all
}

fn temp_journal() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    (dir, path)
}

fn line(seq: u64) -> String {
    let kind = EventKind::AutomationResumed { by: "test".into() };
    let ts = autoheal::engine::now_ms();
    serde_json::to_string(&Event { seq, ts, kind }).unwrap() + "\n"
}

#[test]
fn serve_for_a_while_stops_cleanly_with_status_0() {
    let (_dir, journal) = temp_journal();
    let mut child = serve(&journal, &["--for", "1s"], &[]);
    let status = wait(&mut child, Duration::from_secs(10)).expect("exits after --for");
    assert!(status.success(), "{status:?}: {}", stderr(&mut child));
    let all = events(&journal);
    assert!(matches!(
        all.first().map(|e| &e.kind),
        Some(EventKind::EngineStarted { .. })
    ));
    assert!(
        matches!(all.last().map(|e| &e.kind), Some(EventKind::EngineStopped { reason }) if reason == "--for elapsed")
    );
}

#[test]
fn sigterm_stops_cleanly_with_status_0() {
    let (_dir, journal) = temp_journal();
    let mut child = serve(&journal, &[], &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while events(&journal).is_empty() {
        assert!(
            Instant::now() < deadline,
            "never started: {}",
            stderr(&mut child)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = wait(&mut child, Duration::from_secs(10)).expect("exits on SIGTERM");
    assert!(status.success(), "{status:?}: {}", stderr(&mut child));
    assert!(matches!(
        events(&journal).last().map(|e| &e.kind),
        Some(EventKind::EngineStopped { reason }) if reason == "terminated (SIGTERM)"
    ));
}

#[test]
fn an_engine_that_dies_ends_the_process_with_status_70_within_a_second() {
    // The journal leaves one number: engine_started takes it, and the engine
    // then dies at its next event, as it would at any fatal error mid-run.
    let (_dir, journal) = temp_journal();
    std::fs::write(&journal, line(u64::MAX - 1)).unwrap();
    let started = Instant::now();
    let mut child = serve(&journal, &["--for", "1s"], &[]);
    let status = wait(&mut child, Duration::from_secs(10)).expect("exits");
    let took = started.elapsed();
    let err = stderr(&mut child);
    assert_eq!(status.code(), Some(70), "{err}");
    assert!(
        took < Duration::from_secs(3),
        "{took:?} after a 1s run: {err}"
    );
    assert!(
        err.contains("the engine stopped: cannot number engine_stopped"),
        "{err}"
    );
    let last = events(&journal).last().map(|e| e.seq);
    assert_eq!(
        last,
        Some(u64::MAX),
        "engine_started synced, nothing wrapped"
    );
}

#[test]
fn a_journal_whose_numbers_cannot_grow_is_refused_at_start_with_status_1() {
    let (_dir, journal) = temp_journal();
    std::fs::write(&journal, line(u64::MAX)).unwrap();
    let mut child = serve(&journal, &["--for", "1s"], &[]);
    let status = wait(&mut child, Duration::from_secs(10)).expect("exits");
    let err = stderr(&mut child);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains(&journal.display().to_string()), "{err}");
    assert!(err.contains("move it aside"), "{err}");
    assert_eq!(events(&journal).len(), 1, "nothing appended");
}

#[test]
fn systemd_hears_ready_keep_alives_from_the_loop_and_stopping() {
    let (dir, journal) = temp_journal();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut child = serve(
        &journal,
        &["--for", "3s"],
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "10000000"),
        ],
    );
    let mut heard = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 512];
    while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        if let Ok(n) = socket.recv(&mut buf) {
            heard.push(String::from_utf8_lossy(&buf[..n]).trim().to_string());
        }
    }
    while let Ok(n) = socket.recv(&mut buf) {
        heard.push(String::from_utf8_lossy(&buf[..n]).trim().to_string());
    }
    let status = wait(&mut child, Duration::from_secs(5)).expect("exits");
    assert!(status.success(), "{}", stderr(&mut child));
    let first = |m: &str| heard.iter().position(|h| h == m);
    let (ready, stopping) = (first("READY=1"), first("STOPPING=1"));
    assert!(ready.is_some() && stopping.is_some(), "{heard:?}");
    let alive = heard.iter().filter(|h| *h == "WATCHDOG=1").count();
    assert!(alive >= 2, "one keep-alive a second over 3s: {heard:?}");
    let first_alive = first("WATCHDOG=1").unwrap();
    assert!(
        ready.unwrap() < first_alive,
        "ready once engine_started is out: {heard:?}"
    );
    assert!(first_alive < stopping.unwrap(), "{heard:?}");
}

#[test]
fn a_second_sigterm_ends_a_stop_that_waits_for_a_running_action_with_status_70() {
    use std::io::{BufRead, BufReader};
    let (dir, journal) = temp_journal();
    let (config, books) = (dir.path().join("config.yaml"), dir.path().join("books"));
    std::fs::write(&config, "targets:\n  - name: app\n    passive: {}\n").unwrap();
    std::fs::create_dir(&books).unwrap();
    std::fs::write(
        books.join("slow.yaml"),
        "name: slow\nmatch: { signature: DOWN }\nseverity: high\nconfidence: 0.99\n\
         steps:\n  - name: wait\n    exec: { argv: [sleep, '5'], timeout: 10s }\n",
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let mut child = serve(
        &journal,
        &[&args[..], &["--playbooks", books.to_str().unwrap()]].concat(),
        &[],
    );
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let api = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| Some(l.split("API on ").nth(1)?.split(' ').next()?.to_string()))
        .expect("serve says where its API is");
    let status = post_json(
        &api,
        "/api/incidents",
        r#"{"service":"app","error":"DOWN"}"#,
    );
    assert!(status.starts_with("HTTP/1.1 202"), "{status}");
    assert!(
        lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("EXECUTING")),
        "the slow fix started"
    );
    // SAFETY: signalling our own child by its pid.
    let pid = child.id() as libc::pid_t;
    let term = || unsafe { libc::kill(pid, libc::SIGTERM) };
    term();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first SIGTERM waits for the fix"
    );
    let asked = Instant::now();
    term();
    let status = wait(&mut child, Duration::from_secs(5)).expect("exits on the second SIGTERM");
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(status.code(), Some(70));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter()
            .any(|l| l.contains("a second SIGTERM: exiting now with status 70")),
        "{rest:?}"
    );
}

/// POSTs `body` as JSON to `base` (`http://host:port`) and returns the status line.
fn post_json(base: &str, path: &str, body: &str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut status = String::new();
    BufReader::new(stream).read_line(&mut status).unwrap();
    status
}
