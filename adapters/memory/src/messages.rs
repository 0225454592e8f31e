//! Messages and conversations.

use std::collections::HashMap;

use ai_message_core::ports::*;
use ai_message_core::{
    ChannelMessageId, ConversationAccess, ConversationId, ConversationSummary, Delivered, Gated,
    Message, MessageContent, MessageId, Page, Pair, Position, PositionedMessage, Timestamp, UserId,
    conversation_access, conversation_of,
};
use async_trait::async_trait;

use crate::MemoryStore;
use crate::tables::paged;
use crate::tables::{MessageKey, Tables};

impl Tables {
    /// Keys of the messages a scope draws from, newest first, with the filter it needs.
    fn scoped_messages<'a>(
        &'a self,
        user_id: UserId,
        scope: &'a MessageScope,
    ) -> impl Iterator<Item = &'a Message> + 'a {
        let keys = match scope {
            MessageScope::Conversation(cid) => self.messages_by_conversation.get(cid),
            _ => self.messages_by_user.get(&user_id),
        };
        keys.into_iter()
            .flat_map(|keys| keys.iter().rev())
            .filter_map(|(_, id): &MessageKey| self.messages.get(id))
            .filter(move |m| match scope {
                MessageScope::SentOrReceived => m.is_visible_to(user_id),
                MessageScope::Sent => m.sender_id == user_id,
                MessageScope::Received => m.recipient_id == user_id,
                MessageScope::UnreadReceived => m.recipient_id == user_id && !m.is_read,
                MessageScope::Conversation(_) => m.is_visible_to(user_id),
            })
    }
}

impl Tables {
    /// Inserts a message and gives it its parties' next positions.
    fn insert_message(&mut self, new: NewMessage) -> Delivered {
        let t = self;
        let message = new.stored_as(t.sequences.next_message());
        t.index_message(&message);
        let sender_position = t.take_position(message.sender_id);
        let recipient_position = if message.recipient_id == message.sender_id {
            sender_position
        } else {
            t.take_position(message.recipient_id)
        };
        for (user_id, position) in [
            (message.sender_id, sender_position),
            (message.recipient_id, recipient_position),
        ] {
            if let Some(position) = position {
                t.deliveries
                    .entry(user_id)
                    .or_default()
                    .insert(position, message.id);
            }
        }
        t.messages.insert(message.id, message.clone());
        Delivered {
            message: std::sync::Arc::new(message),
            sender_position,
            recipient_position,
        }
    }

    /// The checks of a send, then the insert (see [`MessageRepository::send_message`]).
    fn send(&mut self, sender_id: UserId, job: SendJob) -> SendOutcome {
        let recipient_id = job.recipient_id;
        if !recipient_id.is_assistant() && !self.users.contains_key(&recipient_id) {
            return SendOutcome::RecipientNotFound;
        }
        let mut parent_conversation = None;
        if let Some(parent_id) = job.parent_id {
            match self.messages.get(&parent_id) {
                Some(parent) if parent.is_visible_to(sender_id) => {
                    parent_conversation = parent.conversation_id.clone();
                }
                _ => return SendOutcome::ParentNotFound,
            }
        }
        let pair = Pair::of(sender_id, recipient_id);
        let conversation = conversation_of(
            job.conversation_id.as_ref(),
            parent_conversation.as_ref(),
            pair,
        );
        let bound = self.conversation_parties.get(&conversation).copied();
        match conversation_access(&conversation, pair, bound) {
            Err(_) => return SendOutcome::NotAParticipant,
            Ok(ConversationAccess::BindToPair) => {
                self.conversation_parties.insert(conversation.clone(), pair);
            }
            Ok(ConversationAccess::Theirs) => {}
        }
        SendOutcome::Sent(self.insert_message(job.into_message(sender_id, conversation)))
    }
}

#[async_trait]
impl MessageRepository for MemoryStore {
    async fn send_message(&self, job: SendJob) -> Result<Gated<SendOutcome>, PortError> {
        let mut t = self.tables.write();
        let found = t.session_with_user(job.gate.session_id());
        let checked = job.gate.check(found);
        Gated::after(checked, |admitted| {
            Ok(t.send(admitted.caller().user.id, job))
        })
    }

