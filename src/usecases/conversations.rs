//! Conversations: the caller's threads, their messages, sending into one, marking one read.

use std::sync::Arc;

use super::auth::AuthenticateError;
use super::messages::{Messages, Outgoing, SendError};
use super::{AccessClaim, Caller, Ports};
use crate::domain::{
    ConversationId, ConversationSummary, Message, MessageContent, Page, SessionGate, UserId,
    Username,
};
use crate::ports::{Clock, MessageScope, PortError, SessionReads};

#[derive(Clone)]
pub struct Conversations {
    session_reads: Arc<dyn SessionReads>,
    clock: Arc<dyn Clock>,
    sending: Messages,
    /// How the AI assistant (user id -1, no row in `users`) is named in lists.
    assistant_name: Username,
}

impl Conversations {
    pub fn new(ports: &Ports, sending: Messages, assistant_name: &str) -> Self {
        Self {
            assistant_name: Username::from_storage(assistant_name.to_string()),
            session_reads: ports.session_reads.clone(),
            clock: ports.clock.clone(),
            sending,
        }
    }

    /// The caller's conversations, the one with the newest last message first.
    pub async fn list(
        &self,
        claim: &AccessClaim,
    ) -> Result<Vec<ConversationSummary>, AuthenticateError> {
        let gate = SessionGate::new(*claim, self.clock.now());
        let (_, mut summaries) = self
            .session_reads
            .conversations_with_session(gate)
            .await?
            .into_result()?;
        for summary in &mut summaries {
            if summary.other_user_id.is_assistant() {
                summary.other_user_name = Some(self.assistant_name.clone());
            }
        }
        Ok(summaries)
    }

    /// The caller's messages in the conversation: the newest page, oldest first.
    pub async fn messages(
        &self,
        claim: &AccessClaim,
        conversation_id: ConversationId,
        page: Page,
    ) -> Result<Vec<Message>, AuthenticateError> {
        self.sending
            .list(claim, MessageScope::Conversation(conversation_id), page)
            .await
    }

    /// Sends a message into the conversation, with the checks of any send.
    pub async fn send(
        &self,
        claim: &AccessClaim,
        conversation_id: ConversationId,
        recipient_id: UserId,
        content: MessageContent,
    ) -> Result<Message, SendError> {
        let outgoing = Outgoing {
            recipient_id,
            content,
            conversation_id: Some(conversation_id),
            parent_id: None,
        };
        self.sending.send(claim, outgoing).await
    }

    /// Marks the caller's received messages in the conversation read.
    pub async fn mark_read(
        &self,
        caller: &Caller,
        conversation_id: ConversationId,
    ) -> Result<u64, PortError> {
        self.sending
            .mark_all_read(caller, Some(conversation_id))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DomainEvent, MessageEvent};
    use crate::ports::ReadReceipt;
    use crate::usecases::test_support::*;
    use mockall::predicate::eq;

    fn conversations(mocks: Mocks) -> Conversations {
        let ports = mocks.into_ports();
        let assistant = crate::usecases::assistant::AssistantChat::new(&ports, Default::default());
        let sending = Messages::new(&ports, assistant);
        Conversations::new(&ports, sending, "AI Assistant")
    }

    #[tokio::test]
    async fn list_is_the_callers_summaries_in_storage_order() {
        let mut mocks = Mocks::new().with_live_session(1);
        let summary = |other: i64| ConversationSummary {
            conversation_id: ConversationId::between(uid(1), uid(other)),
            other_user_id: uid(other),
            other_user_name: None,
            last_message: MessageContent::parse("hi").unwrap(),
            last_message_at: fixed_now(),
            unread_count: 1,
        };
        let stored = vec![summary(3), summary(2)];
        let returned = stored.clone();
        mocks
            .messages
            .expect_conversation_summaries()
            .with(eq(uid(1)))
            .times(1)
            .returning(move |_| Ok(returned.clone()));
        let list = conversations(mocks).list(&claim(1)).await.unwrap();
        assert_eq!(list, stored);
    }

    #[tokio::test]
    async fn messages_lists_the_conversation_scope() {
        let mut mocks = Mocks::new().with_live_session(1);
        let cid = ConversationId::parse("conv_1_2").unwrap();
        mocks
            .messages
            .expect_list_messages()
            .with(
                eq(uid(1)),
                eq(MessageScope::Conversation(cid.clone())),
                eq(Page::default()),
            )
            .returning(|_, _, _| Ok(vec![sample_message(1, 1, 2)]));
        let list = conversations(mocks)
            .messages(&claim(1), cid, Page::default())
            .await
            .unwrap();
        assert_eq!(list.len(), 1);
    }

    #[tokio::test]
    async fn send_puts_the_message_in_the_conversation() {
        let mut mocks = Mocks::new();
        mocks.sends_answer(|job| {
            assert_eq!(job.conversation_id.as_deref(), Some("team"));
            assert_eq!(job.parent_id, None);
            None
        });
        let message = conversations(mocks)
            .send(
                &claim(1),
                ConversationId::parse("team").unwrap(),
                uid(2),
                MessageContent::parse("hi").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(message.conversation_id.as_deref(), Some("team"));
    }

    #[tokio::test]
    async fn send_to_an_unknown_recipient_is_refused() {
        let mut mocks = Mocks::new();
        mocks.sends_answer(|_| Some(crate::ports::SendOutcome::RecipientNotFound));
        let err = conversations(mocks)
            .send(
                &claim(1),
                ConversationId::parse("team").unwrap(),
                uid(2),
                MessageContent::parse("hi").unwrap(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::RecipientNotFound));
    }

    #[tokio::test]
    async fn mark_read_marks_only_that_conversation() {
        let mut mocks = Mocks::new();
        let cid = ConversationId::parse("conv_1_2").unwrap();
        mocks
            .messages
            .expect_mark_all_read()
            .with(eq(uid(1)), eq(Some(cid.clone())), eq(fixed_now()))
            .times(1)
            .returning(|_, _, _| {
                Ok(vec![
                    ReadReceipt {
                        id: mid(4),
                        sender_id: uid(2),
                    },
                    ReadReceipt {
                        id: mid(6),
                        sender_id: uid(2),
                    },
                ])
            });
        let events = mocks.events.clone();
        assert_eq!(
            conversations(mocks)
                .mark_read(&caller(1), cid)
                .await
                .unwrap(),
            2
        );
        let receipt = |id| {
            DomainEvent::Message(MessageEvent::Read {
                id: mid(id),
                sender_id: uid(2),
                reader_id: uid(1),
            })
        };
        assert_eq!(events.published(), vec![receipt(4), receipt(6)]);
    }
}
