//! The console's one task: it owns the terminal, folds engine events into the
//! model, turns keys into commands, and draws only when something visible changed.

use crossterm::event::{DisableMouseCapture, Event as TermEvent, EventStream};
use crossterm::terminal::{self, BeginSynchronizedUpdate, EndSynchronizedUpdate};
use crossterm::{cursor, execute, queue};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{self, BufWriter, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::keys::{self, Action, UiAction};
use super::panes::Hit;
use super::{Model, export, theme, view};
use crate::config::{HostProbe, ProbeSpec};
use crate::engine::{Sample, now_ms};
use crate::event::{Command, Event, EventKind};
use crate::monitor::{Lane, Prober};
use crate::remote::{Feeds, LinkStatus};

/// How often the stats gauges sample the host (htop: every 1.5 s).
const HOST_EVERY: Duration = Duration::from_secs(3);
/// At most this often under a burst of events (30 frames a second).
const FRAME: Duration = Duration::from_millis(33);

/// Where the console's inputs come from and its commands go.
pub struct Channels {
    pub events: broadcast::Receiver<Event>,
    pub samples: broadcast::Receiver<Sample>,
    pub commands: mpsc::Sender<Command>,
    /// Attached to a daemon: quitting leaves it running, and its restarts
    /// (`engine_stopped`) do not end the console.
    pub attached: bool,
    /// Attached: whether the daemon answers, its host's gauges, and what became
    /// of commands it did not take.
    pub remote: Option<Feeds>,
}

type Term = Terminal<CrosstermBackend<BufWriter<Stdout>>>;

/// Set by `--no-mouse`: clicks and the wheel stay with the terminal.
static NO_MOUSE: AtomicBool = AtomicBool::new(false);

/// `--no-mouse`: call before [`run`].
pub fn disable_mouse() {
    NO_MOUSE.store(true, Ordering::Relaxed);
}

/// The mouse is on unless `--no-mouse` or `AUTOHEAL_MOUSE=0` (or `false`, `off`)
/// turns it off: with it on, selecting text needs Shift in most terminals.
pub fn mouse_wanted(env: impl Fn(&str) -> Option<String>) -> bool {
    let off = env("AUTOHEAL_MOUSE").is_some_and(|v| {
        matches!(
            v.trim().to_lowercase().as_str(),
            "0" | "false" | "off" | "no"
        )
    });
    !off && !NO_MOUSE.load(Ordering::Relaxed)
}

/// Refuses the full-screen console where it cannot work, saying what to do
/// instead; call it before anything touches the terminal. `TERM=dumb` (Emacs'
/// shell, `script` in some CI) has no cursor movement or alternate screen, so
/// the console would scroll frame after frame. `attached` picks the advice: a
/// console on a daemon has no headless mode, it needs another terminal.
pub fn check_terminal(env: impl Fn(&str) -> Option<String>, attached: bool) -> Result<(), String> {
    if env("TERM").as_deref() != Some("dumb") {
        return Ok(());
    }
    let instead = if attached {
        "run attach from a terminal that can (xterm, tmux, screen, an SSH client)"
    } else {
        "run with --headless for one line per event, or serve here and attach \
         from a terminal that can (xterm, tmux, screen, an SSH client)"
    };
    Err(format!(
        "TERM=dumb cannot show the full-screen console: {instead}"
    ))
}

/// Runs the console until the engine stops (after `q`, a signal, or `--for`).
pub async fn run(mut model: Model, mut ch: Channels) -> anyhow::Result<()> {
    let mut terminal = enter(mouse_wanted(|k| std::env::var(k).ok()))?;
    let mut hits: Vec<Hit> = Vec::new();
    let _restore = Restore;
    let mut keys = EventStream::new();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let (mut dirty, mut last_draw) = (true, Instant::now() - FRAME);
    let mut input_closed = false;
    // Attached, the gauges are the daemon's host, not this one.
    let (mut host, mut link, mut notices) = match ch.remote.take() {
        Some(f) => (f.host, Some(f.status), Some(f.notices)),
        None => (host_gauges(), None, None),
    };
    loop {
        let next_frame = last_draw + FRAME;
        tokio::select! {
            key = keys.next(), if !input_closed => match key {
                Some(Ok(TermEvent::Key(key))) => {
                    match keys::key(&model, key) {
                        Some(Action::Quit) if ch.attached => break,
                        Some(Action::Quit) => {
                            keys::apply(&mut model, UiAction::Flash("stopping: waiting for running actions".into()));
                            let _ = ch.commands.send(Command::Shutdown { reason: "operator quit".into() }).await;
                        }
                        Some(Action::Command(command)) => {
                            match model.link.as_ref().and_then(LinkStatus::refusal) {
                                // Said on screen, never silently lost.
                                Some(refusal) => keys::apply(&mut model, UiAction::Flash(refusal)),
                                None => {
                                    keys::sent(&mut model, &command);
                                    let _ = ch.commands.send(command).await;
                                }
                            }
                        }
                        Some(Action::Ui(UiAction::NextTheme)) => {
                            keys::apply(&mut model, UiAction::NextTheme);
                            remember_theme(&mut model);
                        }
                        Some(Action::Ui(action)) => keys::apply(&mut model, action),
                        Some(Action::Export(id)) => export_incident(&mut model, &mut terminal, id),
                        None => {}
                    }
                    dirty = true;
                }
                Some(Ok(TermEvent::Mouse(event))) => {
                    // Moves and drags change nothing: no redraw for them.
                    if let Some(action) = keys::mouse(&model, &hits, event) {
                        keys::apply(&mut model, action);
                        dirty = true;
                    }
                }
                Some(Ok(TermEvent::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                // The terminal is gone (the SSH session dropped): stop like SIGHUP.
                Some(Err(_)) | None if ch.attached => break,
                Some(Err(_)) | None => {
                    input_closed = true;
                    let _ = ch.commands.send(Command::Shutdown { reason: "terminal closed".into() }).await;
                }
            },
            event = ch.events.recv() => {
                let mut stopped = false;
                let mut next = event;
                // Drain a burst before drawing once.
                loop {
                    match next {
                        Ok(event) => {
                            stopped |= !ch.attached && matches!(event.kind, EventKind::EngineStopped { .. });
                            model.apply(event);
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!("console fell behind by {n} events");
                            keys::apply(&mut model, UiAction::Flash(format!("display skipped {n} events; the journal has them")));
                        }
                        Err(broadcast::error::RecvError::Closed) => stopped = true,
                    }
                    match ch.events.try_recv() {
                        Ok(event) => next = Ok(event),
                        Err(broadcast::error::TryRecvError::Lagged(n)) => next = Err(broadcast::error::RecvError::Lagged(n)),
                        Err(_) => break,
                    }
                }
                if stopped {
                    break;
                }
                dirty = true;
            }
            // Telemetry changes numbers on screen, but only the 1 Hz clock redraws for it.
            Ok(sample) = ch.samples.recv() => model.telemetry.record(sample),
            Some((cpu, memory)) = host.recv() => {
                model.telemetry.cpu_percent = cpu;
                model.telemetry.memory_percent = memory;
            }
            Some(status) = changed(&mut link) => {
                model.link = Some(status);
                dirty = true;
            }
            Some(notice) = recv(&mut notices) => {
                keys::apply(&mut model, UiAction::Flash(notice));
                dirty = true;
            }
            _ = clock.tick() => dirty = true,
            _ = tokio::time::sleep_until(next_frame), if dirty => {}
        }
        if dirty && Instant::now() >= last_draw + FRAME {
            hits = draw(&mut terminal, &model)?;
            (dirty, last_draw) = (false, Instant::now());
        }
    }
    Ok(())
}

/// The link's next state; never, for a local engine or a link that has gone.
async fn changed(link: &mut Option<watch::Receiver<LinkStatus>>) -> Option<LinkStatus> {
    if let Some(rx) = link
        && rx.changed().await.is_ok()
    {
        return Some(rx.borrow_and_update().clone());
    }
    std::future::pending().await
}

/// The link's next notice; never, for a local engine.
async fn recv(notices: &mut Option<mpsc::Receiver<String>>) -> Option<String> {
    match notices {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The host's CPU and memory for the stats gauges, whatever targets are configured.
fn host_gauges() -> mpsc::Receiver<(Option<f32>, Option<f32>)> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let (prober, spec) = (Prober::new(), ProbeSpec::Host(HostProbe::default()));
        // One lane: a hung `statvfs` holds one thread, not one per tick.
        let lane = Lane::default();
        let mut every = tokio::time::interval(HOST_EVERY);
        loop {
            every.tick().await;
            let obs = prober.probe_on(&lane, &spec, Duration::from_secs(2)).await;
            if tx
                .send((obs.cpu_percent, obs.memory_percent))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    rx
}

/// One frame inside a synchronized update, so a slow link never shows it half
/// drawn. Returns where panes and rows landed, for the mouse.
fn draw(terminal: &mut Term, model: &Model) -> io::Result<Vec<Hit>> {
    queue!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
    let now = now_ms();
    let tz = jiff::tz::TimeZone::system();
    let mut hits = Vec::new();
    terminal.draw(|frame| hits = view::draw_mapped(frame, model, now, &tz))?;
    execute!(terminal.backend_mut(), EndSynchronizedUpdate)?;
    Ok(hits)
}

/// Remembers the theme just picked with `t` for the next start; a failure to
/// write is said on the status line, and the console goes on.
fn remember_theme(model: &mut Model) {
    let Some(file) = model.meta.theme_file.clone() else {
        return;
    };
    let name = model.theme().name.clone();
    if let Err(e) = theme::remember(&file, &name) {
        tracing::warn!("cannot remember theme in {}: {e}", file.display());
        model.ui.flash = Some(format!("theme: {name} (not remembered: {e})"));
    }
}

/// `e`: the incident to JSON and Markdown files, and the Markdown to the
/// clipboard (OSC 52), saying on the status line where it went.
fn export_incident(model: &mut Model, terminal: &mut Term, id: crate::event::IncidentId) {
    let (Some(dir), Some(incident)) = (&model.meta.export_dir, model.state.incidents.get(&id))
    else {
        model.ui.flash = Some(format!("cannot export {id}: no export directory"));
        return;
    };
    model.ui.flash = Some(match export::write(dir, incident, &model.state, now_ms()) {
        Ok((path, markdown)) => {
            let out = terminal.backend_mut();
            let copied = write!(out, "{}", export::osc52(&markdown)).and_then(|()| out.flush());
            let clip = if copied.is_ok() { " (copied)" } else { "" };
            format!(
                "{id} exported to {}{clip}",
                path.with_extension("{json,md}").display()
            )
        }
        Err(e) => {
            tracing::warn!("export of {id} to {}: {e}", dir.display());
            format!("cannot export {id} to {}: {e}", dir.display())
        }
    });
}

fn enter(mouse: bool) -> anyhow::Result<Term> {
    terminal::enable_raw_mode()?;
    install_panic_hook();
    let mut out = BufWriter::with_capacity(64 * 1024, io::stdout());
    execute!(out, terminal::EnterAlternateScreen, cursor::Hide)?;
    if mouse {
        execute!(out, ClicksAndWheel)?;
    }
    Ok(Terminal::new(CrosstermBackend::new(out))?)
}

/// Mouse reports for buttons and the wheel only (xterm modes 1000 and 1006,
/// SGR coordinates). Crossterm's `EnableMouseCapture` also asks for every
/// motion (1003), which over SSH would send a report upstream for each cell
/// the pointer crosses; the console has no use for them.
struct ClicksAndWheel;

impl crossterm::Command for ClicksAndWheel {
    fn write_ansi(&self, f: &mut impl std::fmt::Write) -> std::fmt::Result {
        f.write_str("\x1b[?1000h\x1b[?1006h")
    }
}

/// Puts the terminal back however the console ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore();
    }
}

/// Gives the terminal back (raw mode off, main screen, cursor shown), for a
/// process that must exit while the console runs.
pub fn restore() {
    let _ = terminal::disable_raw_mode();
    // Mouse capture off too (harmless when it was never on), or the shell gets escapes.
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
    let _ = io::stdout().flush();
}

/// A panic restores the terminal before the message is printed, so it is readable.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::{check_terminal, mouse_wanted};

    #[test]
    fn the_mouse_is_on_unless_the_environment_turns_it_off() {
        let env =
            |value: &'static str| move |k: &str| (k == "AUTOHEAL_MOUSE").then(|| value.to_string());
        assert!(mouse_wanted(|_| None));
        assert!(mouse_wanted(env("1")));
        for off in ["0", "false", "OFF", " no "] {
            assert!(!mouse_wanted(env(off)), "{off:?}");
        }
    }

    fn term(value: Option<&str>) -> impl Fn(&str) -> Option<String> {
        move |k| (k == "TERM").then_some(value).flatten().map(String::from)
    }

    #[test]
    fn a_dumb_terminal_is_refused_with_what_to_do_instead() {
        let err = check_terminal(term(Some("dumb")), false).unwrap_err();
        assert!(err.contains("TERM=dumb"), "{err}");
        assert!(err.contains("--headless"), "{err}");
        let err = check_terminal(term(Some("dumb")), true).unwrap_err();
        assert!(err.contains("attach from a terminal"), "{err}");
    }

    #[test]
    fn capable_or_unnamed_terminals_are_let_through() {
        for value in [Some("xterm-256color"), Some("linux"), Some("screen"), None] {
            assert_eq!(check_terminal(term(value), false), Ok(()), "{value:?}");
        }
    }
}
