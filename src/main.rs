//! `autoheal-tui`: parses the command line and wires the parts together.

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use autoheal::chaos::{self, Victim};
use autoheal::config::{Config, LoadError, Paths, Target, parse_duration};
use autoheal::demo::{self, DemoFleet};
use autoheal::engine::now_ms;
use autoheal::engine::{Engine, STOP_WITHIN, Settings, View};
use autoheal::event::Event;
use autoheal::event::{Command, EventKind};
use autoheal::playbook::Playbooks;
use autoheal::report;
use autoheal::state::State;
use autoheal::tui::theme::{self, ColorDepth};
use autoheal::tui::{self, Charset, Glyphs, Meta, Model, Theme, app::Channels};
use std::io::IsTerminal;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::broadcast;

/// Watches services, fixes what breaks with playbooks, and asks before doing anything risky.
///
/// With no config file (and no --config) it starts the embedded demo fleet: three real
/// HTTP services on loopback whose faults the shipped demo playbooks fix.
#[derive(Parser)]
#[command(
    version,
    after_help = "Examples:\n  autoheal-tui --headless                       run the demo, one line per event\n  autoheal-tui --headless --for 60s --chaos-every 2s\n                                                benchmark: break things, print a summary\n  autoheal-tui --config /etc/autoheal/config.yaml --dry-run\n  autoheal-tui validate --playbooks ./my-playbooks"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    sources: Sources,
    /// Append events to this journal (default: in the user's data directory).
    #[arg(long, value_name = "PATH", global = true)]
    journal: Option<PathBuf>,
    /// Run the embedded demo fleet even if a config file exists.
    #[arg(long, global = true)]
    demo: bool,
    /// No console: print one line per event to stderr and a summary on exit.
    #[arg(long)]
    headless: bool,
    /// Plan and journal what would be done, execute nothing.
    #[arg(long, global = true)]
    dry_run: bool,
    /// Stop cleanly after this long (e.g. 60s, 5m).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration, global = true)]
    run_for: Option<Duration>,
    /// Console theme: dark, light, high-contrast, monochrome, or one of yours (`t` cycles).
    #[arg(long, value_name = "NAME", global = true)]
    theme: Option<String>,
    /// Chaos monkey: about this often, break a random healthy demo target with a fault its playbooks fix.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, global = true)]
    chaos_every: Option<Duration>,
    /// No mouse in the console (clicks and the wheel go to the terminal; also AUTOHEAL_MOUSE=0).
    #[arg(long, global = true)]
    no_mouse: bool,
}

