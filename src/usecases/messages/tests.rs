use super::*;
use crate::ports::ReadReceipt;
use crate::usecases::test_support::*;
use crate::{Session, User};
use mockall::predicate::{always, eq};

fn messages(mocks: Mocks) -> Messages {
    Messages::new(&mocks.into_ports())
}

fn outgoing(recipient_id: UserId) -> Outgoing {
    Outgoing {
        recipient_id,
        content: MessageContent::parse("hello").unwrap(),
        conversation_id: None,
        parent_id: None,
    }
}

fn echo_created(mocks: &mut Mocks) {
    mocks.messages.expect_create_message().returning(|new| {
        Ok(Message {
            id: mid(50),
            sender_id: new.sender_id,
            recipient_id: new.recipient_id,
            content: new.content,
            is_read: false,
            parent_id: new.parent_id,
            conversation_id: Some(new.conversation_id),
            created_at: new.created_at,
            updated_at: new.created_at,
        })
    });
}

fn recipient_exists(mocks: &mut Mocks) {
    mocks
        .users
        .expect_get_user()
        .returning(|id| Ok(Some(sample_user(id.get()))));
}

#[tokio::test]
async fn send_defaults_the_conversation_to_the_ordered_pair() {
    let mut mocks = Mocks::new().with_live_session(7);
    recipient_exists(&mut mocks);
    echo_created(&mut mocks);
    let message = messages(mocks)
        .send(&claim(7), outgoing(uid(3)))
        .await
        .unwrap();
    assert_eq!(message.conversation_id.as_deref(), Some("conv_3_7"));
    assert_eq!(message.sender_id, uid(7));
    assert_eq!(message.recipient_id, uid(3));
    assert_eq!(message.created_at, fixed_now());
}

fn conversation_is(mocks: &mut Mocks, membership: ConversationMembership) {
    mocks
        .messages
        .expect_conversation_membership()
        .returning(move |_, _| Ok(membership));
}

#[tokio::test]
async fn send_keeps_a_given_conversation_id() {
    let mut mocks = Mocks::new().with_live_session(7);
    recipient_exists(&mut mocks);
    conversation_is(&mut mocks, ConversationMembership::New);
    echo_created(&mut mocks);
    let mut out = outgoing(uid(3));
    out.conversation_id = Some(ConversationId::parse("project-x").unwrap());
    let message = messages(mocks).send(&claim(7), out).await.unwrap();
    assert_eq!(message.conversation_id.as_deref(), Some("project-x"));
}

#[tokio::test]
async fn naming_the_conversation_of_two_other_users_is_refused() {
    let mut mocks = Mocks::new().with_live_session(7);
    recipient_exists(&mut mocks);
    conversation_is(&mut mocks, ConversationMembership::Outsider);
    mocks.messages.expect_create_message().never();
    let mut out = outgoing(uid(3));
    out.conversation_id = Some(ConversationId::parse("conv_1_2").unwrap());
    let result = messages(mocks).send(&claim(7), out).await;
    assert!(
        matches!(result, Err(SendError::NotAParticipant)),
        "{result:?}"
    );
}

#[tokio::test]
async fn send_to_oneself_is_allowed() {
    let mut mocks = Mocks::new().with_live_session(4);
    recipient_exists(&mut mocks);
    echo_created(&mut mocks);
    let message = messages(mocks)
        .send(&claim(4), outgoing(uid(4)))
        .await
        .unwrap();
    assert_eq!(message.conversation_id.as_deref(), Some("conv_4_4"));
}

#[tokio::test]
async fn send_to_an_unknown_recipient_is_refused() {
    let mut mocks = Mocks::new().with_live_session(7);
    mocks.users.expect_get_user().returning(|_| Ok(None));
    mocks.messages.expect_create_message().never();
    let err = messages(mocks)
        .send(&claim(7), outgoing(uid(3)))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "no such recipient");
}

#[tokio::test]
async fn reply_takes_the_parents_conversation() {
    let mut mocks = Mocks::new().with_live_session(7);
    recipient_exists(&mut mocks);
    mocks
        .messages
        .expect_get_message()
        .with(eq(mid(9)))
        .returning(|_| {
            let mut parent = sample_message(9, 3, 7);
            parent.conversation_id = Some(ConversationId::parse("thread-9").unwrap());
            Ok(Some(parent))
        });
    echo_created(&mut mocks);
    let mut out = outgoing(uid(3));
    out.parent_id = Some(mid(9));
    let message = messages(mocks).send(&claim(7), out).await.unwrap();
    assert_eq!(message.parent_id, Some(mid(9)));
    assert_eq!(message.conversation_id.as_deref(), Some("thread-9"));
}

#[tokio::test]
async fn reply_with_its_own_conversation_keeps_it() {
    let mut mocks = Mocks::new().with_live_session(7);
    recipient_exists(&mut mocks);
    mocks
        .messages
        .expect_get_message()
        .returning(|_| Ok(Some(sample_message(9, 3, 7))));
    conversation_is(&mut mocks, ConversationMembership::Participant);
    echo_created(&mut mocks);
    let mut out = outgoing(uid(3));
    out.parent_id = Some(mid(9));
    out.conversation_id = Some(ConversationId::parse("side").unwrap());
    let message = messages(mocks).send(&claim(7), out).await.unwrap();
    assert_eq!(message.conversation_id.as_deref(), Some("side"));
}