    async fn create_message(&self, new: NewMessage) -> Result<Delivered, PortError> {
        Ok(self.tables.write().insert_message(new))
    }

    async fn create_message_once(
        &self,
        receipt: &ChannelMessageId,
        new: NewMessage,
    ) -> Result<Option<Delivered>, PortError> {
        let mut t = self.tables.write();
        if !t.channel_receipts.insert(receipt.clone()) {
            return Ok(None);
        }
        Ok(Some(t.insert_message(new)))
    }

    async fn get_message(&self, id: MessageId) -> Result<Option<Message>, PortError> {
        Ok(self.tables.read().messages.get(&id).cloned())
    }

    async fn update_message_content(
        &self,
        id: MessageId,
        content: MessageContent,
        now: Timestamp,
    ) -> Result<Option<Message>, PortError> {
        let mut t = self.tables.write();
        let Some(message) = t.messages.get_mut(&id) else {
            return Ok(None);
        };
        message.content = content;
        message.updated_at = now;
        Ok(Some(message.clone()))
    }

    async fn mark_message_read(&self, id: MessageId, now: Timestamp) -> Result<bool, PortError> {
        let mut t = self.tables.write();
        let Some(message) = t.messages.get_mut(&id) else {
            return Ok(false);
        };
        if !message.is_read {
            message.is_read = true;
            message.updated_at = now;
        }
        Ok(true)
    }

    async fn delete_message(&self, id: MessageId) -> Result<bool, PortError> {
        let mut t = self.tables.write();
        let Some(message) = t.messages.remove(&id) else {
            return Ok(false);
        };
        t.unindex_message(&message);
        Ok(true)
    }

    async fn list_messages(
        &self,
        user_id: UserId,
        scope: MessageScope,
        page: Page,
    ) -> Result<Vec<Message>, PortError> {
        let t = self.tables.read();
        let mut newest_first: Vec<Message> = paged(t.scoped_messages(user_id, &scope), page)
            .cloned()
            .collect();
        newest_first.reverse();
        Ok(newest_first)
    }

    async fn count_unread(&self, user_id: UserId) -> Result<u64, PortError> {
        let t = self.tables.read();
        Ok(t.scoped_messages(user_id, &MessageScope::UnreadReceived)
            .count() as u64)
    }

    async fn mark_all_read(
        &self,
        user_id: UserId,
        conversation: Option<ConversationId>,
        now: Timestamp,
    ) -> Result<Vec<ReadReceipt>, PortError> {
        let mut t = self.tables.write();
        let scope = match conversation {
            Some(cid) => MessageScope::Conversation(cid),
            None => MessageScope::UnreadReceived,
        };
        let mut receipts: Vec<ReadReceipt> = t
            .scoped_messages(user_id, &scope)
            .filter(|m| m.recipient_id == user_id && !m.is_read)
            .map(|m| ReadReceipt {
                id: m.id,
                sender_id: m.sender_id,
            })
            .collect();
        receipts.sort_by_key(|r| r.id);
        for receipt in &receipts {
            if let Some(message) = t.messages.get_mut(&receipt.id) {
                message.is_read = true;
                message.updated_at = now;
            }
        }
        Ok(receipts)
    }

    async fn messages_after(
        &self,
        user_id: UserId,
        after: Position,
        limit: u32,
    ) -> Result<Vec<PositionedMessage>, PortError> {
        let t = self.tables.read();
        let Some(positions) = t.deliveries.get(&user_id) else {
            return Ok(Vec::new());
        };
        Ok(positions
            .range(after.saturating_add(1)..)
            .filter_map(|(position, id)| {
                t.messages.get(id).map(|message| PositionedMessage {
                    position: *position,
                    message: message.clone(),
                })
            })
            .take(limit as usize)
            .collect())
    }

