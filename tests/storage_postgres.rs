//! The storage contract against the PostgreSQL adapter, each case in its own database.

use ai_message_testkit::{postgres, storage_contract_tests};

storage_contract_tests!(postgres::fresh_postgres, skip_when postgres::skip);

/// Two instances on one database count failed logins together: the limit is global.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_counters_are_shared_by_every_instance_on_the_database() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    use ai_message_core::ports::{Quota, Reservation, ThrottleKey};
    use ai_message_postgres::{PostgresStore, PostgresUrl};
    use chrono::TimeDelta;

    let (first, database) = postgres::fresh_postgres().await;
    let url = PostgresUrl::parse(&database.url).unwrap();
    let second = PostgresStore::open(&url, 2).await.unwrap().storage();
    let keys = [ThrottleKey {
        key: "pair:user:7|203.0.113.5".into(),
        quota: Quota::new(4, TimeDelta::minutes(15)),
    }];
    let now = chrono::Utc::now();
    let mut admitted = 0;
    for round in 0..8 {
        let instance = if round % 2 == 0 { &first } else { &second };
        if let Reservation::Admitted(_) = instance.login_attempts.reserve(&keys, now).await.unwrap()
        {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 4, "4 in all, not 4 per instance");
}

/// Two instances send at once over crossing pairs and new named conversations, so their
/// send batches share users in every order: no send fails (no deadlock surfaces), and each
/// user's positions count exactly their messages, without gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_sends_of_two_instances_over_crossing_pairs_all_land_in_order() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    use ai_message_core::ports::{SendJob, SendOutcome};
    use ai_message_core::{AccessClaim, ConversationId, Gated, MessageContent, SessionGate};
    use ai_message_postgres::{PostgresStore, PostgresUrl};
    use ai_message_testkit::storage_contract::{add_session, add_user, at, t0};

    let (first, database) = postgres::fresh_postgres().await;
    let url = PostgresUrl::parse(&database.url).unwrap();
    let second = PostgresStore::open(&url, 4).await.unwrap().storage();
    const USERS: usize = 6;
    const SENDS: usize = 240;
    let mut users = Vec::new();
    for n in 0..USERS {
        let user = add_user(&first, &format!("user{n}")).await.id;
        let (session, _) = add_session(&first, user, &format!("s{n}"), t0()).await;
        users.push((user, session.id));
    }
    let mut tasks = Vec::new();
    for i in 0..SENDS {
        let instance = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let (from, session) = users[i % USERS];
        let (to, _) = users[(i * 5 + 1 + i / USERS) % USERS];
        // Every eighth send names a conversation of its own: a binding in the batch.
        let conversation =
            (i % 8 == 0).then(|| ConversationId::parse(format!("topic-{i}")).unwrap());
        tasks.push(tokio::spawn(async move {
            let job = SendJob {
                gate: SessionGate::new(AccessClaim::new(from, session), at(1)),
                recipient_id: to,
                content: MessageContent::parse(format!("m{i}")).unwrap(),
                parent_id: None,
                conversation_id: conversation,
                created_at: at(1),
            };
            let answer = instance.messages.send_message(job).await;
            (from, to, answer)
        }));
    }
    let mut expected = std::collections::HashMap::new();
    for task in tasks {
        let (from, to, answer) = task.await.unwrap();
        match answer {
            Ok(Gated::Admitted(_, SendOutcome::Sent(_))) => {}
            other => panic!("{from} -> {to}: {other:?}"),
        }
        *expected.entry(from).or_insert(0_i64) += 1;
        if to != from {
            *expected.entry(to).or_insert(0_i64) += 1;
        }
    }
    for (user, _) in &users {
        let positions: Vec<i64> = second
            .messages
            .messages_after(*user, 0, 10_000)
            .await
            .unwrap()
            .iter()
            .map(|m| m.position)
            .collect();
        let count = expected.get(user).copied().unwrap_or(0);
        assert_eq!(positions, (1..=count).collect::<Vec<_>>(), "user {user}");
    }
}
