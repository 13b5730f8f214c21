//! What keeps the fold's memory bounded however long the history: closed
//! incidents beyond the most recent [`KEEP_CLOSED`] leave memory except where
//! the journal holds them ([`Archive`]), figures keep their last
//! [`KEEP_SAMPLES`] samples ([`Samples`]), and a timeline keeps its first and
//! last events ([`TIMELINE_HEAD`], [`TIMELINE_TAIL`]). Counts stay exact.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

use crate::event::IncidentId;

/// Closed (resolved or closed by hand) incidents kept whole, the most recently closed.
pub const KEEP_CLOSED: usize = 1000;

/// Time-to-detect and time-to-resolve samples kept: percentiles are over the most recent.
pub const KEEP_SAMPLES: usize = 10_000;

/// A timeline keeps its first `TIMELINE_HEAD` events and its last
/// `TIMELINE_TAIL`, and counts those in between (an incident flapping for a month).
pub const TIMELINE_HEAD: usize = 20;
pub const TIMELINE_TAIL: usize = 100;

/// The most recent samples, oldest first; serialized as a plain list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Samples(VecDeque<u64>);

impl Samples {
    pub fn push(&mut self, sample: u64) {
        if self.0.len() >= KEEP_SAMPLES {
            self.0.pop_front();
        }
        self.0.push_back(sample);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &u64> + ExactSizeIterator {
        self.0.iter()
    }

    pub fn to_vec(&self) -> Vec<u64> {
        self.0.iter().copied().collect()
    }

    /// The last `n` samples (fewer if there are fewer), oldest first.
    pub fn last(&self, n: usize) -> Vec<u64> {
        self.0
            .iter()
            .skip(self.0.len().saturating_sub(n))
            .copied()
            .collect()
    }
}

impl<'a> IntoIterator for &'a Samples {
    type Item = &'a u64;
    type IntoIter = std::collections::vec_deque::Iter<'a, u64>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl FromIterator<u64> for Samples {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        let mut samples = Samples::default();
        for s in iter {
            samples.push(s);
        }
        samples
    }
}

/// Bucket bounds of the time-to-resolve histogram, in milliseconds.
pub const TTR_BUCKETS_MS: [u64; 10] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000,
];

/// Every sample ever, counted by bucket: exact for `/metrics` (whose
/// histogram must only grow) however many samples left [`Samples`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Samples at or under each bound of [`TTR_BUCKETS_MS`] and over the one
    /// before it; the last counts those over every bound. Not cumulative.
    pub buckets: [u64; TTR_BUCKETS_MS.len() + 1],
    pub sum_ms: u64,
}

impl Histogram {
    pub fn observe(&mut self, ms: u64) {
        let i = TTR_BUCKETS_MS.partition_point(|bound| *bound < ms);
        self.buckets[i] = self.buckets[i].saturating_add(1);
        self.sum_ms = self.sum_ms.saturating_add(ms);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().fold(0, |n, b| n.saturating_add(*b))
    }
}

/// Where the journal holds an incident that left memory: the seqs of its
/// first and last events (`replay_since(first_seq - 1)` up to `last_seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub id: IncidentId,
    pub first_seq: u64,
    pub last_seq: u64,
}

/// Incidents that left memory, sorted by id: 24 bytes each, none of their strings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Archive(Vec<Span>);

impl Archive {
    pub fn get(&self, id: IncidentId) -> Option<Span> {
        self.find(id).ok().map(|i| self.0[i])
    }

    pub fn insert(&mut self, span: Span) {
        match self.find(span.id) {
            Ok(i) => self.0[i] = span,
            Err(i) => self.0.insert(i, span),
        }
    }

    /// An event about an archived incident (a late acknowledgement, say):
    /// its span grows to hold it.
    pub fn touch(&mut self, id: IncidentId, seq: u64) -> bool {
        match self.find(id) {
            Ok(i) => {
                let span = &mut self.0[i];
                span.first_seq = span.first_seq.min(seq);
                span.last_seq = span.last_seq.max(seq);
                true
            }
            Err(_) => false,
        }
    }

    pub fn remove(&mut self, id: IncidentId) {
        if let Ok(i) = self.find(id) {
            self.0.remove(i);
        }
    }

    /// How many began after journal line `seq`.
    pub fn since(&self, seq: u64) -> usize {
        self.0.iter().filter(|s| s.first_seq > seq).count()
    }

    pub fn last_id(&self) -> Option<IncidentId> {
        self.0.last().map(|s| s.id)
    }

    pub fn first(&self) -> Option<Span> {
        self.0.first().copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, id: IncidentId) -> Result<usize, usize> {
        // Archived in closing order, which is mostly id order: the binary
        // search usually lands at the end, where inserting moves nothing.
        self.0.binary_search_by_key(&id, |s| s.id)
    }
}
