//! A probe that never returns (a pid file on a hung NFS mount, played here by a
//! FIFO nobody writes to) must not starve the probes of other targets: each of
//! its probes used to strand one more thread of the blocking pool, and once the
//! pool was used up every process, host and DNS-name probe timed out, opening
//! false incidents on healthy targets.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use autoheal::config::Config;
use autoheal::engine::{Engine, Settings};
use autoheal::event::EventKind;
use autoheal::playbook::Playbooks;

/// The blocking pool of this test's runtime: small, so that a leak of one
/// thread per probe uses it up within a few dozen probes.
const BLOCKING_THREADS: usize = 8;

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

#[test]
fn a_hung_probe_does_not_starve_the_probes_of_other_targets() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hung = dir.path().join("hung.pid");
    mkfifo(&hung);
    let alive = dir.path().join("alive.pid");
    std::fs::write(&alive, std::process::id().to_string()).unwrap();
    let config = format!(
        "targets:
  - name: hung
    process: {{ pid_file: {hung:?} }}
    interval: 10ms
    timeout: 10ms
    failure_threshold: 1
  - name: alive
    process: {{ pid_file: {alive:?} }}
    interval: 50ms
    timeout: 500ms
    failure_threshold: 1
"
    );
    let (config, targets) = Config::parse(Path::new("test.yaml"), &config).unwrap();
    let seen = runtime.block_on(async {
        let engine = Engine::new(Settings {
            targets,
            playbooks: Playbooks::load(None, &[]).unwrap(),
            policy: config.policy,
            dry_run: false,
            journal: Some(dir.path().join("journal.jsonl")),
            registry: Default::default(),
        })
        .unwrap();
        let mut events = engine.subscribe();
        let handle = engine.spawn();
        // 150 probes of `hung` at 10ms: far more than the pool holds.
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
        while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
            seen.push(event.kind);
        }
        handle.shutdown("test over").await.unwrap();
        seen
    });
    // Opening the FIFO for writing lets the stuck readers go, so the runtime can end.
    let writer =
        std::thread::spawn(move || drop(std::fs::OpenOptions::new().write(true).open(hung)));
    runtime.shutdown_timeout(Duration::from_secs(2));
    let _ = writer.join();
    let failed = |name: &str| {
        seen.iter()
            .any(|k| matches!(k, EventKind::ProbeFailed { target, .. } if target == name))
    };
    assert!(failed("hung"), "the hung probe is a timeout: {seen:?}");
    assert!(
        !failed("alive"),
        "a healthy target got a false incident while another probe hung: {seen:?}"
    );
}
