//! One console over many daemons: a [`Link`] per daemon, merged into one
//! [`Link`] of the same shape, so the console runs as it does on one daemon.
//! [`Merger`] renames what arrives; this module moves it, routes commands to
//! their owner, and folds the daemons' link states into one [`LinkStatus`]
//! whose `members` the header shows. One daemon down never blanks the others:
//! its targets stay as last told, and its state is on screen.

use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, watch};

use super::fleet_file::Daemon;
use super::merge::{Merger, Route};
use super::{Feeds, Link, LinkState, LinkStatus, Member};
use crate::event::Command;

/// Follows every daemon of `daemons` (at least one, names distinct) as `who`.
pub fn connect(daemons: Vec<Daemon>, who: &str) -> Link {
    let names: Vec<String> = daemons.iter().map(|d| d.name.clone()).collect();
    let merger = Arc::new(Mutex::new(Merger::new(names.clone())));
    let (events_tx, events) = broadcast::channel(16_384);
    let (samples_tx, samples) = broadcast::channel(1024);
    let (commands, commands_rx) = mpsc::channel::<Command>(64);
    let (notices_tx, notices) = mpsc::channel(16);
    // Whose host would the gauges show? None: they stay empty, and say so.
    let (_, host) = mpsc::channel(1);
    let links: Vec<Link> = daemons
        .iter()
        .map(|d| super::connect(&d.url, d.token.clone(), who))
        .collect();
    let statuses: Vec<watch::Receiver<LinkStatus>> =
        links.iter().map(|l| l.feeds.status.clone()).collect();
    let (status_tx, status) = watch::channel(combine(&names, &statuses));
    let mut senders = Vec::new();
    for (d, link) in links.into_iter().enumerate() {
        senders.push(link.commands);
        tokio::spawn(forward_events(
            d,
            link.events,
            merger.clone(),
            events_tx.clone(),
        ));
        tokio::spawn(forward_samples(
            d,
            link.samples,
            merger.clone(),
            samples_tx.clone(),
        ));
        tokio::spawn(forward_notices(
            d,
            link.feeds.notices,
            merger.clone(),
            notices_tx.clone(),
        ));
        tokio::spawn(watch_status(
            link.feeds.status,
            names.clone(),
            statuses.clone(),
            status_tx.clone(),
        ));
    }
    tokio::spawn(route_commands(
        commands_rx,
        merger,
        senders,
        statuses,
        notices_tx,
    ));
    Link {
        events,
        samples,
        commands,
        feeds: Feeds {
            host,
            status,
            notices,
        },
    }
}

