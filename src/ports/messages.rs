//! Storage of messages: one repository trait, its inputs and outcomes.

use async_trait::async_trait;

use super::PortError;
use crate::domain::{
    ConversationId, ConversationSummary, Message, MessageContent, MessageId, Page, Timestamp,
    UserId,
};

/// A message marked read, for the receipt its sender gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadReceipt {
    pub id: MessageId,
    pub sender_id: UserId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub sender_id: UserId,
    pub recipient_id: UserId,
    pub content: MessageContent,
    pub parent_id: Option<MessageId>,
    pub conversation_id: ConversationId,
    /// Also the initial `updated_at`.
    pub created_at: Timestamp,
}

/// A user's relation to a conversation id, from the messages stored under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationMembership {
    /// No message carries this id yet.
    New,
    /// The user sent or received a message of it.
    Participant,
    /// It holds messages, none of them the user's.
    Outsider,
}

impl ConversationMembership {
    /// From "the conversation has messages" and "some of them are the user's".
    pub fn from_flags(has_messages: bool, takes_part: bool) -> Self {
        match (has_messages, takes_part) {
            (false, _) => Self::New,
            (true, true) => Self::Participant,
            (true, false) => Self::Outsider,
        }
    }
}

/// Which of a user's messages a list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageScope {
    /// Sent or received by the user.
    SentOrReceived,
    Sent,
    Received,
    /// Received by the user and not yet read.
    UnreadReceived,
    /// Sent or received by the user, in one conversation.
    Conversation(ConversationId),
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait MessageRepository: Send + Sync {
    /// Inserts an unread message.
    async fn create_message(&self, new: NewMessage) -> Result<Message, PortError>;

    /// The message with this id, if any.
    async fn get_message(&self, id: MessageId) -> Result<Option<Message>, PortError>;

    /// Replaces the content and sets `updated_at = now`. `None` when the message is gone.
    async fn update_message_content(
        &self,
        id: MessageId,
        content: MessageContent,
        now: Timestamp,
    ) -> Result<Option<Message>, PortError>;

    /// Sets `is_read` (and `updated_at = now` if it changes). `false` when the message is gone.
    async fn mark_message_read(&self, id: MessageId, now: Timestamp) -> Result<bool, PortError>;

    /// `false` when the message does not exist. Replies to it keep their `parent_id`.
    async fn delete_message(&self, id: MessageId) -> Result<bool, PortError>;

    /// The newest page of the scope (ordered newest first by `created_at`, then id, then
    /// `skip` and `limit` applied), returned in chronological order, oldest first.
    async fn list_messages(
        &self,
        user_id: UserId,
        scope: MessageScope,
        page: Page,
    ) -> Result<Vec<Message>, PortError>;

    /// Whether `user_id` sent or received a message of `conversation`, or nobody did yet.
    async fn conversation_membership(
        &self,
        conversation: &ConversationId,
        user_id: UserId,
    ) -> Result<ConversationMembership, PortError>;

    /// How many messages the user received and has not read.
    async fn count_unread(&self, user_id: UserId) -> Result<u64, PortError>;

    /// Marks read every unread message the user received (only in `conversation` when given).
    /// Returns the messages that changed, ascending by id.
    async fn mark_all_read(
        &self,
        user_id: UserId,
        conversation: Option<ConversationId>,
        now: Timestamp,
    ) -> Result<Vec<ReadReceipt>, PortError>;

    /// Messages the user sent or received with an id above `after`, ascending by id, at most
    /// `limit`: what a live stream missed while it was away.
    async fn messages_after(
        &self,
        user_id: UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<Message>, PortError>;

    /// The highest id of a message the user sent or received, if any.
    async fn latest_message_id(&self, user_id: UserId) -> Result<Option<MessageId>, PortError>;

    /// The newest `limit` messages between users `a` and `b` (either way) with an id above
    /// `after`, returned oldest first (ties by id).
    async fn messages_between(
        &self,
        a: UserId,
        b: UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<Message>, PortError>;

    /// Where the user last cleared their chat with the assistant: messages up to this id are
    /// no longer part of its history. `None` when never cleared.
    async fn assistant_clear_point(&self, user_id: UserId) -> Result<Option<MessageId>, PortError>;

    /// Moves the clear point to `after` (replacing an earlier one).
    async fn set_assistant_clear_point(
        &self,
        user_id: UserId,
        after: MessageId,
        now: Timestamp,
    ) -> Result<(), PortError>;

    /// One summary per non-null `conversation_id` the user sent or received a message in,
    /// computed in a fixed number of queries, ordered by the last message newest first (ties
    /// by descending message id). The last message is the newest by (`created_at`, id).
    async fn conversation_summaries(
        &self,
        user_id: UserId,
    ) -> Result<Vec<ConversationSummary>, PortError>;
}
