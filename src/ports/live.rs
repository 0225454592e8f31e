//! Live delivery: telling streams what happened, on this instance or on every instance, and
//! listening for it.

use async_trait::async_trait;

use crate::domain::{DomainEvent, UserId};

/// Tells live streams about changes that have committed.
///
/// Best effort by design: the change is stored whatever happens here, so a failure is logged
/// by the adapter and never becomes the caller's error. Streams make up for lost events from
/// storage when the adapter tells them events may have been missed
/// ([`Notice::MayHaveMissed`]).
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, events: &[DomainEvent]);
}

/// What a stream's subscription receives. An event is shared by every stream it goes to:
/// fan-out costs a reference count per stream, not a copy of the event, and a slot of a
/// stream's inbox is a pointer (the inbox of an idle stream was 2.5 KiB of event slots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Event(std::sync::Arc<DomainEvent>),
    /// Events may have been lost (the instance's link to the other instances dropped and came
    /// back): check the session again and catch up from storage.
    MayHaveMissed,
}

/// How many streams one user may have open on this instance, and how many notices each
/// stream's subscription holds before the stream counts as fallen behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    pub max_per_user: usize,
    pub inbox_capacity: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            max_per_user: 10,
            inbox_capacity: 256,
        }
    }
}

/// Why a stream could not subscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error("the user has {0} streams open on this instance already")]
    TooManyStreams(usize),
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// Whose stream subscribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscriber {
    pub user_id: UserId,
    /// Superusers also receive the events meant for every superuser
    /// ([`DomainEvent::for_superusers`]).
    pub is_superuser: bool,
}

/// The events that reach this instance, routed to the streams of the users they concern.
pub trait EventSubscriptions: Send + Sync {
    /// Starts receiving, in publication order, every event whose audience includes the
    /// subscriber (or that is for superusers, when the subscriber is one), unless the user
    /// already has `limits.max_per_user` subscriptions here or the instance is shutting down. A subscription that holds `limits.inbox_capacity` notices untaken
    /// is dropped (it ends after what it holds): memory stays bounded however slowly a
    /// client reads, and the client resumes from its cursor.
    fn subscribe(
        &self,
        subscriber: Subscriber,
        limits: StreamLimits,
    ) -> Result<Box<dyn Subscription>, SubscribeError>;

    /// Subscriptions open on this instance.
    fn open_subscriptions(&self) -> usize;

    /// Ends every subscription (each ends after what it holds) and refuses new ones.
    fn close_all(&self);
}

/// One stream's subscription. Dropping it frees its place under the per-user limit.
#[async_trait]
pub trait Subscription: Send + Sync {
    /// The next notice; `None` once the subscription was dropped (it fell behind, or the
    /// instance is shutting down) and everything delivered before was taken.
    async fn next(&mut self) -> Option<Notice>;
}
