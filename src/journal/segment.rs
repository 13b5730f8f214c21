//! Closed parts of the journal. A rotated journal `journal.jsonl` leaves
//! `journal.jsonl.<first>-<last>.gz` beside it: the first and last seq it holds,
//! zero-padded so that names sort in journal order and a reader can skip whole
//! segments by seq. A segment is plain (no `.gz`) from its rotation until the
//! background compression has replaced it.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

/// One closed segment of a journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub first: u64,
    pub last: u64,
    pub path: PathBuf,
    pub compressed: bool,
}

/// Digits of the largest u64: every seq is padded to this width.
const WIDTH: usize = 20;

/// Suffix of a compressed segment.
pub const GZ: &str = ".gz";

/// Suffix of a compressed segment not yet complete (a crash may leave one).
pub const PARTIAL: &str = ".gz.partial";

/// Where the uncompressed segment holding seqs `first..=last` of `live` goes.
pub fn plain_path(live: &Path, first: u64, last: u64) -> PathBuf {
    let mut name = file_name(live);
    name.push(format!(".{first:0WIDTH$}-{last:0WIDTH$}"));
    live.with_file_name(name)
}

/// `path` with `suffix` added to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = file_name(path);
    name.push(suffix);
    path.with_file_name(name)
}

fn file_name(path: &Path) -> OsString {
    path.file_name().map(OsString::from).unwrap_or_default()
}

/// The directory `live` is in (`.` for a bare file name).
pub fn dir_of(live: &Path) -> &Path {
    match live.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// What a file beside `live` is: a segment, a partial compression, or nothing of ours.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    Segment(Segment),
    Partial(PathBuf),
}

/// Every file of ours beside `live`, segments oldest first. A segment present
/// both plain and compressed (a crash between the compression's rename and the
/// removal of the plain file) is listed once, compressed: that copy is complete.
pub fn scan(live: &Path) -> io::Result<(Vec<Segment>, Vec<PathBuf>)> {
    let prefix = match live.file_name().and_then(|n| n.to_str()) {
        Some(name) => format!("{name}."),
        None => return Ok((Vec::new(), Vec::new())),
    };
    let entries = match std::fs::read_dir(dir_of(live)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(e),
    };
    let (mut segments, mut partials) = (Vec::<Segment>::new(), Vec::new());
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let path = live.with_file_name(&name);
        match parse(rest, path) {
            Some(Found::Segment(s)) => segments.push(s),
            Some(Found::Partial(p)) => partials.push(p),
            None => {}
        }
    }
    // Compressed before plain for the same seqs, so the plain twin is the one dropped.
    segments.sort_by_key(|s| (s.first, s.last, !s.compressed));
    segments.dedup_by_key(|s| (s.first, s.last));
    Ok((segments, partials))
}

/// Segments beside `live`, oldest first.
pub fn list(live: &Path) -> io::Result<Vec<Segment>> {
    scan(live).map(|(segments, _)| segments)
}

/// Reads `<first>-<last>[.gz|.gz.partial]`.
fn parse(rest: &str, path: PathBuf) -> Option<Found> {
    let (seqs, compressed, partial) = if let Some(s) = rest.strip_suffix(PARTIAL) {
        (s, true, true)
    } else if let Some(s) = rest.strip_suffix(GZ) {
        (s, true, false)
    } else {
        (rest, false, false)
    };
    let (first, last) = seqs.split_once('-')?;
    let number = |s: &str| match s.len() == WIDTH && s.bytes().all(|b| b.is_ascii_digit()) {
        true => s.parse::<u64>().ok(),
        false => None,
    };
    let (first, last) = (number(first)?, number(last)?);
    Some(match partial {
        true => Found::Partial(path),
        false => Found::Segment(Segment {
            first,
            last,
            path,
            compressed,
        }),
    })
}

impl Segment {
    /// Its lines, decompressed while read. A plain segment compressed since it
    /// was listed is read from its compressed copy.
    pub fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        let gz = |file| -> Box<dyn Read + Send> {
            Box::new(MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file)))
        };
        if self.compressed {
            return File::open(&self.path).map(gz);
        }
        match File::open(&self.path) {
            Ok(file) => Ok(Box::new(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                File::open(with_suffix(&self.path, GZ)).map(gz)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_seq_order_and_read_back() {
        let live = Path::new("/var/lib/autoheal/journal.jsonl");
        let a = plain_path(live, 1, 52_341);
        let b = plain_path(live, 52_342, 1_000_000);
        assert_eq!(
            a.file_name().unwrap(),
            "journal.jsonl.00000000000000000001-00000000000000052341"
        );
        assert!(a < b);
        let rest = |p: &Path| {
            p.file_name().unwrap().to_str().unwrap()["journal.jsonl.".len()..].to_string()
        };
        assert_eq!(
            parse(&format!("{}{GZ}", rest(&b)), b.clone()),
            Some(Found::Segment(Segment {
                first: 52_342,
                last: 1_000_000,
                path: b.clone(),
                compressed: true
            }))
        );
        assert_eq!(
            parse(&format!("{}{PARTIAL}", rest(&b)), b.clone()),
            Some(Found::Partial(b.clone()))
        );
        for other in ["1-2", "bak", "00000000000000000001-x", ""] {
            assert_eq!(parse(other, b.clone()), None, "{other}");
        }
    }
}
