//! Consoles attached to a daemon: what one does, the other sees at once,
//! leaving a console leaves the daemon running, and a daemon that goes away
//! (or never answered) is on screen, not hidden.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::tmux::{Tmux, journal};

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_approval_from_one_console_shows_in_both_with_who_gave_it() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install -y tmux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("journal.jsonl");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let start_daemon = || {
        Daemon(
            Command::new(env!("CARGO_BIN_EXE_autoheal-tui"))
                .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
                .args(["--journal", journal_path.to_str().unwrap()])
                .env("HOME", dir.path())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let mut daemon = start_daemon();
    let health = || {
        use std::io::{Read, Write};
        let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let mut answer = String::new();
        c.write_all(b"GET /health HTTP/1.0\r\n\r\n").is_ok()
            && c.read_to_string(&mut answer).is_ok()
            && answer.starts_with("HTTP/1.0 200")
    };
    let console = |who: &str| {
        let command = format!(
            "HOME={home} USER={who} TERM=xterm-256color {bin} attach {url}; echo $? > {home}/{who}.status",
            home = dir.path().display(),
            bin = env!("CARGO_BIN_EXE_autoheal-tui"),
        );
        Tmux::start(who, 120, 40, &command).unwrap()
    };
    let has = |pred: &dyn Fn(&serde_json::Value) -> bool| journal(&journal_path).iter().any(pred);
    let wait = |what: &str, pred: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !pred() {
            assert!(
                std::time::Instant::now() < deadline,
                "{what} did not happen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait("the daemon to answer", &health);

    let (alice, bob) = (console("alice"), console("bob"));
    for t in [&alice, &bob] {
        t.until("the fleet on screen", Duration::from_secs(15), |t| {
            t.screen().contains("payments-api")
        });
    }
    // Alice breaks a disk; Bob approves the fix.
    alice.keys(&["c", "5"]);
    wait("an approval request", &|| {
        has(&|e| e["decision"] == "approval_required")
    });
    bob.until("the request on Bob's screen", Duration::from_secs(5), |t| {
        t.screen().contains("DISK_FULL")
    });
    // `a` takes Bob to the queue, `a` again asks, `y` approves.
    bob.keys(&["a", "a"]);
    bob.until("the confirmation", Duration::from_secs(5), |t| {
        t.screen().contains("y Enter approve")
    });
    bob.keys(&["y"]);
    wait("the approved fix to resolve", &|| {
        has(&|e| e["kind"] == "incident_resolved")
    });
    for t in [&alice, &bob] {
        t.until(
            "the approval, with who gave it",
            Duration::from_secs(5),
            |t| t.screen().contains("by bob@local"),
        );
    }

    // Alice leaves: her console ends, the daemon and Bob's console go on.
    alice.keys(&["q"]);
    let status = dir.path().join("alice.status");
    wait("Alice's console to exit", &|| {
        std::fs::read_to_string(&status).is_ok_and(|s| !s.is_empty())
    });
    assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "0");
    assert!(health(), "the daemon outlives a console");
    assert!(
        !has(&|e| e["kind"] == "engine_stopped"),
        "quitting a console does not stop the engine"
    );
    assert!(bob.alternate_screen(), "Bob's console is still up");

    // The daemon restarts on the same journal: Bob's console follows it by itself.
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(daemon.0.id() as i32, libc::SIGTERM) };
    let _ = daemon.0.wait();
    daemon = start_daemon();
    wait("the daemon to answer again", &health);
    let starts = || {
        journal(&journal_path)
            .iter()
            .filter(|e| e["kind"] == "engine_started")
            .count()
    };
    wait("the second start in the journal", &|| starts() == 2);
    bob.until(
        "the restart on Bob's screen",
        Duration::from_secs(10),
        // Newest first: the new daemon's STARTED now stands above the old one's STOPPED.
        |t| {
            let screen = t.screen();
            matches!((screen.find("STARTED"), screen.find("STOPPED")), (Some(a), Some(b)) if a < b)
        },
    );
    drop(daemon);
}

/// A free loopback port (nothing listens on it once this returns).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve_demo(dir: &std::path::Path, port: u16) -> Daemon {
    Daemon(
        Command::new(env!("CARGO_BIN_EXE_autoheal-tui"))
            .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--journal", dir.join("journal.jsonl").to_str().unwrap()])
            .env("HOME", dir)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut answer = String::new();
    c.write_all(b"GET /health HTTP/1.0\r\n\r\n").is_ok()
        && c.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.0 200")
}

fn wait_for(what: &str, within: Duration, pred: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !pred() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `who` attached to `port` in a tmux session of `w`x`h`.
fn attach(dir: &std::path::Path, who: &str, port: u16, w: u16, h: u16) -> Option<Tmux> {
    let command = format!(
        "HOME={home} USER={who} TERM=xterm-256color {bin} attach http://127.0.0.1:{port}",
        home = dir.display(),
        bin = env!("CARGO_BIN_EXE_autoheal-tui"),
    );
    Tmux::start(who, w, h, &command)
}

#[test]
fn a_daemon_that_dies_is_on_screen_within_2s_and_keys_are_refused_until_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut daemon = serve_demo(dir.path(), port);
    wait_for("the daemon to answer", Duration::from_secs(15), || {
        answers(port)
    });
    let Some(carol) = attach(dir.path(), "carol", port, 80, 24) else {
        return;
    };
    let Some(dave) = attach(dir.path(), "dave", port, 120, 40) else {
        return;
    };
    // The header names the daemon, and each console sees the other one.
    carol.until("the fleet and dave", Duration::from_secs(15), |t| {
        let s = t.screen();
        s.contains("payments-api") && s.contains(&format!("127.0.0.1:{port}"))
    });
    dave.until("carol in dave's header", Duration::from_secs(10), |t| {
        t.screen().contains("also here: carol@local")
    });
    // Probe telemetry crosses the wire: the daemon's latencies reach the targets pane.
    dave.until("a probe latency", Duration::from_secs(10), |t| {
        t.screen()
            .lines()
            .any(|l| l.contains("orders-db") && l.contains("ms "))
    });

    daemon.0.kill().unwrap();
    let _ = daemon.0.wait();
    let died = std::time::Instant::now();
    carol.until("the banner", Duration::from_secs(2), |t| {
        t.screen()
            .contains(&format!("daemon at 127.0.0.1:{port} unreachable"))
    });
    dave.until("the banner, in full", Duration::from_secs(2), |t| {
        t.screen().contains("keys that change things are refused")
    });
    assert!(died.elapsed() < Duration::from_secs(3));
    // `p` would pause automation: with no daemon it is refused on screen.
    carol.keys(&["p"]);
    carol.until("the refusal", Duration::from_secs(2), |t| {
        t.screen().contains("not sent: daemon unreachable")
    });

    // The daemon comes back on the same port and journal: the banner goes.
    let _daemon = serve_demo(dir.path(), port);
    for t in [&carol, &dave] {
        t.until("the banner to clear", Duration::from_secs(10), |t| {
            !t.screen().contains("daemon at")
        });
    }
    // And keys work again: `p` pauses the new daemon.
    carol.keys(&["p"]);
    let paused = || {
        journal(&dir.path().join("journal.jsonl"))
            .iter()
            .any(|e| e["kind"] == "automation_paused")
    };
    wait_for("the pause in the journal", Duration::from_secs(5), paused);
}

#[test]
fn a_url_where_nothing_listens_is_an_error_on_screen_not_an_empty_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let Some(t) = attach(dir.path(), "erin", port, 80, 24) else {
        return;
    };
    t.until("the error banner", Duration::from_secs(3), |t| {
        let s = t.screen();
        s.contains(&format!("daemon at 127.0.0.1:{port} unreachable")) && s.contains("retrying")
    });
}

#[test]
fn sigterm_ends_an_attached_console_and_gives_the_terminal_back() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // In a shell that goes on after it, as in a real session.
    let command = format!(
        "HOME={home} TERM=xterm-256color {bin} attach http://127.0.0.1:{port}; echo \"attach ended: $?\"; sleep 60",
        home = dir.path().display(),
        bin = env!("CARGO_BIN_EXE_autoheal-tui"),
    );
    let Some(t) = Tmux::start("frank", 80, 24, &command) else {
        return;
    };
    t.until("the console", Duration::from_secs(10), |t| {
        t.screen().contains("unreachable")
    });
    // The console itself, not the shell around it.
    let pattern = format!(
        "^{} attach http://127.0.0.1:{port}",
        env!("CARGO_BIN_EXE_autoheal-tui")
    );
    let pids = Command::new("pgrep")
        .args(["-f", &pattern])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&pids.stdout)
        .lines()
        .next()
        .expect("the attach process")
        .to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    // Left in the alternate screen and raw mode, the shell's line would never show.
    t.until("the terminal given back", Duration::from_secs(10), |t| {
        !t.alternate_screen() && t.screen().contains("attach ended: 0")
    });
}
