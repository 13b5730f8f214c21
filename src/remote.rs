//! A console's link to a daemon (`autoheal-tui attach`): the daemon's event
//! stream arrives on a local channel, and commands leave as HTTP posts. The
//! console cannot tell it from an engine in its own process.

use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

use crate::api::PublicCommand;
use crate::event::{Command, Event};

/// How long to wait before reconnecting to a daemon that went away.
const RETRY: Duration = Duration::from_secs(1);

pub struct Link {
    pub events: broadcast::Receiver<Event>,
    pub commands: mpsc::Sender<Command>,
}

/// Starts following `base` (e.g. `http://127.0.0.1:7311`) from the first event.
/// When the stream ends (the daemon restarted, or we fell behind) it reconnects
/// by itself, resuming after the last `seq` it saw.
pub fn connect(base: &str, token: Option<String>) -> Link {
    let base = base.trim_end_matches('/').to_string();
    let client = reqwest::Client::new();
    let (events_tx, events) = broadcast::channel(16_384);
    let (commands, mut commands_rx) = mpsc::channel::<Command>(64);

    let (stream_client, stream_base, stream_token) = (client.clone(), base.clone(), token.clone());
    tokio::spawn(async move {
        let mut last = 0;
        loop {
            if let Err(e) = follow(
                &stream_client,
                &stream_base,
                stream_token.as_deref(),
                &mut last,
                &events_tx,
            )
            .await
            {
                tracing::warn!("event stream from {stream_base}: {e}; reconnecting");
            }
            if events_tx.receiver_count() == 0 {
                return;
            }
            tokio::time::sleep(RETRY).await;
        }
    });
    tokio::spawn(async move {
        while let Some(command) = commands_rx.recv().await {
            // The daemon takes only the public vocabulary; a console never needs the rest.
            let command = match PublicCommand::try_from(command) {
                Ok(c) => c,
                Err(internal) => {
                    tracing::warn!("not sent to {base}, which accepts no {internal:?}");
                    continue;
                }
            };
            let mut request = client.post(format!("{base}/api/commands")).json(&command);
            if let Some(token) = &token {
                request = request.bearer_auth(token);
            }
            match request.send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => tracing::warn!("{base} refused a command: {}", r.status()),
                Err(e) => tracing::warn!("cannot send a command to {base}: {e}"),
            }
        }
    });
    Link { events, commands }
}

/// Reads one connection's worth of the stream, advancing `last`.
async fn follow(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    last: &mut u64,
    events: &broadcast::Sender<Event>,
) -> Result<(), String> {
    let mut request = client.get(format!("{base}/api/events?since={last}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let mut response = request.send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    let mut pending = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            match serde_json::from_slice::<Event>(&line) {
                Ok(event) if event.seq > *last => {
                    *last = event.seq;
                    if events.send(event).is_err() {
                        return Ok(()); // the console has gone
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("skipped an event line from {base}: {e}"),
            }
        }
    }
    Ok(())
}
