//! The `service` step on a host without systemd: it starts a real process with
//! the target's start command, and for nginx it reads the running master's
//! config and clears orphaned workers, from real processes in /proc.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use autoheal::action::nginx;
use autoheal::action::service::{Host, Manager, Part, ServiceAction, prepare_on};
use autoheal::action::vars::Vars;
use autoheal::event::EventKind;
use common::rig;

/// Killing orphans is machine-wide: the two tests that make orphans take turns.
static ORPHANS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

fn kill(pid: i32) {
    let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
}

/// Processes whose command line mentions `needle`.
fn processes_with(needle: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) && alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// Runs a bash script that prints pids, one a line, and exits.
fn bash_pids(script: &str) -> Vec<i32> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

fn without_systemd() -> bool {
    if Path::new("/run/systemd/system").exists() {
        eprintln!("SKIPPED: systemd runs here; this test is about a host without it");
        return false;
    }
    true
}

fn fake_root() -> (tempfile::TempDir, Host) {
    let root = tempfile::tempdir().unwrap();
    let host = Host {
        root: root.path().to_path_buf(),
        proc: PathBuf::from("/proc"),
    };
    (root, host)
}

#[test]
fn the_running_masters_config_is_read_from_its_cmdline() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nginx.conf");
    let conf = conf.display();
    // A process titled the way an nginx master titles itself.
    let master = bash_pids(&format!(
        "(exec -a 'nginx: master process /usr/sbin/nginx -c {conf}' sleep 30 >/dev/null 2>&1) & echo $!"
    ))[0];
    std::thread::sleep(Duration::from_millis(100));
    let found = nginx::masters(Path::new("/proc"));
    let spec = |action: &str| -> ServiceAction {
        serde_norway::from_str(&format!(
            "{{ name: autoheal-test-nginx, action: {action}, nginx: true, start: '{{{{start}}}}' }}"
        ))
        .unwrap()
    };
    let mut vars = Vars::default();
    vars.trusted("start", format!("/usr/sbin/nginx -c {conf}"));
    let (_root, host) = fake_root();
    let reload = prepare_on(&host, &spec("reload-or-restart"), &vars);
    let restart = prepare_on(&host, &spec("restart"), &vars);
    kill(master);

    let ours = found
        .iter()
        .find(|m| m.pid == master)
        .expect("master found");
    assert_eq!(
        ours.argv,
        ["/usr/sbin/nginx", "-c", &conf.to_string()],
        "{found:?}"
    );
    let reload = reload.unwrap();
    assert_eq!(reload.manager, Manager::Command);
    let run = |argv: &str| Part::Run(argv.split(' ').map(str::to_string).collect());
    assert_eq!(
        reload.parts,
        [
            run(&format!("/usr/sbin/nginx -t -c {conf}")),
            run(&format!("/usr/sbin/nginx -c {conf} -s reload")),
        ],
        "a running nginx is tested and reloaded, its workers untouched"
    );
    let e = restart.unwrap_err();
    assert!(
        e.contains(&format!("nginx (pid {master}) still runs")),
        "{e}"
    );
}

#[test]
fn only_workers_whose_master_is_gone_are_killed() {
    let _turn = ORPHANS.blocking_lock();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nginx.conf");
    // A worker whose parent exits at once: an orphan.
    let orphan =
        bash_pids("(exec -a 'nginx: worker process' sleep 30 >/dev/null 2>&1) & echo $!")[0];
    // A worker under a live master: another nginx instance, to be left alone.
    let script = format!(
        "exec -a 'nginx: master process nginx -c {}' bash -c \
         \"(exec -a 'nginx: worker process' sleep 30 >/dev/null 2>&1) & echo \\$!; exec >/dev/null; wait\"",
        conf.display()
    );
    let mut master = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(master.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let managed: i32 = line.trim().parse().unwrap();
    std::thread::sleep(Duration::from_millis(100));

    let found = nginx::orphans(Path::new("/proc"));
    let killed = nginx::stop_orphans(Path::new("/proc"));
    let (orphan_alive, managed_alive, master_alive) = (
        alive(orphan),
        alive(managed),
        master.try_wait().unwrap().is_none(),
    );
    kill(orphan);
    kill(managed);
    let _ = master.kill();
    let _ = master.wait();

    assert!(found.contains(&orphan), "{found:?}");
    assert!(
        !found.contains(&managed),
        "a worker with its master is no orphan"
    );
    assert!(killed.unwrap().contains(&orphan));
    assert!(!orphan_alive, "the orphan is gone");
    assert!(
        managed_alive && master_alive,
        "the other instance is untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_step_starts_the_target_with_its_start_command() {
    if !without_systemd() {
        return;
    }
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIPPED: python3 is not installed (apt-get install -y python3)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let root = dir.path().display().to_string();
    let start = format!("python3 -m http.server {port} --bind 127.0.0.1 --directory {root}");
    let config = format!(
        "targets:\n  - name: web\n    http: {{ url: 'http://127.0.0.1:{port}/' }}\n    interval: 300ms\n    vars: {{ unit: autoheal-test-web, start: '{start}' }}\npolicy: {{ verify_within: 10s }}\n"
    );
    let playbook = "name: restart-web\nmatch: { targets: [web], signature: CONNECTION_REFUSED }\nseverity: high\nconfidence: 0.95\nsteps:\n  - name: start\n    service: { name: '{{unit}}', action: restart, start: '{{start}}', timeout: 5s }\n";

    // Nothing serves the port: the first probe is refused.
    let mut rig = rig(dir, &config, &[playbook]);
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match rig.events.recv().await.unwrap().kind {
                EventKind::IncidentResolved { .. } => return Ok(()),
                EventKind::IncidentEscalated { reason, .. } => return Err(reason),
                _ => {}
            }
        }
    })
    .await;
    let started = processes_with(&root);
    let serving = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    let (state, _journal, _dir) = rig.stop().await;
    started.iter().for_each(|&pid| kill(pid));

    assert_eq!(outcome, Ok(Ok(())), "{:#?}", state.incidents);
    assert_eq!(started.len(), 1, "one server started: {started:?}");
    assert!(serving, "the started server answers");
    let incident = state.incidents.values().next().unwrap();
    assert_eq!(incident.attempts[0].ok, Some(true));
    assert_eq!(
        incident.attempts[0].action,
        format!("service via start command: {start}"),
        "the journal shows the exact command"
    );
}

