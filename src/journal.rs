//! The append-only JSONL journal: one [`Event`] per line. Replaying it is how
//! state survives a restart, so a damaged line is skipped with a warning, never fatal.
//!
//! The live file keeps its path for good (so `tail -F` follows it); past a size
//! or an age it is renamed to a segment named by its first and last seq and a
//! new live file starts at the same path. Segments are gzipped in the
//! background and deleted, oldest first, by the retention policy.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::Timestamp;

mod archive;
mod policy;
mod read;
pub mod segment;
pub mod snapshot;

pub use archive::retain;
pub use policy::{Retention, Rotate, parse_size};
pub use read::{MAX_LINE, SkippedLine, replay, replay_since, replay_while};

use crate::event::Event;
use crate::state::{Incident, Span, State};

pub struct Journal {
    path: PathBuf,
    out: BufWriter<File>,
    /// Lines written since the last sync.
    unsynced: bool,
    rotate: Rotate,
    retention: Retention,
    /// Bytes in the live file.
    size: u64,
    /// Seq and time of the live file's first event, and seq of its last.
    span: Option<(u64, Timestamp, u64)>,
    /// After a failed rotation, when to try again.
    retry_at: Option<Instant>,
    archiver: archive::Archiver,
}

impl Journal {
    /// Opens (creating it and its directory if needed) for appending, with the
    /// default rotation and retention. If the last line was torn by a crash, a
    /// newline seals it off so the next event starts on a line of its own.
    pub fn open(path: &Path) -> io::Result<Journal> {
        Journal::open_with(path, Rotate::default(), Retention::default())
    }

