//! Contract cases for changes that race each other: what every adapter must serialise.

use ai_message_core::ports::*;
use ai_message_core::*;
use chrono::TimeDelta;

use super::live::reply_to;
use super::{add_message, add_session, add_user, at, new_session, t0};

async fn make_superuser(storage: &Storage, name: &str) -> User {
    let user = add_user(storage, name).await;
    storage
        .users
        .set_user_superuser(user.id, true, t0())
        .await
        .unwrap();
    user
}

pub async fn a_session_opens_only_while_the_verified_hash_and_activity_hold(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let bob = add_user(&storage, "bob").await;
    let carol = add_user(&storage, "carol").await;
    let (kept, _) = add_session(&storage, alice.id, "kept", t0()).await;
    storage
        .users
        .change_password(alice.id, PasswordHash::new("$2b$04$new"), kept.id, at(1))
        .await
        .unwrap();
    storage
        .users
        .set_user_active(bob.id, false, at(1))
        .await
        .unwrap();
    storage.users.delete_user(carol.id).await.unwrap();
    for (user, tag) in [
        (&alice, "old-hash"),
        (&bob, "disabled"),
        (&carol, "deleted"),
    ] {
        let (session, token) = new_session(user.id, &user.hashed_password, tag, at(2));
        let opened = storage
            .sessions
            .create_session(session, token)
            .await
            .unwrap();
        assert_eq!(opened, None, "{tag}: no session may open");
        assert_eq!(
            storage
                .sessions
                .find_refresh_token(&RefreshTokenHash::new(format!("refresh-hash-{tag}")))
                .await
                .unwrap(),
            None,
            "{tag}: nothing stored"
        );
    }
    let (session, token) = new_session(
        alice.id,
        &PasswordHash::new("$2b$04$new"),
        "new-hash",
        at(2),
    );
    assert!(
        storage
            .sessions
            .create_session(session, token)
            .await
            .unwrap()
            .is_some(),
        "the current hash opens a session"
    );
}

pub async fn the_last_active_superuser_cannot_be_demoted_disabled_or_deleted(storage: Storage) {
    let root = make_superuser(&storage, "root").await;
    let admin = make_superuser(&storage, "admin").await;
    // A disabled superuser does not count as one that remains.
    let dormant = make_superuser(&storage, "dormant").await;
    assert_eq!(
        storage
            .users
            .set_user_active(dormant.id, false, at(1))
            .await
            .unwrap(),
        AccountChange::Changed
    );
    assert_eq!(
        storage
            .users
            .set_user_superuser(admin.id, false, at(2))
            .await
            .unwrap(),
        AccountChange::Changed
    );
    let users = &storage.users;
    assert_eq!(
        users
            .set_user_superuser(root.id, false, at(3))
            .await
            .unwrap(),
        AccountChange::LastSuperuser
    );
    assert_eq!(
        users.set_user_active(root.id, false, at(3)).await.unwrap(),
        AccountChange::LastSuperuser
    );
    assert_eq!(
        users.delete_user(root.id).await.unwrap(),
        AccountChange::LastSuperuser
    );
    let stored = users.get_user(root.id).await.unwrap().expect("still there");
    assert!(stored.is_active && stored.is_superuser);
    // Changes that keep a superuser are still allowed.
    assert_eq!(
        users
            .set_user_superuser(root.id, true, at(4))
            .await
            .unwrap(),
        AccountChange::Changed
    );
    assert_eq!(
        users.delete_user(admin.id).await.unwrap(),
        AccountChange::Changed
    );
}

pub async fn superusers_demoting_each_other_at_once_leave_one(storage: Storage) {
    for round in 0..10 {
        let a = make_superuser(&storage, &format!("a{round}")).await;
        let b = make_superuser(&storage, &format!("b{round}")).await;
        // Everyone else stops being a superuser first, so a and b are the only two.
        let others: Vec<User> = storage
            .users
            .list_users(Page::new(0, 500).unwrap())
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.is_superuser && u.id != a.id && u.id != b.id)
            .collect();
        for other in others {
            storage
                .users
                .set_user_superuser(other.id, false, at(1))
                .await
                .unwrap();
        }
        let demote = |id: UserId, variant: usize| {
            let users = storage.users.clone();
            tokio::spawn(async move {
                match variant % 3 {
                    0 => users.set_user_superuser(id, false, at(2)).await,
                    1 => users.set_user_active(id, false, at(2)).await,
                    _ => users.delete_user(id).await,
                }
            })
        };
        let first = demote(a.id, round);
        let second = demote(b.id, round + 1);
        let outcomes = [
            first.await.unwrap().unwrap(),
            second.await.unwrap().unwrap(),
        ];
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == AccountChange::LastSuperuser)
                .count(),
            1,
            "round {round}: {outcomes:?}"
        );
        let remaining = storage
            .users
            .list_users(Page::new(0, 500).unwrap())
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.is_superuser && u.is_active)
            .count();
        assert_eq!(remaining, 1, "round {round}");
    }
}

pub async fn a_login_racing_a_delete_either_wins_cleanly_or_opens_nothing(storage: Storage) {
    for round in 0..12 {
        let user = add_user(&storage, &format!("victim{round}")).await;
        let (session, token) = new_session(
            user.id,
            &user.hashed_password,
            &format!("race{round}"),
            at(1),
        );
        let sessions = storage.sessions.clone();
        let users = storage.users.clone();
        let login = tokio::spawn(async move { sessions.create_session(session, token).await });
        let delete = tokio::spawn(async move { users.delete_user(user.id).await });
        let opened = login
            .await
            .unwrap()
            .expect("no storage error for the login");
        assert_eq!(
            delete
                .await
                .unwrap()
                .expect("no storage error for the delete"),
            AccountChange::Changed
        );
        if let Some((session, _)) = opened {
            assert_eq!(
                storage
                    .sessions
                    .get_session_with_user(session.id)
                    .await
                    .unwrap(),
                None,
                "round {round}: the delete removed the session opened before it"
            );
        }
    }
}