/// The pid in `file`, once it names a live process.
fn pid_in(file: &Path) -> Option<i32> {
    let pid = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
    alive(pid).then_some(pid)
}

fn children_of(parent: i32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rfind(')')
            .and_then(|at| stat[at + 1..].split_whitespace().nth(1)?.parse().ok());
        if ppid == Some(parent) && alive(pid) {
            found.push(pid);
        }
    }
    found
}

#[tokio::test]
async fn nginx_restarts_although_an_orphaned_worker_holds_its_port() {
    if Command::new("nginx").arg("-v").output().is_err() {
        eprintln!("SKIPPED: nginx is not installed (apt-get install -y nginx)");
        return;
    }
    let _turn = ORPHANS.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().display();
    let port = common::free_port();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes 1;\npid {at}/nginx.pid;\nerror_log {at}/error.log;\nevents {{}}\n\
             http {{ access_log off; client_body_temp_path {at}/body; proxy_temp_path {at}/proxy;\n\
             fastcgi_temp_path {at}/fcgi; uwsgi_temp_path {at}/uwsgi; scgi_temp_path {at}/scgi;\n\
             server {{ listen 127.0.0.1:{port}; location / {{ return 200; }} }} }}\n"
        ),
    )
    .unwrap();
    let start = format!("nginx -c {}", conf.display());
    let pidfile = dir.path().join("nginx.pid");
    assert!(
        Command::new("nginx")
            .arg("-c")
            .arg(&conf)
            .status()
            .unwrap()
            .success()
    );
    let mut master = None;
    for _ in 0..100 {
        master = pid_in(&pidfile);
        if master.is_some_and(|m| !children_of(m).is_empty()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let master = master.expect("nginx started");
    let workers = children_of(master);
    // The master dies; its worker lives on, holding the port.
    kill(master);
    std::thread::sleep(Duration::from_millis(100));
    let orphaned = workers.iter().all(|&w| alive(w));

    let spec: ServiceAction = serde_norway::from_str(
        "{ name: autoheal-test-nginx, action: restart, nginx: true, start: '{{start}}', timeout: 10s }",
    )
    .unwrap();
    let mut vars = Vars::default();
    vars.trusted("start", start.clone());
    let (_root, host) = fake_root();
    let outcome = match prepare_on(&host, &spec, &vars) {
        Ok(ready) => ready.run().await,
        Err(e) => panic!("{e}"),
    };
    let again = pid_in(&pidfile);
    let serving = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    let workers_gone = workers.iter().all(|&w| !alive(w));
    for pid in again
        .into_iter()
        .flat_map(|m| children_of(m).into_iter().chain([m]))
    {
        kill(pid);
    }
    workers.iter().for_each(|&w| kill(w));

    assert!(orphaned, "the worker outlived its master");
    assert!(outcome.ok, "{}", outcome.output);
    assert!(
        outcome
            .output
            .contains(&format!("killed orphaned nginx workers {workers:?}")),
        "{}",
        outcome.output
    );
    assert!(workers_gone);
    assert!(again.is_some_and(|m| m != master), "a new master runs");
    assert!(serving);
}
