//! The append-only JSONL journal: one [`Event`] per line. Replaying it is how
//! state survives a restart, so a damaged line is skipped with a warning, never fatal.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::event::Event;

pub struct Journal {
    path: PathBuf,
    out: BufWriter<File>,
    /// Lines written since the last sync.
    unsynced: bool,
}

/// A line that could not be read back.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedLine {
    pub line: usize,
    pub reason: String,
}

impl Journal {
    /// Opens (creating it and its directory if needed) for appending. If the
    /// last line was torn by a crash, a newline seals it off so the next event
    /// starts on a line of its own.
    pub fn open(path: &Path) -> io::Result<Journal> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let len = file.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        Ok(Journal {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            unsynced: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one line and hands it to the OS at once, so `tail -f` sees it.
    pub fn append(&mut self, event: &Event) -> io::Result<()> {
        self.unsynced = true;
        serde_json::to_writer(&mut self.out, event)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    /// Flushes and asks the disk to keep it (at shutdown).
    pub fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        self.unsynced = false;
        Ok(())
    }
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

/// Streams every event in the journal at `path` to `each`, in order. A missing
/// file is an empty journal. Lines that do not parse are returned, not fatal.
pub fn replay(path: &Path, mut each: impl FnMut(Event)) -> io::Result<Vec<SkippedLine>> {
    replay_while(path, |event| {
        each(event);
        ControlFlow::Continue(())
    })
}

/// Like [`replay`], but stops reading as soon as `each` breaks: for a reader
/// that may go away (an HTTP client that hung up), so no whole journal is
/// read for nobody.
pub fn replay_while(
    path: &Path,
    mut each: impl FnMut(Event) -> ControlFlow<()>,
) -> io::Result<Vec<SkippedLine>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    // Parsing JSON is most of a replay's time: one thread reads and parses batches
    // of lines while this one folds the previous batch, in order.
    let (batches, parsed) = std::sync::mpsc::sync_channel::<io::Result<Vec<Parsed>>>(2);
    // The reader stops at the end of the file (or a read error), and then the fold ends.
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut reader = BufReader::with_capacity(1 << 16, file);
            let mut line = 0;
            loop {
                let (batch, end) = match read_batch(&mut reader, &mut line) {
                    Ok((batch, end)) => (Ok(batch), end),
                    Err(e) => (Err(e), true),
                };
                if batches.send(batch).is_err() || end {
                    return;
                }
            }
        });
        // Returning drops `parsed`, so the reader stops at its next batch.
        let mut skipped = Vec::new();
        for batch in parsed {
            for (line, result) in batch? {
                match result {
                    Ok(event) => {
                        if each(event).is_break() {
                            return Ok(skipped);
                        }
                    }
                    Err(reason) => skipped.push(SkippedLine { line, reason }),
                }
            }
        }
        Ok(skipped)
    })
}

/// A line's number and its event, or why it is not one.
type Parsed = (usize, Result<Event, String>);

/// Reads and parses up to [`REPLAY_BATCH`] bytes of whole lines (blank ones left
/// out), and says whether the file ended.
fn read_batch(reader: &mut impl BufRead, line: &mut usize) -> io::Result<(Vec<Parsed>, bool)> {
    let mut out = Vec::new();
    let (mut buf, mut read) = (Vec::new(), 0);
    while read < REPLAY_BATCH {
        buf.clear();
        let mut n = reader
            .by_ref()
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok((out, true));
        }
        // Past the limit and still no newline: a line of exactly MAX_LINE bytes
        // arrives whole, with its newline.
        let too_long = buf.len() > MAX_LINE as usize && buf.last() != Some(&b'\n');
        if too_long {
            // Never held whole: a line this long is damage, not an event.
            n += reader.skip_until(b'\n')?;
        }
        (read, *line) = (read + n, *line + 1);
        if too_long {
            let reason = format!("longer than {} KiB: not an event", MAX_LINE >> 10);
            out.push((*line, Err(reason)));
            continue;
        }
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if !text.iter().all(u8::is_ascii_whitespace) {
            out.push((
                *line,
                serde_json::from_slice(text).map_err(|e| e.to_string()),
            ));
        }
    }
    Ok((out, false))
}

/// The longest journal line read: far above any event (an action's output is
/// cut at 2 KiB), so a damaged file without newlines cannot fill the memory.
const MAX_LINE: u64 = 1 << 20;

/// Bytes of journal read and parsed at once by [`replay`].
const REPLAY_BATCH: usize = 4 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

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
            j.append(&event(seq)).unwrap();
        }
        let mut seen = Vec::new();
        assert!(replay(&path, |e| seen.push(e.seq)).unwrap().is_empty());
        assert_eq!(seen, [1, 2, 3]);
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_sealed_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        Journal::open(&path).unwrap().append(&event(1)).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"seq":2,"ts":"2026-"#).unwrap();
        drop(f);

        Journal::open(&path).unwrap().append(&event(3)).unwrap();
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
            j.append(&event(seq)).unwrap();
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
