use super::*;
use crate::domain::{DomainEvent, MessageEvent, PositionedMessage, Session};
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

/// Message `id` from user 2 to user 1 at user 1's position `position`, with its row as a
/// local event carries it.
fn created(id: i64, position: i64) -> DomainEvent {
    DomainEvent::Message(MessageEvent::Created {
        id: mid(id),
        sender_id: uid(2),
        recipient_id: uid(1),
        sender_position: Some(100 + position),
        recipient_position: Some(position),
        message: Some(std::sync::Arc::new(sample_message(id, 2, 1))),
    })
}

/// The same event as another instance sends it: ids and positions only.
fn created_elsewhere(id: i64, position: i64) -> DomainEvent {
    let DomainEvent::Message(MessageEvent::Created {
        id,
        sender_id,
        recipient_id,
        sender_position,
        recipient_position,
        ..
    }) = created(id, position)
    else {
        unreachable!()
    };
    DomainEvent::Message(MessageEvent::Created {
        id,
        sender_id,
        recipient_id,
        sender_position,
        recipient_position,
        message: None,
    })
}

/// User 1's stored messages: message `10 + p` at each position `p` of `positions`.
fn stored_at(positions: std::ops::RangeInclusive<i64>) -> Vec<PositionedMessage> {
    positions
        .map(|position| PositionedMessage {
            position,
            message: sample_message(10 + position, 2, 1),
        })
        .collect()
}

/// Storage holding user 1's positions 1..=`latest` (message `10 + p` at position `p`).
fn storage_up_to(mocks: &mut Mocks, latest: i64) {
    mocks
        .messages
        .expect_latest_position()
        .returning(move |_| Ok(latest));
    mocks
        .messages
        .expect_messages_after()
        .returning(move |_, after, limit| {
            Ok(stored_at(after + 1..=latest)
                .into_iter()
                .take(limit as usize)
                .collect())
        });
    mocks
        .messages
        .expect_count_messages_after()
        .returning(move |_, after, limit| Ok(((latest - after).max(0) as u32).min(limit)));
}

/// The ids of the next `count` created messages, each checked to carry its position.
async fn created_ids(feed: &mut Feed, count: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for _ in 0..count {
        match feed.next().await {
            Some(FeedItem::Created { message, cursor }) => {
                assert_eq!(cursor, message.id.get() - 10, "the cursor is the position");
                ids.push(message.id.get());
            }
            other => panic!("expected a created message, got {other:?}"),
        }
    }
    ids
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
    storage_up_to(&mut mocks, 6);
    let hub = mocks.hub.clone();
    let ports = mocks.into_ports();
    let mut feed = live(&ports).open(caller(1), Some("4")).await.unwrap();
    // Committed while the stream was catching up: already replayed.
    hub.deliver(&created(16, 6));
    hub.deliver(&created(15, 5));
    assert_eq!(feed.next().await, Some(FeedItem::Opened { cursor: 4 }));
    assert_eq!(created_ids(&mut feed, 2).await, vec![15, 16]);
    hub.deliver(&created(17, 7));
    assert_eq!(created_ids(&mut feed, 1).await, vec![17]);
}

#[tokio::test]
async fn the_next_position_with_its_row_is_delivered_without_a_storage_read() {
    let mut mocks = Mocks::new();
    mocks.messages.expect_latest_position().returning(|_| Ok(3));
    mocks.messages.expect_messages_after().never();
    mocks.messages.expect_get_message().never();
    let hub = mocks.hub.clone();
    let ports = mocks.into_ports();
    let mut feed = live(&ports).open(caller(1), None).await.unwrap();
    assert_eq!(feed.next().await, Some(FeedItem::Opened { cursor: 3 }));
    hub.deliver(&created(14, 4));
    hub.deliver(&created(15, 5));
    assert_eq!(created_ids(&mut feed, 2).await, vec![14, 15]);
}

/// Position 6 is announced before 5 (two requests publish after their commits, in the
/// other order): the stream reads the gap from storage, in position order, and skips the
/// late announcement, so a client resuming from any cursor it saw misses nothing.
#[tokio::test]
async fn an_event_that_overtakes_an_earlier_one_fills_the_gap_from_storage() {
    let mut mocks = Mocks::new();
    mocks.messages.expect_latest_position().returning(|_| Ok(4));
    mocks
        .messages
        .expect_messages_after()
        .with(eq(uid(1)), eq(4), eq(REPLAY_PAGE))
        .times(1)
        .returning(|_, _, _| Ok(stored_at(5..=6)));
    let hub = mocks.hub.clone();
    let ports = mocks.into_ports();
    let mut feed = live(&ports).open(caller(1), None).await.unwrap();
    assert_eq!(feed.next().await, Some(FeedItem::Opened { cursor: 4 }));
    hub.deliver(&created(16, 6));
    hub.deliver(&created(15, 5));
    assert_eq!(created_ids(&mut feed, 2).await, vec![15, 16]);
    hub.deliver(&created(17, 7));
    assert!(
        matches!(feed.next().await, Some(FeedItem::Created { cursor: 7, .. })),
        "the late announcement of 5 is skipped, 7 follows"
    );
}

