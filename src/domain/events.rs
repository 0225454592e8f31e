//! What happened, told to whoever watches: the use cases publish these after their change has
//! committed, and live streams deliver them. Across instances they travel as ids (a
//! receiver there reads the rows it needs from storage); in process a new message travels
//! with its row.

use std::sync::Arc;

use super::{Delivered, Message, MessageId, Position, ReportId, ReportView, UserId};

/// A change to a message, with the two users it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageEvent {
    Created {
        id: MessageId,
        sender_id: UserId,
        recipient_id: UserId,
        /// The message's place in each party's delivery sequence (`None` for the assistant,
        /// or when an older instance did not say).
        sender_position: Option<Position>,
        recipient_position: Option<Position>,
        /// The stored row, while the event stays in this process.
        message: Option<Arc<Message>>,
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
    /// A new message, with its row and positions.
    pub fn created(delivered: &Delivered) -> Self {
        let message = &delivered.message;
        Self::Created {
            id: message.id,
            sender_id: message.sender_id,
            recipient_id: message.recipient_id,
            sender_position: delivered.sender_position,
            recipient_position: delivered.recipient_position,
            message: Some(message.clone()),
        }
    }

    /// Where a new message stands for `user_id`, when the event says.
    pub fn position_for(&self, user_id: UserId) -> Option<Position> {
        match *self {
            Self::Created {
                sender_id,
                recipient_id,
                sender_position,
                recipient_position,
                ..
            } => {
                if recipient_id == user_id {
                    recipient_position
                } else if sender_id == user_id {
                    sender_position
                } else {
                    None
                }
            }
            _ => None,
        }
    }

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

/// A change to a facility report. Its reporter's streams hear of it; superusers' streams
/// hear of new reports too (they manage them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportEvent {
    Created {
        id: ReportId,
        reporter_id: UserId,
        /// The stored report, while the event stays in this process.
        report: Option<Arc<ReportView>>,
    },
    /// Edited by its reporter, or answered by a superuser (comment, status).
    Updated {
        id: ReportId,
        reporter_id: UserId,
        report: Option<Arc<ReportView>>,
    },
}

impl ReportEvent {
    pub fn created(report: &ReportView) -> Self {
        Self::Created {
            id: report.report.id,
            reporter_id: report.report.reporter_id,
            report: Some(Arc::new(report.clone())),
        }
    }

    pub fn updated(report: &ReportView) -> Self {
        Self::Updated {
            id: report.report.id,
            reporter_id: report.report.reporter_id,
            report: Some(Arc::new(report.clone())),
        }
    }

    pub fn id(&self) -> ReportId {
        match *self {
            Self::Created { id, .. } | Self::Updated { id, .. } => id,
        }
    }

    pub fn reporter_id(&self) -> UserId {
        match *self {
            Self::Created { reporter_id, .. } | Self::Updated { reporter_id, .. } => reporter_id,
        }
    }

    /// The report as it was stored, when the event carries it.
    pub fn report(&self) -> Option<&Arc<ReportView>> {
        match self {
            Self::Created { report, .. } | Self::Updated { report, .. } => report.as_ref(),
        }
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
    Report(ReportEvent),
}

impl DomainEvent {
    /// The users whose streams receive it (besides superusers', see
    /// [`DomainEvent::for_superusers`]).
    pub fn audience(&self) -> Vec<UserId> {
        match self {
            Self::Message(message) => message.audience(),
            Self::AccessChanged { user_id } | Self::AssistantDelta { user_id, .. } => {
                vec![*user_id]
            }
            Self::Report(report) => vec![report.reporter_id()],
        }
    }

    /// Whether every superuser's streams receive it too: new reports, which they manage.
    pub fn for_superusers(&self) -> bool {
        matches!(self, Self::Report(ReportEvent::Created { .. }))
    }
}
