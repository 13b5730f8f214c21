//! `service`: restart (or reload, or start) a service through whatever runs
//! services on this host, so one playbook works with and without systemd.
//!
//! The manager is detected when the step is prepared, and the step becomes the
//! exact commands it will run (shown for approval and journaled):
//! - systemd, when /run/systemd/system exists: `systemctl restart NAME`;
//! - else `service` (sysvinit) or `rc-service` (OpenRC), when /etc/init.d/NAME
//!   exists: `service NAME restart`;
//! - else the step's `start` command (the target's `vars.start`, say): without
//!   a manager autoheal can only start a service, so this is for one that died.
//!   It runs in a session of its own; one that daemonizes is judged by its exit
//!   status, one that stays in the foreground and still runs after half a
//!   second is the service, left running.
//!
//! With `nginx: true` the step first tests the config the running master uses
//! (`nginx -t -c FILE`, read from the master's command line; when nginx is down,
//! the `-c` of the start command, else nginx's default), and before starting it
//! stops nginx workers whose master is gone, which would otherwise hold the port.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::template::render;
use super::vars::{Place, Vars};
use super::{ActionOutcome, OUTPUT_LIMIT, exec, nginx};
use crate::config::duration;

/// What a `service` step asks for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAction {
    /// The unit or init script, e.g. `nginx` or `{{unit}}`.
    pub name: String,
    #[serde(default)]
    pub action: Verb,
    /// The command line that starts the service where no manager knows it,
    /// e.g. `{{start}}`; split into words like a shell would, but never run by one.
    #[serde(default)]
    pub start: Option<String>,
    /// The service is nginx: test its config first, clear orphaned workers.
    #[serde(default)]
    pub nginx: bool,
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

/// A start command still running after this long is the service, started.
const SETTLE: Duration = Duration::from_millis(500);

fn default_timeout() -> Duration {
    Duration::from_secs(60)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verb {
    #[default]
    Restart,
    /// A graceful reload when it runs, a start when it does not.
    ReloadOrRestart,
    Start,
}

impl Verb {
    fn word(self) -> &'static str {
        match self {
            Verb::Restart => "restart",
            Verb::ReloadOrRestart => "reload-or-restart",
            Verb::Start => "start",
        }
    }
}

/// Who runs services on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    Systemd,
    /// `service` (sysvinit) or `rc-service` (OpenRC), with an init script for the name.
    Service(&'static str),
    /// Nothing: the step's own start command.
    Command,
}

/// The filesystem a manager is detected from: `/`, or a fake root in tests.
#[derive(Debug, Clone)]
pub struct Host {
    pub root: PathBuf,
    pub proc: PathBuf,
}

impl Default for Host {
    fn default() -> Host {
        Host {
            root: PathBuf::from("/"),
            proc: PathBuf::from("/proc"),
        }
    }
}

impl Host {
    fn at(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    /// The manager that knows `name`, in the order the module doc gives.
    pub fn manager(&self, name: &str) -> Manager {
        if self.at("run/systemd/system").is_dir() {
            return Manager::Systemd;
        }
        let script = self.at("etc/init.d").join(init_script(name));
        let tool = [
            ("usr/sbin/service", "service"),
            ("sbin/service", "service"),
            ("usr/bin/service", "service"),
            ("sbin/rc-service", "rc-service"),
            ("usr/sbin/rc-service", "rc-service"),
        ]
        .into_iter()
        .find(|(path, _)| self.at(path).is_file());
        match tool {
            Some((_, tool)) if script.is_file() => Manager::Service(tool),
            _ => Manager::Command,
        }
    }
}

/// The init script of a unit name: `redis-server.service` -> `redis-server`.
fn init_script(name: &str) -> &str {
    name.strip_suffix(".service").unwrap_or(name)
}

/// One thing the step does, in order; the first failure ends it.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Run(Vec<String>),
    /// Kill nginx workers whose master is gone (they hold the port).
    StopOrphans,
}

/// A service step with everything decided: exactly what will run.
#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    pub manager: Manager,
    pub parts: Vec<Part>,
    pub timeout: Duration,
    /// Added to each command's inherited environment (none unless a test sets it).
    pub env: Vec<(String, String)>,
    /// Where orphaned nginx workers are looked for: the host's /proc.
    pub proc: PathBuf,
}

pub fn prepare(spec: &ServiceAction, vars: &Vars) -> Result<Ready, String> {
    prepare_on(&Host::default(), spec, vars)
}