pub async fn logout_all_racing_rotations_never_fails(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    for round in 0..15 {
        let mut firsts = Vec::new();
        for s in 0..3 {
            let (_, first) = add_session(&storage, alice.id, &format!("r{round}s{s}"), t0()).await;
            firsts.push(first);
        }
        let mut tasks = Vec::new();
        for (s, first) in firsts.into_iter().enumerate() {
            let sessions = storage.sessions.clone();
            tasks.push(tokio::spawn(async move {
                let next = NewRefreshToken {
                    token_hash: RefreshTokenHash::new(format!("refresh-hash-next-{round}-{s}")),
                    expires_at: at(60) + TimeDelta::days(7),
                    created_at: at(60),
                };
                sessions
                    .rotate_refresh_token(first.id, next, at(60))
                    .await
                    .map(|_| ())
            }));
        }
        let sessions = storage.sessions.clone();
        tasks.push(tokio::spawn(async move {
            sessions
                .end_all_sessions(alice.id, at(60))
                .await
                .map(|_| ())
        }));
        for task in tasks {
            task.await.unwrap().expect("no deadlock, no storage error");
        }
        assert!(
            storage
                .sessions
                .list_live_sessions(alice.id, at(61))
                .await
                .unwrap()
                .is_empty(),
            "round {round}: logout-all left a live session"
        );
    }
}

fn throttle_key(name: &str, max: u32) -> ThrottleKey {
    ThrottleKey {
        key: name.to_string(),
        quota: Quota::new(max, TimeDelta::minutes(15)),
    }
}

pub async fn simultaneous_login_reservations_never_pass_the_quota(storage: Storage) {
    let keys = vec![
        throttle_key("pair:user:1|198.51.100.1", 5),
        throttle_key("account:user:1", 100),
    ];
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let attempts = storage.login_attempts.clone();
        let keys = keys.clone();
        tasks.push(tokio::spawn(
            async move { attempts.reserve(&keys, at(1)).await },
        ));
    }
    let mut admitted = Vec::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Reservation::Admitted(id) => admitted.push(id),
            Reservation::Refused { retry_after } => {
                assert!(retry_after > TimeDelta::zero() && retry_after <= TimeDelta::minutes(15));
            }
        }
    }
    assert_eq!(admitted.len(), 5);
    // A released reservation frees its place; a cleared key starts again.
    storage
        .login_attempts
        .release(admitted[0], &keys)
        .await
        .unwrap();
    assert!(matches!(
        storage.login_attempts.reserve(&keys, at(2)).await.unwrap(),
        Reservation::Admitted(_)
    ));
    assert!(matches!(
        storage.login_attempts.reserve(&keys, at(2)).await.unwrap(),
        Reservation::Refused { .. }
    ));
    storage.login_attempts.clear(&keys[0].key).await.unwrap();
    assert!(matches!(
        storage.login_attempts.reserve(&keys, at(3)).await.unwrap(),
        Reservation::Admitted(_)
    ));
    // The window slides: fifteen minutes later the old attempts no longer count.
    for _ in 0..4 {
        storage.login_attempts.reserve(&keys, at(3)).await.unwrap();
    }
    assert!(matches!(
        storage.login_attempts.reserve(&keys, at(4)).await.unwrap(),
        Reservation::Refused { .. }
    ));
    assert!(matches!(
        storage
            .login_attempts
            .reserve(&keys, at(4) + TimeDelta::minutes(15))
            .await
            .unwrap(),
        Reservation::Admitted(_)
    ));
}

/// Instances claiming one question at once: one wins; replies to it racing: one is stored.
pub async fn racing_claims_and_replies_to_one_question_have_one_winner_each(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    for round in 0..20 {
        let question = add_message(&storage, alice, UserId::ASSISTANT, "a", at(round)).await;
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(8));
        let racers: Vec<_> = (0..8)
            .map(|i| {
                let storage = storage.clone();
                let question = question.clone();
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    let claimed = storage
                        .messages
                        .claim_question(question.id, at(round), at(round + 60))
                        .await
                        .unwrap();
                    let reply = NewMessage {
                        content: MessageContent::parse(format!("answer {i}")).unwrap(),
                        ..reply_to(&question, at(round))
                    };
                    start.wait().await;
                    let stored = storage
                        .messages
                        .store_reply(question.id, reply)
                        .await
                        .unwrap()
                        .is_some();
                    (claimed, stored)
                })
            })
            .collect();
        let (mut claimed, mut stored) = (0, 0);
        for racer in racers {
            let (won_claim, won_reply) = racer.await.unwrap();
            claimed += usize::from(won_claim);
            stored += usize::from(won_reply);
        }
        assert_eq!(claimed, 1, "round {round}: exactly one claim is taken");
        assert_eq!(stored, 1, "round {round}: exactly one reply is stored");
        let replies = storage
            .messages
            .messages_between(alice, UserId::ASSISTANT, question.id, 10)
            .await
            .unwrap();
        assert_eq!(replies.len(), 1, "round {round}: {replies:?}");
    }
}
