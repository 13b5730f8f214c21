//! The real binary in a real terminal (tmux), driven by keys like a person would.

mod common;

use std::path::Path;
use std::time::Duration;

use common::tmux::{Tmux, journal};

fn kind(e: &serde_json::Value, k: &str) -> bool {
    e["kind"] == k
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn chaos_heal_approve_and_quit_from_the_keyboard() {
    let dir = tempfile::tempdir().unwrap();
    let (journal_path, status) = (dir.path().join("journal.jsonl"), dir.path().join("status"));
    let command = format!(
        "HOME={home} TERM=xterm-256color {bin} --journal {journal} 2>{home}/stderr; echo $? > {status}",
        home = dir.path().display(),
        bin = env!("CARGO_BIN_EXE_autoheal-tui"),
        journal = journal_path.display(),
        status = status.display(),
    );
    let Some(t) = Tmux::start("console", 120, 40, &command) else {
        return;
    };
    let has = |pred: &dyn Fn(&serde_json::Value) -> bool| journal(&journal_path).iter().any(pred);
    t.until(
        "the console to show the demo fleet",
        Duration::from_secs(20),
        |t| {
            let s = t.screen();
            s.contains("orders-db") && s.contains("payments-api")
        },
    );

    // The selection rests on the first target offering chaos: break it with its first fault.
    t.keys(&["c"]);
    t.until("the chaos menu", Duration::from_secs(10), |t| {
        t.screen().contains("1 DB_TIMEOUT")
    });
    t.keys(&["1"]);
    t.until("the fix to be journaled", Duration::from_secs(10), |_| {
        has(&|e| kind(e, "incident_resolved"))
    });
    t.until("the fix to show on screen", Duration::from_secs(10), |t| {
        t.screen().contains("RESOLVED")
    });

    // DISK_FULL has no specific playbook: it waits for the operator.
    t.keys(&["c", "5"]);
    t.until("an approval request", Duration::from_secs(10), |_| {
        has(&|e| kind(e, "incident_analyzed") && e["decision"] == "approval_required")
    });
    t.until(
        "the approval queue to show it",
        Duration::from_secs(10),
        |t| t.screen().contains("DISK_FULL"),
    );
    // From the targets pane `a` only takes the operator to the queue.
    t.keys(&["a"]);
    t.until(
        "the approval queue to take focus",
        Duration::from_secs(10),
        |t| t.screen().contains("a again to approve"),
    );
    // In the queue `a` asks first, naming what will run; nothing is approved yet.
    t.keys(&["a"]);
    t.until("the confirmation", Duration::from_secs(10), |t| {
        let s = t.screen();
        s.contains("Approve the fix for") && s.contains("y Enter approve")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !has(&|e| kind(e, "approval_granted")),
        "an approval needs its confirmation"
    );
    t.keys(&["y"]);
    t.until(
        "the approved fix to resolve",
        Duration::from_secs(10),
        |_| {
            has(&|e| kind(e, "approval_granted"))
                && journal(&journal_path)
                    .iter()
                    .filter(|e| kind(e, "incident_resolved"))
                    .count()
                    == 2
        },
    );

    t.keys(&["q"]);
    t.until("the console to exit", Duration::from_secs(10), |_| {
        !read(&status).is_empty()
    });
    assert_eq!(
        read(&status).trim(),
        "0",
        "exit status; stderr: {}",
        read(&dir.path().join("stderr"))
    );
    let last = journal(&journal_path).pop().unwrap();
    assert_eq!(last["kind"], "engine_stopped");
    assert_eq!(last["reason"], "operator quit");
    assert!(!t.alternate_screen(), "the terminal is restored");
    // Once the console is gone, it says where its record is, with a summary.
    let stderr = read(&dir.path().join("stderr"));
    assert!(
        stderr.contains(&format!("journal {}", journal_path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("resolved 2"), "{stderr}");
}

#[test]
fn the_picked_incident_stays_picked_while_chaos_adds_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("journal.jsonl");
    let command = format!(
        "HOME={home} TERM=xterm-256color {bin} --journal {journal} --chaos-every 1s 2>{home}/stderr",
        home = dir.path().display(),
        bin = env!("CARGO_BIN_EXE_autoheal-tui"),
        journal = journal_path.display(),
    );
    let Some(t) = Tmux::start("select", 120, 40, &command) else {
        return;
    };
    let detected = || {
        journal(&journal_path)
            .iter()
            .filter(|e| kind(e, "incident_detected"))
            .count()
    };
    t.until("chaos to break two targets", Duration::from_secs(20), |t| {
        detected() >= 2 && t.screen().contains("#2 ")
    });

    // Focus the incident list (targets, feed, incidents) and pick the last row:
    // #1, or the oldest symptom listed under it if chaos crashed orders-db.
    t.keys(&["Tab", "Tab", "G", "Enter"]);
    t.until("the detail of the pick", Duration::from_secs(10), |t| {
        t.screen().contains("Incident #")
    });
    let screen = t.screen();
    let title = screen
        .lines()
        .find_map(|l| {
            Some(
                l.split("Incident #")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .to_string(),
            )
        })
        .expect("the detail's title names the incident");
    let picked = format!("Incident #{title} ");
    t.keys(&["Escape"]);
    // Sorted by status, then by slowest fix: the pick moves, and stays picked.
    t.keys(&["S"]);
    t.until("the list sorted by status", Duration::from_secs(10), |t| {
        t.screen().contains("· by status")
    });
    t.keys(&["S"]);
    t.until(
        "the list sorted by slowest fix",
        Duration::from_secs(10),
        |t| t.screen().contains("· slowest fix"),
    );
    let picked_at = detected();
    t.until(
        "chaos to add incidents above the pick",
        Duration::from_secs(20),
        |t| {
            let n = detected();
            n >= picked_at + 2 && t.screen().contains(&format!("#{n} "))
        },
    );
    t.keys(&["Enter"]);
    t.until(&picked, Duration::from_secs(10), |t| {
        t.screen().contains(&picked)
    });
}

/// A console on a fresh HOME whose state and data go where the test looks.
fn console_in(home: &Path, name: &str, state_dir: &Path) -> Option<Tmux> {
    let command = format!(
        "HOME={home} XDG_STATE_HOME={state} XDG_DATA_HOME={home}/data TERM=xterm-256color {bin} --journal {home}/journal.jsonl 2>>{home}/stderr",
        home = home.display(),
        state = state_dir.display(),
        bin = env!("CARGO_BIN_EXE_autoheal-tui"),
    );
    let t = Tmux::start(name, 120, 40, &command)?;
    t.until("the demo fleet", Duration::from_secs(20), |t| {
        t.screen().contains("payments-api")
    });
    Some(t)
}

#[test]
fn theme_export_log_and_paths_are_reachable_and_the_theme_is_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let (home, state) = (dir.path(), dir.path().join("state"));
    let Some(t) = console_in(home, "remember", &state) else {
        return;
    };
    t.keys(&["t"]);
    t.until("the next theme", Duration::from_secs(10), |t| {
        t.screen().contains("theme: light")
    });
    assert_eq!(read(&state.join("autoheal/theme")), "light\n");

    // Help names where the journal and the log are.
    t.keys(&["?"]);
    t.until("help with the paths", Duration::from_secs(10), |t| {
        let s = t.screen();
        s.contains("journal.jsonl") && s.contains("autoheal.log.*")
    });
    t.keys(&["Escape", "L"]);
    t.until("the log overlay", Duration::from_secs(10), |t| {
        t.screen().contains("Warnings and errors")
    });
    t.keys(&["Escape"]);

    // Break orders-db and export its incident from the list.
    t.keys(&["c", "1"]);
    let journal_path = home.join("journal.jsonl");
    t.until("an incident", Duration::from_secs(10), |_| {
        journal(&journal_path)
            .iter()
            .any(|e| kind(e, "incident_detected"))
    });
    t.keys(&["Tab", "Tab", "e"]);
    t.until("the export's path", Duration::from_secs(10), |t| {
        t.screen().contains("exported to")
    });
    let exports: Vec<_> = std::fs::read_dir(home.join("data/autoheal/exports"))
        .expect("exports directory")
        .map(|e| e.unwrap().path())
        .collect();
    let json = exports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"));
    let md = exports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "md"));
    let json: serde_json::Value =
        serde_json::from_str(&read(json.expect("a JSON export"))).expect("JSON");
    // The newest incident is on top: ours, or one a busy machine's host probe added.
    let id = json["id"].as_u64().expect("an incident id");
    let detected: Vec<u64> = journal(&journal_path)
        .iter()
        .filter(|e| kind(e, "incident_detected"))
        .map(|e| e["incident_id"].as_u64().unwrap())
        .collect();
    assert!(
        detected.contains(&id),
        "exported #{id}; journal has {detected:?}"
    );
    let heading = format!("# Incident #{id} on ");
    assert!(read(md.expect("a Markdown export")).starts_with(&heading));
    t.keys(&["q"]);
    t.until("the console to exit", Duration::from_secs(10), |t| {
        !t.alternate_screen()
    });
    drop(t);

    // The next start uses the remembered theme.
    let Some(t) = console_in(home, "remembered", &state) else {
        return;
    };
    t.keys(&["?"]);
    t.until("help naming the theme", Duration::from_secs(10), |t| {
        t.screen().contains("theme light")
    });
}

