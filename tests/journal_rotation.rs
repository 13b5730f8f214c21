//! The journal rotates into gzipped segments beside its stable path, and old
//! segments go by the retention policy: on real files in temp dirs.

mod common;

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use autoheal::engine::Engine;
use autoheal::event::{Command, Event, EventKind};
use autoheal::journal::{self, Journal, Retention, Rotate, segment};

const DAY: Duration = Duration::from_secs(86_400);

fn event(seq: u64) -> Event {
    Event {
        seq,
        ts: jiff::Timestamp::from_millisecond(1_700_000_000_000 + seq as i64).unwrap(),
        kind: EventKind::AutomationPaused { by: "test".into() },
    }
}

/// Rotates after about `lines` events of [`event`].
fn every(lines: u64) -> Rotate {
    let line = serde_json::to_vec(&event(1)).unwrap().len() as u64 + 1;
    Rotate {
        max_size: line * lines,
        max_age: DAY,
    }
}

fn seqs(path: &Path) -> Vec<u64> {
    let mut seen = Vec::new();
    let skipped = journal::replay(path, |e| seen.push(e.seq)).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    seen
}

fn names(live: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(live.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A journal of `segments` closed segments of 10 events each and a live file.
fn rotated(dir: &Path, segments: u64) -> (PathBuf, Journal) {
    let live = dir.join("journal.jsonl");
    let mut j = Journal::open_with(&live, every(10), Retention::ALL).unwrap();
    for seq in 1..=segments * 10 + 3 {
        j.append(&event(seq), || None).unwrap();
    }
    j.settle();
    assert_eq!(
        journal::segment::list(&live).unwrap().len() as u64,
        segments
    );
    (live, j)
}

#[test]
fn concurrent_appends_while_rotating_lose_and_double_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("journal.jsonl");
    let journal = Arc::new(Mutex::new(
        Journal::open_with(&live, every(50), Retention::ALL).unwrap(),
    ));
    let next = Arc::new(Mutex::new(0u64));
    let done = Arc::new(AtomicBool::new(false));
    // A reader replays over and over while lines, rotations and compressions
    // go on: each time it sees exactly 1..=n for some n.
    let reader = {
        let (live, done) = (live.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads == 0 {
                let seen = seqs(&live);
                if let Some(i) = (0..seen.len()).find(|&i| seen[i] != i as u64 + 1) {
                    let around = &seen[i.saturating_sub(2)..(i + 3).min(seen.len())];
                    panic!(
                        "read {reads}: line {i} of {} is not seq {}: {around:?}",
                        seen.len(),
                        i + 1
                    );
                }
                reads += 1;
            }
            reads
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (journal, next) = (journal.clone(), next.clone());
            std::thread::spawn(move || {
                for _ in 0..1500 {
                    // Numbered and written under one lock, as the engine does.
                    let mut j = journal.lock().unwrap();
                    let mut seq = next.lock().unwrap();
                    *seq += 1;
                    j.append(&event(*seq), || None).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    journal.lock().unwrap().settle();

    assert_eq!(seqs(&live), (1..=6000).collect::<Vec<_>>());
    let segments = segment::list(&live).unwrap();
    assert!(segments.len() >= 100, "{} segments", segments.len());
    assert!(segments.iter().all(|s| s.compressed), "{segments:?}");
    // Each name tells its first and last seq, and they chain.
    for pair in segments.windows(2) {
        assert_eq!(pair[1].first, pair[0].last + 1, "{pair:?}");
    }
    let first_in = |path: &Path| {
        let mut text = String::new();
        flate2::read::GzDecoder::new(File::open(path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let seqs: Vec<u64> = text
            .lines()
            .map(|l| serde_json::from_str::<Event>(l).unwrap().seq)
            .collect();
        (seqs[0], *seqs.last().unwrap())
    };
    for s in &segments {
        assert_eq!(first_in(&s.path), (s.first, s.last), "{}", s.path.display());
    }
}

#[test]
fn a_reader_of_the_stable_path_sees_the_new_file_after_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("journal.jsonl");
    let mut j = Journal::open_with(&live, every(10), Retention::ALL).unwrap();
    for seq in 1..=5 {
        j.append(&event(seq), || None).unwrap();
    }
    // What `tail -F` does: read the open file, and when the name points to
    // another file, finish the old one and open the name again.
    let mut follower = BufReader::new(File::open(&live).unwrap());
    let mut seen = Vec::new();
    let read_all = |r: &mut BufReader<File>, seen: &mut Vec<u64>| {
        for line in r.lines() {
            seen.push(serde_json::from_str::<Event>(&line.unwrap()).unwrap().seq);
        }
    };
    read_all(&mut follower, &mut seen);
    // One rotation (after seq 10) between two reads, as between two polls of `tail -F`.
    for seq in 6..=15 {
        j.append(&event(seq), || None).unwrap();
    }
    use std::os::unix::fs::MetadataExt;
    let inode = |f: &File| f.metadata().unwrap().ino();
    assert_ne!(
        inode(follower.get_ref()),
        fs::metadata(&live).unwrap().ino(),
        "the path names a new file"
    );
    read_all(&mut follower, &mut seen);
    let mut reopened = BufReader::new(File::open(&live).unwrap());
    read_all(&mut reopened, &mut seen);
    assert_eq!(seen, (1..=15).collect::<Vec<_>>());

    // And a line written now reaches the reopened reader.
    j.append(&event(16), || None).unwrap();
    read_all(&mut reopened, &mut seen);
    assert_eq!(seen, (1..=16).collect::<Vec<_>>());
}

#[test]
fn tail_follows_the_stable_path_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("journal.jsonl");
    let mut j = Journal::open_with(&live, every(10), Retention::ALL).unwrap();
    j.append(&event(1), || None).unwrap();
    let mut tail = std::process::Command::new("tail")
        .args(["-n", "+1", "-F", "-s", "0.05"])
        .arg(&live)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tail runs");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = tail.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if let Ok(e) = serde_json::from_str::<Event>(&line) {
                let _ = tx.send(e.seq);
            }
        }
    });
    let mut seen = Vec::new();
    let wait_for = |seq: u64, seen: &mut Vec<u64>| {
        while seen.last() != Some(&seq) {
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(s) => seen.push(s),
                Err(_) => panic!("tail -F stopped at {seen:?}, waiting for {seq}"),
            }
        }
    };
    wait_for(1, &mut seen);
    // Three rotations; tail is given time to finish each old file, as it is
    // between real events, before the next lines arrive.
    let mut seq = 1;
    for _ in 0..3 {
        for _ in 0..10 {
            seq += 1;
            j.append(&event(seq), || None).unwrap();
            if fs::metadata(&live).unwrap().len() == 0 {
                // Just rotated: tail sees the old file end and the new one begin.
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        wait_for(seq, &mut seen);
    }
    let _ = tail.kill();
    let _ = tail.wait();
    assert_eq!(seen, (1..=seq).collect::<Vec<_>>());
    assert_eq!(segment::list(&live).unwrap().len(), 3);
}

#[test]
fn retention_by_size_deletes_only_the_oldest_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (live, _j) = rotated(dir.path(), 5);
    let segments = segment::list(&live).unwrap();
    let size = |s: &segment::Segment| fs::metadata(&s.path).unwrap().len();
    let total: u64 = segments.iter().map(size).sum();
    // Room for the two newest and a little more.
    let keep = size(&segments[3]) + size(&segments[4]) + 1;
    assert!(keep < total);
    let retention = Retention {
        keep_size: Some(keep),
        keep_age: None,
    };
    let deleted = journal::retain(&live, retention, None, SystemTime::now()).unwrap();
    assert_eq!(deleted, segments[..3]);
    assert_eq!(segment::list(&live).unwrap(), segments[3..]);
    // The live file is whole; replay starts where the kept segments do.
    assert_eq!(seqs(&live), (31..=53).collect::<Vec<_>>());
}

#[test]
fn retention_by_age_keeps_the_newest_segment_and_the_live_file() {
    let dir = tempfile::tempdir().unwrap();
    let (live, _j) = rotated(dir.path(), 4);
    let segments = segment::list(&live).unwrap();
    let retention = Retention {
        keep_age: Some(30 * DAY),
        keep_size: None,
    };
    // Nothing is 30 days old yet.
    let now = SystemTime::now();
    assert_eq!(journal::retain(&live, retention, None, now).unwrap(), []);
    // The two oldest closed 40 days ago, the others 10 days ago.
    for (i, s) in segments.iter().enumerate() {
        let age = if i < 2 { 40 * DAY } else { 10 * DAY };
        let file = File::options().write(true).open(&s.path).unwrap();
        file.set_modified(now - age).unwrap();
    }
    let deleted = journal::retain(&live, retention, None, now).unwrap();
    assert_eq!(deleted, segments[..2]);
    // Sixty days on, all are old: all but the newest segment go.
    let later = now + 60 * DAY;
    let deleted = journal::retain(&live, retention, None, later).unwrap();
    assert_eq!(deleted, segments[2..3]);
    assert_eq!(segment::list(&live).unwrap(), segments[3..]);
    assert_eq!(seqs(&live), (31..=43).collect::<Vec<_>>());
}

#[test]
fn retention_never_deletes_a_segment_an_open_incident_needs() {
    let dir = tempfile::tempdir().unwrap();
    let (live, _j) = rotated(dir.path(), 5);
    let segments = segment::list(&live).unwrap();
    let everything = Retention {
        keep_age: Some(Duration::from_secs(1)),
        keep_size: Some(1),
    };
    let later = SystemTime::now() + DAY;
    // Seq 25 is in the third segment (21-30): it and all after it stay.
    let deleted = journal::retain(&live, everything, Some(25), later).unwrap();
    assert_eq!(deleted, segments[..2]);
    // Needed from the first seq of a segment keeps that segment too.
    let deleted = journal::retain(&live, everything, Some(21), later).unwrap();
    assert_eq!(deleted, []);
    assert_eq!(seqs(&live), (21..=53).collect::<Vec<_>>());
}

#[test]
fn a_crash_between_rename_and_compression_replays_and_compresses_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let (live, j) = rotated(dir.path(), 3);
    drop(j);
    let segments = segment::list(&live).unwrap();
    let text = |s: &segment::Segment| {
        let mut text = String::new();
        s.open().unwrap().read_to_string(&mut text).unwrap();
        text
    };
    // The newest segment as the crash left it: renamed, not compressed, and a
    // partial compression beside it.
    let newest = &segments[2];
    let plain = newest.path.with_extension("");
    fs::write(&plain, text(newest)).unwrap();
    fs::remove_file(&newest.path).unwrap();
    fs::write(
        segment::with_suffix(&plain, ".gz.partial"),
        b"\x1f\x8b half",
    )
    .unwrap();
    // The middle one: compressed, but the plain file not yet removed.
    let middle = &segments[1];
    fs::write(middle.path.with_extension(""), text(middle)).unwrap();
    assert_eq!(names(&live).len(), 3 + 2 + 1);
    assert_eq!(seqs(&live), (1..=33).collect::<Vec<_>>());

    let mut j = Journal::open_with(&live, every(10), Retention::ALL).unwrap();
    j.settle();
    assert_eq!(
        names(&live),
        [
            "journal.jsonl",
            "journal.jsonl.00000000000000000001-00000000000000000010.gz",
            "journal.jsonl.00000000000000000011-00000000000000000020.gz",
            "journal.jsonl.00000000000000000021-00000000000000000030.gz",
        ]
    );
    assert_eq!(seqs(&live), (1..=33).collect::<Vec<_>>());
    // And it goes on numbering after the live file's lines.
    for seq in 34..=40 {
        j.append(&event(seq), || None).unwrap();
    }
    j.settle();
    assert_eq!(seqs(&live), (1..=40).collect::<Vec<_>>());
    assert_eq!(
        names(&live)[4],
        "journal.jsonl.00000000000000000031-00000000000000000040.gz"
    );
}

#[test]
fn a_damaged_segment_costs_its_own_lines_not_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let (live, _j) = rotated(dir.path(), 3);
    let middle = &segment::list(&live).unwrap()[1];
    let mut gz = fs::read(&middle.path).unwrap();
    gz.truncate(gz.len() / 2);
    fs::write(&middle.path, gz).unwrap();
    let mut seen = Vec::new();
    let skipped = journal::replay(&live, |e| seen.push(e.seq)).unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].file, middle.path);
    assert!(seen.starts_with(&(1..=10).collect::<Vec<_>>()));
    assert!(seen.ends_with(&(21..=33).collect::<Vec<_>>()));
}

