//! The append-only JSONL journal: one [`Event`] per line. Replaying it is how
//! state survives a restart, so a damaged line is skipped with a warning, never fatal.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::event::Event;

pub struct Journal {
    path: PathBuf,
    out: BufWriter<File>,
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
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one line and hands it to the OS at once, so `tail -f` sees it.
    pub fn append(&mut self, event: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, event)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    /// Flushes and asks the disk to keep it (at shutdown).
    pub fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }
}

/// Streams every event in the journal at `path` to `each`, in order. A missing
/// file is an empty journal. Lines that do not parse are returned, not fatal.
pub fn replay(path: &Path, mut each: impl FnMut(Event)) -> io::Result<Vec<SkippedLine>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut skipped = Vec::new();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let mut line = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line += 1;
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Event>(text) {
            Ok(event) => each(event),
            Err(e) => skipped.push(SkippedLine {
                line,
                reason: e.to_string(),
            }),
        }
    }
    Ok(skipped)
}

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
    fn a_missing_journal_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            replay(&dir.path().join("none"), |_| panic!())
                .unwrap()
                .is_empty()
        );
    }
}
