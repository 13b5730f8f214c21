//! The recent warnings and errors of this process, kept in memory so the
//! console's `L` overlay can show what otherwise only reaches the log file
//! (reconnects, refused commands, theme warnings). A [`RingLayer`] added to the
//! tracing subscriber fills it; anything logged at `warn` or `error`, from any
//! module, lands here.

use jiff::Timestamp;
use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, OnceLock};
use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// How many records the ring keeps; older ones are only in the log file.
pub const RING_LEN: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub at: Timestamp,
    /// `true` for an error, `false` for a warning.
    pub error: bool,
    /// The module that logged it, e.g. `autoheal::remote`.
    pub target: String,
    pub message: String,
}

/// A bounded, shared ring of records, oldest first.
#[derive(Debug, Clone, Default)]
pub struct LogRing(Arc<Mutex<VecDeque<LogRecord>>>);

impl LogRing {
    pub fn push(&self, record: LogRecord) {
        // A poisoned lock only means a panic elsewhere mid-push: the ring is still usable.
        let mut ring = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() >= RING_LEN {
            ring.pop_front();
        }
        ring.push_back(record);
    }

    /// The records, newest first.
    pub fn newest_first(&self) -> Vec<LogRecord> {
        let ring = self.0.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter().rev().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The process's ring: the one [`RingLayer::global`] fills and the console reads.
pub fn global() -> LogRing {
    static RING: OnceLock<LogRing> = OnceLock::new();
    RING.get_or_init(LogRing::default).clone()
}

/// A tracing layer that keeps every `warn` and `error` event in a [`LogRing`].
pub struct RingLayer(pub LogRing);

impl RingLayer {
    pub fn global() -> RingLayer {
        RingLayer(global())
    }
}

impl<S: Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        // More verbose levels compare greater: this keeps WARN and ERROR.
        if *meta.level() > Level::WARN {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        self.0.push(LogRecord {
            at: Timestamp::now(),
            error: *meta.level() == Level::ERROR,
            target: meta.target().to_string(),
            message: text.0,
        });
    }
}

/// The message, then any other fields as ` key=value`.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}{rest}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn warnings_and_errors_land_in_the_ring_and_nothing_quieter() {
        let ring = LogRing::default();
        let subscriber = tracing_subscriber::registry().with(RingLayer(ring.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("connected");
            tracing::warn!(attempt = 3, "daemon gone; reconnecting");
            tracing::error!("refused: {}", "token");
        });
        let got = ring.newest_first();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].error);
        assert_eq!(got[0].message, "refused: token");
        assert!(!got[1].error);
        assert_eq!(got[1].message, "daemon gone; reconnecting attempt=3");
    }

    #[test]
    fn the_ring_keeps_only_the_newest() {
        let ring = LogRing::default();
        for i in 0..RING_LEN + 5 {
            ring.push(LogRecord {
                at: Timestamp::UNIX_EPOCH,
                error: false,
                target: "t".into(),
                message: i.to_string(),
            });
        }
        assert_eq!(ring.len(), RING_LEN);
        assert_eq!(ring.newest_first()[0].message, (RING_LEN + 4).to_string());
    }
}