#[derive(clap::Args)]
struct Sources {
    /// Config file (default: ~/.config/autoheal/config.yaml; the demo runs if it does not exist).
    #[arg(long, value_name = "PATH", global = true)]
    config: Option<PathBuf>,
    /// Use the playbooks in DIR instead of the shipped ones (the user's playbook directory is still read).
    #[arg(long, value_name = "DIR", global = true)]
    playbooks: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Sub {
    /// Check the config file and playbooks; exit 1 on any error.
    Validate,
    /// Run the engine as a service (headless) with its HTTP API.
    Serve {
        /// Address of the HTTP API. Off loopback it needs a key (AUTOHEAL_TOKEN, `api.token` or `api.keys`).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7311")]
        listen: std::net::SocketAddr,
    },
    /// Open the console on a running `serve`, or on several at once (uses AUTOHEAL_TOKEN if set).
    Attach {
        /// Each daemon's URL; with more than one, targets are named `host:port/target`.
        #[arg(default_value = "http://127.0.0.1:7311")]
        urls: Vec<String>,
        /// A YAML file naming the daemons and their tokens: `daemons: [{ name, url, token_env | token_file }]`.
        #[arg(long, value_name = "FILE", conflicts_with = "urls")]
        fleet: Option<PathBuf>,
    },
    /// What-if: re-plan every incident of a recorded journal under the config and
    /// playbooks given (executing nothing) and show what would be decided differently.
    Replay {
        /// The journal (its archived segments beside it are read too).
        journal: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Exit 1 when any incident moves this way: newly-automatic, newly-unmatched,
        /// changed (comma-separated).
        #[arg(long, value_name = "CHANGES", value_delimiter = ',', value_parser = parse_change)]
        fail_on: Vec<autoheal::whatif::Change>,
    },
}

fn parse_change(text: &str) -> Result<autoheal::whatif::Change, String> {
    use autoheal::whatif::Change;
    match text.trim() {
        "newly-automatic" => Ok(Change::NewlyAutomatic),
        "newly-unmatched" | "unmatched" => Ok(Change::NewlyUnmatched),
        "changed" => Ok(Change::Changed),
        other => Err(format!(
            "`{other}`: expected newly-automatic, newly-unmatched or changed"
        )),
    }
}

/// Exit status when the engine dies (a panic, or numbers used up) instead of
/// stopping when asked, or does not stop when asked: sysexits' EX_SOFTWARE. Errors before the engine runs
/// (config, journal, port) exit 1; a clean stop exits 0.
const ENGINE_DIED: u8 = 70;

/// How long tasks still running after `run` (a DNS lookup, a stuck read) may
/// delay the exit.
const EXIT_GRACE: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.no_mouse {
        tui::app::disable_mouse();
    }
    let result = if let Some(Sub::Validate) = cli.command {
        init_logging(true, Path::new("."));
        validate(&cli.sources)
    } else {
        tokio::runtime::Runtime::new()
            .context("cannot start the async runtime")
            .and_then(|rt| {
                let result = rt.block_on(async {
                    match cli.command {
                        Some(Sub::Attach {
                            ref urls,
                            ref fleet,
                        }) => attach(urls, fleet.as_deref(), cli.theme.as_deref()).await,
                        Some(Sub::Replay {
                            ref journal,
                            json,
                            ref fail_on,
                        }) => replay(&cli, journal, json, fail_on).await,
                        Some(Sub::Serve { listen }) => run(cli, Some(listen)).await,
                        _ => run(cli, None).await,
                    }
                });
                rt.shutdown_timeout(EXIT_GRACE);
                result
            })
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("autoheal-tui: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The config in force: the file given, the default file if it exists, or none (demo).
fn find_config(sources: &Sources, paths: &Paths) -> Option<PathBuf> {
    sources.config.clone().or_else(|| {
        paths
            .config_file
            .is_file()
            .then(|| paths.config_file.clone())
    })
}

fn load_playbooks(
    sources: &Sources,
    paths: &Paths,
    config: &Config,
) -> Result<Playbooks, Vec<LoadError>> {
    let mut extra = vec![paths.user_playbooks.clone()];
    extra.extend(config.playbooks.iter().cloned());
    Playbooks::load(sources.playbooks.as_deref(), &extra)
}

fn validate(sources: &Sources) -> anyhow::Result<ExitCode> {
    let paths = Paths::discover();
    let mut errors = Vec::new();
    let config = match find_config(sources, &paths) {
        Some(path) => {
            let (config, problems) = Config::load_all(&path);
            match &config {
                Some(config) if problems.0.is_empty() => {
                    println!("{}: {} targets", path.display(), config.targets.len());
                }
                _ => errors.extend(problems.0),
            }
            // What parsed still names playbook directories worth checking.
            config.unwrap_or_default()
        }
        None => {
            println!(
                "no config file at {}: the demo fleet would run",
                paths.config_file.display()
            );
            Config::default()
        }
    };
    match load_playbooks(sources, &paths, &config) {
        Ok(books) => println!("{} playbooks: {}", books.len(), books.names().join(", ")),
        Err(e) => errors.extend(e),
    }
    if errors.is_empty() {
        println!("ok");
        return Ok(ExitCode::SUCCESS);
    }
    for e in &errors {
        eprintln!("error: {e}");
    }
    eprintln!("{} error(s)", errors.len());
    Ok(ExitCode::FAILURE)
}

/// `replay`: the config in force (or the demo's) and its playbooks, against a journal.
async fn replay(
    cli: &Cli,
    journal: &Path,
    json: bool,
    fail_on: &[autoheal::whatif::Change],
) -> anyhow::Result<ExitCode> {
    init_logging(true, Path::new("."));
    if !journal.exists() {
        bail!("{}: no such journal", journal.display());
    }
    let paths = Paths::discover();
    let (config, targets) = match find_config(&cli.sources, &paths).filter(|_| !cli.demo) {
        Some(path) => Config::load(&path)?,
        None => {
            // The demo's targets, as `serve --demo` runs them; its ports do not matter here.
            let fleet = DemoFleet::start()
                .await
                .context("cannot start the demo fleet")?;
            let config = fleet.config();
            fleet.shutdown();
            let targets = config.resolve_targets().map_err(anyhow::Error::msg)?;
            (config, targets)
        }
    };
    let playbooks = load_playbooks(&cli.sources, &paths, &config).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("playbooks have errors:\n  {}", list.join("\n  "))
    })?;
    let path = journal.to_path_buf();
    let report = tokio::task::spawn_blocking(move || {
        autoheal::whatif::replay(&path, &targets, &config.policy, &playbooks)
    })
    .await?
    .with_context(|| format!("cannot read journal {}", journal.display()))?;
    for s in &report.skipped {
        eprintln!(
            "{}:{}: skipped a damaged journal line: {}",
            s.file.display(),
            s.line,
            s.reason
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", autoheal::whatif::table(&report));
    }
    let failed = report.incidents.iter().any(|r| fail_on.contains(&r.change));
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn run(mut cli: Cli, api: Option<SocketAddr>) -> anyhow::Result<ExitCode> {
    let signals = StopSignals::install().context("cannot install signal handlers")?;
    cli.headless |= api.is_some();
    let paths = Paths::discover();
    let config_path = if cli.demo {
        None
    } else {
        find_config(&cli.sources, &paths)
    };
    // The fleet lives as long as this function: dropping it stops the services.
    let (config, targets, fleet, journal_name) = match &config_path {
        Some(path) => {
            let (config, targets) = Config::load(path)?;
            (config, targets, None, "journal.jsonl")
        }
        None => {
            let fleet = DemoFleet::start()
                .await
                .context("cannot start the demo fleet")?;
            let config = fleet.config();
            let targets = config.resolve_targets().map_err(anyhow::Error::msg)?;
            // A separate journal, so demo incidents never mix with real ones.
            (config, targets, Some(fleet), "demo-journal.jsonl")
        }
    };
    let playbooks = load_playbooks(&cli.sources, &paths, &config).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "playbooks have errors (run `autoheal-tui validate`):\n  {}",
            list.join("\n  ")
        )
    })?;
    // A daemon that takes reports may start with none: undeclared services come in.
    let takes_reports = api.is_some()
        && config.intake.unknown_services == autoheal::config::UnknownServices::Accept;
    if targets.is_empty() && !takes_reports {
        bail!(
            "{}: no targets to watch",
            config_path
                .as_deref()
                .unwrap_or(Path::new("config"))
                .display()
        );
    }
    let journal = cli
        .journal
        .clone()
        .or(config.journal.clone())
        .unwrap_or_else(|| paths.data_dir.join(journal_name));
    if !cli.headless {
        tui::app::check_terminal(|k| std::env::var(k).ok(), false).map_err(anyhow::Error::msg)?;
    }
    if !cli.headless && !std::io::stdout().is_terminal() {
        bail!("standard output is not a terminal: run with --headless, or in a terminal");
    }
    let _log_guard = init_logging(cli.headless, &paths.data_dir);
    let victims = chaos_victims(&targets);
    let meta = Meta {
        mode: match &config_path {
            Some(p) => p.display().to_string(),
            None => "demo".to_string(),
        },
        started_at: Some(now_ms()),
        chaos: Default::default(), // arrives with engine_started
        operator: operator(),
        journal: Some(journal.clone()),
        ..Default::default()
    };
    // Bind before starting anything, so a port in use is an error, not a half-started service.
    let api_listener = match api {
        Some(addr) => {
            let keys = config.api.all_keys(std::env::var("AUTOHEAL_TOKEN").ok());
            autoheal::api::check_listen(&addr, &keys).map_err(anyhow::Error::msg)?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            // The port really bound, when `--listen` asked for any (`:0`).
            let addr = listener.local_addr().unwrap_or(addr);
            // API clients are refused before a probe could run out of descriptors.
            let fds = autoheal::api::raise_fd_limit().unwrap_or(1024);
            let limits = autoheal::api::Limits::for_fd_limit(fds, targets.len());
            eprintln!(
                "autoheal-tui: API on http://{addr} (at most {} connections; {fds} descriptors)",
                limits.max_connections
            );
            Some((listener, keys, limits, addr))
        }
        None => None,
    };
    // `/chaos/trigger` breaks what the monkey would: no critical target.
    let chaos_offers = victims
        .iter()
        .map(|v| (v.target.clone(), v.faults.clone()))
        .collect();
    let engine = Engine::new(Settings {
        targets,
        playbooks,
        policy: config.policy.clone(),
        dry_run: cli.dry_run,
        journal: Some(journal.clone()),
        registry: autoheal::engine::Registry {
            defaults: config.defaults.clone(),
            unknown_services: config.intake.unknown_services,
        },
    })?
    .journal_policy(config.journal_rotate, config.journal_retention)
    .maintenance(config.maintenance.clone())
    .predict(config.predict.clone())
    .analyst(config.analyst.as_ref());
    // Replicas of a central healer: only the one etcd elects acts.
    // An address the other replicas can reach: not 0.0.0.0 (see the warning below).
    let api_url = api_listener
        .as_ref()
        .filter(|(.., addr)| !addr.ip().is_unspecified())
        .map(|(.., addr)| format!("http://{addr}"));
    if let Some(ha) = &config.ha
        && ha.advertise.is_none()
        && api_listener
            .as_ref()
            .is_some_and(|(.., addr)| addr.ip().is_unspecified())
    {
        eprintln!(
            "autoheal-tui: warning: ha: listening on every address, so the other replicas cannot tell where to share reports with this one: set ha.advertise"
        );
    }
    let replica =
        (config.ha.as_ref()).map(|ha| (ha, Arc::new(autoheal::ha::Replica::start(ha, api_url))));
    let engine = match &replica {
        Some((ha, r)) => engine.replica(&ha.name, r.roles.clone(), r.fence.clone()),
        None => engine,
    };
    // One fold per process: the engine's. The API, metrics, notifier and
    // printer read its state; the console keeps its own (as it does attached).
    let state = engine.view();
    let replayed = state.read().last_seq;
    let (events, samples) = (engine.subscribe(), engine.samples());
    let metrics = api_listener
        .is_some()
        .then(|| autoheal::metrics::spawn(state.clone(), engine.samples()));
    let telemetry = api_listener
        .is_some()
        .then(|| autoheal::api::telemetry::Hub::spawn(engine.samples()));
    // Webhooks, in every mode (registered services bring their own);
    // subscribed before spawning, to see every event from engine_started on.
    tokio::spawn(autoheal::notify::run(
        config.notify.clone(),
        engine.subscribe(),
        state.clone(),
        engine.commands(),
    ));
    let handle = engine.spawn();
    if let Some((listener, keys, limits, _)) = api_listener {
        let router = autoheal::api::router(autoheal::api::Api {
            journal: Some(journal.clone()),
            keys,
            metrics,
            allowed_hosts: config.api.allowed_hosts.clone(),
            allowed_origins: config.api.allowed_origins.clone(),
            chaos: chaos_offers,
            telemetry,
            peers: (replica.as_ref())
                .map(|(_, r)| r.clone() as Arc<dyn autoheal::api::share::Peers>),
            ..autoheal::api::Api::new(&handle)
        });
        tokio::spawn(autoheal::api::serve(listener, router, limits));
    }
    if let Some(every) = cli.chaos_every {
        if fleet.is_none() {
            tracing::warn!("--chaos-every injects only into targets that offer chaos");
        }
        tokio::spawn(chaos::monkey(
            every,
            victims,
            handle.commands(),
            handle.subscribe(),
            handle.view(),
        ));
    }
    tokio::spawn(stop_on_signal_or_timeout(
        signals,
        handle.commands(),
        cli.run_for,
        !cli.headless,
    ));
    let commands = handle.commands();

