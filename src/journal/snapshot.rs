//! The state folded up to some seq, kept beside the journal
//! (`journal.jsonl.snapshot`) so a start replays only the journal after it.
//!
//! The file is one header line, then the body:
//!
//! ```text
//! {"format":"autoheal-snapshot","version":1,"last_seq":N,"last_ts":"…","sha256":"…","body_len":N}
//! {"state":{…},"internals":{…}}
//! ```
//!
//! `last_seq` and `last_ts` name the last event folded in: start-up finds that
//! event in the journal and folds what follows it. When the live file is still
//! the one the snapshot was taken in (same first seq), `offset` says where that
//! event's line ends, and start-up reads only from there: the time it takes
//! does not grow with the live file. A snapshot that cannot be
//! trusted (torn, checksum wrong, another version, its event not in the
//! journal) is ignored with a warning, and the whole journal is replayed:
//! the journal stays the truth, a snapshot only saves time.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::archive::sync_dir;
use super::read::{MAX_LINE, SkippedLine, first_event, read_batch, replay, replay_since};
use super::segment::with_suffix;
use crate::event::Event;
use crate::state::{Internals, State};

/// Bumped whenever `State`'s serde form changes: an older snapshot is ignored.
pub const VERSION: u32 = 1;

const FORMAT: &str = "autoheal-snapshot";

/// Where the snapshot of the journal at `journal` lives.
pub fn path_for(journal: &Path) -> PathBuf {
    with_suffix(journal, ".snapshot")
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    last_seq: u64,
    last_ts: Timestamp,
    #[serde(default)]
    position: Option<Position>,
    sha256: String,
    body_len: u64,
}

/// Where the journal's live file ended when the snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The seq of the live file's first event: tells that file from a later one.
    pub live_first: u64,
    /// Bytes of the live file, up to the end of the snapshot's last line.
    pub offset: u64,
}

#[derive(Serialize)]
struct BodyOut<'a> {
    state: &'a State,
    internals: Internals,
}

#[derive(Deserialize)]
struct BodyIn {
    state: State,
    internals: Internals,
}

/// Writes `state` as the snapshot of `journal`: to a `.tmp` file, synced,
/// then renamed over the old one, so a crash leaves the old or the new one
/// whole. `position` is where the live file ended after `state`'s last event
/// ([`super::Journal::position`]), if known. A state that folded nothing is
/// not written. Returns the seq covered.
pub fn write(journal: &Path, state: &State, position: Option<Position>) -> io::Result<Option<u64>> {
    let Some(last_ts) = state.last_ts.filter(|_| state.last_seq > 0) else {
        return Ok(None);
    };
    let body = serde_json::to_vec(&BodyOut {
        state,
        internals: state.internals(),
    })?;
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        last_seq: state.last_seq,
        last_ts,
        position,
        sha256: hex(&Sha256::digest(&body)),
        body_len: body.len() as u64,
    };
    let path = path_for(journal);
    let tmp = with_suffix(&path, ".tmp");
    let mut file = File::create(&tmp)?;
    let mut head = serde_json::to_vec(&header)?;
    head.push(b'\n');
    file.write_all(&head)?;
    file.write_all(&body)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, &path)?;
    sync_dir(&path)?;
    Ok(Some(state.last_seq))
}

/// A snapshot read back and checked, not yet matched against the journal.
pub struct Snapshot {
    pub state: State,
    pub last_seq: u64,
    pub last_ts: Timestamp,
    pub position: Option<Position>,
}

/// Reads the snapshot of `journal`: `Ok(None)` if there is none, `Err(why)`
/// if there is one that cannot be trusted.
pub fn read(journal: &Path) -> Result<Option<Snapshot>, String> {
    let bytes = match fs::read(path_for(journal)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    let Some(newline) = bytes.iter().position(|b| *b == b'\n') else {
        return Err("no header line (torn?)".into());
    };
    let (head, body) = (&bytes[..newline], &bytes[newline + 1..]);
    let header: Header = serde_json::from_slice(head)
        .map_err(|e| format!("header does not parse (torn or old format?): {e}"))?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(format!(
            "format {} version {}, this autoheal reads {FORMAT} version {VERSION}",
            header.format, header.version
        ));
    }
    if body.len() as u64 != header.body_len {
        return Err(format!(
            "body is {} bytes, header says {} (torn?)",
            body.len(),
            header.body_len
        ));
    }
    if hex(&Sha256::digest(body)) != header.sha256 {
        return Err("checksum mismatch (damaged)".into());
    }
    let BodyIn {
        mut state,
        internals,
    } = serde_json::from_slice(body).map_err(|e| format!("body does not parse: {e}"))?;
    if state.last_seq != header.last_seq || header.last_seq == 0 {
        return Err(format!(
            "header says seq {}, body folds up to {}",
            header.last_seq, state.last_seq
        ));
    }
    state.restore(internals);
    Ok(Some(Snapshot {
        state,
        last_seq: header.last_seq,
        last_ts: header.last_ts,
        position: header.position,
    }))
}

