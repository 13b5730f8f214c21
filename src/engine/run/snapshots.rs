//! When the engine writes its snapshot: every [`SNAPSHOT_EVERY`] events (at
//! most once per [`SNAPSHOT_GAP`]) from a blocking task (the loop only clones
//! the state), and on a clean stop.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::journal::snapshot::{self, Position};
use crate::state::State;

/// Events between two snapshots: at about 200 bytes a line, a start replays
/// at most a few MiB of journal after the snapshot.
pub const SNAPSHOT_EVERY: u64 = 10_000;

/// The least time between two snapshots. Copying the state pauses the loop
/// (a few ms for a quiet fleet, tens of ms with ten thousand incidents open),
/// so a burst of events costs one pause a minute, not one every 10,000 events;
/// a start then replays at most a minute of the burst.
pub const SNAPSHOT_GAP: Duration = Duration::from_secs(60);

pub(super) struct Snapshots {
    journal: PathBuf,
    every: u64,
    /// Events since the last snapshot was started.
    since: u64,
    /// When the last one was started during this run.
    last: Option<Instant>,
    writing: Option<JoinHandle<()>>,
    /// The seq of the newest snapshot on disk; 0 for none.
    on_disk: Arc<AtomicU64>,
}

impl Snapshots {
    pub(super) fn new(journal: PathBuf, every: u64, loaded: Option<u64>) -> Snapshots {
        Snapshots {
            journal,
            every: every.max(1),
            since: 0,
            last: None,
            writing: None,
            on_disk: Arc::new(AtomicU64::new(loaded.unwrap_or(0))),
        }
    }

    /// The seq of the newest snapshot on disk: retention keeps the journal from there.
    pub(super) fn covered(&self) -> Option<u64> {
        Some(self.on_disk.load(Ordering::Relaxed)).filter(|seq| *seq > 0)
    }

    /// Counts one event; when due (and no write is under way) hands a copy
    /// of `state` to a blocking task, so the loop never waits on the disk.
    /// `position` is where the journal's live file ends after `state`'s last event.
    pub(super) fn after_event(&mut self, state: &State, position: Option<Position>) {
        self.since = self.since.saturating_add(1);
        let too_soon = self.last.is_some_and(|t| t.elapsed() < SNAPSHOT_GAP);
        let writing = self.writing.as_ref().is_some_and(|w| !w.is_finished());
        if self.since < self.every || too_soon || writing {
            return;
        }
        (self.since, self.last) = (0, Some(Instant::now()));
        let cloned_at = Instant::now();
        let copy = state.clone();
        tracing::debug!(
            "snapshot at seq {}: state copied in {:?}",
            copy.last_seq,
            cloned_at.elapsed()
        );
        let (journal, on_disk) = (self.journal.clone(), self.on_disk.clone());
        self.writing = Some(tokio::task::spawn_blocking(move || {
            write(&journal, &copy, position, &on_disk)
        }));
    }

    /// At a clean stop: waits for a write under way, then writes `state`.
    pub(super) async fn finish(&mut self, state: State, position: Option<Position>) {
        if let Some(writing) = self.writing.take() {
            let _ = writing.await;
        }
        let (journal, on_disk) = (self.journal.clone(), self.on_disk.clone());
        if let Err(e) =
            tokio::task::spawn_blocking(move || write(&journal, &state, position, &on_disk)).await
        {
            tracing::error!("snapshot writer died: {e}");
        }
    }
}

fn write(
    journal: &std::path::Path,
    state: &State,
    position: Option<Position>,
    on_disk: &AtomicU64,
) {
    let started = Instant::now();
    match snapshot::write(journal, state, position) {
        Ok(Some(seq)) => {
            on_disk.store(seq, Ordering::Relaxed);
            tracing::debug!("snapshot at seq {seq} written in {:?}", started.elapsed());
        }
        Ok(None) => {}
        Err(e) => tracing::error!(
            "cannot write snapshot {}: {e}; the next start replays more journal",
            snapshot::path_for(journal).display()
        ),
    }
}
