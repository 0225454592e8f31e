//! The streams open on this instance, and the routing of events to them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tokio::sync::mpsc;

use ai_message_core::domain::{DomainEvent, UserId};
use ai_message_core::ports::{
    EventPublisher, EventSubscriptions, Notice, StreamLimits, SubscribeError, Subscriber,
    Subscription,
};

struct Entry {
    id: u64,
    is_superuser: bool,
    sender: mpsc::Sender<Notice>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    by_user: HashMap<UserId, Vec<Entry>>,
    closed: bool,
}

/// Routes each event to the inboxes of the users it concerns, on this instance.
///
/// Every inbox is bounded: a stream that does not keep up is dropped from the hub (its inbox
/// ends after what it holds), so memory stays bounded however slow a client reads, and the
/// client resumes from its cursor.
#[derive(Default)]
pub struct EventHub {
    /// Shared with each inbox's registration, which takes the inbox out when dropped.
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // No code panics while holding the lock; a poisoned lock still holds consistent maps.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EventHub {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Opens an inbox for one stream of the subscriber, unless the user has as many open as
    /// the limits allow.
    pub fn register(
        &self,
        subscriber: Subscriber,
        limits: StreamLimits,
    ) -> Result<Inbox, SubscribeError> {
        let user_id = subscriber.user_id;
        let (sender, receiver) = mpsc::channel(limits.inbox_capacity.max(1));
        let mut state = self.state();
        if state.closed {
            return Err(SubscribeError::ShuttingDown);
        }
        state.next_id += 1;
        let id = state.next_id;
        let streams = state.by_user.entry(user_id).or_default();
        if streams.len() >= limits.max_per_user {
            return Err(SubscribeError::TooManyStreams(streams.len()));
        }
        streams.push(Entry {
            id,
            is_superuser: subscriber.is_superuser,
            sender,
        });
        Ok(Inbox {
            receiver,
            registration: Registration {
                state: Arc::clone(&self.state),
                user_id,
                id,
            },
        })
    }

    /// Delivers an event to the streams of the users it concerns (and of every superuser,
    /// when it is for them).
    pub fn deliver(&self, event: &DomainEvent) {
        let shared = Arc::new(event.clone());
        let mut state = self.state();
        let audience = event.audience();
        for user_id in &audience {
            if let Some(streams) = state.by_user.get_mut(user_id) {
                streams
                    .retain(|entry| entry.sender.try_send(Notice::Event(shared.clone())).is_ok());
            }
        }
        if event.for_superusers() {
            for (user_id, streams) in state.by_user.iter_mut() {
                if audience.contains(user_id) {
                    continue;
                }
                streams.retain(|entry| {
                    !entry.is_superuser
                        || entry.sender.try_send(Notice::Event(shared.clone())).is_ok()
                });
            }
        }
        state.by_user.retain(|_, streams| !streams.is_empty());
    }

    /// Tells every stream that events may have been lost.
    pub fn deliver_missed(&self) {
        let mut state = self.state();
        for streams in state.by_user.values_mut() {
            streams.retain(|entry| entry.sender.try_send(Notice::MayHaveMissed).is_ok());
        }
        state.by_user.retain(|_, streams| !streams.is_empty());
    }

    /// Ends every stream (their inboxes end after what they hold) and refuses new ones: the
    /// server is shutting down.
    pub fn close_all(&self) {
        let mut state = self.state();
        state.closed = true;
        state.by_user.clear();
    }

    /// Streams open on this instance.
    pub fn open_streams(&self) -> usize {
        self.state().by_user.values().map(Vec::len).sum()
    }
}

/// One stream's share of the hub: what was delivered to it, in order. Dropping it frees the
/// stream's place.
pub struct Inbox {
    receiver: mpsc::Receiver<Notice>,
    registration: Registration,
}

impl Inbox {
    /// The next notice; `None` once the hub dropped the stream (it fell behind, or the server
    /// is shutting down) and everything delivered before was taken.
    pub async fn recv(&mut self) -> Option<Notice> {
        self.receiver.recv().await
    }

    /// A notice already delivered, without waiting.
    pub fn try_recv(&mut self) -> Option<Notice> {
        self.receiver.try_recv().ok()
    }

    pub fn user_id(&self) -> UserId {
        self.registration.user_id
    }
}

struct Registration {
    state: Arc<Mutex<State>>,
    user_id: UserId,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        if let Some(streams) = state.by_user.get_mut(&self.user_id) {
            streams.retain(|entry| entry.id != self.id);
            if streams.is_empty() {
                state.by_user.remove(&self.user_id);
            }
        }
    }
}

/// Publishes into this instance's hub: the fan-out of a single instance (memory, SQLite).
pub struct LocalEvents(pub Arc<EventHub>);

#[async_trait]
impl EventPublisher for LocalEvents {
    async fn publish(&self, events: &[DomainEvent]) {
        for event in events {
            self.0.deliver(event);
        }
    }
}

impl EventSubscriptions for EventHub {
    fn subscribe(
        &self,
        subscriber: Subscriber,
        limits: StreamLimits,
    ) -> Result<Box<dyn Subscription>, SubscribeError> {
        Ok(Box::new(self.register(subscriber, limits)?))
    }

    fn open_subscriptions(&self) -> usize {
        self.open_streams()
    }

    fn close_all(&self) {
        EventHub::close_all(self);
    }
}

#[async_trait]
impl Subscription for Inbox {
    async fn next(&mut self) -> Option<Notice> {
        self.recv().await
    }
}

#[cfg(test)]
mod tests;