/// Daemon `d`'s events, renamed, into the console's one stream: renaming and
/// sending under one lock, so `seq` leaves in the order it was given.
async fn forward_events(
    d: usize,
    mut from: broadcast::Receiver<crate::event::Event>,
    merger: Arc<Mutex<Merger>>,
    to: broadcast::Sender<crate::event::Event>,
) {
    loop {
        match from.recv().await {
            Ok(event) => {
                let mut merger = merger.lock().unwrap_or_else(|p| p.into_inner());
                for event in merger.event(d, event) {
                    if to.send(event).is_err() {
                        return; // the console has gone
                    }
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!("the fleet console fell behind daemon {d} by {n} events");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn forward_samples(
    d: usize,
    mut from: broadcast::Receiver<crate::engine::Sample>,
    merger: Arc<Mutex<Merger>>,
    to: broadcast::Sender<crate::engine::Sample>,
) {
    loop {
        match from.recv().await {
            Ok(sample) => {
                let sample = merger
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .sample(d, sample);
                if to.send(sample).is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn forward_notices(
    d: usize,
    mut from: mpsc::Receiver<String>,
    merger: Arc<Mutex<Merger>>,
    to: mpsc::Sender<String>,
) {
    while let Some(notice) = from.recv().await {
        let notice = merger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .notice(d, &notice);
        if to.send(notice).await.is_err() {
            return;
        }
    }
}

/// Re-folds the fleet's status whenever one daemon's changes.
async fn watch_status(
    mut one: watch::Receiver<LinkStatus>,
    names: Vec<String>,
    all: Vec<watch::Receiver<LinkStatus>>,
    to: watch::Sender<LinkStatus>,
) {
    while one.changed().await.is_ok() {
        if to.send(combine(&names, &all)).is_err() {
            return;
        }
    }
}

/// The console's commands, each to the daemon that owns it (pause and resume
/// to all), with a notice saying where it went or why it did not.
async fn route_commands(
    mut commands: mpsc::Receiver<Command>,
    merger: Arc<Mutex<Merger>>,
    senders: Vec<mpsc::Sender<Command>>,
    statuses: Vec<watch::Receiver<LinkStatus>>,
    notices: mpsc::Sender<String>,
) {
    let names: Vec<String> = merger
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .names()
        .to_vec();
    let up = |d: usize| {
        statuses
            .get(d)
            .is_some_and(|s| s.borrow().refusal().is_none())
    };
    while let Some(command) = commands.recv().await {
        let what = name_of(&command);
        let route = merger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .route(command);
        let notice = match route {
            Route::One(d, command) if up(d) => {
                let there = name_of(&command);
                let _ = senders[d].send(command).await;
                match there == what {
                    true => format!("{what} sent to {}", names[d]),
                    false => format!("{what} sent to {} as {there}", names[d]),
                }
            }
            Route::One(d, _) => format!("not sent: {} is down ({what})", names[d]),
            Route::All(command) => {
                let (mut sent, mut missed) = (Vec::new(), Vec::new());
                for (d, sender) in senders.iter().enumerate() {
                    if up(d) {
                        let _ = sender.send(command.clone()).await;
                        sent.push(names[d].as_str());
                    } else {
                        missed.push(names[d].as_str());
                    }
                }
                match (sent.len(), missed.is_empty()) {
                    (n, true) => format!("{what} sent to all {n} daemons"),
                    (0, false) => format!("not sent: every daemon is down ({what})"),
                    _ => format!(
                        "{what} sent to {}; not to {} (down)",
                        sent.join(", "),
                        missed.join(", ")
                    ),
                }
            }
            Route::Nowhere(why) => why,
        };
        let _ = notices.send(notice).await;
    }
}

/// `approve #7`, `silence web-1/api`, `pause`: the command as the operator names it.
fn name_of(command: &Command) -> String {
    match crate::api::PublicCommand::try_from(command.clone()) {
        Ok(public) => super::describe(&public),
        Err(_) => "command".into(),
    }
}

/// The fleet's status from its daemons': connected while any daemon is (each
/// one's state is in `members`), else connecting or down like its first one.
pub fn combine(names: &[String], all: &[watch::Receiver<LinkStatus>]) -> LinkStatus {
    let each: Vec<LinkStatus> = all.iter().map(|s| s.borrow().clone()).collect();
    combine_states(names, &each)
}

fn combine_states(names: &[String], each: &[LinkStatus]) -> LinkStatus {
    let connected = each
        .iter()
        .filter_map(|s| match s.state {
            LinkState::Connected { since } => Some(since),
            _ => None,
        })
        .min();
    let state = match connected {
        Some(since) => LinkState::Connected { since },
        None if each.iter().any(|s| s.state == LinkState::Connecting) => LinkState::Connecting,
        None => each
            .first()
            .map_or(LinkState::Connecting, |s| s.state.clone()),
    };
    let mut others: Vec<String> = each.iter().flat_map(|s| s.others.clone()).collect();
    others.sort();
    others.dedup();
    LinkStatus {
        url: each
            .iter()
            .map(|s| s.url.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        daemon: names.join(", "),
        state,
        others,
        members: names
            .iter()
            .zip(each)
            .map(|(name, s)| Member {
                name: name.clone(),
                state: s.state.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::Cause;
    use jiff::Timestamp;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn status(state: LinkState, others: &[&str]) -> LinkStatus {
        LinkStatus {
            state,
            others: others.iter().map(|o| o.to_string()).collect(),
            ..LinkStatus::new("http://127.0.0.1:1")
        }
    }

    fn down() -> LinkState {
        let mut s = LinkState::Connecting;
        s.down(Cause::Unreachable, at(5), None);
        s
    }

    #[test]
    fn the_fleet_answers_while_any_daemon_does_and_lists_each() {
        let names = ["web-1".to_string(), "web-2".into()];
        let fleet = combine_states(
            &names,
            &[
                status(down(), &[]),
                status(LinkState::Connected { since: at(3) }, &["bob@local"]),
            ],
        );
        assert_eq!(fleet.state, LinkState::Connected { since: at(3) });
        assert_eq!(fleet.refusal(), None, "web-2 still takes commands");
        assert_eq!(fleet.members.len(), 2);
        assert_eq!(fleet.members[0].state, down());
        assert_eq!(fleet.others, ["bob@local"]);
    }

    #[test]
    fn with_every_daemon_down_the_fleet_is_down() {
        let names = ["web-1".to_string(), "web-2".into()];
        let fleet = combine_states(&names, &[status(down(), &[]), status(down(), &[])]);
        assert!(matches!(fleet.state, LinkState::Down { .. }));
        assert!(fleet.refusal().is_some());
        assert_eq!(fleet.daemon, "web-1, web-2");
    }
}