/// The state rebuilt at start-up, and how.
#[derive(Debug)]
pub struct Restored {
    pub state: State,
    /// Lines of the journal that could not be read back.
    pub skipped: Vec<SkippedLine>,
    /// The seq of the snapshot started from, if one was used.
    pub snapshot_seq: Option<u64>,
    /// Journal events folded into the state (after the snapshot, if any).
    pub replayed: u64,
}

/// Rebuilds the state of the journal at `journal`: from its snapshot and the
/// events after it when the snapshot can be trusted, else from every event.
pub fn restore(journal: &Path) -> io::Result<Restored> {
    let file = path_for(journal);
    match read(journal) {
        Ok(None) => {}
        Ok(Some(snapshot)) => match replay_after(journal, snapshot)? {
            Ok(restored) => return Ok(restored),
            Err(why) => warn_ignored(&file, &why),
        },
        Err(why) => warn_ignored(&file, &why),
    }
    let mut state = State::default();
    let mut replayed = 0u64;
    let skipped = replay(journal, |e| {
        state.apply(&e);
        replayed = replayed.saturating_add(1);
    })?;
    Ok(Restored {
        state,
        skipped,
        snapshot_seq: None,
        replayed,
    })
}

fn warn_ignored(file: &Path, why: &str) {
    tracing::warn!(
        "ignoring snapshot {}: {why}; replaying the whole journal",
        file.display()
    );
}

/// Folds the events that follow the snapshot's last event in the journal;
/// `Ok(Err(why))` when the journal does not hold that event (replaced, cut short).
fn replay_after(journal: &Path, snapshot: Snapshot) -> io::Result<Result<Restored, String>> {
    let Snapshot {
        mut state,
        last_seq,
        last_ts,
        position,
    } = snapshot;
    if let Some(at) = position
        && let Some((skipped, replayed)) =
            fold_live_from(journal, at, last_seq, last_ts, &mut state)?
    {
        return Ok(Ok(Restored {
            state,
            skipped,
            snapshot_seq: Some(last_seq),
            replayed,
        }));
    }
    let (mut found, mut replayed) = (false, 0u64);
    // From the segment that holds `last_seq` itself: it is the marker.
    let skipped = replay_since(journal, last_seq.saturating_sub(1), |e| {
        if found {
            state.apply(&e);
            replayed = replayed.saturating_add(1);
        } else if e.seq == last_seq && e.ts == last_ts {
            found = true;
        }
        ControlFlow::Continue(())
    })?;
    if !found {
        return Ok(Err(format!(
            "the journal holds no event {last_seq} at {last_ts} \
             (replaced, or cut short since the snapshot)"
        )));
    }
    Ok(Ok(Restored {
        state,
        skipped,
        snapshot_seq: Some(last_seq),
        replayed,
    }))
}

/// The fast way: when the live file is the one the snapshot was taken in and
/// the line that ends at `at.offset` is the snapshot's last event, folds the
/// lines after it. `None` when it is not so (rotated since, replaced, cut):
/// the caller looks for that event through the segments.
fn fold_live_from(
    journal: &Path,
    at: Position,
    last_seq: u64,
    last_ts: Timestamp,
    state: &mut State,
) -> io::Result<Option<(Vec<SkippedLine>, u64)>> {
    let first = match first_event(journal) {
        Ok(first) => first,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if first.map(|e| e.seq) != Some(at.live_first) {
        return Ok(None);
    }
    let mut file = File::open(journal)?;
    // The snapshot's last line ends just before `offset`.
    let back = at.offset.min(MAX_LINE + 1);
    let Some(start) = at.offset.checked_sub(back) else {
        return Ok(None);
    };
    file.seek(SeekFrom::Start(start))?;
    let mut before = vec![0; usize::try_from(back).unwrap_or(0)];
    if file.read_exact(&mut before).is_err() {
        return Ok(None); // shorter than the snapshot says: cut or replaced
    }
    let Some(line) = before.strip_suffix(b"\n") else {
        return Ok(None);
    };
    let line = match line.iter().rposition(|b| *b == b'\n') {
        Some(i) => &line[i + 1..],
        None if start == 0 => line,
        None => return Ok(None),
    };
    match serde_json::from_slice::<Event>(line) {
        Ok(e) if e.seq == last_seq && e.ts == last_ts => {}
        _ => return Ok(None),
    }
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let (mut skipped, mut replayed, mut number) = (Vec::new(), 0u64, 0);
    loop {
        let (lines, end) = read_batch(&mut reader, &mut number)?;
        for (line, parsed) in lines {
            match parsed {
                Ok(event) => {
                    state.apply(&event);
                    replayed = replayed.saturating_add(1);
                }
                Err(reason) => skipped.push(SkippedLine {
                    file: journal.to_path_buf(),
                    line,
                    reason: format!("{reason} (line counted from byte {})", at.offset),
                }),
            }
        }
        if end {
            return Ok(Some((skipped, replayed)));
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
