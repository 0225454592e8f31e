//! Direct messages: send and reply, read, edit, mark read, delete, and the lists.

use std::sync::Arc;

use super::assistant::{AskError, AssistantChat};
use super::auth::AuthenticateError;
use super::{AccessClaim, Caller, Ports};
use crate::domain::{
    ConversationId, Delivered, DomainEvent, Message, MessageContent, MessageEvent, MessageId, Page,
    SessionGate, UserId,
};
use crate::ports::{
    Clock, EventPublisher, MessageRepository, MessageScope, PortError, SendJob, SendOutcome,
    SessionReads, SessionRepository,
};

/// A message to send, as the caller asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub recipient_id: UserId,
    pub content: MessageContent,
    /// Defaults to the parent's conversation, else to `conv_<min id>_<max id>`.
    pub conversation_id: Option<ConversationId>,
    /// Makes the message a reply; the parent must be visible to the caller.
    pub parent_id: Option<MessageId>,
}

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The claim's session does not admit it.
    #[error(transparent)]
    Authentication(#[from] AuthenticateError),
    #[error("no such recipient")]
    RecipientNotFound,
    #[error("no such parent message visible to the sender")]
    ParentNotFound,
    /// The message names a conversation that belongs to other users.
    #[error("the conversation belongs to other users")]
    NotAParticipant,
    /// A message to the assistant that it cannot take now.
    #[error(transparent)]
    Assistant(AskError),
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Why a message could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum GetMessageError {
    #[error("no such message")]
    NotFound,
    #[error("the caller neither sent nor received the message")]
    NoAccess,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Why a message could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditMessageError {
    #[error("no such message")]
    NotFound,
    #[error("only the sender may edit the message")]
    NotSender,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Why a message could not be marked read.
#[derive(Debug, thiserror::Error)]
pub enum MarkReadError {
    #[error("no such message")]
    NotFound,
    #[error("only the recipient may mark the message read")]
    NotRecipient,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Why a message could not be deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteMessageError {
    #[error("no such message")]
    NotFound,
    #[error("only the sender or the recipient may delete the message")]
    NotAParty,
    #[error(transparent)]
    Port(#[from] PortError),
}

#[derive(Clone)]
pub struct Messages {
    messages: Arc<dyn MessageRepository>,
    sessions: Arc<dyn SessionRepository>,
    session_reads: Arc<dyn SessionReads>,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    assistant: AssistantChat,
}

/// Stores a message with one storage job ([`MessageRepository::send_message`]) and tells
/// the live streams; shared by every way of sending.
pub(crate) async fn send_one(
    messages: &dyn MessageRepository,
    events: &dyn EventPublisher,
    job: SendJob,
) -> Result<(Caller, Delivered), SendError> {
    let (caller, outcome) = messages
        .send_message(job)
        .await?
        .into_result()
        .map_err(AuthenticateError::from)?;
    let delivered = match outcome {
        SendOutcome::Sent(delivered) => delivered,
        SendOutcome::RecipientNotFound => return Err(SendError::RecipientNotFound),
        SendOutcome::ParentNotFound => return Err(SendError::ParentNotFound),
        SendOutcome::NotAParticipant => return Err(SendError::NotAParticipant),
    };
    events
        .publish(&[DomainEvent::Message(MessageEvent::created(&delivered))])
        .await;
    Ok((caller, delivered))
}

impl Messages {
    pub fn new(ports: &Ports, assistant: AssistantChat) -> Self {
        Self {
            messages: ports.messages.clone(),
            sessions: ports.sessions.clone(),
            session_reads: ports.session_reads.clone(),
            events: ports.events.clone(),
            clock: ports.clock.clone(),
            assistant,
        }
    }

    /// Tells the message's parties (after the change committed).
    async fn tell(&self, event: MessageEvent) {
        self.events.publish(&[DomainEvent::Message(event)]).await;
    }

    /// Sends a message (to oneself too, or to the assistant, which then replies in the
    /// background). The claim's session, the recipient, the parent and the conversation are
    /// checked and the message stored in one storage job.
    pub async fn send(
        &self,
        claim: &AccessClaim,
        outgoing: Outgoing,
    ) -> Result<Message, SendError> {
        let now = self.clock.now();
        // The assistant's place is taken before its question is stored; a caller whose
        // session has ended hears that first.
        let slot = if outgoing.recipient_id.is_assistant() {
            match self.assistant.reserve(claim.user_id()) {
                Ok(slot) => Some(slot),
                Err(refusal) => {
                    let found = self
                        .sessions
                        .get_session_with_user(claim.session_id())
                        .await?;
                    crate::domain::admit(found, *claim, now).map_err(AuthenticateError::from)?;
                    return Err(SendError::Assistant(refusal));
                }
            }
        } else {
            None
        };
        let job = SendJob {
            gate: SessionGate::new(*claim, now),
            recipient_id: outgoing.recipient_id,
            content: outgoing.content,
            parent_id: outgoing.parent_id,
            conversation_id: outgoing.conversation_id,
            created_at: now,
        };
        let (_, delivered) = send_one(self.messages.as_ref(), self.events.as_ref(), job).await?;
        let message = Message::clone(&delivered.message);
        if let Some(slot) = slot {
            self.assistant.reply_later(slot, message.clone());
        }
        Ok(message)
    }

    /// A message the caller sent or received.
    pub async fn get(&self, caller: &Caller, id: MessageId) -> Result<Message, GetMessageError> {
        let message = self
            .messages
            .get_message(id)
            .await?
            .ok_or(GetMessageError::NotFound)?;
        if !message.is_visible_to(caller.user.id) {
            return Err(GetMessageError::NoAccess);
        }
        Ok(message)
    }

    /// The sender edits the content; without new content the message is returned unchanged.
    pub async fn update(
        &self,
        caller: &Caller,
        id: MessageId,
        content: Option<MessageContent>,
    ) -> Result<Message, EditMessageError> {
        let message = self
            .messages
            .get_message(id)
            .await?
            .ok_or(EditMessageError::NotFound)?;
        if message.sender_id != caller.user.id {
            return Err(EditMessageError::NotSender);
        }
        let Some(content) = content else {
            return Ok(message);
        };
        let updated = self
            .messages
            .update_message_content(id, content, self.clock.now())
            .await?
            .ok_or(EditMessageError::NotFound)?;
        self.tell(MessageEvent::Updated {
            id,
            sender_id: updated.sender_id,
            recipient_id: updated.recipient_id,
        })
        .await;
        Ok(updated)
    }

    pub async fn mark_read(&self, caller: &Caller, id: MessageId) -> Result<(), MarkReadError> {
        let message = self
            .messages
            .get_message(id)
            .await?
            .ok_or(MarkReadError::NotFound)?;
        if message.recipient_id != caller.user.id {
            return Err(MarkReadError::NotRecipient);
        }
        if self
            .messages
            .mark_message_read(id, self.clock.now())
            .await?
        {
            self.tell(MessageEvent::Read {
                id,
                sender_id: message.sender_id,
                reader_id: message.recipient_id,
            })
            .await;
            Ok(())
        } else {
            Err(MarkReadError::NotFound)
        }
    }

    /// Sender or recipient may delete.
    pub async fn delete(&self, caller: &Caller, id: MessageId) -> Result<(), DeleteMessageError> {
        let message = self
            .messages
            .get_message(id)
            .await?
            .ok_or(DeleteMessageError::NotFound)?;
        if !message.is_visible_to(caller.user.id) {
            return Err(DeleteMessageError::NotAParty);
        }
        if self.messages.delete_message(id).await? {
            self.tell(MessageEvent::Deleted {
                id,
                sender_id: message.sender_id,
                recipient_id: message.recipient_id,
            })
            .await;
            Ok(())
        } else {
            Err(DeleteMessageError::NotFound)
        }
    }

    /// The newest page of the scope, oldest first.
    pub async fn list(
        &self,
        claim: &AccessClaim,
        scope: MessageScope,
        page: Page,
    ) -> Result<Vec<Message>, AuthenticateError> {
        let gate = SessionGate::new(*claim, self.clock.now());
        let (_, page) = self
            .session_reads
            .messages_with_session(gate, scope, page)
            .await?
            .into_result()?;
        Ok(page)
    }

    pub async fn unread_count(&self, caller: &Caller) -> Result<u64, PortError> {
        self.messages.count_unread(caller.user.id).await
    }

    /// Marks every message the caller received read; returns how many changed.
    pub async fn read_all(&self, caller: &Caller) -> Result<u64, PortError> {
        self.mark_all_read(caller, None).await
    }

    /// Marks the caller's unread received messages read (only in `conversation` when
    /// given); each sender gets one receipt per message.
    pub(crate) async fn mark_all_read(
        &self,
        caller: &Caller,
        conversation: Option<ConversationId>,
    ) -> Result<u64, PortError> {
        let receipts = self
            .messages
            .mark_all_read(caller.user.id, conversation, self.clock.now())
            .await?;
        let events: Vec<DomainEvent> = receipts
            .iter()
            .map(|receipt| {
                DomainEvent::Message(MessageEvent::Read {
                    id: receipt.id,
                    sender_id: receipt.sender_id,
                    reader_id: caller.user.id,
                })
            })
            .collect();
        if !events.is_empty() {
            self.events.publish(&events).await;
        }
        Ok(receipts.len() as u64)
    }
}

#[cfg(test)]
mod tests;
