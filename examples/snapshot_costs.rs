//! What a snapshot costs on a given journal: the full replay it saves, the
//! pause of the engine loop (a clone of the state), and writing and reading
//! it back (both off the loop). The snapshot goes to a temporary directory,
//! never beside the journal. For `benches/start_1m.sh`.
//!
//! Usage: `cargo run --release --example snapshot_costs -- JOURNAL`

use std::time::Instant;

use autoheal::journal::{self, snapshot};
use autoheal::state::State;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: snapshot_costs JOURNAL");
        std::process::exit(2);
    };
    let path = std::path::PathBuf::from(path);
    let t = Instant::now();
    let mut state = State::default();
    journal::replay(&path, |e| state.apply(&e)).expect("read journal");
    let replay = t.elapsed();

    let t = Instant::now();
    let copy = state.clone();
    let clone = t.elapsed();

    let dir = tempfile::tempdir().expect("temp dir");
    let fake = dir.path().join("journal.jsonl");
    let t = Instant::now();
    snapshot::write(&fake, &copy, None).expect("write snapshot");
    let write = t.elapsed();
    let size = std::fs::metadata(snapshot::path_for(&fake)).map_or(0, |m| m.len());

    let t = Instant::now();
    let read = snapshot::read(&fake).expect("a valid snapshot");
    let load = t.elapsed();
    assert!(read.is_some_and(|s| s.state == state));
    println!(
        "full replay {replay:.2?}; loop pause (state clone) {clone:.2?}; \
         snapshot write {write:.2?}, read+check {load:.2?}, {:.1} MiB",
        size as f64 / f64::from(1 << 20)
    );
}
