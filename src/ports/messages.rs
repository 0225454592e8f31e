//! Storage of messages: one repository trait, its inputs and outcomes.

use async_trait::async_trait;

use super::PortError;
use crate::domain::{
    ChannelMessageId, ConversationId, ConversationSummary, Delivered, Gated, Message,
    MessageContent, MessageId, Page, Position, PositionedMessage, SessionGate, Timestamp, UserId,
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

impl NewMessage {
    /// The row as stored under `id`: unread, `updated_at` its creation time.
    pub fn stored_as(self, id: MessageId) -> Message {
        Message {
            id,
            sender_id: self.sender_id,
            recipient_id: self.recipient_id,
            content: self.content,
            is_read: false,
            parent_id: self.parent_id,
            conversation_id: Some(self.conversation_id),
            created_at: self.created_at,
            updated_at: self.created_at,
        }
    }
}

/// A message a user sends: checked and stored by one storage job
/// ([`MessageRepository::send_message`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendJob {
    /// The sender's claim, checked in the job's transaction.
    pub gate: SessionGate,
    pub recipient_id: UserId,
    pub content: MessageContent,
    /// Makes the message a reply; the parent must be visible to the sender.
    pub parent_id: Option<MessageId>,
    /// The conversation the sender names, if any.
    pub conversation_id: Option<ConversationId>,
    pub created_at: Timestamp,
}

impl SendJob {
    /// The row to insert once the job's checks passed.
    pub fn into_message(self, sender_id: UserId, conversation_id: ConversationId) -> NewMessage {
        NewMessage {
            sender_id,
            recipient_id: self.recipient_id,
            content: self.content,
            parent_id: self.parent_id,
            conversation_id,
            created_at: self.created_at,
        }
    }
}

/// What a send did, once its session admitted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Sent(Delivered),
    /// The recipient is neither a user nor the assistant.
    RecipientNotFound,
    /// The parent does not exist or is not the sender's.
    ParentNotFound,
    /// The conversation belongs to other users ([`crate::domain::conversation_access`]).
    NotAParticipant,
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
    /// In one transaction: checks the job's session ([`SessionGate::check`]), that the
    /// recipient is a user (active or not) or the assistant, that a parent is visible to the
    /// sender, and that the message may join its conversation
    /// ([`crate::domain::conversation_of`], [`crate::domain::conversation_access`], binding an
    /// unused id to the pair atomically: of two sends racing to bind one id to different
    /// pairs, one is `NotAParticipant`); then inserts the message as
    /// [`Self::create_message`] does. Nothing is written unless the outcome is `Sent`.
    async fn send_message(&self, job: SendJob) -> Result<Gated<SendOutcome>, PortError>;

    /// Inserts an unread message as given, without checks (what the server itself writes:
    /// the assistant's replies). In the same transaction it takes the next delivery position
    /// of each party but the assistant (a note to self takes one): positions of one user are
    /// 1, 2, 3… with no gap or repeat, in commit order, and never reused, even after
    /// deletes.
    async fn create_message(&self, new: NewMessage) -> Result<Delivered, PortError>;

    /// [`Self::create_message`], unless a message was already received under `receipt` (a
    /// channel's own id of an incoming message): `None` then, and nothing is written. The
    /// receipt is remembered in the same transaction as the insert, so a delivery the
    /// channel retries is stored once, whichever instance it reaches.
    async fn create_message_once(
        &self,
        receipt: &ChannelMessageId,
        new: NewMessage,
    ) -> Result<Option<Delivered>, PortError>;

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

    /// The user's messages (sent or received, still stored) whose position for the user is
    /// above `after`, ascending by position, at most `limit`: what a live stream missed.
    async fn messages_after(
        &self,
        user_id: UserId,
        after: Position,
        limit: u32,
    ) -> Result<Vec<PositionedMessage>, PortError>;

    /// How many of the user's stored messages have a position above `after`, counting up to
    /// `limit` at most (whether a replay is short enough to make).
    async fn count_messages_after(
        &self,
        user_id: UserId,
        after: Position,
        limit: u32,
    ) -> Result<u32, PortError>;

    /// The user's last position handed out (0 before their first message).
    async fn latest_position(&self, user_id: UserId) -> Result<Position, PortError>;

    /// The newest `limit` messages between users `a` and `b` (either way) with an id above
    /// `after`, returned oldest first (ties by id).
    async fn messages_between(
        &self,
        a: UserId,
        b: UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<Message>, PortError>;

    /// Questions to the assistant that are still the newest message between their sender and
    /// the assistant (no reply came: the process died while the model thought), among the
    /// newest `scan` questions asked before `asked_before`; oldest first.
    async fn unanswered_questions(
        &self,
        asked_before: Timestamp,
        scan: u32,
    ) -> Result<Vec<Message>, PortError>;

    /// Stores `reply` as [`Self::create_message`] does, but only while `question` is still
    /// the newest message between its sender and the assistant, checked in the insert's
    /// transaction (two instances answering one forgotten question store one reply).
    /// `None` when something came after it.
    async fn reply_if_unanswered(
        &self,
        question: &Message,
        reply: NewMessage,
    ) -> Result<Option<Delivered>, PortError>;

    /// Stores `reply` as [`Self::create_message`] does, but only while the message
    /// `question` is still stored, checked in the insert's transaction (a delete of the
    /// question waits for the reply's commit, or the reply sees the question gone): a
    /// question deleted while the model thought gets no reply. `None` when it is gone.
    async fn reply_if_question_stored(
        &self,
        question: MessageId,
        reply: NewMessage,
    ) -> Result<Option<Delivered>, PortError>;

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
    /// by descending message id). The last message is the newest by (`created_at`, id), and
    /// a summary holds its preview ([`ConversationSummary::preview_of`]).
    async fn conversation_summaries(
        &self,
        user_id: UserId,
    ) -> Result<Vec<ConversationSummary>, PortError>;
}