    // The printer or the console, until the engine has stopped.
    let front = async {
        if cli.headless {
            eprintln!("autoheal-tui: {}; journal {}", meta.mode, journal.display());
            print_events(events, state, replayed).await;
        } else {
            let model = console_model(state.read().clone(), meta, cli.theme.as_deref());
            let channels = Channels {
                events,
                samples,
                commands: commands.clone(),
                attached: false,
                remote: None,
            };
            if let Err(e) = tui::app::run(model, channels).await {
                // The console failed, not the engine: stop it cleanly all the same.
                tracing::error!("console: {e:#}");
                let reason = format!("console failed: {e}");
                let _ = commands.send(Command::Shutdown { reason }).await;
            }
        }
    };
    // Whichever ends first: an engine that dies ends the process, whatever the
    // front is doing (and the console, dropped here, gives the terminal back).
    let ended = {
        let ended = handle.join();
        tokio::pin!(front, ended);
        tokio::select! {
            ended = &mut ended => {
                if ended.is_ok() {
                    // It stopped when asked: the front has its last events to show.
                    let _ = tokio::time::timeout(Duration::from_secs(2), front).await;
                }
                ended
            }
            () = &mut front => ended.await,
        }
    };
    if let Some(fleet) = fleet {
        fleet.shutdown();
    }
    match ended {
        Ok(state) => {
            if !cli.headless {
                // The console is gone: say where its record is, as headless does.
                eprint!(
                    "autoheal-tui: journal {}\n{}",
                    journal.display(),
                    report::summary(&state, replayed)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(died) => {
            if !cli.headless {
                tracing::error!("{died}; exiting with status {ENGINE_DIED}");
            }
            eprintln!(
                "autoheal-tui: {died}; the journal {} is synced; exiting with status {ENGINE_DIED}",
                journal.display()
            );
            Ok(ExitCode::from(ENGINE_DIED))
        }
    }
}

/// The console on a daemon, or on a fleet of them merged into one: event
/// streams in, commands out over HTTP.
async fn attach(
    urls: &[String],
    fleet: Option<&Path>,
    theme: Option<&str>,
) -> anyhow::Result<ExitCode> {
    use autoheal::remote::{self, fleet_file};
    let token = std::env::var("AUTOHEAL_TOKEN").ok();
    let daemons = match fleet {
        Some(file) => {
            fleet_file::load(file, |k| std::env::var(k).ok()).map_err(|e| anyhow::anyhow!("{e}"))?
        }
        None => fleet_file::from_urls(urls, token.clone()).map_err(anyhow::Error::msg)?,
    };
    let mut signals = StopSignals::install().context("cannot install signal handlers")?;
    tui::app::check_terminal(|k| std::env::var(k).ok(), true).map_err(anyhow::Error::msg)?;
    if !std::io::stdout().is_terminal() {
        bail!("standard output is not a terminal: attach needs one");
    }
    let _log_guard = init_logging(false, &Paths::discover().data_dir);
    let operator = operator();
    // One URL is today's console on one daemon; more, or a fleet file, are merged.
    let link = match (fleet, daemons.as_slice()) {
        (None, [one]) => remote::connect(&one.url, token, &operator),
        _ => remote::fleet::connect(daemons, &operator),
    };
    let meta = Meta {
        // The header names the daemon from the link; its uptime comes with its `engine_started`.
        mode: String::new(),
        started_at: None,
        chaos: Default::default(),
        operator,
        ..Default::default()
    };
    let mut model = console_model(State::default(), meta, theme);
    model.link = Some(link.feeds.status.borrow().clone());
    let channels = Channels {
        events: link.events,
        samples: link.samples,
        commands: link.commands,
        attached: true,
        remote: Some(link.feeds),
    };
    // Ctrl-C, SIGTERM or a dropped SSH session (SIGHUP) end this console only,
    // its terminal given back as on `q`; the daemon goes on.
    tokio::select! {
        ended = tui::app::run(model, channels) => ended?,
        (_, name) = signals.next() => tracing::info!("attach: {name}; console closed"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The console's model over `state`, with shipped and user themes in the terminal's
/// colour depth. A broken theme file or an unknown name is a warning on the status
/// line, never a failure.
fn console_model(state: State, meta: Meta, theme_name: Option<&str>) -> Model {
    let (themes, mut warnings) = theme::load_all(theme::user_dir().as_deref());
    let depth = ColorDepth::detect(|k| std::env::var(k).ok());
    let themes: Vec<Theme> = themes.iter().map(|t| t.for_depth(depth)).collect();
    // `--theme` wins; else the one last picked with `t`, if it still exists.
    let theme_file = theme::remembered_file();
    let first = match theme_name {
        Some(name) => theme::find(&themes, name).unwrap_or_else(|| {
            warnings.push(format!("no theme named {name}; using {}", themes[0].name));
            0
        }),
        None => theme_file
            .as_deref()
            .and_then(theme::remembered)
            .and_then(|name| theme::find(&themes, &name))
            .unwrap_or(0),
    };
    for w in &warnings {
        tracing::warn!("theme: {w}");
    }
    let mut model = Model::new(state, meta, themes);
    let data_dir = Paths::discover().data_dir;
    model.meta.log_dir = Some(data_dir.join("logs"));
    model.meta.export_dir = Some(data_dir.join("exports"));
    model.meta.theme_file = theme_file;
    model.meta.recent_log = tui::log_ring::global();
    model.glyphs = Glyphs::for_charset(Charset::detect(|k| std::env::var(k).ok()));
    model.ui.theme = first;
    model.ui.flash = warnings.first().map(|w| format!("theme: {w}"));
    model
}

/// Headless mode: one line per event on stderr, then the summary of this run.
async fn print_events(mut events: broadcast::Receiver<Event>, state: View, replayed: u64) {
    loop {
        match events.recv().await {
            Ok(event) => {
                // The engine applied `event` before sending it: the state has it.
                let line = report::line(&event, &state.read());
                eprintln!("{line}");
                if matches!(event.kind, EventKind::EngineStopped { .. }) {
                    break;
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                eprintln!("autoheal-tui: printing fell behind; {n} events are only in the journal")
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
    eprint!("\n{}", report::summary(&state.read(), replayed));
}

/// Headless logs go to stderr beside the event lines; the console's go to a
/// daily file in the data directory, never to the screen.
fn init_logging(
    headless: bool,
    data_dir: &Path,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    if headless {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .init();
        return None;
    }
    let appender = tracing_appender::rolling::daily(data_dir.join("logs"), "autoheal.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    // The console also keeps recent warnings and errors in memory for its `L` overlay.
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false),
        )
        .with(tui::log_ring::RingLayer::global())
        .init();
    Some(guard)
}

/// Who approves from this console: the user, and the SSH client's address if any.
fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        // SAFETY: getuid cannot fail and touches no memory.
        .unwrap_or_else(|_| format!("uid{}", unsafe { libc::getuid() }));
    match std::env::var("SSH_CLIENT")
        .ok()
        .and_then(|c| c.split_whitespace().next().map(str::to_string))
    {
        Some(ip) => format!("{user}@ssh:{ip}"),
        None => format!("{user}@local"),
    }
}

/// Non-critical targets that offer chaos, with the faults their playbooks fix unaided.
fn chaos_victims(targets: &[Target]) -> Vec<Victim> {
    targets
        .iter()
        .filter(|t| !t.critical)
        .filter_map(|t| {
            let chaos = t.chaos.as_ref()?;
            let faults = chaos
                .faults
                .iter()
                .filter(|f| demo::AUTO_FIXABLE.contains(&f.as_str()))
                .cloned()
                .collect();
            Some(Victim {
                target: t.name.clone(),
                faults,
            })
        })
        .collect()
}

/// The signals that stop autoheal, listened to from the start: one that came
/// before its handler would kill the process with nothing synced.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next one, as the journal's stop reason and by name.
    async fn next(&mut self) -> (&'static str, &'static str) {
        tokio::select! {
            _ = self.interrupt.recv() => ("interrupted (Ctrl-C)", "Ctrl-C"),
            _ = self.terminate.recv() => ("terminated (SIGTERM)", "SIGTERM"),
            _ = self.hangup.recv() => ("hangup (SIGHUP)", "SIGHUP"),
        }
    }
}

/// Ctrl-C, SIGTERM, SIGHUP or the end of `--for` all stop the engine the same clean way.
/// A second signal, or an engine still running [`STOP_WITHIN`] later, ends the
/// process at once with [`ENGINE_DIED`]: a stop that never ends is a hang.
async fn stop_on_signal_or_timeout(
    mut signals: StopSignals,
    commands: tokio::sync::mpsc::Sender<Command>,
    run_for: Option<Duration>,
    console: bool,
) {
    let limit = async {
        match run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let reason = tokio::select! {
        (reason, _) = signals.next() => reason,
        _ = limit => "--for elapsed",
    };
    let asked = async {
        let reason = reason.to_string();
        let _ = commands.send(Command::Shutdown { reason }).await;
        std::future::pending::<std::convert::Infallible>().await
    };
    // The process ends with the engine, normally long before this: a stuck engine
    // (or an operator who will not wait for running actions) is ended here.
    let why = tokio::select! {
        never = asked => match never {},
        _ = tokio::time::sleep(STOP_WITHIN) => format!("the engine did not stop within {}s", STOP_WITHIN.as_secs()),
        (_, name) = signals.next() => format!("a second {name}"),
    };
    if console {
        tui::app::restore();
    }
    eprintln!(
        "autoheal-tui: {why}: exiting now with status {ENGINE_DIED}, without waiting for running actions"
    );
    std::process::exit(ENGINE_DIED.into());
}