    /// Like [`Journal::open`]. Segments a crash left uncompressed are
    /// compressed in the background; retention waits for [`Journal::retain`].
    pub fn open_with(path: &Path, rotate: Rotate, retention: Retention) -> io::Result<Journal> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = open_live(path)?;
        let mut size = file.metadata()?.len();
        if size > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(size - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
                size += 1;
            }
        }
        let span = match size {
            0 => None,
            _ => read::first_event(path)?.map(|e| (e.seq, e.ts, e.seq)),
        };
        let mut journal = Journal {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            unsynced: false,
            rotate,
            retention,
            size,
            span,
            retry_at: None,
            archiver: archive::Archiver::default(),
        };
        for plain in archive::recover(path)? {
            journal.archiver.send(path, archive::Job::Compress(plain));
        }
        Ok(journal)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the next line goes: for a snapshot, so a start can seek past
    /// what it folded. `None` while the live file holds no event.
    pub fn position(&self) -> Option<snapshot::Position> {
        self.span.map(|(first, _, _)| snapshot::Position {
            live_first: first,
            offset: self.size,
        })
    }

    /// Changes when it rotates and what it keeps, from the next line on.
    pub fn set_policy(&mut self, rotate: Rotate, retention: Retention) {
        (self.rotate, self.retention) = (rotate, retention);
    }

    /// Writes one line and hands it to the OS at once, so `tail -f` sees it.
    /// Then rotates if the live file is due; `needed` (asked only then) is the
    /// first seq an open incident still needs, which retention keeps (see
    /// [`first_needed_seq`]). A failed rotation is logged, not returned: the
    /// line is written, and the journal tries again a minute later.
    pub fn append(
        &mut self,
        event: &Event,
        needed: impl FnOnce() -> Option<u64>,
    ) -> io::Result<()> {
        self.unsynced = true;
        let mut line = serde_json::to_vec(event)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        self.out.flush()?;
        self.size = self.size.saturating_add(line.len() as u64);
        let (first, since, _) = self.span.unwrap_or((event.seq, event.ts, event.seq));
        self.span = Some((first, since, event.seq));
        if self.due(since, event.ts)
            && let Err(e) = self.rotate(needed())
        {
            tracing::error!(
                "cannot rotate journal {}: {e}; retrying in a minute",
                self.path.display()
            );
            self.retry_at = Instant::now().checked_add(Duration::from_secs(60));
        }
        Ok(())
    }

    /// Whether the live file is past its size or age (by event time).
    fn due(&self, since: Timestamp, now: Timestamp) -> bool {
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return false;
        }
        let age_ms = now.as_millisecond().saturating_sub(since.as_millisecond());
        let max_age_ms = i64::try_from(self.rotate.max_age.as_millis()).unwrap_or(i64::MAX);
        self.size >= self.rotate.max_size || age_ms >= max_age_ms
    }

    /// Closes the live file as a segment and starts a new one at the same path.
    /// Appends wait for it (they need `&mut self`), so each line is in exactly one file.
    fn rotate(&mut self, needed: Option<u64>) -> io::Result<()> {
        let Some((first, _, last)) = self.span else {
            return Ok(());
        };
        let segment = segment::plain_path(&self.path, first.min(last), last.max(first));
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        std::fs::rename(&self.path, &segment)?;
        let file = match open_live(&self.path) {
            Ok(file) => file,
            Err(e) => {
                // Put it back, so lines go on to the live path.
                std::fs::rename(&segment, &self.path)?;
                return Err(e);
            }
        };
        self.out = BufWriter::new(file);
        (self.size, self.span, self.retry_at) = (0, None, None);
        self.archiver
            .send(&self.path, archive::Job::Compress(segment));
        self.retain_before(needed, Some(last.max(first).saturating_add(1)));
        // Both names are in place; this makes them survive a power cut.
        archive::sync_dir(&self.path)
    }

    /// Deletes old segments in the background as the retention allows,
    /// keeping any whose last seq is at or after `needed`.
    pub fn retain(&mut self, needed: Option<u64>) {
        // The segments there are now all end before the live file's first line.
        let before = self.span.map(|(first, _, _)| first);
        self.retain_before(needed, before);
    }

    /// [`Journal::retain`] of the segments that end before `before`: the job
    /// runs later, perhaps after newer rotations, and must not take a segment
    /// that `needed` was decided without (it would not know what that one holds).
    fn retain_before(&mut self, needed: Option<u64>, before: Option<u64>) {
        let needed = match (needed, before) {
            (Some(n), Some(b)) => Some(n.min(b)),
            (n, b) => n.or(b),
        };
        let job = archive::Job::Retain {
            retention: self.retention,
            needed,
        };
        self.archiver.send(&self.path, job);
    }

    /// Waits for the background compression and retention sent so far.
    pub fn settle(&mut self) {
        self.archiver.settle();
    }

    /// Flushes and asks the disk to keep it (at shutdown).
    pub fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        self.unsynced = false;
        Ok(())
    }
}

fn open_live(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
}

/// However the journal's owner ends, a clean stop or a panic unwinding the
/// engine task, what was written reaches the disk.
impl Drop for Journal {
    fn drop(&mut self) {
        if self.unsynced
            && let Err(e) = self.sync()
        {
            tracing::error!("cannot sync journal {}: {e}", self.path.display());
        }
    }
}

/// The first seq whose events `state` could not be rebuilt without: the first
/// event of every open incident, and of the newest incident (so a restart never
/// hands out its id again). Retention keeps every segment from there on.
pub fn first_needed_seq(state: &State) -> Option<u64> {
    let first = |inc: &Incident| inc.timeline.first().map(|e| e.seq);
    let open = state.incidents.values().filter(|inc| inc.status.is_open());
    let newest = match (state.incidents.last_key_value(), state.archived.last_id()) {
        (Some((id, inc)), archived) if Some(*id) >= archived => first(inc),
        (_, archived) => archived
            .and_then(|id| state.archived.get(id))
            .map(|s| s.first_seq),
    };
    open.filter_map(first).chain(newest).min()
}