#[test]
fn a_theme_that_cannot_be_remembered_is_said_and_the_console_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the state directory should be.
    let state = dir.path().join("not-a-dir");
    std::fs::write(&state, "").unwrap();
    let Some(t) = console_in(dir.path(), "unremembered", &state) else {
        return;
    };
    t.keys(&["t"]);
    t.until(
        "the failure on the status line",
        Duration::from_secs(10),
        |t| t.screen().contains("not remembered"),
    );
    t.keys(&["t"]);
    t.until(
        "the console still answering",
        Duration::from_secs(10),
        |t| t.screen().contains("theme: high-contrast"),
    );
}

/// The binary under `TERM=dumb` with a fresh HOME: (exit code, stdout, stderr).
fn dumb(args: &[&str]) -> (Option<i32>, Vec<u8>, String) {
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_autoheal-tui"))
        .args(args)
        .env("HOME", home.path())
        .env("TERM", "dumb")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), out.stdout, stderr)
}

#[test]
fn a_dumb_terminal_gets_advice_instead_of_a_console() {
    let (code, stdout, stderr) = dumb(&[]);
    assert_eq!(code, Some(1), "{stderr}");
    // Not one escape sequence: the alternate screen was never entered.
    assert!(stdout.is_empty(), "{:?}", String::from_utf8_lossy(&stdout));
    assert!(
        stderr.contains("TERM=dumb cannot show the full-screen console")
            && stderr.contains("--headless"),
        "{stderr}"
    );

    let (code, stdout, stderr) = dumb(&["attach", "http://127.0.0.1:9"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("run attach from a terminal that can"),
        "{stderr}"
    );
}

#[test]
fn a_dumb_terminal_still_runs_headless() {
    let (code, _, stderr) = dumb(&["--headless", "--for", "1s"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("TERM=dumb"), "{stderr}");
}

#[test]
fn a_dumb_terminal_shows_the_advice_on_screen() {
    let dir = tempfile::tempdir().unwrap();
    let status = dir.path().join("status");
    let command = format!(
        // The sleep keeps the pane, and the message, on screen for the test to read.
        "HOME={home} TERM=dumb {bin}; echo $? > {status}; sleep 30",
        home = dir.path().display(),
        bin = env!("CARGO_BIN_EXE_autoheal-tui"),
        status = status.display(),
    );
    let Some(t) = Tmux::start("dumb", 100, 20, &command) else {
        return;
    };
    t.until("the refusal", Duration::from_secs(10), |_| {
        !read(&status).is_empty()
    });
    assert_eq!(read(&status).trim(), "1");
    let screen = t.screen();
    assert!(screen.contains("--headless"), "{screen}");
    assert!(!t.alternate_screen());
}

#[test]
fn a_c_locale_gets_an_ascii_console() {
    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        "HOME={home} LC_ALL=C TERM=xterm-256color {bin} --journal {home}/journal.jsonl",
        home = dir.path().display(),
        bin = env!("CARGO_BIN_EXE_autoheal-tui"),
    );
    let Some(t) = Tmux::start("ascii", 80, 24, &command) else {
        return;
    };
    t.until("the console", Duration::from_secs(10), |t| {
        t.screen().contains("+ Targets")
    });
    let screen = t.screen();
    assert!(screen.is_ascii(), "{screen}");
    t.keys(&["q"]);
}
