//! What live streams need from storage: catching up by id, and single-use tickets.

use ai_message_core::ports::*;
use ai_message_core::*;
use chrono::TimeDelta;

use super::{add_delivered, add_message, add_session, add_user, at, t0};

pub async fn positions_count_each_users_messages_without_gap_or_reuse(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let carol = add_user(&storage, "carol").await.id;
    assert_eq!(storage.messages.latest_position(alice).await.unwrap(), 0);
    let ab = add_delivered(&storage, alice, bob, "ab", at(1)).await;
    assert_eq!(
        (ab.sender_position, ab.recipient_position),
        (Some(1), Some(1))
    );
    let cb = add_delivered(&storage, carol, bob, "cb", at(2)).await;
    assert_eq!(
        (cb.sender_position, cb.recipient_position),
        (Some(1), Some(2))
    );
    let note = add_delivered(&storage, alice, alice, "aa", at(3)).await;
    assert_eq!(
        (note.sender_position, note.recipient_position),
        (Some(2), Some(2)),
        "a note to self takes one position"
    );
    let question = add_delivered(&storage, alice, UserId::ASSISTANT, "conv_-1_1", at(4)).await;
    assert_eq!(
        (question.sender_position, question.recipient_position),
        (Some(3), None),
        "the assistant has no sequence"
    );
    let reply = add_delivered(&storage, UserId::ASSISTANT, alice, "conv_-1_1", at(5)).await;
    assert_eq!(
        (reply.sender_position, reply.recipient_position),
        (None, Some(4))
    );
    assert_eq!(storage.messages.latest_position(alice).await.unwrap(), 4);
    assert_eq!(storage.messages.latest_position(bob).await.unwrap(), 2);

    // A deleted message leaves its position unused: the next one is never handed out twice.
    assert!(
        storage
            .messages
            .delete_message(reply.message.id)
            .await
            .unwrap()
    );
    let after_delete = add_delivered(&storage, bob, alice, "ab", at(6)).await;
    assert_eq!(after_delete.recipient_position, Some(5));
    let positions: Vec<i64> = storage
        .messages
        .messages_after(alice, 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|m| m.position)
        .collect();
    assert_eq!(positions, vec![1, 2, 3, 5]);

    // A deleted user's sequence goes with them; the other party's stays.
    storage.users.delete_user(bob).await.unwrap();
    assert_eq!(storage.messages.latest_position(bob).await.unwrap(), 0);
    assert!(
        storage
            .messages
            .messages_after(bob, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(storage.messages.latest_position(alice).await.unwrap(), 5);
}

pub async fn messages_after_are_what_a_stream_missed_in_position_order(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let carol = add_user(&storage, "carol").await.id;
    let m1 = add_message(&storage, alice, bob, "ab", at(1)).await;
    // Created earlier in time: positions, not timestamps, are the order.
    let m2 = add_message(&storage, bob, alice, "ab", at(0)).await;
    let _other = add_message(&storage, bob, carol, "bc", at(2)).await;
    let m4 = add_message(&storage, alice, alice, "aa", at(3)).await;
    let after = |cursor: i64, limit: u32| {
        let storage = storage.clone();
        async move {
            storage
                .messages
                .messages_after(alice, cursor, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|m| (m.position, m.message.id))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(after(0, 10).await, vec![(1, m1.id), (2, m2.id), (3, m4.id)]);
    assert_eq!(after(1, 10).await, vec![(2, m2.id), (3, m4.id)]);
    assert_eq!(after(1, 1).await, vec![(2, m2.id)]);
    assert!(after(3, 10).await.is_empty());
    let replayed = storage.messages.messages_after(alice, 2, 10).await.unwrap();
    assert_eq!(
        replayed[0].message, m4,
        "whole rows, as get_message returns them"
    );
    assert!(
        after(i64::MAX, 10).await.is_empty(),
        "a cursor beyond every position finds nothing"
    );
}

/// Many writers to one recipient: its positions are 1..=N, each naming one message, and
/// positions of each sender are dense too.
pub async fn concurrent_sends_to_one_user_take_every_position_once(storage: Storage) {
    const SENDERS: usize = 8;
    const EACH: usize = 25;
    let bob = add_user(&storage, "bob").await.id;
    let mut senders = Vec::new();
    for n in 0..SENDERS {
        let user = add_user(&storage, &format!("sender{n}")).await;
        let (session, _) = add_session(&storage, user.id, &format!("s{n}"), t0()).await;
        senders.push((user.id, session.id));
    }
    let tasks: Vec<_> = senders
        .iter()
        .map(|&(sender, session)| {
            let messages = storage.messages.clone();
            tokio::spawn(async move {
                let mut positions = Vec::new();
                for k in 0..EACH {
                    let outcome = messages
                        .send_message(SendJob {
                            gate: SessionGate::new(AccessClaim::new(sender, session), at(1)),
                            recipient_id: bob,
                            content: MessageContent::parse(format!("{k}")).unwrap(),
                            parent_id: None,
                            conversation_id: None,
                            created_at: at(1),
                        })
                        .await
                        .unwrap();
                    match outcome.into_result().unwrap().1 {
                        SendOutcome::Sent(delivered) => positions.push((
                            delivered.sender_position.unwrap(),
                            delivered.recipient_position.unwrap(),
                            delivered.message.id,
                        )),
                        other => panic!("{other:?}"),
                    }
                }
                positions
            })
        })
        .collect();
    let mut received = std::collections::BTreeMap::new();
    for task in tasks {
        let sent = task.await.unwrap();
        let own: Vec<i64> = sent.iter().map(|(p, _, _)| *p).collect();
        assert_eq!(
            own,
            (1..=EACH as i64).collect::<Vec<_>>(),
            "each sender's own sequence"
        );
        for (_, position, id) in sent {
            assert!(
                received.insert(position, id).is_none(),
                "position {position} twice"
            );
        }
    }
    let total = (SENDERS * EACH) as i64;
    assert_eq!(
        received.keys().copied().collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    let replay: Vec<(i64, MessageId)> = storage
        .messages
        .messages_after(bob, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.position, m.message.id))
        .collect();
    assert_eq!(replay, received.into_iter().collect::<Vec<_>>());
    assert_eq!(storage.messages.latest_position(bob).await.unwrap(), total);
}

fn send_job(
    sender: UserId,
    session: SessionId,
    recipient: UserId,
    conversation: Option<&str>,
    parent: Option<MessageId>,
) -> SendJob {
    SendJob {
        gate: SessionGate::new(AccessClaim::new(sender, session), at(1)),
        recipient_id: recipient,
        content: MessageContent::parse("hello").unwrap(),
        parent_id: parent,
        conversation_id: conversation.map(|c| ConversationId::parse(c).unwrap()),
        created_at: at(1),
    }
}

async fn send(storage: &Storage, job: SendJob) -> SendOutcome {
    match storage.messages.send_message(job).await.unwrap() {
        Gated::Admitted(_, outcome) => outcome,
        Gated::Refused(refusal) => panic!("refused: {refusal:?}"),
    }
}

fn sent(outcome: SendOutcome) -> Message {
    match outcome {
        SendOutcome::Sent(delivered) => Message::clone(&delivered.message),
        other => panic!("not sent: {other:?}"),
    }
}

pub async fn a_send_checks_session_recipient_parent_and_conversation_in_one_job(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let carol = add_user(&storage, "carol").await.id;
    let (session, _) = add_session(&storage, alice, "s", t0()).await;
    let plain = sent(send(&storage, send_job(alice, session.id, bob, None, None)).await);
    assert_eq!(
        plain.conversation_id.as_ref().map(|c| c.as_str()),
        Some(format!("conv_{}_{}", alice.min(bob), alice.max(bob)).as_str())
    );
    assert_eq!(
        send(
            &storage,
            send_job(alice, session.id, UserId::new(4_242), None, None)
        )
        .await,
        SendOutcome::RecipientNotFound
    );
    let to_assistant = sent(
        send(
            &storage,
            send_job(alice, session.id, UserId::ASSISTANT, None, None),
        )
        .await,
    );
    assert_eq!(
        to_assistant.conversation_id.as_ref().map(|c| c.as_str()),
        Some(format!("conv_-1_{alice}").as_str())
    );
    // A reply joins its parent's conversation, keeps its parent, and only to a visible one.
    let reply = sent(
        send(
            &storage,
            send_job(
                alice,
                session.id,
                UserId::ASSISTANT,
                None,
                Some(to_assistant.id),
            ),
        )
        .await,
    );
    assert_eq!(reply.parent_id, Some(to_assistant.id));
    assert_eq!(reply.conversation_id, to_assistant.conversation_id);
    let bobs_to_carol = add_message(&storage, bob, carol, "bc", at(1)).await;
    assert_eq!(
        send(
            &storage,
            send_job(alice, session.id, bob, None, Some(bobs_to_carol.id))
        )
        .await,
        SendOutcome::ParentNotFound,
        "a parent the sender cannot see"
    );
    assert_eq!(
        send(
            &storage,
            send_job(alice, session.id, bob, None, Some(MessageId::new(9_999)))
        )
        .await,
        SendOutcome::ParentNotFound
    );
    // A reply sent to someone outside the parent's conversation does not join it.
    assert_eq!(
        send(
            &storage,
            send_job(alice, session.id, carol, None, Some(plain.id))
        )
        .await,
        SendOutcome::NotAParticipant
    );
}

pub async fn a_refused_send_writes_nothing(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let (session, _) = add_session(&storage, alice, "s", t0()).await;
    let (bobs_session, _) = add_session(&storage, bob, "b", t0()).await;
    let refused = |job: SendJob| {
        let storage = storage.clone();
        async move { storage.messages.send_message(job).await.unwrap() }
    };
    assert_eq!(
        refused(send_job(
            alice,
            SessionId::new(9_999),
            bob,
            Some("fresh"),
            None
        ))
        .await,
        Gated::Refused(SessionRefusal::InvalidCredentials)
    );
    assert_eq!(
        refused(send_job(alice, bobs_session.id, bob, Some("fresh"), None)).await,
        Gated::Refused(SessionRefusal::InvalidCredentials),
        "a claim on someone else's session"
    );
    storage
        .sessions
        .end_session(alice, session.id, at(1))
        .await
        .unwrap();
    assert_eq!(
        refused(send_job(alice, session.id, bob, Some("fresh"), None)).await,
        Gated::Refused(SessionRefusal::InvalidCredentials)
    );
    let (live, _) = add_session(&storage, alice, "again", t0()).await;
    storage
        .users
        .set_user_active(alice, false, at(1))
        .await
        .unwrap();
    assert_eq!(
        refused(send_job(alice, live.id, bob, Some("fresh"), None)).await,
        Gated::Refused(SessionRefusal::UserDisabled),
        "a disabled sender"
    );
    assert!(
        storage
            .messages
            .messages_after(bob, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(storage.messages.latest_position(bob).await.unwrap(), 0);
    // Nothing bound "fresh" either: another pair can still take it.
    let carol = add_user(&storage, "carol").await.id;
    let (carols, _) = add_session(&storage, carol, "c", t0()).await;
    sent(
        send(
            &storage,
            send_job(carol, carols.id, bob, Some("fresh"), None),
        )
        .await,
    );
}

pub async fn a_canonical_conversation_holds_only_its_pair(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let eve = add_user(&storage, "eve").await.id;
    let (eves, _) = add_session(&storage, eve, "e", t0()).await;
    let (bobs, _) = add_session(&storage, bob, "b", t0()).await;
    let alice_bob = format!("conv_{}_{}", alice.min(bob), alice.max(bob));
    assert_eq!(
        send(
            &storage,
            send_job(eve, eves.id, alice, Some(&alice_bob), None)
        )
        .await,
        SendOutcome::NotAParticipant,
        "a squat on two others' conversation"
    );
    let alices_assistant = format!("conv_-1_{alice}");
    assert_eq!(
        send(
            &storage,
            send_job(eve, eves.id, alice, Some(&alices_assistant), None)
        )
        .await,
        SendOutcome::NotAParticipant,
        "a squat on a user's conversation with the assistant"
    );
    assert_eq!(
        send(
            &storage,
            send_job(
                eve,
                eves.id,
                UserId::ASSISTANT,
                Some(&alices_assistant),
                None
            )
        )
        .await,
        SendOutcome::NotAParticipant
    );
    let bobs_first = sent(send(&storage, send_job(bob, bobs.id, alice, None, None)).await);
    assert_eq!(
        bobs_first.conversation_id.as_ref().map(|c| c.to_string()),
        Some(alice_bob.clone())
    );
    let named = sent(
        send(
            &storage,
            send_job(bob, bobs.id, alice, Some(&alice_bob), None),
        )
        .await,
    );
    assert_eq!(named.conversation_id, bobs_first.conversation_id);
    let in_thread = storage
        .messages
        .list_messages(
            alice,
            MessageScope::Conversation(ConversationId::parse(alice_bob).unwrap()),
            Page::new(0, 100).unwrap(),
        )
        .await
        .unwrap();
    assert!(
        in_thread
            .iter()
            .all(|m| m.sender_id != eve && m.recipient_id != eve)
    );
}

pub async fn a_named_conversation_is_bound_by_its_first_message(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let carol = add_user(&storage, "carol").await.id;
    let (alices, _) = add_session(&storage, alice, "a", t0()).await;
    let (bobs, _) = add_session(&storage, bob, "b", t0()).await;
    let (carols, _) = add_session(&storage, carol, "c", t0()).await;
    sent(
        send(
            &storage,
            send_job(alice, alices.id, bob, Some("project"), None),
        )
        .await,
    );
    sent(
        send(
            &storage,
            send_job(bob, bobs.id, alice, Some("project"), None),
        )
        .await,
    );
    assert_eq!(
        send(
            &storage,
            send_job(carol, carols.id, alice, Some("project"), None)
        )
        .await,
        SendOutcome::NotAParticipant,
        "an outsider"
    );
    assert_eq!(
        send(
            &storage,
            send_job(alice, alices.id, carol, Some("project"), None)
        )
        .await,
        SendOutcome::NotAParticipant,
        "a party bringing in a third user"
    );
    // Conversations stored before bindings existed are bound to their first message's pair.
    let adopted = add_message(&storage, carol, bob, "legacy", at(0)).await;
    let _ = adopted;
    sent(
        send(
            &storage,
            send_job(alice, alices.id, alice, Some("notes"), None),
        )
        .await,
    );
    assert_eq!(
        send(&storage, send_job(bob, bobs.id, alice, Some("notes"), None)).await,
        SendOutcome::NotAParticipant,
        "a note-to-self thread is its owner's alone"
    );
}

/// Two unrelated pairs race to open one new conversation id: exactly one pair gets it.
pub async fn racing_first_sends_bind_a_conversation_to_one_pair(storage: Storage) {
    let mut users = Vec::new();
    for name in ["alice", "bob", "carol", "dave"] {
        let user = add_user(&storage, name).await.id;
        let (session, _) = add_session(&storage, user, name, t0()).await;
        users.push((user, session.id));
    }
    for round in 0..10 {
        let id = format!("race-{round}");
        let racers: Vec<_> = [(0, 1), (2, 3), (1, 0), (3, 2)]
            .into_iter()
            .map(|(from, to)| {
                let storage = storage.clone();
                let (sender, session) = users[from];
                let recipient = users[to].0;
                let job = send_job(sender, session, recipient, Some(&id), None);
                tokio::spawn(async move { send(&storage, job).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for racer in racers {
            outcomes.push(racer.await.unwrap());
        }
        let pairs: std::collections::BTreeSet<(UserId, UserId)> = outcomes
            .iter()
            .filter_map(|o| match o {
                SendOutcome::Sent(d) => Some((
                    d.message.sender_id.min(d.message.recipient_id),
                    d.message.sender_id.max(d.message.recipient_id),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(pairs.len(), 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, SendOutcome::Sent(_) | SendOutcome::NotAParticipant))
        );
    }
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

/// What a database held before delivery positions existed (made with [`seed_legacy`], then
/// taken back to the schema before them with [`UNDO_DELIVERY_POSITIONS`]).
pub struct Legacy {
    pub alice: UserId,
    pub bob: UserId,
    pub carol: UserId,
    /// Oldest first: alice→bob, carol→bob (in `legacy-thread`), bob→alice, alice→alice.
    pub messages: Vec<MessageId>,
}

/// The statements that take a migrated database back to the schema before positions and
/// conversation bindings (the same on SQLite and PostgreSQL); the migrations after it run
/// again too (V8 only recomputes username keys).
pub const UNDO_DELIVERY_POSITIONS: &str = "DROP TABLE message_deliveries; \
     DROP TABLE delivery_counters; DROP TABLE conversation_parties; \
     DELETE FROM refinery_schema_history WHERE version >= 7;";

pub async fn seed_legacy(storage: &Storage) -> Legacy {
    let alice = add_user(storage, "alice").await.id;
    let bob = add_user(storage, "bob").await.id;
    let carol = add_user(storage, "carol").await.id;
    let mut messages = Vec::new();
    for (from, to, conversation) in [
        (alice, bob, "ab"),
        (carol, bob, "legacy-thread"),
        (bob, alice, "ab"),
        (alice, alice, "aa"),
    ] {
        messages.push(add_message(storage, from, to, conversation, at(1)).await.id);
    }
    Legacy {
        alice,
        bob,
        carol,
        messages,
    }
}

/// After the upgrade, a cursor handed out before it (a message id) resumes exactly where it
/// did: stored messages keep their id as their position, and new ones come after every id.
/// Conversations stored before are bound to the pair of their first message.
pub async fn legacy_cursors_resume_after_the_upgrade(legacy: Legacy, storage: Storage) {
    let Legacy {
        alice,
        bob,
        carol,
        messages,
    } = legacy;
    let newest = messages.iter().map(|id| id.get()).max().unwrap();
    let after = |cursor: i64| {
        let storage = storage.clone();
        async move {
            storage
                .messages
                .messages_after(bob, cursor, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|m| (m.position, m.message.id))
                .collect::<Vec<_>>()
        }
    };
    let (m1, m2, m3) = (messages[0], messages[1], messages[2]);
    assert_eq!(
        after(m1.get()).await,
        vec![(m2.get(), m2), (m3.get(), m3)],
        "a cursor from before resumes after the same message"
    );
    assert_eq!(storage.messages.latest_position(bob).await.unwrap(), newest);
    assert_eq!(
        storage.messages.latest_position(carol).await.unwrap(),
        newest
    );
    let fresh = add_delivered(&storage, alice, bob, "ab", at(2)).await;
    assert_eq!(fresh.recipient_position, Some(newest + 1));
    assert_eq!(fresh.sender_position, Some(newest + 1));
    assert_eq!(
        after(newest).await,
        vec![(newest + 1, fresh.message.id)],
        "a stream opened before the upgrade at the newest id gets only the new message"
    );
    let (alices, _) = add_session(&storage, alice, "a", t0()).await;
    let (carols, _) = add_session(&storage, carol, "c", t0()).await;
    assert_eq!(
        send(
            &storage,
            send_job(alice, alices.id, bob, Some("legacy-thread"), None)
        )
        .await,
        SendOutcome::NotAParticipant,
        "a conversation stored before is its first pair's"
    );
    sent(
        send(
            &storage,
            send_job(carol, carols.id, bob, Some("legacy-thread"), None),
        )
        .await,
    );
}

/// The assistant's reply to `question`, as the assistant use case stores it.
pub(super) fn reply_to(question: &Message, created_at: Timestamp) -> NewMessage {
    NewMessage {
        sender_id: UserId::ASSISTANT,
        recipient_id: question.sender_id,
        content: MessageContent::parse("a late answer").unwrap(),
        parent_id: None,
        conversation_id: question.conversation_id.clone().unwrap(),
        created_at,
    }
}

pub async fn forgotten_questions_are_the_newest_unanswered_ones(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let carol = add_user(&storage, "carol").await.id;
    let assistant = UserId::ASSISTANT;
    // Alice: answered, then asked twice with no answer (only the newest is pending).
    add_message(&storage, alice, assistant, "a", at(1)).await;
    add_message(&storage, assistant, alice, "a", at(2)).await;
    add_message(&storage, alice, assistant, "a", at(3)).await;
    let alice_pending = add_message(&storage, alice, assistant, "a", at(4)).await;
    // Bob: asked, answered.
    add_message(&storage, bob, assistant, "b", at(5)).await;
    add_message(&storage, assistant, bob, "b", at(6)).await;
    // Carol: asked, and talked to Bob since (not to the assistant): still pending.
    let carol_pending = add_message(&storage, carol, assistant, "c", at(7)).await;
    add_message(&storage, carol, bob, "cb", at(8)).await;
    let forgotten = |before: Timestamp, scan: u32| {
        let storage = storage.clone();
        async move {
            storage
                .messages
                .unanswered_questions(before, scan)
                .await
                .unwrap()
                .into_iter()
                .map(|pending| pending.question.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        forgotten(at(100), 200).await,
        vec![alice_pending.id, carol_pending.id]
    );
    assert_eq!(
        forgotten(at(7), 200).await,
        vec![alice_pending.id],
        "asked before the bound only"
    );
    assert_eq!(
        forgotten(at(100), 1).await,
        vec![carol_pending.id],
        "among the newest questions scanned"
    );
}

pub async fn a_question_is_claimed_until_its_deadline_and_answered_once(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let question = add_message(&storage, alice, UserId::ASSISTANT, "a", at(1)).await;
    let state = |storage: Storage| async move {
        let pending = storage
            .messages
            .unanswered_questions(at(1000), 10)
            .await
            .unwrap();
        pending.first().map(|pending| pending.state)
    };
    assert_eq!(state(storage.clone()).await, Some(QuestionState::default()));
    let claim = |now: i64, until: i64| {
        let storage = storage.clone();
        async move {
            storage
                .messages
                .claim_question(question.id, at(now), at(until))
                .await
                .unwrap()
        }
    };
    assert!(claim(2, 10).await, "an unclaimed question is taken");
    assert!(!claim(9, 100).await, "a live claim stands");
    assert!(claim(10, 20).await, "an expired one is taken again");
    assert_eq!(
        state(storage.clone()).await,
        Some(QuestionState {
            claimed_until: Some(at(20)),
            answered: false,
        })
    );

    let first = storage
        .messages
        .store_reply(question.id, reply_to(&question, at(12)))
        .await
        .unwrap()
        .expect("the first reply is stored");
    assert_eq!(first.message.recipient_id, alice);
    assert_eq!(
        first.recipient_position,
        Some(2),
        "it takes Alice's next position"
    );
    let again = storage
        .messages
        .store_reply(question.id, reply_to(&question, at(13)))
        .await
        .unwrap();
    assert!(again.is_none(), "a second reply is not stored");
    assert_eq!(
        storage.messages.latest_position(alice).await.unwrap(),
        2,
        "nor takes a position"
    );
    assert!(
        !claim(100, 200).await,
        "an answered question is not taken again"
    );
    // Its reply deleted, the question is the newest again, but stays answered.
    storage
        .messages
        .delete_message(first.message.id)
        .await
        .unwrap();
    assert_eq!(
        state(storage.clone()).await.map(|state| state.answered),
        Some(true)
    );

    // A reply needs no claim (the first stored wins); a question gone takes neither.
    let unclaimed = add_message(&storage, alice, UserId::ASSISTANT, "a", at(20)).await;
    let stored = storage
        .messages
        .store_reply(unclaimed.id, reply_to(&unclaimed, at(21)))
        .await
        .unwrap();
    assert!(stored.is_some());
    let gone = add_message(&storage, alice, UserId::ASSISTANT, "a", at(22)).await;
    storage.messages.delete_message(gone.id).await.unwrap();
    assert!(
        !storage
            .messages
            .claim_question(gone.id, at(23), at(30))
            .await
            .unwrap()
    );
    assert!(
        storage
            .messages
            .store_reply(gone.id, reply_to(&gone, at(23)))
            .await
            .unwrap()
            .is_none()
    );
}

/// The assistant's reply is stored only while its question is: none to a question the user
/// deleted while the model thought.
pub async fn a_reply_is_stored_only_while_its_question_is(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let kept = add_message(&storage, alice, UserId::ASSISTANT, "kept", at(1)).await;
    let reply = storage
        .messages
        .store_reply(kept.id, reply_to(&kept, at(2)))
        .await
        .unwrap()
        .expect("a reply to a stored question is stored");
    assert_eq!(reply.message.recipient_id, alice);
    assert_eq!(reply.recipient_position, Some(2), "Alice's next position");

    let deleted = add_message(&storage, alice, UserId::ASSISTANT, "deleted", at(3)).await;
    assert!(storage.messages.delete_message(deleted.id).await.unwrap());
    let dropped = storage
        .messages
        .store_reply(deleted.id, reply_to(&deleted, at(4)))
        .await
        .unwrap();
    assert!(dropped.is_none(), "no reply to a deleted question");
    let between = storage
        .messages
        .messages_between(alice, UserId::ASSISTANT, MessageId::new(0), 10)
        .await
        .unwrap();
    let ids: Vec<MessageId> = between.iter().map(|m| m.id).collect();
    assert_eq!(
        ids,
        vec![kept.id, reply.message.id],
        "nothing else was stored"
    );
    assert_eq!(
        storage.messages.latest_position(alice).await.unwrap(),
        3,
        "the dropped reply took no position"
    );
}

/// Sends of every outcome at once (a store may commit them together): each caller gets the
/// answer of its own job, only the accepted ones are stored, each with its own content and
/// sender, and every party's positions stay dense.
pub async fn concurrent_sends_of_every_outcome_each_get_their_own_answer(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let carol = add_user(&storage, "carol").await.id;
    let (alices, _) = add_session(&storage, alice, "a", t0()).await;
    let (carols, _) = add_session(&storage, carol, "c", t0()).await;
    let hidden = add_message(&storage, bob, carol, "not alice's", at(1)).await;
    let bound = sent(
        send(
            &storage,
            send_job(alice, alices.id, bob, Some("alice-and-bob"), None),
        )
        .await,
    );
    const ROUNDS: usize = 12;
    let mut tasks = Vec::new();
    for round in 0..ROUNDS {
        for kind in 0..6 {
            let storage = storage.clone();
            let (alices, carols) = (alices.id, carols.id);
            let content = format!("{kind}-{round}");
            tasks.push(tokio::spawn(async move {
                let mut job = match kind {
                    0 => send_job(alice, alices, bob, None, None),
                    1 => send_job(alice, SessionId::new(9_999), bob, None, None),
                    2 => send_job(alice, alices, UserId::new(424_242), None, None),
                    3 => send_job(alice, alices, bob, None, Some(hidden.id)),
                    4 => send_job(carol, carols, alice, None, None),
                    _ => send_job(carol, carols, alice, Some("alice-and-bob"), None),
                };
                job.content = MessageContent::parse(content.clone()).unwrap();
                let answer = storage.messages.send_message(job).await.unwrap();
                (kind, content, answer)
            }));
        }
    }
    let mut stored = Vec::new();
    for task in tasks {
        let (kind, content, answer) = task.await.unwrap();
        match (kind, answer) {
            (0 | 4, Gated::Admitted(admitted, SendOutcome::Sent(delivered))) => {
                let sender = if kind == 0 { alice } else { carol };
                assert_eq!(admitted.caller().user.id, sender);
                assert_eq!(delivered.message.sender_id, sender, "{content}");
                assert_eq!(delivered.message.content.as_str(), content);
                stored.push(delivered.message.id);
            }
            (1, Gated::Refused(SessionRefusal::InvalidCredentials)) => {}
            (2, Gated::Admitted(_, SendOutcome::RecipientNotFound)) => {}
            (3, Gated::Admitted(_, SendOutcome::ParentNotFound)) => {}
            (5, Gated::Admitted(_, SendOutcome::NotAParticipant)) => {}
            (kind, other) => panic!("job {content} (kind {kind}) answered {other:?}"),
        }
    }
    assert_eq!(stored.len(), 2 * ROUNDS);
    // Alice: the bound message, then every stored one; each at one position, none skipped.
    let replay = storage
        .messages
        .messages_after(alice, 0, 10_000)
        .await
        .unwrap();
    let positions: Vec<i64> = replay.iter().map(|m| m.position).collect();
    assert_eq!(positions, (1..=1 + 2 * ROUNDS as i64).collect::<Vec<_>>());
    let mut replayed: Vec<MessageId> = replay.iter().map(|m| m.message.id).collect();
    assert_eq!(replayed.remove(0), bound.id);
    replayed.sort();
    stored.sort();
    assert_eq!(replayed, stored, "exactly the accepted sends are stored");
}