/// An incident that left the fold's memory, folded again from its own events
/// in the journal (seqs `span.first_seq..=span.last_seq`): the summary and
/// timeline it had. `None` when retention has deleted them.
pub fn read_incident(path: &Path, span: Span) -> io::Result<Option<Incident>> {
    let mut scratch = State::default();
    replay_since(path, span.first_seq.saturating_sub(1), |event| {
        if event.seq > span.last_seq {
            return std::ops::ControlFlow::Break(());
        }
        if event.seq >= span.first_seq && event.kind.incident_id() == Some(span.id) {
            scratch.apply(&event);
        }
        std::ops::ControlFlow::Continue(())
    })?;
    Ok(scratch.incidents.remove(&span.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use std::ops::ControlFlow;

    fn event(seq: u64) -> Event {
        Event {
            seq,
            ts: jiff::Timestamp::from_millisecond(1_700_000_000_000 + seq as i64).unwrap(),
            kind: EventKind::AutomationPaused { by: "test".into() },
        }
    }

    #[test]
    fn appended_events_replay_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/journal.jsonl");
        let mut j = Journal::open(&path).unwrap();
        for seq in 1..=3 {
            j.append(&event(seq), || None).unwrap();
        }
        let mut seen = Vec::new();
        assert!(replay(&path, |e| seen.push(e.seq)).unwrap().is_empty());
        assert_eq!(seen, [1, 2, 3]);
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_sealed_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        Journal::open(&path)
            .unwrap()
            .append(&event(1), || None)
            .unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"seq":2,"ts":"2026-"#).unwrap();
        drop(f);

        Journal::open(&path)
            .unwrap()
            .append(&event(3), || None)
            .unwrap();
        let mut seen = Vec::new();
        let skipped = replay(&path, |e| seen.push(e.seq)).unwrap();
        assert_eq!(seen, [1, 3]);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].line, 2);
    }

    #[test]
    fn blank_lines_are_skipped_and_line_numbers_stay_true() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let line = |seq| serde_json::to_string(&event(seq)).unwrap();
        std::fs::write(
            &path,
            format!("{}\n\n{}\nnot json\n{}\n", line(1), line(2), line(3)),
        )
        .unwrap();
        let mut seen = Vec::new();
        let skipped = replay(&path, |e| seen.push(e.seq)).unwrap();
        assert_eq!(seen, [1, 2, 3]);
        assert_eq!(skipped.iter().map(|s| s.line).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn a_line_too_long_to_be_an_event_is_skipped_without_being_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let line = |seq| serde_json::to_string(&event(seq)).unwrap();
        let huge = "x".repeat(3 << 20);
        let at_limit = "y".repeat(1 << 20);
        std::fs::write(
            &path,
            format!(
                "{}\n{huge}\n{}\n{at_limit}\n{}\n{huge}",
                line(1),
                line(2),
                line(3)
            ),
        )
        .unwrap();
        let mut seen = Vec::new();
        let skipped = replay(&path, |e| seen.push(e.seq)).unwrap();
        assert_eq!(seen, [1, 2, 3]);
        assert_eq!(
            skipped.iter().map(|s| s.line).collect::<Vec<_>>(),
            [2, 4, 6]
        );
        assert!(
            skipped[0].reason.contains("longer than 1024 KiB"),
            "{skipped:?}"
        );
    }

    #[test]
    fn a_replay_stops_when_its_reader_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut j = Journal::open(&path).unwrap();
        for seq in 1..=10 {
            j.append(&event(seq), || None).unwrap();
        }
        let mut seen = Vec::new();
        replay_while(&path, |e| {
            seen.push(e.seq);
            match e.seq {
                3 => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        })
        .unwrap();
        assert_eq!(seen, [1, 2, 3]);
    }

    #[test]
    fn a_missing_journal_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            replay(&dir.path().join("none"), |_| panic!())
                .unwrap()
                .is_empty()
        );
    }
}