#[tokio::test]
async fn reply_to_a_message_the_caller_cannot_see_is_parent_not_found() {
    let mut mocks = Mocks::new().with_live_session(7);
    recipient_exists(&mut mocks);
    mocks
        .messages
        .expect_get_message()
        .returning(|_| Ok(Some(sample_message(9, 1, 2))));
    mocks.messages.expect_create_message().never();
    let mut out = outgoing(uid(3));
    out.parent_id = Some(mid(9));
    let err = messages(mocks).send(&claim(7), out).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no such parent message visible to the sender"
    );
}

#[tokio::test]
async fn reply_to_a_missing_message_is_parent_not_found() {
    let mut mocks = Mocks::new().with_live_session(7);
    recipient_exists(&mut mocks);
    mocks.messages.expect_get_message().returning(|_| Ok(None));
    let mut out = outgoing(uid(3));
    out.parent_id = Some(mid(9));
    let err = messages(mocks).send(&claim(7), out).await.unwrap_err();
    assert!(matches!(err, SendError::ParentNotFound));
}

#[tokio::test]
async fn get_is_for_sender_and_recipient_only() {
    let mut mocks = Mocks::new();
    mocks
        .messages
        .expect_get_message()
        .returning(|id| Ok(Some(sample_message(id.get(), 1, 2))));
    let messages = messages(mocks);
    assert_eq!(messages.get(&caller(1), mid(5)).await.unwrap().id, mid(5));
    assert_eq!(messages.get(&caller(2), mid(5)).await.unwrap().id, mid(5));
    let err = messages.get(&caller(3), mid(5)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the caller neither sent nor received the message"
    );
}

#[tokio::test]
async fn get_unknown_message_is_not_found() {
    let mut mocks = Mocks::new();
    mocks.messages.expect_get_message().returning(|_| Ok(None));
    let err = messages(mocks).get(&caller(1), mid(5)).await.unwrap_err();
    assert_eq!(err.to_string(), "no such message");
}

#[tokio::test]
async fn update_is_for_the_sender_only() {
    let mut mocks = Mocks::new();
    mocks
        .messages
        .expect_get_message()
        .returning(|id| Ok(Some(sample_message(id.get(), 1, 2))));
    mocks.messages.expect_update_message_content().never();
    let content = Some(MessageContent::parse("edited").unwrap());
    let err = messages(mocks)
        .update(&caller(2), mid(5), content)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "only the sender may edit the message");
}

#[tokio::test]
async fn update_replaces_the_content() {
    let mut mocks = Mocks::new();
    mocks
        .messages
        .expect_get_message()
        .returning(|id| Ok(Some(sample_message(id.get(), 1, 2))));
    mocks
        .messages
        .expect_update_message_content()
        .withf(|id, content, now| {
            *id == mid(5) && content.as_str() == "edited" && *now == fixed_now()
        })
        .times(1)
        .returning(|id, content, _| {
            let mut message = sample_message(id.get(), 1, 2);
            message.content = content;
            Ok(Some(message))
        });
    let content = Some(MessageContent::parse("edited").unwrap());
    let message = messages(mocks)
        .update(&caller(1), mid(5), content)
        .await
        .unwrap();
    assert_eq!(message.content, "edited");
}

#[tokio::test]
async fn update_without_content_changes_nothing() {
    let mut mocks = Mocks::new();
    mocks
        .messages
        .expect_get_message()
        .returning(|id| Ok(Some(sample_message(id.get(), 1, 2))));
    mocks.messages.expect_update_message_content().never();
    let message = messages(mocks)
        .update(&caller(1), mid(5), None)
        .await
        .unwrap();
    assert_eq!(message.content, "message 5");
}

#[tokio::test]
async fn update_of_an_unknown_message_is_not_found() {
    let mut mocks = Mocks::new();
    mocks.messages.expect_get_message().returning(|_| Ok(None));
    let err = messages(mocks)
        .update(&caller(1), mid(5), None)
        .await
        .unwrap_err();
    assert!(matches!(err, EditMessageError::NotFound));
}

#[tokio::test]
async fn mark_read_is_for_the_recipient_only() {
    let mut mocks = Mocks::new();
    mocks
        .messages
        .expect_get_message()
        .returning(|id| Ok(Some(sample_message(id.get(), 1, 2))));
    mocks
        .messages
        .expect_mark_message_read()
        .with(eq(mid(5)), always())
        .times(1)
        .returning(|_, _| Ok(true));
    let messages = messages(mocks);
    let err = messages.mark_read(&caller(1), mid(5)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "only the recipient may mark the message read"
    );
    messages.mark_read(&caller(2), mid(5)).await.unwrap();
}

