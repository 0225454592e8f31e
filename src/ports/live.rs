//! Live delivery: telling streams what happened, on this instance or on every instance.

use async_trait::async_trait;

use crate::domain::DomainEvent;

/// Tells live streams about changes that have committed.
///
/// Best effort by design: the change is stored whatever happens here, so a failure is logged
/// by the adapter and never becomes the caller's error. Streams make up for lost events from
/// storage when the adapter reports that events may have been missed (see
/// [`EventHub::deliver_missed`](crate::system::EventHub::deliver_missed)).
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, events: &[DomainEvent]);
}