/// [`prepare`] on `host`.
pub fn prepare_on(host: &Host, spec: &ServiceAction, vars: &Vars) -> Result<Ready, String> {
    let name = render(&spec.name, vars, Place::Word).map_err(|e| format!("name: {e}"))?;
    if name.is_empty() || name.starts_with('-') || name.contains('/') {
        return Err(format!(
            "service name `{name}` must be a unit or init script name, not empty, \
             without `/` and not starting with `-`"
        ));
    }
    let manager = host.manager(&name);
    // Only rendered when needed: a target under systemd need not have `vars.start`.
    let start = || -> Result<Vec<String>, String> {
        let Some(template) = &spec.start else {
            return Err(format!(
                "no service manager knows `{name}` here (no systemd, no /etc/init.d/{name}) \
                 and the step has no `start` command"
            ));
        };
        let line = render(template, vars, Place::Word).map_err(|e| format!("start: {e}"))?;
        let words = split_words(&line)?;
        if words.is_empty() {
            return Err("start: the command is empty".into());
        }
        Ok(words)
    };
    let mut parts = Vec::new();
    // nginx: the master this step is about, if it runs, and its config options.
    let mut running = None;
    if spec.nginx {
        let started_with = match manager {
            Manager::Command => start().ok(),
            _ => spec.start.as_ref().and_then(|_| start().ok()),
        };
        let NginxView {
            master,
            program,
            options,
        } = nginx_view(host, started_with.as_deref());
        running = master;
        let mut test = vec![program.clone(), "-t".into()];
        test.extend(options.iter().cloned());
        parts.push(Part::Run(test));
        if running.is_none() || spec.action != Verb::ReloadOrRestart {
            parts.push(Part::StopOrphans);
        }
        if manager == Manager::Command && running.is_some() {
            // A running nginx without a manager: signal it through its own pid file.
            let mut signal = vec![program];
            signal.extend(options);
            match spec.action {
                Verb::ReloadOrRestart => signal.extend(["-s".into(), "reload".into()]),
                Verb::Restart | Verb::Start => {
                    return Err(format!(
                        "nginx (pid {}) still runs and no service manager knows `{name}`: \
                         autoheal can only start it once it is down",
                        running.map(|m| m.pid).unwrap_or_default()
                    ));
                }
            }
            parts.push(Part::Run(signal));
            return Ok(Ready {
                manager,
                parts,
                timeout: spec.timeout,
                env: Vec::new(),
                proc: host.proc.clone(),
            });
        }
    }
    let verb = match (manager, spec.action) {
        (Manager::Systemd, verb) => verb.word(),
        (_, Verb::ReloadOrRestart) if running.is_some() => "reload",
        (_, Verb::ReloadOrRestart) => "restart",
        (_, verb) => verb.word(),
    };
    parts.push(Part::Run(match manager {
        Manager::Systemd => vec!["systemctl".into(), verb.into(), name],
        Manager::Service(tool) => vec![tool.into(), init_script(&name).into(), verb.into()],
        Manager::Command => start()?,
    }));
    Ok(Ready {
        manager,
        parts,
        timeout: spec.timeout,
        env: Vec::new(),
        proc: host.proc.clone(),
    })
}

/// The nginx a step is about, as /proc and the start command tell it.
struct NginxView {
    /// Its master, if it runs.
    master: Option<nginx::Master>,
    /// The nginx to run `-t` (and `-s`) with: the start command's, else `nginx`.
    program: String,
    /// The `-c`/`-p` options of its config: the running master's, else the start command's.
    options: Vec<String>,
}

/// With a start command, the master started with the same config options;
/// without one, the master with no options (the default config), else the lowest pid.
fn nginx_view(host: &Host, started_with: Option<&[String]>) -> NginxView {
    let wanted = started_with.map(nginx::config_options).unwrap_or_default();
    let masters = nginx::masters(&host.proc);
    let master = masters
        .iter()
        .find(|m| nginx::config_options(&m.argv) == wanted)
        .or_else(|| masters.first().filter(|_| started_with.is_none()))
        .cloned();
    let options = master
        .as_ref()
        .map(|m| nginx::config_options(&m.argv))
        .unwrap_or(wanted);
    let program = started_with
        .and_then(|argv| argv.first())
        .filter(|p| p.rsplit('/').next() == Some("nginx"))
        .cloned()
        .unwrap_or_else(|| "nginx".into());
    NginxView {
        master,
        program,
        options,
    }
}

/// Splits a command line into words as sh would for plain words, '…' and "…"
/// (no `$`, globs or escapes inside quotes: nothing is expanded, ever).
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' | '"' => {
                let quoted = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(other) => quoted.push(other),
                        None => return Err(format!("unclosed {c} in `{line}`")),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(escaped) => word.get_or_insert_with(String::new).push(escaped),
                None => return Err(format!("trailing \\ in `{line}`")),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

