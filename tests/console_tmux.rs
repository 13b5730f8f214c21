//! The real binary in a real terminal (tmux), driven by keys like a person would.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    session: String,
    _dir: tempfile::TempDir,
    journal: PathBuf,
    status: PathBuf,
}

impl Tmux {
    fn start(width: u16, height: u16) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("SKIPPED: tmux is not installed (apt-get install -y tmux)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal.jsonl");
        let status = dir.path().join("status");
        let session = format!("autoheal-test-{}", std::process::id());
        let script = format!(
            "HOME={home} TERM=xterm-256color {bin} --journal {journal} 2>{home}/stderr; echo $? > {status}",
            home = dir.path().display(),
            bin = env!("CARGO_BIN_EXE_autoheal-tui"),
            journal = journal.display(),
            status = status.display(),
        );
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
            ])
            .arg(script)
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session failed");
        let _ = Command::new("tmux")
            .args(["set-option", "-t", &session, "remain-on-exit", "on"])
            .status();
        Some(Tmux {
            session,
            _dir: dir,
            journal,
            status,
        })
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for key in keys {
            Command::new("tmux")
                .args(["send-keys", "-t", &self.session, key])
                .status()
                .unwrap();
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn journal(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.journal)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until `pred` holds, or fails with the screen.
    fn until(&self, what: &str, within: Duration, pred: impl Fn(&Tmux) -> bool) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if pred(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{what} did not happen within {within:?}; screen:\n{}",
            self.screen()
        );
    }

    fn journal_has(&self, pred: impl Fn(&serde_json::Value) -> bool) -> bool {
        self.journal().iter().any(pred)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

fn kind(e: &serde_json::Value, k: &str) -> bool {
    e["kind"] == k
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn chaos_heal_approve_and_quit_from_the_keyboard() {
    let Some(t) = Tmux::start(120, 40) else {
        return;
    };
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
    t.until("the chaos menu", Duration::from_secs(5), |t| {
        t.screen().contains("1 DB_TIMEOUT")
    });
    t.keys(&["1"]);
    t.until("the fix to be journaled", Duration::from_secs(10), |t| {
        t.journal_has(|e| kind(e, "incident_resolved"))
    });
    t.until("the fix to show on screen", Duration::from_secs(5), |t| {
        t.screen().contains("RESOLVED")
    });

    // DISK_FULL has no specific playbook: it waits for the operator.
    t.keys(&["c", "5"]);
    t.until("an approval request", Duration::from_secs(10), |t| {
        t.journal_has(|e| kind(e, "incident_analyzed") && e["decision"] == "approval_required")
    });
    t.until(
        "the approval queue to show it",
        Duration::from_secs(5),
        |t| t.screen().contains("DISK_FULL"),
    );
    t.keys(&["a"]);
    t.until(
        "the approved fix to resolve",
        Duration::from_secs(10),
        |t| {
            t.journal_has(|e| kind(e, "approval_granted"))
                && t.journal()
                    .iter()
                    .filter(|e| kind(e, "incident_resolved"))
                    .count()
                    == 2
        },
    );

    t.keys(&["q"]);
    t.until("the console to exit", Duration::from_secs(10), |t| {
        !read(&t.status).is_empty()
    });
    assert_eq!(
        read(&t.status).trim(),
        "0",
        "exit status; stderr: {}",
        read(&t._dir.path().join("stderr"))
    );
    let last = t.journal().pop().unwrap();
    assert_eq!(last["kind"], "engine_stopped");
    assert_eq!(last["reason"], "operator quit");
    // Restored: the alternate screen is gone and the shell's screen is back.
    let alternate = Command::new("tmux")
        .args(["display", "-p", "-t", &t.session, "#{alternate_on}"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&alternate.stdout).trim(), "0");
}
