//! Direct messages: send and reply, read, edit, mark read, delete, and the lists.

use std::sync::Arc;

use super::auth::{AuthenticateError, admit};
use super::{AccessClaim, Caller, Ports};
use crate::domain::{
    ConversationId, DomainEvent, Message, MessageContent, MessageEvent, MessageId, Page, UserId,
};
use crate::ports::{
    Clock, ConversationMembership, EventPublisher, MessageRepository, MessageScope, NewMessage,
    PortError, SessionReads,
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
    session_reads: Arc<dyn SessionReads>,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
}

impl Messages {
    pub fn new(ports: &Ports) -> Self {
        Self {
            messages: ports.messages.clone(),
            session_reads: ports.session_reads.clone(),
            events: ports.events.clone(),
            clock: ports.clock.clone(),
        }
    }

    /// Tells the message's parties (after the change committed).
    async fn tell(&self, event: MessageEvent) {
        self.events.publish(&[DomainEvent::Message(event)]).await;
    }

    /// Sends a message (to oneself too). The recipient must exist; a parent must be visible.
    /// The claim's session is checked in the same storage trip as the recipient.
    pub async fn send(
        &self,
        claim: &AccessClaim,
        outgoing: Outgoing,
    ) -> Result<Message, SendError> {
        let found = self
            .session_reads
            .user_with_session(claim.session_id, outgoing.recipient_id)
            .await?;
        let caller = admit(found.session, *claim, self.clock.now())?;
        if found.read.is_none() {
            return Err(SendError::RecipientNotFound);
        }
        let sender_id = caller.user.id;
        let mut parent_conversation = None;
        if let Some(parent_id) = outgoing.parent_id {
            let parent = self
                .messages
                .get_message(parent_id)
                .await?
                .filter(|parent| parent.is_visible_to(sender_id))
                .ok_or(SendError::ParentNotFound)?;
            parent_conversation = parent.conversation_id;
        }
        if let Some(named) = &outgoing.conversation_id {
            self.check_participation(named, sender_id).await?;
        }
        let conversation_id = outgoing
            .conversation_id
            .or(parent_conversation)
            .unwrap_or_else(|| ConversationId::between(sender_id, outgoing.recipient_id));
        let new_message = NewMessage {
            sender_id,
            recipient_id: outgoing.recipient_id,
            content: outgoing.content,
            parent_id: outgoing.parent_id,
            conversation_id,
            created_at: self.clock.now(),
        };
        let message = self.messages.create_message(new_message).await?;
        self.tell(MessageEvent::Created {
            id: message.id,
            sender_id: message.sender_id,
            recipient_id: message.recipient_id,
        })
        .await;
        Ok(message)
    }

    /// A conversation id named by a sender must be new or already theirs: nobody may slip a
    /// message into the thread of two other users.
    async fn check_participation(
        &self,
        conversation: &ConversationId,
        sender_id: UserId,
    ) -> Result<(), SendError> {
        match self
            .messages
            .conversation_membership(conversation, sender_id)
            .await?
        {
            ConversationMembership::New | ConversationMembership::Participant => Ok(()),
            ConversationMembership::Outsider => Err(SendError::NotAParticipant),
        }
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
        let found = self
            .session_reads
            .messages_with_session(claim.session_id, claim.user_id, scope, page)
            .await?;
        admit(found.session, *claim, self.clock.now())?;
        Ok(found.read)
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