    async fn messages_between(
        &self,
        a: UserId,
        b: UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<Message>, PortError> {
        let t = self.tables.read();
        let mut between: Vec<&Message> = t
            .messages_by_user
            .get(&a)
            .into_iter()
            .flatten()
            .filter_map(|(_, id)| t.messages.get(id))
            .filter(|m| m.id > after)
            .filter(|m| {
                (m.sender_id == a && m.recipient_id == b)
                    || (m.sender_id == b && m.recipient_id == a)
            })
            .collect();
        between.sort_by_key(|m| m.id);
        let skip = between.len().saturating_sub(limit as usize);
        Ok(between.into_iter().skip(skip).cloned().collect())
    }

    async fn unanswered_questions(
        &self,
        asked_before: Timestamp,
        scan: u32,
    ) -> Result<Vec<Message>, PortError> {
        let t = self.tables.read();
        let mut unanswered: Vec<Message> = t
            .messages
            .values()
            .rev()
            .filter(|m| m.recipient_id.is_assistant() && m.created_at < asked_before)
            .take(scan as usize)
            .filter(|m| newest_with_assistant(&t, m.sender_id) == Some(m.id))
            .cloned()
            .collect();
        unanswered.reverse();
        Ok(unanswered)
    }

    async fn reply_if_unanswered(
        &self,
        question: &Message,
        reply: NewMessage,
    ) -> Result<Option<Delivered>, PortError> {
        let mut t = self.tables.write();
        if newest_with_assistant(&t, question.sender_id) != Some(question.id) {
            return Ok(None);
        }
        Ok(Some(t.insert_message(reply)))
    }

    async fn reply_if_question_stored(
        &self,
        question: MessageId,
        reply: NewMessage,
    ) -> Result<Option<Delivered>, PortError> {
        let mut t = self.tables.write();
        if !t.messages.contains_key(&question) {
            return Ok(None);
        }
        Ok(Some(t.insert_message(reply)))
    }

    async fn assistant_clear_point(&self, user_id: UserId) -> Result<Option<MessageId>, PortError> {
        Ok(self.tables.read().assistant_clears.get(&user_id).copied())
    }

    async fn set_assistant_clear_point(
        &self,
        user_id: UserId,
        after: MessageId,
        _now: Timestamp,
    ) -> Result<(), PortError> {
        let mut t = self.tables.write();
        if t.users.contains_key(&user_id) {
            t.assistant_clears.insert(user_id, after);
        }
        Ok(())
    }

    async fn count_messages_after(
        &self,
        user_id: UserId,
        after: Position,
        limit: u32,
    ) -> Result<u32, PortError> {
        let t = self.tables.read();
        Ok(t.deliveries.get(&user_id).map_or(0, |positions| {
            positions
                .range(after.saturating_add(1)..)
                .take(limit as usize)
                .count() as u32
        }))
    }

    async fn latest_position(&self, user_id: UserId) -> Result<Position, PortError> {
        Ok(self
            .tables
            .read()
            .last_position
            .get(&user_id)
            .copied()
            .unwrap_or(0))
    }

    async fn conversation_summaries(
        &self,
        user_id: UserId,
    ) -> Result<Vec<ConversationSummary>, PortError> {
        let t = self.tables.read();
        let mut summaries: Vec<ConversationSummary> = Vec::new();
        let mut position: HashMap<&ConversationId, usize> = HashMap::new();
        // Newest first: the first message met in a conversation is its last one.
        for message in t.scoped_messages(user_id, &MessageScope::SentOrReceived) {
            let Some(cid) = message.conversation_id.as_ref() else {
                continue;
            };
            let unread = u64::from(message.recipient_id == user_id && !message.is_read);
            if let Some(&index) = position.get(cid) {
                summaries[index].unread_count += unread;
                continue;
            }
            let other_user_id = if message.sender_id == user_id {
                message.recipient_id
            } else {
                message.sender_id
            };
            position.insert(cid, summaries.len());
            summaries.push(ConversationSummary {
                conversation_id: cid.clone(),
                other_user_id,
                other_user_name: t.users.get(&other_user_id).map(|u| u.username.clone()),
                last_message: MessageContent::from_storage(
                    ConversationSummary::preview_of(message.content.as_str()).to_owned(),
                ),
                last_message_at: message.created_at,
                unread_count: unread,
            });
        }
        Ok(summaries)
    }
}

/// The newest message between a user and the assistant, either way (from the user's index).
fn newest_with_assistant(t: &Tables, user: UserId) -> Option<MessageId> {
    t.messages_by_user
        .get(&user)
        .into_iter()
        .flatten()
        .filter_map(|(_, id)| t.messages.get(id))
        .filter(|m| m.sender_id.is_assistant() || m.recipient_id.is_assistant())
        .map(|m| m.id)
        .max()
}