#[tokio::test]
async fn an_event_from_another_instance_is_read_from_storage() {
    let mut mocks = Mocks::new();
    storage_up_to(&mut mocks, 2);
    let hub = mocks.hub.clone();
    let ports = mocks.into_ports();
    let mut feed = live(&ports).open(caller(1), Some("1")).await.unwrap();
    assert_eq!(feed.next().await, Some(FeedItem::Opened { cursor: 1 }));
    assert_eq!(created_ids(&mut feed, 1).await, vec![12]);
    hub.deliver(&created_elsewhere(12, 2));
    hub.deliver(&created(13, 3));
    assert_eq!(
        created_ids(&mut feed, 1).await,
        vec![13],
        "position 2 was replayed already; 3 comes with its row"
    );
}

#[tokio::test]
async fn too_many_missed_messages_reset_the_stream_to_the_latest() {
    let mut mocks = Mocks::new();
    storage_up_to(&mut mocks, 5_000);
    let mut feed = live(&mocks.into_ports())
        .open(caller(1), Some("0"))
        .await
        .unwrap();
    assert_eq!(feed.next().await, Some(FeedItem::Opened { cursor: 0 }));
    assert_eq!(feed.next().await, Some(FeedItem::Reset { cursor: 5_000 }));
}

/// A cursor the user's sequence has not reached (from before a restore, or made up) would
/// silence the stream: it is reset to the newest position, and live delivery goes on.
#[tokio::test]
async fn a_cursor_beyond_the_newest_position_resets_the_stream() {
    for cursor in [
        "9223372036854775807",
        "51",
        "-1",
        "x",
        "99999999999999999999",
    ] {
        let mut mocks = Mocks::new();
        storage_up_to(&mut mocks, 50);
        let hub = mocks.hub.clone();
        let ports = mocks.into_ports();
        let mut feed = live(&ports).open(caller(1), Some(cursor)).await.unwrap();
        assert_eq!(
            feed.next().await,
            Some(FeedItem::Reset { cursor: 50 }),
            "{cursor}"
        );
        hub.deliver(&created(61, 51));
        assert_eq!(created_ids(&mut feed, 1).await, vec![61], "{cursor}");
    }
}

#[tokio::test]
async fn an_access_change_ends_the_stream_once_its_session_is_gone() {
    let mut mocks = Mocks::new();
    mocks.messages.expect_latest_position().returning(|_| Ok(0));
    mocks
        .sessions
        .expect_get_session_with_user()
        .returning(|_| Ok(None));
    let hub = mocks.hub.clone();
    let ports = mocks.into_ports();
    let mut feed = live(&ports).open(caller(1), None).await.unwrap();
    assert_eq!(feed.next().await, Some(FeedItem::Opened { cursor: 0 }));
    hub.deliver(&DomainEvent::AccessChanged { user_id: uid(1) });
    assert_eq!(feed.next().await, None);
    assert_eq!(hub.open_subscriptions(), 0, "its place is free again");
}

#[tokio::test]
async fn a_late_notification_of_a_message_the_stream_started_after_is_not_news() {
    let mut mocks = Mocks::new();
    mocks.messages.expect_latest_position().returning(|_| Ok(8));
    mocks.messages.expect_messages_after().never();
    let hub = mocks.hub.clone();
    let ports = mocks.into_ports();
    let mut feed = live(&ports).open(caller(1), None).await.unwrap();
    assert_eq!(feed.next().await, Some(FeedItem::Opened { cursor: 8 }));
    // Position 8 was stored before the stream opened; its notification comes late.
    hub.deliver(&created(18, 8));
    hub.deliver(&created(19, 9));
    assert_eq!(created_ids(&mut feed, 1).await, vec![19]);
}

#[tokio::test]
async fn an_edit_after_a_live_delivery_reaches_the_stream() {
    let mut mocks = Mocks::new();
    mocks.messages.expect_latest_position().returning(|_| Ok(0));
    mocks
        .messages
        .expect_get_message()
        .returning(|id| Ok(Some(sample_message(id.get(), 2, 1))));
    let hub = mocks.hub.clone();
    let ports = mocks.into_ports();
    let mut feed = live(&ports).open(caller(1), None).await.unwrap();
    assert_eq!(feed.next().await, Some(FeedItem::Opened { cursor: 0 }));
    hub.deliver(&created(11, 1));
    hub.deliver(&DomainEvent::Message(MessageEvent::Updated {
        id: mid(11),
        sender_id: uid(2),
        recipient_id: uid(1),
    }));
    assert_eq!(created_ids(&mut feed, 1).await, vec![11]);
    assert!(matches!(
        feed.next().await,
        Some(FeedItem::Updated { cursor: 1, .. })
    ));
}

/// A long replay is read from storage a page at a time, as the client takes it: a stream
/// whose client does not read holds one page, not everything it has to replay.
#[tokio::test]
async fn a_replay_is_read_a_page_at_a_time() {
    let mut mocks = Mocks::new();
    storage_up_to(&mut mocks, 300);
    let ports = mocks.into_ports();
    let mut feed = live(&ports).open(caller(1), Some("0")).await.unwrap();
    assert!(
        feed.pending.len() <= REPLAY_PAGE as usize + 1,
        "opened with {} items queued",
        feed.pending.len()
    );
    assert_eq!(feed.next().await, Some(FeedItem::Opened { cursor: 0 }));
    let ids = created_ids(&mut feed, 300).await;
    assert_eq!(ids, (11..=310).collect::<Vec<_>>());
    assert!(feed.pending.len() <= REPLAY_PAGE as usize);
}
