use super::*;
use crate::domain::{DomainEvent, MessageEvent, Session};
use crate::usecases::Settings;
use crate::usecases::test_support::*;
use mockall::predicate::eq;

fn live(ports: &Ports) -> Live {
    Live::new(
        ports,
        Auth::new(ports, Settings::default()),
        LiveSettings::default(),
    )
}

fn session_of(user: i64) -> (Session, crate::domain::User) {
    (sample_session(100, user), sample_user(user))
}

fn created(id: i64) -> DomainEvent {
    DomainEvent::Message(MessageEvent::Created {
        id: mid(id),
        sender_id: uid(2),
        recipient_id: uid(1),
    })
}

#[tokio::test]
async fn a_ticket_is_stored_hashed_and_redeemed_into_its_session() {
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_create_stream_ticket()
        .withf(|ticket, _| {
            ticket.ticket_hash.expose() == sha256_hex("secret-1")
                && ticket.user_id == uid(1)
                && ticket.session_id == sid(100)
                && ticket.expires_at == fixed_now() + TimeDelta::seconds(60)
        })
        .times(1)
        .returning(|_, _| Ok(()));
    mocks
        .sessions
        .expect_redeem_stream_ticket()
        .withf(|hash, _| hash.expose() == sha256_hex("secret-1"))
        .returning(|_, _| Ok(Some((uid(1), sid(100)))));
    mocks
        .sessions
        .expect_get_session_with_user()
        .with(eq(sid(100)))
        .returning(|_| Ok(Some(session_of(1))));
    let live = live(&mocks.into_ports());
    let issued = live.issue_ticket(&caller(1)).await.unwrap();
    assert_eq!(issued.ticket, "secret-1");
    assert_eq!(issued.expires_in, 60);
    let redeemed = live.redeem_ticket(&issued.ticket).await.unwrap();
    assert_eq!(redeemed.user.id, uid(1));
    assert_eq!(redeemed.session_id, sid(100));
}

#[tokio::test]
async fn an_unknown_or_used_ticket_is_refused() {
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_redeem_stream_ticket()
        .returning(|_, _| Ok(None));
    let err = live(&mocks.into_ports())
        .redeem_ticket("made-up")
        .await
        .unwrap_err();
    assert!(matches!(err, AuthenticateError::InvalidCredentials));
}

#[tokio::test]
async fn resume_replays_then_skips_the_live_copies_of_what_it_replayed() {
    let mut mocks = Mocks::new();
    mocks
        .messages
        .expect_messages_after()
        .with(eq(uid(1)), eq(mid(4)), eq(1_001))
        .returning(|_, _, _| Ok(vec![sample_message(5, 2, 1), sample_message(6, 2, 1)]));
    mocks
        .messages
        .expect_get_message()
        .returning(|id| Ok(Some(sample_message(id.get(), 2, 1))));
    let ports = mocks.into_ports();
    let hub = ports.hub.clone();
    let mut feed = live(&ports).open(caller(1), Some("4")).await.unwrap();
    // Committed while the stream was catching up: already replayed, or new.
    hub.deliver(&created(6));
    hub.deliver(&created(7));
    assert_eq!(feed.next().await, Some(FeedItem::Opened { cursor: 4 }));
    let mut ids = Vec::new();
    for _ in 0..3 {
        match feed.next().await {
            Some(FeedItem::Created { message, cursor }) => {
                assert_eq!(cursor, message.id.get());
                ids.push(message.id.get());
            }
            other => panic!("expected a created message, got {other:?}"),
        }
    }
    assert_eq!(ids, vec![5, 6, 7]);
}

#[tokio::test]
async fn too_many_missed_messages_reset_the_stream_to_the_latest() {
    let mut mocks = Mocks::new();
    mocks
        .messages
        .expect_messages_after()
        .returning(|_, _, limit| {
            Ok((1..=i64::from(limit))
                .map(|id| sample_message(id, 2, 1))
                .collect())
        });
    mocks
        .messages
        .expect_latest_message_id()
        .returning(|_| Ok(Some(mid(5_000))));
    let mut feed = live(&mocks.into_ports())
        .open(caller(1), Some("0"))
        .await
        .unwrap();
    assert_eq!(feed.next().await, Some(FeedItem::Opened { cursor: 0 }));
    assert_eq!(feed.next().await, Some(FeedItem::Reset { cursor: 5_000 }));
}

#[tokio::test]
async fn an_access_change_ends_the_stream_once_its_session_is_gone() {
    let mut mocks = Mocks::new();
    mocks
        .messages
        .expect_latest_message_id()
        .returning(|_| Ok(None));
    mocks
        .sessions
        .expect_get_session_with_user()
        .returning(|_| Ok(None));
    let ports = mocks.into_ports();
    let hub = ports.hub.clone();
    let mut feed = live(&ports).open(caller(1), None).await.unwrap();
    assert_eq!(feed.next().await, Some(FeedItem::Opened { cursor: 0 }));
    hub.deliver(&DomainEvent::AccessChanged { user_id: uid(1) });
    assert_eq!(feed.next().await, None);
    assert_eq!(hub.open_streams(), 0, "its place is free again");
}

#[tokio::test]
async fn a_late_notification_of_a_message_the_stream_started_after_is_not_news() {
    let mut mocks = Mocks::new();
    mocks
        .messages
        .expect_latest_message_id()
        .returning(|_| Ok(Some(mid(8))));
    mocks
        .messages
        .expect_get_message()
        .returning(|id| Ok(Some(sample_message(id.get(), 2, 1))));
    let ports = mocks.into_ports();
    let hub = ports.hub.clone();
    let mut feed = live(&ports).open(caller(1), None).await.unwrap();
    assert_eq!(feed.next().await, Some(FeedItem::Opened { cursor: 8 }));
    // Message 8 was stored before the stream opened; its notification comes late.
    hub.deliver(&created(8));
    hub.deliver(&created(9));
    match feed.next().await {
        Some(FeedItem::Created { message, .. }) => assert_eq!(message.id, mid(9)),
        other => panic!("expected message 9, got {other:?}"),
    }
}
