//! Conversations: the caller's threads, their messages, sending into one, marking one read.

use std::sync::Arc;

use super::messages::{MessageError, Messages, Outgoing};
use super::{Caller, Ports};
use crate::domain::{ConversationId, Message, MessageContent, Page, Timestamp, UserId};
use crate::ports::{Clock, MessageRepository, MessageScope};

/// Characters of the last message shown in a conversation list.
pub const PREVIEW_CHARS: usize = 100;

/// One row of the caller's conversation list, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub conversation_id: String,
    pub other_user_id: UserId,
    /// `"Unknown"` when the other user no longer exists.
    pub other_user_name: String,
    /// The first 100 characters of the last message.
    pub last_message: String,
    pub last_message_at: Timestamp,
    pub unread_count: u64,
}

#[derive(Clone)]
pub struct Conversations {
    messages: Arc<dyn MessageRepository>,
    clock: Arc<dyn Clock>,
    sending: Messages,
}

impl Conversations {
    pub fn new(ports: &Ports) -> Self {
        Self {
            messages: ports.messages.clone(),
            clock: ports.clock.clone(),
            sending: Messages::new(ports),
        }
    }

    /// The caller's conversations, the one with the newest last message first.
    pub async fn list(&self, caller: &Caller) -> Result<Vec<Conversation>, MessageError> {
        let summaries = self.messages.conversation_summaries(caller.user.id).await?;
        Ok(summaries
            .into_iter()
            .map(|s| Conversation {
                conversation_id: s.conversation_id,
                other_user_id: s.other_user_id,
                other_user_name: s.other_user_name.unwrap_or_else(|| "Unknown".to_string()),
                last_message: s.last_message.chars().take(PREVIEW_CHARS).collect(),
                last_message_at: s.last_message_at,
                unread_count: s.unread_count,
            })
            .collect())
    }

    /// The caller's messages in the conversation: the newest page, oldest first.
    pub async fn messages(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        page: Page,
    ) -> Result<Vec<Message>, MessageError> {
        Ok(self
            .messages
            .list_messages(
                caller.user.id,
                MessageScope::Conversation(conversation_id),
                page,
            )
            .await?)
    }

    /// Sends a message into the conversation, with the checks of any send.
    pub async fn send(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
        recipient_id: UserId,
        content: MessageContent,
    ) -> Result<Message, MessageError> {
        let outgoing = Outgoing {
            recipient_id,
            content,
            conversation_id: Some(conversation_id),
            parent_id: None,
        };
        self.sending.send(caller, outgoing).await
    }

    /// Marks the caller's received messages in the conversation read.
    pub async fn mark_read(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
    ) -> Result<u64, MessageError> {
        Ok(self
            .messages
            .mark_all_read(caller.user.id, Some(conversation_id), self.clock.now())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConversationSummary;
    use crate::usecases::test_support::*;
    use mockall::predicate::eq;

    fn conversations(mocks: Mocks) -> Conversations {
        Conversations::new(&mocks.into_ports())
    }

    #[tokio::test]
    async fn list_shortens_the_preview_and_names_missing_users_unknown() {
        let mut mocks = Mocks::new();
        mocks
            .messages
            .expect_conversation_summaries()
            .with(eq(1))
            .returning(|_| {
                Ok(vec![
                    ConversationSummary {
                        conversation_id: "conv_1_2".into(),
                        other_user_id: 2,
                        other_user_name: None,
                        last_message: "é".repeat(150),
                        last_message_at: fixed_now(),
                        unread_count: 3,
                    },
                    ConversationSummary {
                        conversation_id: "conv_1_3".into(),
                        other_user_id: 3,
                        other_user_name: Some("carol".into()),
                        last_message: "short".into(),
                        last_message_at: fixed_now(),
                        unread_count: 0,
                    },
                ])
            });
        let list = conversations(mocks).list(&caller(1)).await.unwrap();
        assert_eq!(list[0].other_user_name, "Unknown");
        assert_eq!(list[0].last_message.chars().count(), 100);
        assert_eq!(list[0].unread_count, 3);
        assert_eq!(list[1].other_user_name, "carol");
        assert_eq!(list[1].last_message, "short");
    }

    #[tokio::test]
    async fn messages_lists_the_conversation_scope() {
        let mut mocks = Mocks::new();
        let cid = ConversationId::parse("conv_1_2").unwrap();
        mocks
            .messages
            .expect_list_messages()
            .with(
                eq(1),
                eq(MessageScope::Conversation(cid.clone())),
                eq(Page::default()),
            )
            .returning(|_, _, _| Ok(vec![sample_message(1, 1, 2)]));
        let list = conversations(mocks)
            .messages(&caller(1), cid, Page::default())
            .await
            .unwrap();
        assert_eq!(list.len(), 1);
    }

    #[tokio::test]
    async fn send_puts_the_message_in_the_conversation() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_get_user()
            .returning(|id| Ok(Some(sample_user(id))));
        mocks
            .messages
            .expect_conversation_membership()
            .returning(|_, _| Ok(crate::ports::ConversationMembership::New));
        mocks
            .messages
            .expect_create_message()
            .withf(|new| new.conversation_id.as_str() == "team" && new.parent_id.is_none())
            .returning(|new| {
                let mut message = sample_message(1, new.sender_id, new.recipient_id);
                message.conversation_id = Some(new.conversation_id.to_string());
                Ok(message)
            });
        let message = conversations(mocks)
            .send(
                &caller(1),
                ConversationId::parse("team").unwrap(),
                2,
                MessageContent::parse("hi").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(message.conversation_id.as_deref(), Some("team"));
    }

    #[tokio::test]
    async fn send_to_an_unknown_recipient_is_refused() {
        let mut mocks = Mocks::new();
        mocks.users.expect_get_user().returning(|_| Ok(None));
        let err = conversations(mocks)
            .send(
                &caller(1),
                ConversationId::parse("team").unwrap(),
                2,
                MessageContent::parse("hi").unwrap(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, MessageError::RecipientNotFound));
    }

    #[tokio::test]
    async fn mark_read_marks_only_that_conversation() {
        let mut mocks = Mocks::new();
        let cid = ConversationId::parse("conv_1_2").unwrap();
        mocks
            .messages
            .expect_mark_all_read()
            .with(eq(1), eq(Some(cid.clone())), eq(fixed_now()))
            .times(1)
            .returning(|_, _, _| Ok(2));
        assert_eq!(
            conversations(mocks)
                .mark_read(&caller(1), cid)
                .await
                .unwrap(),
            2
        );
    }
}
