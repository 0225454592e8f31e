use super::*;
use crate::ports::ReadReceipt;
use crate::usecases::test_support::*;
use crate::{Gated, MessageEvent};
use crate::{Session, User};
use mockall::predicate::{always, eq};

fn messages(mocks: Mocks) -> Messages {
    let ports = mocks.into_ports();
    let assistant = AssistantChat::new(&ports, Default::default());
    Messages::new(&ports, assistant)
}

fn outgoing(recipient_id: UserId) -> Outgoing {
    Outgoing {
        recipient_id,
        content: MessageContent::parse("hello").unwrap(),
        conversation_id: None,
        parent_id: None,
    }
}

#[tokio::test]
async fn a_send_is_one_storage_job_and_its_event_carries_the_row_and_positions() {
    let mut mocks = Mocks::new();
    mocks.sends_answer(|_| None);
    let events = mocks.events.clone();
    let mut out = outgoing(uid(3));
    out.parent_id = Some(mid(4));
    out.conversation_id = Some(ConversationId::parse("project-x").unwrap());
    let message = messages(mocks).send(&claim(7), out).await.unwrap();
    assert_eq!(message.sender_id, uid(7));
    assert_eq!(message.parent_id, Some(mid(4)));
    assert_eq!(message.created_at, fixed_now());
    let published = events.published();
    let [DomainEvent::Message(event)] = published.as_slice() else {
        panic!("{published:?}");
    };
    assert_eq!(event.position_for(uid(7)), Some(5));
    assert_eq!(event.position_for(uid(3)), Some(9));
    assert!(
        matches!(event, MessageEvent::Created { message: Some(row), .. } if **row == message),
        "local streams get the row with the event"
    );
}

#[tokio::test]
async fn the_storage_jobs_refusals_become_send_errors_and_announce_nothing() {
    type Outcome = fn(&SendJob) -> Option<SendOutcome>;
    let refusals: [(Outcome, &str); 3] = [
        (
            |_| Some(SendOutcome::RecipientNotFound),
            "no such recipient",
        ),
        (
            |_| Some(SendOutcome::ParentNotFound),
            "no such parent message visible to the sender",
        ),
        (
            |_| Some(SendOutcome::NotAParticipant),
            "the conversation belongs to other users",
        ),
    ];
    for (outcome, text) in refusals {
        let mut mocks = Mocks::new();
        mocks.sends_answer(outcome);
        let events = mocks.events.clone();
        let err = messages(mocks)
            .send(&claim(7), outgoing(uid(3)))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), text);
        assert!(events.published().is_empty());
    }
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

/// The session is checked inside the storage job; a refused claim is an authentication
/// error and nothing is announced.
#[tokio::test]
async fn send_under_an_ended_session_stores_nothing() {
    let mut mocks = Mocks::new();
    mocks.messages.expect_send_message().returning(|job| {
        let mut session = sample_session(100, 7);
        session.is_active = false;
        let checked = job.gate.check(Some((session, sample_user(7))));
        Gated::after(checked, |_| -> Result<SendOutcome, PortError> {
            panic!("nothing is stored under a refused session")
        })
    });
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
