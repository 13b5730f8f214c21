//! What happens to a segment after rotation, off the writer's thread:
//! compression, then retention. One worker thread per journal does both in
//! order, so the engine never waits for either.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::SystemTime;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::policy::Retention;
use super::segment::{self, GZ, PARTIAL, Segment};

/// Work for the archiver, done in the order given.
pub enum Job {
    /// Replace this plain segment by its compressed copy.
    Compress(PathBuf),
    /// Delete what the retention allows, keeping every segment whose last
    /// seq is at or after `needed`.
    Retain {
        retention: Retention,
        needed: Option<u64>,
    },
}

/// The journal's background worker, started at its first job.
#[derive(Default)]
pub struct Archiver {
    worker: Option<(mpsc::Sender<Job>, JoinHandle<()>)>,
}

impl Archiver {
    pub fn send(&mut self, live: &Path, job: Job) {
        if let Some((tx, _)) = &self.worker {
            match tx.send(job) {
                Ok(()) => return,
                // The worker died (it never should): start another.
                Err(mpsc::SendError(job)) => return self.restart(live, job),
            }
        }
        self.restart(live, job)
    }

    fn restart(&mut self, live: &Path, job: Job) {
        let (tx, rx) = mpsc::channel::<Job>();
        let live = live.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("journal-archiver".into())
            .spawn(move || {
                for job in rx {
                    run(&live, job);
                }
            });
        match spawned {
            Ok(handle) => {
                let _ = tx.send(job);
                self.worker = Some((tx, handle));
            }
            // Without a thread, the segment stays plain; the next start compresses it.
            Err(e) => tracing::error!("cannot start the journal archiver: {e}"),
        }
    }

    /// Waits until every job sent so far is done.
    pub fn settle(&mut self) {
        if let Some((tx, handle)) = self.worker.take() {
            drop(tx);
            let _ = handle.join();
        }
    }
}

fn run(live: &Path, job: Job) {
    match job {
        Job::Compress(plain) => {
            if let Err(e) = compress(&plain) {
                tracing::error!(
                    "cannot compress journal segment {}: {e}; it stays uncompressed",
                    plain.display()
                );
            }
        }
        Job::Retain { retention, needed } => {
            if let Err(e) = retain(live, retention, needed, SystemTime::now()) {
                tracing::error!("journal retention for {}: {e}", live.display());
            }
        }
    }
}

/// Writes `plain.gz` through a partial file, so a crash leaves either the
/// plain segment or a complete compressed one (and maybe a partial file,
/// which is never read). The compressed copy keeps the plain one's mtime:
/// retention ages a segment from when it was closed.
pub fn compress(plain: &Path) -> io::Result<()> {
    let partial = segment::with_suffix(plain, PARTIAL);
    let source = File::open(plain)?;
    let closed_at = source.metadata()?.modified()?;
    let mut gz = GzEncoder::new(
        BufWriter::with_capacity(1 << 16, File::create(&partial)?),
        Compression::default(),
    );
    io::copy(&mut BufReader::with_capacity(1 << 16, source), &mut gz)?;
    let file = gz.finish()?.into_inner().map_err(|e| e.into_error())?;
    file.set_modified(closed_at)?;
    file.sync_all()?;
    fs::rename(&partial, segment::with_suffix(plain, GZ))?;
    sync_dir(plain)?;
    fs::remove_file(plain)
}

/// At open: drops partial compressions and plain twins of compressed
/// segments, and returns the plain segments still to compress.
pub fn recover(live: &Path) -> io::Result<Vec<PathBuf>> {
    let (segments, partials) = segment::scan(live)?;
    for partial in partials {
        remove(&partial)?;
    }
    let mut plain = Vec::new();
    for s in segments {
        match s.compressed {
            // A plain twin, if any, is already archived: drop it (`….gz` less `.gz`).
            true => remove(&s.path.with_extension(""))?,
            false => plain.push(s.path),
        }
    }
    Ok(plain)
}

/// Deletes the oldest segments while they are older than `keep_age` or the
/// segments together exceed `keep_size`. Stops at the first one it must keep:
/// the newest segment (its last seq is what the next start numbers after)
/// and any whose last seq is at or after `needed`. Returns what it deleted.
pub fn retain(
    live: &Path,
    retention: Retention,
    needed: Option<u64>,
    now: SystemTime,
) -> io::Result<Vec<Segment>> {
    let segments = segment::list(live)?;
    let mut sized = Vec::with_capacity(segments.len());
    for s in segments {
        match fs::metadata(&s.path) {
            Ok(meta) => sized.push((s, meta.len(), meta.modified()?)),
            // Compressed since it was listed: its compressed copy counts.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let mut total: u64 = sized.iter().map(|(_, len, _)| len).sum();
    let mut deleted = Vec::new();
    let deletable = sized.len().saturating_sub(1);
    for (s, len, closed_at) in sized.into_iter().take(deletable) {
        let too_old = retention
            .keep_age
            .is_some_and(|keep| now.duration_since(closed_at).is_ok_and(|age| age > keep));
        let too_big = retention.keep_size.is_some_and(|keep| total > keep);
        if !(too_old || too_big) || needed.is_some_and(|n| s.last >= n) {
            break;
        }
        remove(&s.path)?;
        tracing::info!("journal retention: deleted {}", s.path.display());
        total = total.saturating_sub(len);
        deleted.push(s);
    }
    Ok(deleted)
}

fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes a rename or a new file in `path`'s directory survive a crash.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(segment::dir_of(path))?.sync_all()
}