impl Ready {
    /// For a human about to approve it: each command as a shell would read it.
    pub fn describe(&self) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Run(argv) => exec::quote_argv(argv),
                Part::StopOrphans => "<kill nginx workers whose master is gone>".into(),
            })
            .collect::<Vec<_>>()
            .join(" && ")
    }

    /// For journals: `service via systemd: systemctl restart nginx`, `service
    /// via init script: service nginx restart`, `service via start command: ...`.
    pub fn label(&self) -> String {
        let manager = match self.manager {
            Manager::Systemd => "systemd",
            Manager::Service(_) => "init script",
            Manager::Command => "start command",
        };
        format!("service via {manager}: {}", self.describe())
    }

    pub async fn run(&self) -> ActionOutcome {
        super::timed(self.execute()).await
    }

    /// Each part in order under one deadline; the output shows each command run.
    async fn execute(&self) -> Result<String, String> {
        let deadline = Instant::now().checked_add(self.timeout);
        let mut log = String::new();
        for part in &self.parts {
            let left = deadline.map_or(self.timeout, |d| {
                d.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return Err(cut(format!("{log}timed out after {:?}", self.timeout)));
            }
            let (ok, output) = match part {
                Part::Run(argv) => {
                    let command = exec::Ready {
                        argv: argv.clone(),
                        env: self.env.clone(),
                        timeout: left,
                        // Only the start command may be the service itself.
                        detach: (self.manager == Manager::Command
                            && Some(part) == self.parts.last())
                        .then_some(SETTLE),
                    };
                    let outcome = command.run().await;
                    (
                        outcome.ok,
                        format!("$ {}\n{}", exec::quote_argv(argv), outcome.output),
                    )
                }
                Part::StopOrphans => {
                    let proc = self.proc.clone();
                    match tokio::task::spawn_blocking(move || nginx::stop_orphans(&proc)).await {
                        Ok(Ok(pids)) if pids.is_empty() => continue,
                        Ok(Ok(pids)) => (true, format!("killed orphaned nginx workers {pids:?}")),
                        Ok(Err(e)) => (false, e),
                        Err(e) => (false, format!("cannot stop orphaned workers: {e}")),
                    }
                }
            };
            log.push_str(output.trim_end());
            log.push('\n');
            if !ok {
                return Err(cut(log));
            }
        }
        Ok(cut(log))
    }
}

