//! Two consoles attached to one daemon: what one does, the other sees at once,
//! and leaving a console leaves the daemon running.

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
