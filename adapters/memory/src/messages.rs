//! Messages and conversations.

use std::collections::HashMap;

use ai_message_core::ports::*;
use ai_message_core::{
    ConversationId, ConversationSummary, Message, MessageContent, MessageId, Page, Timestamp,
    UserId,
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

#[async_trait]
impl MessageRepository for MemoryStore {
    async fn create_message(&self, new: NewMessage) -> Result<Message, PortError> {
        let mut t = self.tables.write();
        let message = Message {
            id: t.sequences.next_message(),
            sender_id: new.sender_id,
            recipient_id: new.recipient_id,
            content: new.content,
            is_read: false,
            parent_id: new.parent_id,
            conversation_id: Some(new.conversation_id),
            created_at: new.created_at,
            updated_at: new.created_at,
        };
        t.index_message(&message);
        t.messages.insert(message.id, message.clone());
        Ok(message)
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

    async fn conversation_membership(
        &self,
        conversation: &ConversationId,
        user_id: UserId,
    ) -> Result<ConversationMembership, PortError> {
        let t = self.tables.read();
        let Some(keys) = t.messages_by_conversation.get(conversation) else {
            return Ok(ConversationMembership::New);
        };
        let takes_part = keys.iter().any(|(_, id)| {
            t.messages
                .get(id)
                .is_some_and(|m| m.sender_id == user_id || m.recipient_id == user_id)
        });
        Ok(ConversationMembership::from_flags(
            !keys.is_empty(),
            takes_part,
        ))
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
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<Message>, PortError> {
        let t = self.tables.read();
        let mut ids: Vec<MessageId> = t
            .messages_by_user
            .get(&user_id)
            .into_iter()
            .flatten()
            .map(|(_, id)| *id)
            .filter(|id| *id > after)
            .collect();
        ids.sort_unstable();
        Ok(ids
            .into_iter()
            .take(limit as usize)
            .filter_map(|id| t.messages.get(&id).cloned())
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

    async fn latest_message_id(&self, user_id: UserId) -> Result<Option<MessageId>, PortError> {
        let t = self.tables.read();
        Ok(t.messages_by_user
            .get(&user_id)
            .and_then(|keys| keys.iter().map(|(_, id)| *id).max()))
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
                last_message: message.content.clone(),
                last_message_at: message.created_at,
                unread_count: unread,
            });
        }
        Ok(summaries)
    }
}