fn cut(mut text: String) -> String {
    let text_len = text.trim_end().len();
    text.truncate(text_len);
    if text.len() > OUTPUT_LIMIT {
        text.truncate(text.floor_char_boundary(OUTPUT_LIMIT));
        text.push_str("…(truncated)");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(files: &[&str], dirs: &[&str]) -> (tempfile::TempDir, Host) {
        let root = tempfile::tempdir().unwrap();
        for dir in dirs {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        for file in files {
            let path = root.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let host = Host {
            root: root.path().to_path_buf(),
            // No process at all: nginx is down.
            proc: root.path().join("proc"),
        };
        (root, host)
    }

    fn spec(yaml: &str) -> ServiceAction {
        serde_norway::from_str(yaml).unwrap()
    }

    fn vars() -> Vars {
        let mut vars = Vars::default();
        vars.trusted("unit", "redis-server.service")
            .trusted("start", "redis-server '/etc/my redis/r.conf' --port 6390")
            .untrusted("signature", "$(id)");
        vars
    }

    fn argvs(ready: &Ready) -> Vec<String> {
        ready
            .parts
            .iter()
            .map(|p| match p {
                Part::Run(argv) => argv.join(" "),
                Part::StopOrphans => "<orphans>".into(),
            })
            .collect()
    }

    const REDIS: &str = "{ name: '{{unit}}', action: restart, start: '{{start}}' }";

    #[test]
    fn each_manager_gets_its_own_argv() {
        let (_root, systemd) = host(
            &["usr/sbin/service", "etc/init.d/redis-server"],
            &["run/systemd/system"],
        );
        let (_root, sysv) = host(&["usr/sbin/service", "etc/init.d/redis-server"], &[]);
        let (_root, openrc) = host(&["sbin/rc-service", "etc/init.d/redis-server"], &[]);
        let (_root, no_script) = host(&["usr/sbin/service"], &[]);
        let (_root, bare) = host(&[], &[]);
        let cases = [
            (
                &systemd,
                Manager::Systemd,
                "systemctl restart redis-server.service",
            ),
            (
                &sysv,
                Manager::Service("service"),
                "service redis-server restart",
            ),
            (
                &openrc,
                Manager::Service("rc-service"),
                "rc-service redis-server restart",
            ),
            (
                &no_script,
                Manager::Command,
                "redis-server /etc/my redis/r.conf --port 6390",
            ),
            (
                &bare,
                Manager::Command,
                "redis-server /etc/my redis/r.conf --port 6390",
            ),
        ];
        for (host, manager, argv) in cases {
            let ready = prepare_on(host, &spec(REDIS), &vars()).unwrap();
            assert_eq!(ready.manager, manager);
            assert_eq!(argvs(&ready), [argv]);
        }
        assert_eq!(
            prepare_on(&sysv, &spec(REDIS), &vars()).unwrap().label(),
            "service via init script: service redis-server restart"
        );
        let ready = prepare_on(&bare, &spec(REDIS), &vars()).unwrap();
        assert_eq!(
            ready.parts,
            [Part::Run(vec![
                "redis-server".into(),
                "/etc/my redis/r.conf".into(),
                "--port".into(),
                "6390".into()
            ])],
            "a quoted path stays one word"
        );
        assert_eq!(
            ready.label(),
            "service via start command: redis-server '/etc/my redis/r.conf' --port 6390"
        );
    }

    #[test]
    fn without_a_manager_or_a_start_command_nothing_runs() {
        let (_root, bare) = host(&[], &[]);
        let e = prepare_on(&bare, &spec("{ name: redis-server }"), &vars()).unwrap_err();
        assert!(e.contains("no service manager knows `redis-server`"), "{e}");
        let mut without = Vars::default();
        without.trusted("unit", "x");
        let e = prepare_on(&bare, &spec(REDIS), &without).unwrap_err();
        assert!(e.contains("unknown template variable `start`"), "{e}");
        // Under systemd the missing start command does not matter.
        let (_root, systemd) = host(&[], &["run/systemd/system"]);
        assert!(prepare_on(&systemd, &spec(REDIS), &without).is_ok());
    }

    #[test]
    fn a_name_from_outside_cannot_become_an_option_or_a_path() {
        let (_root, systemd) = host(&[], &["run/systemd/system"]);
        let e = prepare_on(&systemd, &spec("{ name: '{{signature}}' }"), &vars()).unwrap_err();
        assert!(e.contains("is not a plain token"), "{e}");
        let mut vars = vars();
        vars.trusted("unit", "--now");
        let e = prepare_on(&systemd, &spec(REDIS), &vars).unwrap_err();
        assert!(e.contains("not starting with `-`"), "{e}");
        // A value from outside in the start command stays one word: it cannot add one.
        let (_root, bare) = host(&[], &[]);
        let e = prepare_on(
            &bare,
            &spec("{ name: x, start: 'redis-server {{signature}}' }"),
            &vars,
        )
        .unwrap_err();
        assert!(e.contains("is not a plain token"), "{e}");
    }

    #[test]
    fn nginx_down_tests_the_config_it_is_started_with_and_clears_orphans() {
        let nginx = "{ name: nginx, action: restart, nginx: true, start: '{{start}}' }";
        let mut vars = Vars::default();
        vars.trusted("start", "/usr/sbin/nginx -c /srv/ng/nginx.conf");
        let (_root, bare) = host(&[], &[]);
        let ready = prepare_on(&bare, &spec(nginx), &vars).unwrap();
        assert_eq!(
            argvs(&ready),
            [
                "/usr/sbin/nginx -t -c /srv/ng/nginx.conf",
                "<orphans>",
                "/usr/sbin/nginx -c /srv/ng/nginx.conf"
            ]
        );
        assert_eq!(
            ready.describe(),
            "/usr/sbin/nginx -t -c /srv/ng/nginx.conf && <kill nginx workers whose master is gone> && /usr/sbin/nginx -c /srv/ng/nginx.conf"
        );
        // Under sysvinit with no start command: nginx's default config.
        let (_root, sysv) = host(&["usr/sbin/service", "etc/init.d/nginx"], &[]);
        let ready = prepare_on(
            &sysv,
            &spec("{ name: nginx, action: reload-or-restart, nginx: true }"),
            &vars,
        )
        .unwrap();
        assert_eq!(
            argvs(&ready),
            ["nginx -t", "<orphans>", "service nginx restart"]
        );
    }

    #[test]
    fn words_split_like_sh_without_expanding_anything() {
        assert_eq!(
            split_words("a  'b c' \"d'e\" f\\ g $HOME").unwrap(),
            ["a", "b c", "d'e", "f g", "$HOME"]
        );
        assert_eq!(split_words("''").unwrap(), [""]);
        assert!(split_words("a 'b").is_err());
        assert!(split_words("a \\").is_err());
    }
}