#[test]
fn a_rotation_after_an_age_starts_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("journal.jsonl");
    let hourly = Rotate {
        max_size: 1 << 30,
        max_age: Duration::from_secs(3600),
    };
    let at = |seq: u64, minutes: i64| Event {
        ts: jiff::Timestamp::from_second(1_700_000_000 + minutes * 60).unwrap(),
        ..event(seq)
    };
    let mut j = Journal::open_with(&live, hourly, Retention::ALL).unwrap();
    j.append(&at(1, 0), || None).unwrap();
    j.append(&at(2, 59), || None).unwrap();
    drop(j);
    // The live file's age counts from its first event, across a restart.
    let mut j = Journal::open_with(&live, hourly, Retention::ALL).unwrap();
    j.append(&at(3, 60), || None).unwrap();
    j.append(&at(4, 61), || None).unwrap();
    j.settle();
    let segments = segment::list(&live).unwrap();
    assert_eq!(
        segments
            .iter()
            .map(|s| (s.first, s.last))
            .collect::<Vec<_>>(),
        [(1, 3)]
    );
    assert_eq!(seqs(&live), [1, 2, 3, 4]);
}

#[test]
fn zcat_and_jq_read_the_segments_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (live, mut j) = rotated(dir.path(), 12);
    j.append(&event(124), || None).unwrap();
    // Listed by the shell's glob, in name order: the documented command.
    let out = std::process::Command::new("sh")
        .current_dir(dir.path())
        .arg("-c")
        .arg("zcat -f journal.jsonl.*.gz journal.jsonl | jq -c 'select(.kind==\"automation_paused\") | .seq'")
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<u64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(printed, (1..=124).collect::<Vec<_>>());
    assert_eq!(seqs(&live), printed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_rebuilds_the_same_state_from_segments_as_from_one_file() {
    // A real run: chaos breaks orders-db, the engine heals it.
    let mut run = common::demo(|_, _| {}).await;
    run.inject("orders-db", "DB_TIMEOUT").await;
    run.wait_for(Duration::from_secs(8), "resolution", |k| {
        matches!(k, EventKind::IncidentResolved { .. })
    })
    .await;
    let (_, whole, _dir) = run.stop().await;
    let mut events = Vec::new();
    journal::replay(&whole, |e| events.push(e)).unwrap();
    assert!(events.len() > 10);

    // The same lines, rotated every 3 events; the newest segment left plain.
    let split = tempfile::tempdir().unwrap();
    let rotated = split.path().join("journal.jsonl");
    let mut j = Journal::open_with(&rotated, every(3), Retention::ALL).unwrap();
    for e in &events {
        j.append(e, || None).unwrap();
    }
    j.settle();
    drop(j);
    // What README shows an operator: archived segments in name order, then the live file.
    let resolved = |dir: &Path, files: &str| {
        let out = std::process::Command::new("sh")
            .current_dir(dir)
            .arg("-c")
            .arg(format!(
                "zcat -f {files} | jq -c 'select(.kind==\"incident_resolved\")'"
            ))
            .output()
            .expect("sh runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let want = resolved(whole.parent().unwrap(), "journal.jsonl");
    assert!(want.contains("incident_resolved"), "{want}");
    let documented = "journal.jsonl.*.gz journal.jsonl";
    assert_eq!(resolved(split.path(), documented), want);
    let newest = segment::list(&rotated).unwrap().pop().unwrap();
    let mut text = Vec::new();
    newest.open().unwrap().read_to_end(&mut text).unwrap();
    fs::remove_file(&newest.path).unwrap();
    File::create(newest.path.with_extension(""))
        .unwrap()
        .write_all(&text)
        .unwrap();
    assert!(segment::list(&rotated).unwrap().len() >= 3);
    // Just after a rotation the newest segment is plain, and a compression
    // may be under way: the README's glob for that moment reads it once.
    fs::write(
        segment::with_suffix(&newest.path.with_extension(""), ".gz.partial"),
        b"\x1f\x8b",
    )
    .unwrap();
    assert_eq!(
        resolved(split.path(), "journal.jsonl.*[0-9z] journal.jsonl"),
        want
    );

    let state_of = |path: &Path| {
        let dir = path.parent().unwrap();
        let settings = common::settings(dir, "targets: []\n");
        let engine = Engine::new(autoheal::engine::Settings {
            journal: Some(path.to_path_buf()),
            ..settings
        })
        .unwrap();
        assert_eq!(engine.skipped_lines(), 0);
        engine.state().clone()
    };
    let from_one = state_of(&whole);
    assert!(from_one.counts.resolved >= 1, "{:?}", from_one.counts);
    assert_eq!(state_of(&rotated), from_one);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_keeps_the_segments_of_an_open_incident() {
    let dir = tempfile::tempdir().unwrap();
    let settings = common::settings(
        dir.path(),
        "targets:\n  - name: checkout\n    passive: {}\n",
    );
    let keep_little = Retention {
        keep_age: None,
        keep_size: Some(1),
    };
    let engine = Engine::new(settings)
        .unwrap()
        .journal_policy(every(4), keep_little);
    let mut rig = common::Rig::spawn(engine, dir);
    let pause = || Command::Pause { by: "test".into() };
    let resume = || Command::Resume { by: "test".into() };
    for _ in 0..10 {
        rig.send(pause()).await;
        rig.send(resume()).await;
    }
    // An incident no playbook fixes: it stays open for a human.
    rig.send(Command::Ingest {
        source: "test".into(),
        target: "checkout".into(),
        text: "UNKNOWN_FAULT".into(),
        severity: None,
        detail: "reported".into(),
        labels: Default::default(),
        firing: true,
        trace_id: None,
        started_at: None,
    })
    .await;
    let detected = rig
        .wait_for(Duration::from_secs(5), "detection", |k| {
            matches!(k, EventKind::IncidentDetected { .. })
        })
        .await;
    for _ in 0..30 {
        rig.send(pause()).await;
        rig.send(resume()).await;
    }
    let (state, live, _dir) = rig.stop().await;
    assert_eq!(state.open_count(), 1);
    // The archiver outlives the engine until its jobs are done: the oldest
    // segment left is the one the incident starts in.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let settled = || {
        let s = segment::list(&live).unwrap();
        s.iter().all(|s| s.compressed)
            && s.first()
                .is_some_and(|s| (s.first..=s.last).contains(&detected.seq))
    };
    while !settled() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let segments = segment::list(&live).unwrap();
    assert!(
        settled(),
        "incident from seq {}; segments left: {segments:?}",
        detected.seq
    );
    assert!(segments.len() >= 3, "{segments:?}");
    let kept = seqs(&live);
    assert_eq!(kept.first(), Some(&segments[0].first));
    assert_eq!(kept.last(), Some(&state.last_seq));
    let n = state.last_seq - segments[0].first + 1;
    assert_eq!(kept.len() as u64, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_since_a_seq_read_only_the_segments_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let settings = common::settings(
        dir.path(),
        "targets:\n  - name: checkout\n    passive: {}\n",
    );
    let engine = Engine::new(settings)
        .unwrap()
        .journal_policy(every(4), Retention::ALL);
    let mut rig = common::Rig::spawn(engine, dir);
    for _ in 0..20 {
        rig.send(Command::Pause { by: "test".into() }).await;
        rig.send(Command::Resume { by: "test".into() }).await;
    }
    while rig.seen_kind("automation_resumed").len() < 20 {
        rig.wait_for(Duration::from_secs(5), "resumes", |k| {
            matches!(k, EventKind::AutomationResumed { .. })
        })
        .await;
    }
    let last = rig.seen.last().unwrap().seq;
    let segments = segment::list(&rig.journal).unwrap();
    assert!(segments.len() >= 4, "{segments:?}");
    let since = segments[2].last;
    // The oldest segment now holds lines that would show if it were read: a
    // segment that ends at or before `since` is not even opened.
    let fake: String = (since + 1..=since + 3)
        .map(|seq| serde_json::to_string(&event(seq)).unwrap() + "\n")
        .collect();
    let mut gz = flate2::write::GzEncoder::new(
        File::create(segment::with_suffix(
            &segments[0].path.with_extension(""),
            ".gz",
        ))
        .unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(fake.as_bytes()).unwrap();
    gz.finish().unwrap();
    if !segments[0].compressed {
        fs::remove_file(&segments[0].path).unwrap();
    }

    let base = common::serve(rig.api()).await;
    let mut stream = reqwest::get(format!("{base}/api/events?since={since}"))
        .await
        .unwrap();
    let (mut text, mut seqs) = (String::new(), Vec::new());
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find('\n') {
                let line: Event = serde_json::from_str(&text[..end]).unwrap();
                text.drain(..=end);
                seqs.push(line.seq);
                if line.seq == last {
                    return;
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "stream stopped at {seqs:?}");
    assert_eq!(seqs, (since + 1..=last).collect::<Vec<_>>());
    rig.stop().await;
}
