//! What happened, told to whoever watches: the use cases publish these after their change has
//! committed, and live streams deliver them. Small on purpose (ids, not rows): a receiver on
//! another instance reads the rows it needs from storage.

use super::{MessageId, UserId};

/// A change to a message, with the two users it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageEvent {
    Created {
        id: MessageId,
        sender_id: UserId,
        recipient_id: UserId,
    },
    /// The content changed.
    Updated {
        id: MessageId,
        sender_id: UserId,
        recipient_id: UserId,
    },
    /// The recipient read it (a receipt for the sender).
    Read {
        id: MessageId,
        sender_id: UserId,
        reader_id: UserId,
    },
    Deleted {
        id: MessageId,
        sender_id: UserId,
        recipient_id: UserId,
    },
}

impl MessageEvent {
    pub fn id(&self) -> MessageId {
        match *self {
            Self::Created { id, .. }
            | Self::Updated { id, .. }
            | Self::Read { id, .. }
            | Self::Deleted { id, .. } => id,
        }
    }

    /// The users whose streams receive it: both parties, except for read receipts, which
    /// go to the sender only.
    pub fn audience(&self) -> Vec<UserId> {
        let mut users = match *self {
            Self::Created {
                sender_id,
                recipient_id,
                ..
            }
            | Self::Updated {
                sender_id,
                recipient_id,
                ..
            }
            | Self::Deleted {
                sender_id,
                recipient_id,
                ..
            } => vec![sender_id, recipient_id],
            Self::Read { sender_id, .. } => vec![sender_id],
        };
        users.dedup();
        users
    }
}

/// Everything live streams are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent {
    Message(MessageEvent),
    /// A session of the user ended, or the user was disabled, deleted or changed their
    /// password: the user's streams check their session again and close if it is gone.
    AccessChanged {
        user_id: UserId,
    },
    /// A piece of the assistant's reply to `reply_to` (the user's question), as the model
    /// writes it; the whole reply is stored and announced as a message once complete.
    AssistantDelta {
        user_id: UserId,
        reply_to: MessageId,
        text: std::sync::Arc<str>,
    },
}

impl DomainEvent {
    /// The users whose streams receive it.
    pub fn audience(&self) -> Vec<UserId> {
        match self {
            Self::Message(message) => message.audience(),
            Self::AccessChanged { user_id } | Self::AssistantDelta { user_id, .. } => {
                vec![*user_id]
            }
        }
    }
}
