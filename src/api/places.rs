//! The API's connection places: who holds one, and who gives it up when all
//! are taken. A connection with a request in flight (its response not yet
//! fully sent, which for `/api/events` means for as long as it streams) keeps
//! its place; one with nothing in flight (silent, half a request head, or idle
//! between keep-alive requests) is evictable, the longest idle first. Streams
//! are capped apart ([`super::server::Limits::max_streams`]), so a place for
//! `/health` or a command always frees up within a request's time.

use hyper::body::{Body, Frame, SizeHint};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::sync::oneshot;

/// The open connections, by id in the order they came.
#[derive(Default)]
pub struct Places {
    connections: Mutex<BTreeMap<u64, Place>>,
}

struct Place {
    /// Requests whose responses are not yet fully sent.
    in_flight: usize,
    /// When the last of them ended (or the connection came).
    idle_since: Instant,
    evict: oneshot::Sender<()>,
}

impl Places {
    /// A place for connection `id`, evicting the longest-idle connection when all
    /// `cap` are taken; None when every connection has a request in flight. The
    /// receiver fires when this connection is evicted in turn.
    pub fn admit(&self, id: u64, cap: usize) -> Option<oneshot::Receiver<()>> {
        let mut connections = self.lock();
        if connections.len() >= cap {
            let idlest = connections
                .iter()
                .filter(|(_, place)| place.in_flight == 0)
                .min_by_key(|(_, place)| place.idle_since)
                .map(|(id, _)| *id)?;
            if let Some(place) = connections.remove(&idlest) {
                let _ = place.evict.send(());
            }
        }
        let (evict, evicted) = oneshot::channel();
        let place = Place {
            in_flight: 0,
            idle_since: Instant::now(),
            evict,
        };
        connections.insert(id, place);
        Some(evicted)
    }

    /// Gives connection `id`'s place back (its task has ended).
    pub fn leave(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Marks a request of connection `id` in flight until the guard is dropped.
    pub fn begin(self: &Arc<Self>, id: u64) -> InFlight {
        if let Some(place) = self.lock().get_mut(&id) {
            place.in_flight = place.in_flight.saturating_add(1);
        }
        InFlight {
            places: self.clone(),
            id,
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Place>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// One request in flight; dropping it (with the response body, once sent or
/// abandoned) makes its connection idle again if it was the last.
pub struct InFlight {
    places: Arc<Places>,
    id: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(place) = self.places.lock().get_mut(&self.id) {
            place.in_flight = place.in_flight.saturating_sub(1);
            if place.in_flight == 0 {
                place.idle_since = Instant::now();
            }
        }
    }
}

/// A response body that keeps its request in flight for as long as it lives.
pub struct Guarded<B> {
    pub body: B,
    pub _in_flight: InFlight,
}

impl<B: Body + Unpin> Body for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_server_evicts_the_longest_idle_connection() {
        let places = Arc::new(Places::default());
        let _first = places.admit(0, 3).unwrap();
        let mut second = places.admit(1, 3).unwrap();
        let mut third = places.admit(2, 3).unwrap();
        // The first is busy; the third has been idle longer than the second,
        // which just finished a request.
        let busy = places.begin(0);
        drop(places.begin(1));
        assert!(places.admit(3, 3).is_some(), "an idle one made room");
        assert!(third.try_recv().is_ok(), "the longest idle went");
        assert!(second.try_recv().is_err());

        let _also_busy = [places.begin(1), places.begin(3)];
        assert!(places.admit(4, 3).is_none(), "every place is in flight");
        drop(busy);
        assert!(places.admit(4, 3).is_some(), "a finished request frees one");
        places.leave(4);
        assert_eq!(places.lock().keys().copied().collect::<Vec<_>>(), [1, 3]);
    }
}
