//! The event bus: the supervisor publishes, streams and the journal receive.
//!
//! The supervisor loop owns the [`Bus`] and numbers every event. Each event is serialized
//! once and shared: live subscribers get it through a broadcast channel, the journal
//! through its queue. Both happen in the same synchronous call, on the runtime's only
//! thread, so a reader that subscribes and then queries the journal misses nothing: an
//! event is either queued to the journal before the query or broadcast after the
//! subscription.

use std::sync::Arc;

use steward_proto::{Event, EventBody};
use tokio::sync::broadcast;

use crate::journal::{Journal, Record, Shared};

/// Events a slow subscriber may fall behind by before it reads the rest from the journal.
const LIVE: usize = 4096;

pub struct Bus {
    next_id: u64,
    live: broadcast::Sender<Shared>,
    journal: Journal,
}

/// What the API needs to serve events: the live feed and the journal.
#[derive(Clone)]
pub struct Feed {
    pub live: broadcast::Sender<Shared>,
    pub journal: Journal,
}

impl Bus {
    pub fn new(journal: Journal, first_id: u64) -> Bus {
        let (live, _) = broadcast::channel(LIVE);
        Bus {
            next_id: first_id,
            live,
            journal,
        }
    }

    pub fn feed(&self) -> Feed {
        Feed {
            live: self.live.clone(),
            journal: self.journal.clone(),
        }
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Numbers, stamps and sends one event.
    pub fn publish(
        &mut self,
        service: Option<&str>,
        instance: Option<u32>,
        message: String,
        body: EventBody,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let at = jiff::Timestamp::now();
        let kind = body.kind();
        let event = Event {
            id,
            at: at.round(jiff::Unit::Millisecond).unwrap_or(at).to_string(),
            service: service.map(str::to_string),
            instance,
            message,
            body,
        };
        let json = match serde_json::to_string(&event) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!("cannot serialize event {id}: {e}");
                return;
            }
        };
        let record = Arc::new(Record {
            id,
            at_ms: at.as_millisecond(),
            service: service.map(Into::into),
            instance,
            kind,
            json: json.into_boxed_str(),
        });
        // No subscriber is not an error.
        let _ = self.live.send(record.clone());
        self.journal.record(record);
    }
}
