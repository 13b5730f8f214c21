//! One console over three real daemons (`attach --fleet`): every daemon's
//! targets under its name, chaos and an approval that land on the daemon that
//! owns them, and one daemon killed and restarted while the others go on.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::tmux::{Tmux, journal};

const NAMES: [&str; 3] = ["web-1", "web-2", "db-1"];

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A demo daemon on `port`, its home and journal in `dir`.
fn serve(dir: &Path, port: u16) -> Daemon {
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on loopback `port`: the body of a 200, else `None`.
fn get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    c.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .ok()?;
    let mut answer = String::new();
    c.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200").then(|| body.to_string())
}

fn wait_for(what: &str, within: Duration, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !pred() {
        assert!(Instant::now() < deadline, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn up(screen: &str, name: &str) -> bool {
    screen.contains(&format!("{name} ✓")) || screen.contains(&format!("{name} ok"))
}

#[test]
fn one_console_heals_three_daemons_and_outlives_one_of_them() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install -y tmux)");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = NAMES.iter().map(|n| root.path().join(n)).collect();
    let ports: Vec<u16> = NAMES.iter().map(|_| free_port()).collect();
    let mut daemons: Vec<Option<Daemon>> = Vec::new();
    for (dir, port) in dirs.iter().zip(&ports) {
        std::fs::create_dir_all(dir).unwrap();
        daemons.push(Some(serve(dir, *port)));
    }
    for port in &ports {
        wait_for("a daemon to answer", Duration::from_secs(15), || {
            get(*port, "/health").is_some()
        });
    }
    let fleet = root.path().join("fleet.yaml");
    let mut yaml = "daemons:\n".to_string();
    for (name, port) in NAMES.iter().zip(&ports) {
        yaml.push_str(&format!(
            "  - {{ name: {name}, url: \"http://127.0.0.1:{port}\" }}\n"
        ));
    }
    std::fs::write(&fleet, yaml).unwrap();
    let command = format!(
        "HOME={home} USER=alice LANG=C.UTF-8 TERM=xterm-256color {bin} attach --fleet {fleet}",
        home = root.path().display(),
        bin = env!("CARGO_BIN_EXE_autoheal-tui"),
        fleet = fleet.display(),
    );
    let Some(t) = Tmux::start("fleet", 160, 50, &command) else {
        return;
    };

    // Every daemon's targets, under its name, and each daemon up in the header.
    t.until("the three fleets on screen", Duration::from_secs(15), |t| {
        let s = t.screen();
        NAMES
            .iter()
            .all(|n| s.contains(&format!("{n}/edge-proxy")) && up(&s, n))
    });

    // Chaos from the console breaks a disk on the daemon that owns the selected
    // target: the last row, web-2's payments-api (numbers there differ from the console's).
    t.keys(&["G", "c", "5"]);
    let journals: Vec<PathBuf> = dirs.iter().map(|d| d.join("journal.jsonl")).collect();
    let asking = |j: &Path| {
        journal(j)
            .iter()
            .find(|e| e["decision"] == "approval_required")
            .and_then(|e| e["incident_id"].as_u64())
    };
    wait_for("an approval request", Duration::from_secs(10), || {
        journals.iter().any(|j| asking(j).is_some())
    });
    let owner = journals.iter().position(|j| asking(j).is_some()).unwrap();
    assert_eq!(NAMES[owner], "web-2", "the selected target's daemon");
    let local = asking(&journals[owner]).unwrap();
    let chaos_on = |j: &Path| journal(j).iter().any(|e| e["kind"] == "chaos_injected");
    assert_eq!(
        journals.iter().filter(|j| chaos_on(j)).count(),
        1,
        "chaos went to one daemon only"
    );
    t.until("the request on screen", Duration::from_secs(5), |t| {
        t.screen().contains("DISK_FULL")
    });

    // Approved from the merged console: it lands on that daemon, under its own number.
    t.keys(&["a", "a"]);
    t.until("the confirmation", Duration::from_secs(5), |t| {
        t.screen().contains("y Enter approve")
    });
    t.keys(&["y"]);
    // Console numbers interleave the daemons': its #k is the console's #((k-1)·3 + owner + 1).
    let shown = (local - 1) * 3 + owner as u64 + 1;
    t.until("where the approval went", Duration::from_secs(5), |t| {
        let went = format!("approve #{shown} sent to {}", NAMES[owner]);
        let s = t.screen();
        s.contains(&went) && (shown == local || s.contains(&format!("as approve #{local}")))
    });
    let approved = || {
        get(ports[owner], &format!("/api/incidents/{local}")).is_some_and(|body| {
            let incident: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            incident["approved_by"].as_str() == Some("alice@local")
        })
    };
    wait_for(
        "the approval on its daemon",
        Duration::from_secs(5),
        approved,
    );
    let granted = |j: &Path| journal(j).iter().any(|e| e["kind"] == "approval_granted");
    for (i, j) in journals.iter().enumerate() {
        assert_eq!(granted(j), i == owner, "{}", NAMES[i]);
    }

    // Another daemon dies: it shows down, and its targets stay.
    let gone = (owner + 1) % NAMES.len();
    daemons[gone] = None; // killed
    t.until(
        "the dead daemon in the header",
        Duration::from_secs(5),
        |t| {
            let s = t.screen();
            // Its targets still count: twelve in all, as last told.
            s.contains(&format!("{} down", NAMES[gone])) && s.contains("/12 up")
        },
    );
    // The other two still listen: a pause reaches them, and the console says where.
    t.keys(&["p"]);
    t.until(
        "the pause, and where it went",
        Duration::from_secs(5),
        |t| {
            let s = t.screen();
            s.contains(&format!("not to {} (down)", NAMES[gone])) || s.contains("PAUSED")
        },
    );
    let paused = |j: &Path| journal(j).iter().any(|e| e["kind"] == "automation_paused");
    for (i, j) in journals.iter().enumerate() {
        if i != gone {
            wait_for("the pause on a live daemon", Duration::from_secs(5), || {
                paused(j)
            });
        }
    }
    t.until(
        "PAUSED from the live daemons",
        Duration::from_secs(5),
        |t| t.screen().contains("PAUSED"),
    );

    // Back on its port and journal: the console follows it by itself.
    daemons[gone] = Some(serve(&dirs[gone], ports[gone]));
    t.until(
        "the daemon back in the header",
        Duration::from_secs(10),
        |t| {
            let s = t.screen();
            NAMES.iter().all(|n| up(&s, n))
        },
    );
    assert!(
        !paused(&journals[gone]),
        "a pause it never took is not in its journal"
    );
}

#[test]
fn a_broken_fleet_file_is_refused_by_line_and_field_before_any_screen() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.yaml");
    std::fs::write(
        &fleet,
        "daemons:\n  - { name: web-1, url: \"http://127.0.0.1:1\" }\n  - { name: web-1, url: \"http://127.0.0.1:2\", token_env: NOT_SET_HERE }\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_autoheal-tui"))
        .args(["attach", "--fleet", fleet.to_str().unwrap()])
        .env("HOME", dir.path())
        .env_remove("NOT_SET_HERE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let at = format!("{}:3:", fleet.display());
    assert!(
        err.contains(&at) && err.contains("`web-1` is taken"),
        "{err}"
    );
    assert!(err.contains("`NOT_SET_HERE` is not set"), "{err}");

    // The same daemon twice on the command line is as wrong.
    let out = Command::new(env!("CARGO_BIN_EXE_autoheal-tui"))
        .args(["attach", "http://127.0.0.1:7311", "http://127.0.0.1:7311/"])
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("given twice"), "{err}");
}