#[tokio::test]
async fn mark_read_of_an_unknown_message_is_not_found() {
    let mut mocks = Mocks::new();
    mocks.messages.expect_get_message().returning(|_| Ok(None));
    let err = messages(mocks)
        .mark_read(&caller(2), mid(5))
        .await
        .unwrap_err();
    assert!(matches!(err, MarkReadError::NotFound));
}

#[tokio::test]
async fn delete_is_for_sender_or_recipient() {
    let mut mocks = Mocks::new();
    mocks
        .messages
        .expect_get_message()
        .returning(|id| Ok(Some(sample_message(id.get(), 1, 2))));
    mocks
        .messages
        .expect_delete_message()
        .times(2)
        .returning(|_| Ok(true));
    let messages = messages(mocks);
    let err = messages.delete(&caller(3), mid(5)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "only the sender or the recipient may delete the message"
    );
    messages.delete(&caller(1), mid(5)).await.unwrap();
    messages.delete(&caller(2), mid(5)).await.unwrap();
}

#[tokio::test]
async fn delete_of_an_unknown_message_is_not_found() {
    let mut mocks = Mocks::new();
    mocks.messages.expect_get_message().returning(|_| Ok(None));
    mocks.messages.expect_delete_message().never();
    let err = messages(mocks)
        .delete(&caller(1), mid(5))
        .await
        .unwrap_err();
    assert!(matches!(err, DeleteMessageError::NotFound));
}

#[tokio::test]
async fn lists_ask_storage_for_the_callers_scope_and_page() {
    let mut mocks = Mocks::new().with_live_session(1);
    let page = Page::new(2, 3).unwrap();
    mocks
        .messages
        .expect_list_messages()
        .with(eq(uid(1)), eq(MessageScope::UnreadReceived), eq(page))
        .returning(|_, _, _| Ok(vec![sample_message(1, 2, 1)]));
    let list = messages(mocks)
        .list(&claim(1), MessageScope::UnreadReceived, page)
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
}

/// The page is read with the session check; none of it is shown unless the session admits
/// the claimed user.
#[tokio::test]
async fn lists_show_nothing_to_a_claim_its_session_refuses() {
    let ended = |mut session: Session| {
        session.is_active = false;
        session
    };
    let disabled = |mut user: User| {
        user.is_active = false;
        user
    };
    // (what the session lookup finds, whether the refusal is "disabled")
    let cases = [
        (None, false),
        (Some((sample_session(100, 2), sample_user(2))), false),
        (Some((ended(sample_session(100, 1)), sample_user(1))), false),
        (
            Some((sample_session(100, 1), disabled(sample_user(1)))),
            true,
        ),
    ];
    for (found, is_disabled) in cases {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_get_session_with_user()
            .returning(move |_| Ok(found.clone()));
        mocks
            .messages
            .expect_list_messages()
            .returning(|_, _, _| Ok(vec![sample_message(1, 2, 1)]));
        let refused = messages(mocks)
            .list(&claim(1), MessageScope::Received, Page::default())
            .await
            .unwrap_err();
        let expected = if is_disabled {
            matches!(refused, AuthenticateError::UserDisabled)
        } else {
            matches!(refused, AuthenticateError::InvalidCredentials)
        };
        assert!(expected, "{refused:?}");
    }
}

#[tokio::test]
async fn unread_count_and_read_all_are_the_callers() {
    let mut mocks = Mocks::new();
    mocks
        .messages
        .expect_count_unread()
        .with(eq(uid(1)))
        .returning(|_| Ok(4));
    mocks
        .messages
        .expect_mark_all_read()
        .with(eq(uid(1)), eq(None), eq(fixed_now()))
        .times(1)
        .returning(|_, _, _| {
            Ok((1..=4)
                .map(|id| ReadReceipt {
                    id: mid(id),
                    sender_id: uid(2),
                })
                .collect())
        });
    let messages = messages(mocks);
    assert_eq!(messages.unread_count(&caller(1)).await.unwrap(), 4);
    assert_eq!(messages.read_all(&caller(1)).await.unwrap(), 4);
}

#[tokio::test]
async fn storage_failures_surface_as_port_errors() {
    let mut mocks = Mocks::new();
    mocks.messages.expect_get_message().returning(|_| {
        Err(PortError::Unavailable {
            what: "database",
            source: "connection refused".into(),
        })
    });
    let err = messages(mocks).get(&caller(1), mid(1)).await.unwrap_err();
    assert!(matches!(
        err,
        GetMessageError::Port(PortError::Unavailable { .. })
    ));
}

/// The recipient is looked up with the session check; a refused claim stores nothing.
#[tokio::test]
async fn send_under_an_ended_session_stores_nothing() {
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_get_session_with_user()
        .returning(|_| {
            let mut session = sample_session(100, 7);
            session.is_active = false;
            Ok(Some((session, sample_user(7))))
        });
    recipient_exists(&mut mocks);
    mocks.messages.expect_create_message().never();
    let events = mocks.events.clone();
    let err = messages(mocks)
        .send(&claim(7), outgoing(uid(3)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SendError::Authentication(AuthenticateError::InvalidCredentials)
        ),
        "{err:?}"
    );
    assert!(events.published().is_empty());
}
