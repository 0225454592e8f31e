//! What live streams need from storage: catching up by id, and single-use tickets.

use ai_message_core::ports::*;
use ai_message_core::*;
use chrono::TimeDelta;

use super::{add_message, add_session, add_user, at, t0};

pub async fn messages_after_are_what_a_stream_missed_in_id_order(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let carol = add_user(&storage, "carol").await.id;
    let m1 = add_message(&storage, alice, bob, "ab", at(1)).await;
    // Created earlier in time but later in id: ids, not timestamps, are the cursor.
    let m2 = add_message(&storage, bob, alice, "ab", at(0)).await;
    let _other = add_message(&storage, bob, carol, "bc", at(2)).await;
    let m4 = add_message(&storage, alice, alice, "aa", at(3)).await;
    let ids = |messages: Vec<Message>| messages.into_iter().map(|m| m.id).collect::<Vec<_>>();
    let after = |cursor: MessageId, limit: u32| {
        let storage = storage.clone();
        async move {
            storage
                .messages
                .messages_after(alice, cursor, limit)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        ids(after(MessageId::new(0), 10).await),
        vec![m1.id, m2.id, m4.id]
    );
    assert_eq!(ids(after(m1.id, 10).await), vec![m2.id, m4.id]);
    assert_eq!(ids(after(m1.id, 1).await), vec![m2.id]);
    assert!(after(m4.id, 10).await.is_empty());
    let replayed = after(m2.id, 10).await;
    assert_eq!(
        replayed,
        vec![m4.clone()],
        "whole rows, as get_message returns them"
    );
    assert!(
        after(MessageId::new(i64::MAX), 10).await.is_empty(),
        "a cursor beyond every id finds nothing"
    );
}

pub async fn latest_message_id_is_the_users_newest(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let carol = add_user(&storage, "carol").await.id;
    assert_eq!(
        storage.messages.latest_message_id(alice).await.unwrap(),
        None
    );
    let sent = add_message(&storage, alice, bob, "ab", at(1)).await;
    assert_eq!(
        storage.messages.latest_message_id(alice).await.unwrap(),
        Some(sent.id)
    );
    let received = add_message(&storage, carol, alice, "ac", at(2)).await;
    let _not_hers = add_message(&storage, bob, carol, "bc", at(3)).await;
    assert_eq!(
        storage.messages.latest_message_id(alice).await.unwrap(),
        Some(received.id)
    );
    assert_eq!(
        storage.messages.latest_message_id(bob).await.unwrap(),
        Some(_not_hers.id)
    );
}

fn ticket(tag: &str, user_id: UserId, session_id: SessionId, ttl: i64) -> NewStreamTicket {
    NewStreamTicket {
        ticket_hash: StreamTicketHash::new(format!("ticket-hash-{tag}")),
        user_id,
        session_id,
        expires_at: t0() + TimeDelta::seconds(ttl),
    }
}

pub async fn a_stream_ticket_opens_once_and_only_before_it_expires(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let (session, _) = add_session(&storage, alice, "s", t0()).await;
    let sessions = &storage.sessions;
    sessions
        .create_stream_ticket(ticket("a", alice, session.id, 60), t0())
        .await
        .unwrap();
    let hash = StreamTicketHash::new("ticket-hash-a");
    assert_eq!(
        sessions.redeem_stream_ticket(&hash, at(59)).await.unwrap(),
        Some((alice, session.id))
    );
    assert_eq!(
        sessions.redeem_stream_ticket(&hash, at(59)).await.unwrap(),
        None,
        "a ticket is taken once"
    );

    sessions
        .create_stream_ticket(ticket("late", alice, session.id, 60), t0())
        .await
        .unwrap();
    let late = StreamTicketHash::new("ticket-hash-late");
    assert_eq!(
        sessions.redeem_stream_ticket(&late, at(60)).await.unwrap(),
        None
    );
    assert_eq!(
        sessions
            .redeem_stream_ticket(&StreamTicketHash::new("never-issued"), t0())
            .await
            .unwrap(),
        None
    );

    // Storing a ticket forgets the expired ones: an expired ticket stays unusable.
    sessions
        .create_stream_ticket(ticket("old", alice, session.id, 10), t0())
        .await
        .unwrap();
    sessions
        .create_stream_ticket(ticket("new", alice, session.id, 600), at(20))
        .await
        .unwrap();
    let old = StreamTicketHash::new("ticket-hash-old");
    assert_eq!(
        sessions.redeem_stream_ticket(&old, at(5)).await.unwrap(),
        None
    );
}

pub async fn concurrent_redemptions_of_one_ticket_have_one_winner(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let (session, _) = add_session(&storage, alice, "s", t0()).await;
    storage
        .sessions
        .create_stream_ticket(ticket("race", alice, session.id, 60), t0())
        .await
        .unwrap();
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let sessions = storage.sessions.clone();
            tokio::spawn(async move {
                sessions
                    .redeem_stream_ticket(&StreamTicketHash::new("ticket-hash-race"), at(1))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        if racer.await.unwrap().is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

pub async fn messages_between_two_users_are_the_newest_page_oldest_first(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let carol = add_user(&storage, "carol").await.id;
    let m1 = add_message(&storage, alice, bob, "ab", at(1)).await;
    let _other = add_message(&storage, alice, carol, "ac", at(2)).await;
    let m3 = add_message(&storage, bob, alice, "ab", at(3)).await;
    let m4 = add_message(&storage, alice, bob, "other-thread", at(4)).await;
    let between = |after: MessageId, limit: u32| {
        let storage = storage.clone();
        async move {
            storage
                .messages
                .messages_between(alice, bob, after, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        between(MessageId::new(0), 10).await,
        vec![m1.id, m3.id, m4.id]
    );
    assert_eq!(
        between(MessageId::new(0), 2).await,
        vec![m3.id, m4.id],
        "the newest two"
    );
    assert_eq!(between(m1.id, 10).await, vec![m3.id, m4.id]);
    let assistant = storage
        .messages
        .messages_between(alice, UserId::ASSISTANT, MessageId::new(0), 10)
        .await
        .unwrap();
    assert!(assistant.is_empty());
}

pub async fn the_assistant_clear_point_is_kept_per_user(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let messages = &storage.messages;
    assert_eq!(messages.assistant_clear_point(alice).await.unwrap(), None);
    messages
        .set_assistant_clear_point(alice, MessageId::new(7), at(1))
        .await
        .unwrap();
    messages
        .set_assistant_clear_point(alice, MessageId::new(9), at(2))
        .await
        .unwrap();
    assert_eq!(
        messages.assistant_clear_point(alice).await.unwrap(),
        Some(MessageId::new(9))
    );
    assert_eq!(messages.assistant_clear_point(bob).await.unwrap(), None);
    storage.users.delete_user(alice).await.unwrap();
    assert_eq!(
        messages.assistant_clear_point(alice).await.unwrap(),
        None,
        "it goes with the user"
    );
}
