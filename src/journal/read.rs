//! Reading the journal back: its closed segments oldest first, then the live
//! file, parsed on one thread while the caller folds on another.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use super::segment::{self, Segment};
use crate::event::Event;

/// A line that could not be read back.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedLine {
    /// The segment or live file it is in.
    pub file: PathBuf,
    pub line: usize,
    pub reason: String,
}

/// Streams every event of the journal at `path` to `each`, in order: its
/// segments oldest first, then the live file. A missing journal is empty.
/// Lines that do not parse are returned, not fatal.
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
    each: impl FnMut(Event) -> ControlFlow<()>,
) -> io::Result<Vec<SkippedLine>> {
    replay_since(path, 0, each)
}

/// Like [`replay_while`], for a reader that wants only events after `since`:
/// segments that end at or before it are not opened at all. Events of the
/// segments read are all passed on; the caller filters by seq.
pub fn replay_since(
    path: &Path,
    since: u64,
    mut each: impl FnMut(Event) -> ControlFlow<()>,
) -> io::Result<Vec<SkippedLine>> {
    // The live file is opened before the segments are listed: if the writer
    // rotates in between, what this handle holds is also in a listed segment,
    // and is dropped below by seq, so a rotation never loses or doubles a line.
    let live = match File::open(path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    // Listed twice: a segment renamed to `.gz` while the directory is being
    // read may be missed by one listing, never by the next one.
    let mut segments: Vec<Segment> = segment::list(path)?;
    segments.extend(segment::list(path)?);
    segments.sort_by_key(|s| (s.first, s.last, !s.compressed));
    segments.dedup_by_key(|s| (s.first, s.last));
    segments.retain(|s| s.last > since);
    // The live file only holds what comes after every segment.
    let live_after = segments.iter().map(|s| s.last).max();
    let sources: Vec<(PathBuf, Source)> = segments
        .into_iter()
        .map(|s| (s.path.clone(), Source::Segment(s)))
        .chain(live.map(|f| (path.to_path_buf(), Source::Live(f))))
        .collect();
    let files: Vec<PathBuf> = sources.iter().map(|(p, _)| p.clone()).collect();
    let live_index = files.len().saturating_sub(1);

    // Parsing JSON is most of a replay's time: one thread reads and parses batches
    // of lines while this one folds the previous batch, in order.
    let (batches, parsed) = std::sync::mpsc::sync_channel::<io::Result<Batch>>(2);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for (file, (_, source)) in sources.into_iter().enumerate() {
                if !read_source(file, source, &batches) {
                    return;
                }
            }
        });
        // Returning drops `parsed`, so the reader stops at its next batch.
        let mut skipped = Vec::new();
        for batch in parsed {
            let batch = batch?;
            let path = || files.get(batch.file).cloned().unwrap_or_default();
            if let Some((line, reason)) = batch.unreadable {
                skipped.push(SkippedLine {
                    file: path(),
                    line,
                    reason,
                });
            }
            let stale = |seq| batch.file == live_index && live_after.is_some_and(|l| seq <= l);
            for (line, result) in batch.lines {
                match result {
                    Ok(event) if stale(event.seq) => {}
                    Ok(event) => {
                        if each(event).is_break() {
                            return Ok(skipped);
                        }
                    }
                    Err(reason) => skipped.push(SkippedLine {
                        file: path(),
                        line,
                        reason,
                    }),
                }
            }
        }
        Ok(skipped)
    })
}

enum Source {
    Segment(Segment),
    Live(File),
}

/// Whole lines of one file, parsed.
struct Batch {
    /// Index of the file among those read.
    file: usize,
    lines: Vec<Parsed>,
    /// A segment that cannot be read on: why. The rest of it is skipped, not
    /// the journal: an archive damaged on disk must not stop the engine.
    unreadable: Option<(usize, String)>,
}

/// A line's number and its event, or why it is not one.
pub(super) type Parsed = (usize, Result<Event, String>);

/// Sends the batches of one file; false once nobody listens.
fn read_source(
    file: usize,
    source: Source,
    to: &std::sync::mpsc::SyncSender<io::Result<Batch>>,
) -> bool {
    let (read, is_segment): (Box<dyn Read + Send>, bool) = match source {
        Source::Live(f) => (Box::new(f), false),
        Source::Segment(s) => match s.open() {
            Ok(r) => (r, true),
            // Deleted by retention since it was listed: gone by policy.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return true,
            Err(e) => {
                let batch = Batch {
                    file,
                    lines: Vec::new(),
                    unreadable: Some((0, format!("cannot open segment: {e}"))),
                };
                return to.send(Ok(batch)).is_ok();
            }
        },
    };
    let mut reader = BufReader::with_capacity(1 << 16, read);
    let mut line = 0;
    loop {
        let (batch, end) = match read_batch(&mut reader, &mut line) {
            Ok((lines, end)) => (
                Ok(Batch {
                    file,
                    lines,
                    unreadable: None,
                }),
                end,
            ),
            Err(e) if is_segment => (
                Ok(Batch {
                    file,
                    lines: Vec::new(),
                    unreadable: Some((line + 1, format!("segment unreadable from here on: {e}"))),
                }),
                true,
            ),
            Err(e) => (Err(e), true),
        };
        let failed = batch.is_err();
        if to.send(batch).is_err() || failed {
            return false;
        }
        if end {
            return true;
        }
    }
}

/// Reads and parses up to [`REPLAY_BATCH`] bytes of whole lines (blank ones left
/// out), and says whether the file ended.
pub(super) fn read_batch(
    reader: &mut impl BufRead,
    line: &mut usize,
) -> io::Result<(Vec<Parsed>, bool)> {
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

/// The first event of the file at `path` (the first line that parses), if any.
pub fn first_event(path: &Path) -> io::Result<Option<Event>> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .by_ref()
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        if buf.len() > MAX_LINE as usize && buf.last() != Some(&b'\n') {
            reader.skip_until(b'\n')?;
        } else if let Ok(event) = serde_json::from_slice(&buf) {
            return Ok(Some(event));
        }
    }
}

/// The longest journal line read: far above any event (an action's output is
/// cut at 2 KiB), so a damaged file without newlines cannot fill the memory.
pub const MAX_LINE: u64 = 1 << 20;

/// Bytes of journal read and parsed at once by [`replay`].
const REPLAY_BATCH: usize = 4 << 20;
