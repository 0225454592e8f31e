//! The storage contract: what every storage adapter must do, written once against the ports.
//!
//! An adapter's test file builds a fresh, empty [`Storage`] per case and expands
//! [`storage_contract_tests!`] with that factory, so each case runs as its own test.

use std::collections::BTreeSet;

mod channels;
mod live;
mod races;
mod reports;
mod summaries;
mod sweeps;
pub use channels::*;
pub use live::*;
pub use races::*;
pub use reports::*;
pub use summaries::*;
pub use sweeps::*;

use ai_message_core::ports::*;
use ai_message_core::*;
use chrono::{TimeDelta, TimeZone, Utc};

/// Expands to one `#[tokio::test]` per contract case. `($factory)().await` gives a fresh
/// storage and a guard that keeps it alive (a temporary directory, a scratch database).
#[macro_export]
macro_rules! storage_contract_tests {
    ($factory:expr) => {
        $crate::storage_contract_tests!($factory, skip_when $crate::never_skip);
    };
    // `$skip()` true: every case returns at once (PostgreSQL without a server).
    ($factory:expr, skip_when $skip:expr) => {
        $crate::storage_contract_tests!(@cases $factory; $skip;
            user_ids_increase_and_new_users_get_the_defaults,
            duplicate_username_or_email_is_refused,
            user_lookups_are_exact,
            list_users_orders_by_id_and_pages,
            update_profile_changes_only_the_given_fields,
            phone_numbers_are_unique_and_can_be_set_and_cleared,
            change_password_ends_every_other_session,
            deactivating_a_user_ends_their_sessions,
            set_superuser_changes_the_flag,
            delete_user_cascades_but_keeps_messages,
            ids_are_never_reused_after_a_delete,
            role_names_are_unique,
            roles_list_get_and_delete_with_links,
            replace_user_roles_is_all_or_nothing,
            create_session_stores_it_with_its_first_token,
            list_live_sessions_skips_ended_and_expired_newest_first,
            end_session_is_for_the_owner_and_uses_up_its_tokens,
            end_all_sessions_ends_every_session_of_the_user,
            rotation_happens_once_and_extends_the_session,
            concurrent_rotations_of_one_token_have_one_winner,
            revoke_refresh_token_marks_it_used,
            messages_are_created_read_back_updated_and_deleted,
            list_scopes_select_the_right_messages,
            lists_return_the_newest_page_oldest_first_ties_by_id,
            unread_count_and_mark_all_read,
            conversation_summaries_describe_each_conversation,
            conversation_summaries_break_time_ties_by_id,
            conversation_lists_follow_every_kind_of_write,
            conversation_lists_stay_exact_under_concurrent_writes,
            session_reads_answer_what_the_two_calls_would,
            concurrent_message_inserts_are_all_stored,
            ping_answers,
            a_session_opens_only_while_the_verified_hash_and_activity_hold,
            the_last_active_superuser_cannot_be_demoted_disabled_or_deleted,
            superusers_demoting_each_other_at_once_leave_one,
            a_login_racing_a_delete_either_wins_cleanly_or_opens_nothing,
            logout_all_racing_rotations_never_fails,
            simultaneous_login_reservations_never_pass_the_quota,
            positions_count_each_users_messages_without_gap_or_reuse,
            messages_after_are_what_a_stream_missed_in_position_order,
            concurrent_sends_to_one_user_take_every_position_once,
            concurrent_sends_of_every_outcome_each_get_their_own_answer,
            a_send_checks_session_recipient_parent_and_conversation_in_one_job,
            a_refused_send_writes_nothing,
            a_canonical_conversation_holds_only_its_pair,
            a_named_conversation_is_bound_by_its_first_message,
            racing_first_sends_bind_a_conversation_to_one_pair,
            a_stream_ticket_opens_once_and_only_before_it_expires,
            concurrent_redemptions_of_one_ticket_have_one_winner,
            messages_between_two_users_are_the_newest_page_oldest_first,
            the_assistant_clear_point_is_kept_per_user,
            forgotten_questions_are_the_newest_unanswered_ones,
            a_question_is_claimed_until_its_deadline_and_answered_once,
            racing_claims_and_replies_to_one_question_have_one_winner_each,
            a_sweep_leaves_a_question_another_instance_is_answering,
            an_expired_claim_is_taken_by_exactly_one_sweeper,
            racing_replies_to_a_question_store_one_and_send_one,
            a_swept_answer_to_a_text_goes_out_on_its_channel,
            a_reply_is_stored_only_while_its_question_is,
            a_report_is_stored_open_with_its_names,
            report_lists_are_newest_first_filtered_and_paged,
            only_the_reporter_edits_an_open_report,
            answers_stamp_and_clear_the_resolution,
            a_users_deletion_takes_their_reports_and_keeps_what_they_resolved,
            an_edit_racing_an_answer_never_changes_a_report_in_progress,
            report_writes_by_a_gone_or_disabled_actor_write_nothing,
            report_writes_racing_their_actors_deletion_land_first_or_are_refused,
            a_filing_racing_its_reporters_disabling_lands_first_or_is_refused,
            simultaneous_filings_never_pass_the_report_quota,
            a_user_is_found_by_their_exact_phone_number,
            a_number_is_proven_by_a_live_code_of_its_claim_only,
            wrong_codes_use_up_a_claims_code,
            a_roster_number_racing_its_proof_leaves_one_holder,
            a_channel_message_is_stored_once_per_id,
            racing_deliveries_of_one_channel_message_store_it_once,
            channel_receipts_are_taken_all_or_none,
            racing_copies_of_a_text_answered_unstored_take_its_receipt_once,
            a_fixed_reply_is_recorded_once_per_quiet_period,
        );
    };
    (@cases $factory:expr; $skip:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if ($skip)() {
                    return;
                }
                let (storage, _guard) = ($factory)().await;
                $crate::storage_contract::$case(storage).await;
            }
        )*
    };
}

/// A fixed instant with microseconds, as storage keeps them.
pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap() + TimeDelta::microseconds(123_456)
}

pub fn at(seconds: i64) -> Timestamp {
    t0() + TimeDelta::seconds(seconds)
}

pub fn new_user(name: &str) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        email: Email::parse(format!("{name}@example.com")).unwrap(),
        hashed_password: PasswordHash::new(format!("$2b$04$hash-of-{name}")),
        is_superuser: false,
        full_name: None,
        created_at: t0(),
        phone_number: None,
        unverified_phone_number: None,
    }
}

pub async fn add_user(storage: &Storage, name: &str) -> User {
    storage.users.create_user(new_user(name)).await.unwrap()
}

/// A session for a user whose password hash is `password_hash` (what the login verified).
pub fn new_session(
    user_id: UserId,
    password_hash: &PasswordHash,
    tag: &str,
    created_at: Timestamp,
) -> (NewSession, NewRefreshToken) {
    let session = NewSession {
        user_id,
        verified_password_hash: password_hash.clone(),
        session_token: SessionToken::new(format!("session-token-{tag}")),
        device_info: Some(DeviceInfo::recorded("test-agent")),
        ip_address: Some(IpAddress::recorded("127.0.0.1")),
        expires_at: created_at + TimeDelta::days(7),
        created_at,
    };
    let token = NewRefreshToken {
        token_hash: RefreshTokenHash::new(format!("refresh-hash-{tag}")),
        expires_at: created_at + TimeDelta::days(7),
        created_at,
    };
    (session, token)
}

pub async fn add_session(
    storage: &Storage,
    user_id: UserId,
    tag: &str,
    created_at: Timestamp,
) -> (Session, RefreshToken) {
    let user = storage.users.get_user(user_id).await.unwrap().unwrap();
    let (session, token) = new_session(user_id, &user.hashed_password, tag, created_at);
    storage
        .sessions
        .create_session(session, token)
        .await
        .unwrap()
        .expect("the user is active and has this hash")
}

pub async fn add_message(
    storage: &Storage,
    sender: UserId,
    recipient: UserId,
    conversation: &str,
    created_at: Timestamp,
) -> Message {
    Message::clone(
        &add_delivered(storage, sender, recipient, conversation, created_at)
            .await
            .message,
    )
}

pub async fn add_delivered(
    storage: &Storage,
    sender: UserId,
    recipient: UserId,
    conversation: &str,
    created_at: Timestamp,
) -> Delivered {
    storage
        .messages
        .create_message(NewMessage {
            sender_id: sender,
            recipient_id: recipient,
            content: MessageContent::parse(format!("from {sender} to {recipient}")).unwrap(),
            parent_id: None,
            conversation_id: ConversationId::parse(conversation).unwrap(),
            created_at,
        })
        .await
        .unwrap()
}

fn ids(messages: &[Message]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id).collect()
}

async fn token(storage: &Storage, hash: &str) -> RefreshToken {
    storage
        .sessions
        .find_refresh_token(&RefreshTokenHash::new(hash))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no refresh token {hash}"))
}

async fn session(storage: &Storage, id: SessionId) -> Session {
    storage
        .sessions
        .get_session_with_user(id)
        .await
        .unwrap()
        .expect("session exists")
        .0
}

pub async fn user_ids_increase_and_new_users_get_the_defaults(storage: Storage) {
    let mut new = new_user("alice");
    new.full_name = Some(FullName::parse("Alice Liddell").unwrap());
    let alice = storage.users.create_user(new).await.unwrap();
    let bob = add_user(&storage, "bob").await;
    assert!(bob.id > alice.id);
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.email, "alice@example.com");
    assert_eq!(alice.hashed_password.expose(), "$2b$04$hash-of-alice");
    assert!(alice.is_active);
    assert!(!alice.is_superuser);
    assert_eq!(alice.full_name.as_deref(), Some("Alice Liddell"));
    assert_eq!(alice.bio, None);
    assert_eq!(alice.created_at, t0());
    assert_eq!(alice.updated_at, t0());
    let stored = storage.users.get_user(alice.id).await.unwrap().unwrap();
    assert_eq!(stored, alice);

    let mut root = new_user("root");
    root.is_superuser = true;
    assert!(storage.users.create_user(root).await.unwrap().is_superuser);
    assert_eq!(
        storage.users.get_user(UserId::new(9_999)).await.unwrap(),
        None
    );
}

pub async fn duplicate_username_or_email_is_refused(storage: Storage) {
    add_user(&storage, "alice").await;
    let mut same_name = new_user("alice");
    same_name.email = Email::parse("other@example.com").unwrap();
    assert!(matches!(
        storage.users.create_user(same_name).await,
        Err(InsertError::Duplicate)
    ));
    let mut same_email = new_user("alicia");
    same_email.email = Email::parse("alice@example.com").unwrap();
    assert!(matches!(
        storage.users.create_user(same_email).await,
        Err(InsertError::Duplicate)
    ));
    assert_eq!(
        storage
            .users
            .list_users(Page::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn user_lookups_are_exact(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let by_name = storage.users.find_user_by_username("alice").await.unwrap();
    assert_eq!(by_name.map(|u| u.id), Some(alice.id));
    let by_email = storage
        .users
        .find_user_by_email("alice@example.com")
        .await
        .unwrap();
    assert_eq!(by_email.map(|u| u.id), Some(alice.id));
    assert_eq!(
        storage.users.find_user_by_username("Alice").await.unwrap(),
        None
    );
    assert_eq!(
        storage.users.find_user_by_username("alic").await.unwrap(),
        None
    );
    assert_eq!(
        storage.users.find_user_by_username("%").await.unwrap(),
        None
    );
    assert_eq!(
        storage
            .users
            .find_user_by_email("ALICE@example.com")
            .await
            .unwrap(),
        None
    );
}

pub async fn list_users_orders_by_id_and_pages(storage: Storage) {
    let mut created = Vec::new();
    for name in ["u1", "u2", "u3", "u4", "u5"] {
        created.push(add_user(&storage, name).await.id);
    }
    let all = storage.users.list_users(Page::default()).await.unwrap();
    assert_eq!(all.iter().map(|u| u.id).collect::<Vec<_>>(), created);
    let window = storage
        .users
        .list_users(Page::new(1, 2).unwrap())
        .await
        .unwrap();
    assert_eq!(
        window.iter().map(|u| u.id).collect::<Vec<_>>(),
        created[1..3]
    );
    let beyond = storage
        .users
        .list_users(Page::new(10, 2).unwrap())
        .await
        .unwrap();
    assert!(beyond.is_empty());
}

/// A code for `number` that expires at `expires_at`.
pub fn phone_claim(number: &str, code: &str, expires_at: Timestamp) -> NewPhoneClaim {
    let phone_number = PhoneNumber::parse(number).unwrap();
    NewPhoneClaim {
        code: IssuedPhoneCode {
            code_hash: PhoneCode::from_text(code).unwrap().hash_for(&phone_number),
            expires_at,
        },
        phone_number,
    }
}

/// Proven numbers (`users.phone_number`) are unique: `PhoneTaken` on insert, nothing
/// stored. Claims block nobody, are never found by number, and a claim of another number
/// gives the proven one up; a cleared number is free again.
pub async fn phone_numbers_are_unique_and_can_be_set_and_cleared(storage: Storage) {
    let phone = |text: &str| PhoneNumber::parse(text).unwrap();
    let mut new_mallory = new_user("mallory");
    new_mallory.unverified_phone_number = Some(phone("+60123456789"));
    let mallory = storage.users.create_user(new_mallory).await.unwrap();
    assert_eq!(
        (
            mallory.phone_number.clone(),
            mallory.unverified_phone_number.clone()
        ),
        (None, Some(phone("+60123456789")))
    );
    let mut new_alice = new_user("alice");
    new_alice.phone_number = Some(phone("+60123456789"));
    let alice = storage.users.create_user(new_alice).await.unwrap();
    assert_eq!(alice.phone_number, Some(phone("+60123456789")));
    assert_eq!(
        storage
            .users
            .get_user(mallory.id)
            .await
            .unwrap()
            .unwrap()
            .unverified_phone_number,
        None,
        "a proven number drops the other claims of it"
    );
    let mut new_bob = new_user("bob");
    new_bob.phone_number = Some(phone("+60123456789"));
    assert!(matches!(
        storage.users.create_user(new_bob).await,
        Err(InsertError::PhoneTaken)
    ));
    assert_eq!(
        storage.users.find_user_by_username("bob").await.unwrap(),
        None,
        "nothing of the refused account is stored"
    );
    let bob = storage.users.create_user(new_user("bob")).await.unwrap();
    let carol = storage.users.create_user(new_user("carol")).await.unwrap();
    assert_eq!((bob.phone_number.clone(), carol.phone_number), (None, None));

    // A claim of a proven number blocks nobody and routes nothing.
    let claiming = ProfileUpdate {
        full_name: Some(FullName::parse("Bob").unwrap()),
        bio: None,
        phone_number: Some(phone("+60123456789")),
    };
    let bob = storage
        .users
        .update_profile(bob.id, claiming, at(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            bob.phone_number.clone(),
            bob.unverified_phone_number.clone()
        ),
        (None, Some(phone("+60123456789")))
    );
    let found = storage
        .users
        .find_user_by_phone(&phone("+60123456789"))
        .await;
    assert_eq!(found.unwrap().map(|u| u.id), Some(alice.id));

    let set = storage
        .users
        .claim_phone_number(
            bob.id,
            Some(phone_claim("+442079460958", "12345678", at(900))),
            at(2),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(set.unverified_phone_number, Some(phone("+442079460958")));
    assert_eq!(set.updated_at, at(2));
    // Her proven number claimed again stays proven; another claim gives it up.
    let again = storage
        .users
        .claim_phone_number(
            alice.id,
            Some(phone_claim("+60123456789", "11112222", at(900))),
            at(3),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            again.phone_number.clone(),
            again.unverified_phone_number.clone()
        ),
        (Some(phone("+60123456789")), None)
    );
    let moved = storage
        .users
        .claim_phone_number(
            alice.id,
            Some(phone_claim("+60198765432", "11112222", at(900))),
            at(3),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            moved.phone_number.clone(),
            moved.unverified_phone_number.clone()
        ),
        (None, Some(phone("+60198765432")))
    );
    let cleared = storage
        .users
        .claim_phone_number(alice.id, None, at(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (cleared.phone_number, cleared.unverified_phone_number),
        (None, None)
    );
    let mut new_dave = new_user("dave");
    new_dave.phone_number = Some(phone("+60123456789"));
    let dave = storage.users.create_user(new_dave).await.unwrap();
    assert_eq!(dave.phone_number, Some(phone("+60123456789")), "free again");
    let kept = storage
        .users
        .update_profile(dave.id, ProfileUpdate::default(), at(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        kept.phone_number,
        Some(phone("+60123456789")),
        "absent stays"
    );
    let same = ProfileUpdate {
        phone_number: Some(phone("+60123456789")),
        ..ProfileUpdate::default()
    };
    let kept = storage.users.update_profile(dave.id, same, at(5)).await;
    assert_eq!(
        kept.unwrap().unwrap().phone_number,
        Some(phone("+60123456789")),
        "the proven number given again stays proven"
    );
    assert_eq!(
        storage
            .users
            .claim_phone_number(UserId::new(9_999), None, at(6))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        storage
            .users
            .update_profile(UserId::new(9_999), ProfileUpdate::default(), at(6))
            .await
            .unwrap(),
        None
    );
}

pub async fn update_profile_changes_only_the_given_fields(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let update = ProfileUpdate {
        full_name: Some(FullName::parse("Alice").unwrap()),
        bio: None,
        phone_number: None,
    };
    let updated = storage
        .users
        .update_profile(alice.id, update, at(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.full_name.as_deref(), Some("Alice"));
    assert_eq!(updated.bio, None);
    assert_eq!(updated.updated_at, at(5));
    assert_eq!(updated.created_at, t0());

    let update = ProfileUpdate {
        full_name: None,
        bio: Some(Bio::parse("likes rabbits").unwrap()),
        phone_number: None,
    };
    let updated = storage
        .users
        .update_profile(alice.id, update, at(6))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.full_name.as_deref(), Some("Alice"));
    assert_eq!(updated.bio.as_deref(), Some("likes rabbits"));
    assert_eq!(
        storage.users.get_user(alice.id).await.unwrap().unwrap(),
        updated
    );
    assert_eq!(
        storage
            .users
            .update_profile(UserId::new(9_999), ProfileUpdate::default(), at(7))
            .await
            .unwrap(),
        None
    );
}

pub async fn change_password_ends_every_other_session(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let bob = add_user(&storage, "bob").await;
    let (kept, _) = add_session(&storage, alice.id, "kept", t0()).await;
    let (other, _) = add_session(&storage, alice.id, "other", t0()).await;
    let (bobs, _) = add_session(&storage, bob.id, "bob", t0()).await;
    assert!(
        storage
            .users
            .change_password(alice.id, PasswordHash::new("new-hash"), kept.id, at(1))
            .await
            .unwrap()
    );
    let alice = storage.users.get_user(alice.id).await.unwrap().unwrap();
    assert_eq!(alice.hashed_password.expose(), "new-hash");
    assert_eq!(alice.updated_at, at(1));
    assert!(session(&storage, kept.id).await.is_active);
    assert!(!token(&storage, "refresh-hash-kept").await.is_used);
    assert!(!session(&storage, other.id).await.is_active);
    let used = token(&storage, "refresh-hash-other").await;
    assert!(used.is_used);
    assert_eq!(used.updated_at, at(1));
    assert!(session(&storage, bobs.id).await.is_active);
    assert!(
        !storage
            .users
            .change_password(UserId::new(9_999), PasswordHash::new("x"), kept.id, at(1))
            .await
            .unwrap()
    );
}

pub async fn deactivating_a_user_ends_their_sessions(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let (first, _) = add_session(&storage, alice.id, "a1", t0()).await;
    let (second, _) = add_session(&storage, alice.id, "a2", t0()).await;
    assert_eq!(
        storage
            .users
            .set_user_active(alice.id, false, at(1))
            .await
            .unwrap(),
        AccountChange::Changed
    );
    let stored = storage.users.get_user(alice.id).await.unwrap().unwrap();
    assert!(!stored.is_active);
    assert_eq!(stored.updated_at, at(1));
    for (id, hash) in [
        (first.id, "refresh-hash-a1"),
        (second.id, "refresh-hash-a2"),
    ] {
        assert!(!session(&storage, id).await.is_active);
        assert!(token(&storage, hash).await.is_used);
    }
    assert_eq!(
        storage
            .users
            .set_user_active(alice.id, true, at(2))
            .await
            .unwrap(),
        AccountChange::Changed
    );
    assert!(
        storage
            .users
            .get_user(alice.id)
            .await
            .unwrap()
            .unwrap()
            .is_active
    );
    // Re-enabling does not bring old sessions back.
    assert!(!session(&storage, first.id).await.is_active);
    assert_eq!(
        storage
            .users
            .set_user_active(UserId::new(9_999), false, at(2))
            .await
            .unwrap(),
        AccountChange::UserNotFound
    );
}

pub async fn set_superuser_changes_the_flag(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    assert_eq!(
        storage
            .users
            .set_user_superuser(alice.id, true, at(1))
            .await
            .unwrap(),
        AccountChange::Changed
    );
    assert!(
        storage
            .users
            .get_user(alice.id)
            .await
            .unwrap()
            .unwrap()
            .is_superuser
    );
    let root = add_user(&storage, "root").await;
    storage
        .users
        .set_user_superuser(root.id, true, at(1))
        .await
        .unwrap();
    assert_eq!(
        storage
            .users
            .set_user_superuser(alice.id, false, at(2))
            .await
            .unwrap(),
        AccountChange::Changed
    );
    let stored = storage.users.get_user(alice.id).await.unwrap().unwrap();
    assert!(!stored.is_superuser);
    assert_eq!(stored.updated_at, at(2));
    assert_eq!(
        storage
            .users
            .set_user_superuser(UserId::new(9_999), true, at(2))
            .await
            .unwrap(),
        AccountChange::UserNotFound
    );
}

pub async fn delete_user_cascades_but_keeps_messages(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let bob = add_user(&storage, "bob").await;
    let (alice_session, _) = add_session(&storage, alice.id, "alice", t0()).await;
    let (bob_session, _) = add_session(&storage, bob.id, "bob", t0()).await;
    let role = storage
        .roles
        .create_role(NewRole {
            name: RoleName::parse("editor").unwrap(),
            description: None,
            created_at: t0(),
        })
        .await
        .unwrap();
    for user in [alice.id, bob.id] {
        storage
            .roles
            .replace_user_roles(user, vec![role.id], t0())
            .await
            .unwrap();
    }
    let message = add_message(&storage, alice.id, bob.id, "conv", at(1)).await;

    assert_eq!(
        storage.users.delete_user(alice.id).await.unwrap(),
        AccountChange::Changed
    );
    assert_eq!(
        storage.users.delete_user(alice.id).await.unwrap(),
        AccountChange::UserNotFound
    );
    assert_eq!(storage.users.get_user(alice.id).await.unwrap(), None);
    assert_eq!(
        storage.users.find_user_by_username("alice").await.unwrap(),
        None
    );
    assert_eq!(
        storage
            .sessions
            .get_session_with_user(alice_session.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        storage
            .sessions
            .find_refresh_token(&RefreshTokenHash::new("refresh-hash-alice"))
            .await
            .unwrap(),
        None
    );
    assert!(
        storage
            .roles
            .roles_of_user(alice.id)
            .await
            .unwrap()
            .is_empty()
    );
    // Bob's rows are untouched, and the message stays for him.
    assert!(session(&storage, bob_session.id).await.is_active);
    assert_eq!(storage.roles.roles_of_user(bob.id).await.unwrap().len(), 1);
    assert_eq!(
        storage.messages.get_message(message.id).await.unwrap(),
        Some(message)
    );
    // The name is free again.
    add_user(&storage, "alice").await;
}

pub async fn ids_are_never_reused_after_a_delete(storage: Storage) {
    add_user(&storage, "first").await;
    let last = add_user(&storage, "last").await;
    storage.users.delete_user(last.id).await.unwrap();
    let next = add_user(&storage, "next").await;
    assert!(next.id > last.id, "{} should be above {}", next.id, last.id);

    let alice = add_user(&storage, "alice").await;
    let m1 = add_message(&storage, alice.id, alice.id, "c", t0()).await;
    storage.messages.delete_message(m1.id).await.unwrap();
    let m2 = add_message(&storage, alice.id, alice.id, "c", t0()).await;
    assert!(m2.id > m1.id);
}

pub async fn role_names_are_unique(storage: Storage) {
    let new_role = |name: &str| NewRole {
        name: RoleName::parse(name).unwrap(),
        description: Some(RoleDescription::parse("can edit").unwrap()),
        created_at: t0(),
    };
    let editor = storage.roles.create_role(new_role("editor")).await.unwrap();
    assert_eq!(editor.name, "editor");
    assert_eq!(editor.description.as_deref(), Some("can edit"));
    assert_eq!(editor.created_at, t0());
    assert_eq!(editor.updated_at, t0());
    assert!(matches!(
        storage.roles.create_role(new_role("editor")).await,
        Err(InsertError::Duplicate)
    ));
    assert_eq!(storage.roles.list_roles().await.unwrap(), vec![editor]);
}

pub async fn roles_list_get_and_delete_with_links(storage: Storage) {
    let mut roles = Vec::new();
    for name in ["a", "b", "c"] {
        roles.push(
            storage
                .roles
                .create_role(NewRole {
                    name: RoleName::parse(name).unwrap(),
                    description: None,
                    created_at: t0(),
                })
                .await
                .unwrap(),
        );
    }
    assert_eq!(storage.roles.list_roles().await.unwrap(), roles);
    assert_eq!(
        storage.roles.get_role(roles[1].id).await.unwrap(),
        Some(roles[1].clone())
    );
    let alice = add_user(&storage, "alice").await;
    storage
        .roles
        .replace_user_roles(alice.id, vec![roles[0].id, roles[1].id], t0())
        .await
        .unwrap();
    assert!(storage.roles.delete_role(roles[0].id).await.unwrap());
    assert!(!storage.roles.delete_role(roles[0].id).await.unwrap());
    assert_eq!(storage.roles.get_role(roles[0].id).await.unwrap(), None);
    assert_eq!(
        storage.roles.roles_of_user(alice.id).await.unwrap(),
        vec![roles[1].clone()]
    );
    assert_eq!(storage.roles.list_roles().await.unwrap().len(), 2);
}

pub async fn replace_user_roles_is_all_or_nothing(storage: Storage) {
    let mut role_ids = Vec::new();
    for name in ["a", "b", "c"] {
        role_ids.push(
            storage
                .roles
                .create_role(NewRole {
                    name: RoleName::parse(name).unwrap(),
                    description: None,
                    created_at: t0(),
                })
                .await
                .unwrap()
                .id,
        );
    }
    let alice = add_user(&storage, "alice").await;
    let current = |storage: Storage| async move {
        storage
            .roles
            .roles_of_user(alice.id)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };

    let outcome = storage
        .roles
        .replace_user_roles(alice.id, vec![role_ids[2], role_ids[0], role_ids[0]], t0())
        .await
        .unwrap();
    assert_eq!(outcome, RoleReplacement::Replaced);
    assert_eq!(
        current(storage.clone()).await,
        vec![role_ids[0], role_ids[2]]
    );

    let missing = RoleId::new(role_ids[2].get() + 100);
    let next_missing = RoleId::new(missing.get() + 1);
    let outcome = storage
        .roles
        .replace_user_roles(
            alice.id,
            vec![role_ids[1], missing, next_missing, missing],
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        RoleReplacement::UnknownRoles(vec![missing, next_missing])
    );
    assert_eq!(
        current(storage.clone()).await,
        vec![role_ids[0], role_ids[2]]
    );

    let outcome = storage
        .roles
        .replace_user_roles(alice.id, vec![role_ids[1]], t0())
        .await
        .unwrap();
    assert_eq!(outcome, RoleReplacement::Replaced);
    assert_eq!(current(storage.clone()).await, vec![role_ids[1]]);

    let outcome = storage
        .roles
        .replace_user_roles(alice.id, vec![], t0())
        .await
        .unwrap();
    assert_eq!(outcome, RoleReplacement::Replaced);
    assert!(current(storage.clone()).await.is_empty());

    let outcome = storage
        .roles
        .replace_user_roles(UserId::new(9_999), vec![role_ids[0]], t0())
        .await
        .unwrap();
    assert_eq!(outcome, RoleReplacement::UserNotFound);
}

pub async fn create_session_stores_it_with_its_first_token(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let (session, token) = add_session(&storage, alice.id, "s", t0()).await;
    assert_eq!(session.user_id, alice.id);
    assert_eq!(session.session_token.expose(), "session-token-s");
    assert_eq!(session.device_info.as_deref(), Some("test-agent"));
    assert_eq!(session.ip_address.as_deref(), Some("127.0.0.1"));
    assert!(session.is_active);
    assert_eq!(session.expires_at, t0() + TimeDelta::days(7));
    assert_eq!(session.created_at, t0());
    assert_eq!(token.user_id, alice.id);
    assert_eq!(token.session_id, Some(session.id));
    assert!(!token.is_used);
    assert_eq!(token.expires_at, t0() + TimeDelta::days(7));

    let (stored_session, stored_user) = storage
        .sessions
        .get_session_with_user(session.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored_session, session);
    assert_eq!(stored_user, alice);
    assert_eq!(token_of(&storage, "refresh-hash-s").await, token);
    assert_eq!(
        storage
            .sessions
            .get_session_with_user(SessionId::new(9_999))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        storage
            .sessions
            .find_refresh_token(&RefreshTokenHash::new("nope"))
            .await
            .unwrap(),
        None
    );
}

async fn token_of(storage: &Storage, hash: &str) -> RefreshToken {
    token(storage, hash).await
}

pub async fn list_live_sessions_skips_ended_and_expired_newest_first(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let bob = add_user(&storage, "bob").await;
    let (old, _) = add_session(&storage, alice.id, "old", at(0)).await;
    let (ended, _) = add_session(&storage, alice.id, "ended", at(1)).await;
    let (new, _) = add_session(&storage, alice.id, "new", at(2)).await;
    let (twin, _) = add_session(&storage, alice.id, "twin", at(2)).await;
    add_session(&storage, bob.id, "bob", at(3)).await;
    storage
        .sessions
        .end_session(alice.id, ended.id, at(4))
        .await
        .unwrap();
    let live = storage
        .sessions
        .list_live_sessions(alice.id, at(5))
        .await
        .unwrap();
    let live_ids: Vec<_> = live.iter().map(|s| s.id).collect();
    assert_eq!(live_ids, vec![twin.id, new.id, old.id]);
    // Seven days after `old` was created it has expired; the others expire a second later.
    let later = at(0) + TimeDelta::days(7);
    let live = storage
        .sessions
        .list_live_sessions(alice.id, later)
        .await
        .unwrap();
    assert_eq!(
        live.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![twin.id, new.id]
    );
}

pub async fn end_session_is_for_the_owner_and_uses_up_its_tokens(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let bob = add_user(&storage, "bob").await;
    let (session_a, _) = add_session(&storage, alice.id, "a", t0()).await;
    let (session_b, _) = add_session(&storage, alice.id, "b", t0()).await;
    assert!(
        !storage
            .sessions
            .end_session(bob.id, session_a.id, at(1))
            .await
            .unwrap(),
        "bob must not end alice's session"
    );
    assert!(session(&storage, session_a.id).await.is_active);
    assert!(
        storage
            .sessions
            .end_session(alice.id, session_a.id, at(1))
            .await
            .unwrap()
    );
    let ended = session(&storage, session_a.id).await;
    assert!(!ended.is_active);
    assert_eq!(ended.updated_at, at(1));
    let used = token(&storage, "refresh-hash-a").await;
    assert!(used.is_used);
    assert_eq!(used.updated_at, at(1));
    assert!(session(&storage, session_b.id).await.is_active);
    assert!(!token(&storage, "refresh-hash-b").await.is_used);
    assert!(
        !storage
            .sessions
            .end_session(alice.id, session_a.id, at(2))
            .await
            .unwrap(),
        "an ended session cannot end again"
    );
    assert_eq!(token(&storage, "refresh-hash-a").await.updated_at, at(1));
    assert!(
        !storage
            .sessions
            .end_session(alice.id, SessionId::new(9_999), at(2))
            .await
            .unwrap()
    );
}

pub async fn end_all_sessions_ends_every_session_of_the_user(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let bob = add_user(&storage, "bob").await;
    let (a1, _) = add_session(&storage, alice.id, "a1", t0()).await;
    let (a2, _) = add_session(&storage, alice.id, "a2", t0()).await;
    let (b1, _) = add_session(&storage, bob.id, "b1", t0()).await;
    storage
        .sessions
        .end_session(alice.id, a2.id, at(1))
        .await
        .unwrap();
    assert_eq!(
        storage
            .sessions
            .end_all_sessions(alice.id, at(2))
            .await
            .unwrap(),
        1
    );
    assert!(!session(&storage, a1.id).await.is_active);
    assert!(token(&storage, "refresh-hash-a1").await.is_used);
    assert!(session(&storage, b1.id).await.is_active);
    assert!(!token(&storage, "refresh-hash-b1").await.is_used);
    assert_eq!(
        storage
            .sessions
            .end_all_sessions(alice.id, at(3))
            .await
            .unwrap(),
        0
    );
}

pub async fn rotation_happens_once_and_extends_the_session(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let (s, first) = add_session(&storage, alice.id, "s", t0()).await;
    let next = NewRefreshToken {
        token_hash: RefreshTokenHash::new("refresh-hash-next"),
        expires_at: at(60) + TimeDelta::days(7),
        created_at: at(60),
    };
    let rotated = match storage
        .sessions
        .rotate_refresh_token(first.id, next.clone(), at(60))
        .await
        .unwrap()
    {
        Rotation::Rotated(token) => token,
        Rotation::AlreadyUsed => panic!("first rotation must succeed"),
    };
    assert_eq!(rotated.user_id, alice.id);
    assert_eq!(rotated.session_id, Some(s.id));
    assert_eq!(rotated.token_hash.expose(), "refresh-hash-next");
    assert!(!rotated.is_used);
    assert_eq!(rotated.expires_at, next.expires_at);
    let old = token(&storage, "refresh-hash-s").await;
    assert!(old.is_used);
    assert_eq!(old.updated_at, at(60));
    assert_eq!(session(&storage, s.id).await.expires_at, next.expires_at);
    assert_eq!(token(&storage, "refresh-hash-next").await, rotated);

    let again = NewRefreshToken {
        token_hash: RefreshTokenHash::new("refresh-hash-again"),
        ..next
    };
    assert_eq!(
        storage
            .sessions
            .rotate_refresh_token(first.id, again, at(61))
            .await
            .unwrap(),
        Rotation::AlreadyUsed
    );
    assert_eq!(
        storage
            .sessions
            .find_refresh_token(&RefreshTokenHash::new("refresh-hash-again"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(token(&storage, "refresh-hash-s").await.updated_at, at(60));
}

pub async fn concurrent_rotations_of_one_token_have_one_winner(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let (_, first) = add_session(&storage, alice.id, "s", t0()).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            let next = NewRefreshToken {
                token_hash: RefreshTokenHash::new(format!("refresh-hash-racer-{i}")),
                expires_at: at(60) + TimeDelta::days(7),
                created_at: at(60),
            };
            storage
                .sessions
                .rotate_refresh_token(first.id, next, at(60))
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), Rotation::Rotated(_)) {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    let mut stored = 0;
    for i in 0..8 {
        if storage
            .sessions
            .find_refresh_token(&RefreshTokenHash::new(format!("refresh-hash-racer-{i}")))
            .await
            .unwrap()
            .is_some()
        {
            stored += 1;
        }
    }
    assert_eq!(stored, 1, "only the winner's successor is stored");
}

pub async fn revoke_refresh_token_marks_it_used(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let (s, first) = add_session(&storage, alice.id, "s", t0()).await;
    storage
        .sessions
        .revoke_refresh_token(first.id, at(1))
        .await
        .unwrap();
    let revoked = token(&storage, "refresh-hash-s").await;
    assert!(revoked.is_used);
    assert_eq!(revoked.updated_at, at(1));
    storage
        .sessions
        .revoke_refresh_token(first.id, at(2))
        .await
        .unwrap();
    assert_eq!(token(&storage, "refresh-hash-s").await.updated_at, at(1));
    // Revoking one token leaves its session alone.
    assert!(session(&storage, s.id).await.is_active);
    storage
        .sessions
        .revoke_refresh_token(RefreshTokenId::new(9_999), at(2))
        .await
        .unwrap();
}

pub async fn messages_are_created_read_back_updated_and_deleted(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let bob = add_user(&storage, "bob").await;
    let parent = add_message(&storage, bob.id, alice.id, "conv_1_2", t0()).await;
    let reply = storage
        .messages
        .create_message(NewMessage {
            sender_id: alice.id,
            recipient_id: bob.id,
            content: MessageContent::parse("line one\n'; DROP TABLE messages; --").unwrap(),
            parent_id: Some(parent.id),
            conversation_id: ConversationId::parse("conv_1_2").unwrap(),
            created_at: at(1),
        })
        .await
        .unwrap();
    let reply = Message::clone(&reply.message);
    assert!(reply.id > parent.id);
    assert_eq!(reply.sender_id, alice.id);
    assert_eq!(reply.recipient_id, bob.id);
    assert_eq!(reply.content, "line one\n'; DROP TABLE messages; --");
    assert!(!reply.is_read);
    assert_eq!(reply.parent_id, Some(parent.id));
    assert_eq!(reply.conversation_id.as_deref(), Some("conv_1_2"));
    assert_eq!(reply.created_at, at(1));
    assert_eq!(reply.updated_at, at(1));
    assert_eq!(
        storage.messages.get_message(reply.id).await.unwrap(),
        Some(reply.clone())
    );

    let edited = storage
        .messages
        .update_message_content(reply.id, MessageContent::parse("edited").unwrap(), at(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(edited.content, "edited");
    assert_eq!(edited.updated_at, at(2));
    assert_eq!(edited.created_at, at(1));

    assert!(
        storage
            .messages
            .mark_message_read(reply.id, at(3))
            .await
            .unwrap()
    );
    let read = storage
        .messages
        .get_message(reply.id)
        .await
        .unwrap()
        .unwrap();
    assert!(read.is_read);
    assert_eq!(read.updated_at, at(3));

    assert!(storage.messages.delete_message(parent.id).await.unwrap());
    assert!(!storage.messages.delete_message(parent.id).await.unwrap());
    assert_eq!(storage.messages.get_message(parent.id).await.unwrap(), None);
    // The reply keeps pointing at its deleted parent.
    let orphan = storage
        .messages
        .get_message(reply.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(orphan.parent_id, Some(parent.id));

    assert!(
        !storage
            .messages
            .mark_message_read(MessageId::new(9_999), at(4))
            .await
            .unwrap()
    );
    assert_eq!(
        storage
            .messages
            .update_message_content(
                MessageId::new(9_999),
                MessageContent::parse("x").unwrap(),
                at(4)
            )
            .await
            .unwrap(),
        None
    );
}

pub async fn list_scopes_select_the_right_messages(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let carol = add_user(&storage, "carol").await.id;
    let a_to_b = add_message(&storage, alice, bob, "ab", at(1)).await;
    let b_to_a = add_message(&storage, bob, alice, "ab", at(2)).await;
    let c_to_a = add_message(&storage, carol, alice, "ac", at(3)).await;
    let b_to_c = add_message(&storage, bob, carol, "bc", at(4)).await;
    let a_to_a = add_message(&storage, alice, alice, "aa", at(5)).await;
    storage
        .messages
        .mark_message_read(b_to_a.id, at(6))
        .await
        .unwrap();

    let list = |scope: MessageScope| {
        let storage = storage.clone();
        async move {
            ids(&storage
                .messages
                .list_messages(alice, scope, Page::default())
                .await
                .unwrap())
        }
    };
    assert_eq!(
        list(MessageScope::SentOrReceived).await,
        vec![a_to_b.id, b_to_a.id, c_to_a.id, a_to_a.id]
    );
    assert_eq!(list(MessageScope::Sent).await, vec![a_to_b.id, a_to_a.id]);
    assert_eq!(
        list(MessageScope::Received).await,
        vec![b_to_a.id, c_to_a.id, a_to_a.id]
    );
    assert_eq!(
        list(MessageScope::UnreadReceived).await,
        vec![c_to_a.id, a_to_a.id]
    );
    assert_eq!(
        list(MessageScope::Conversation(
            ConversationId::parse("ab").unwrap()
        ))
        .await,
        vec![a_to_b.id, b_to_a.id]
    );
    // Alice is not part of "bc", even though she knows its name.
    assert!(
        list(MessageScope::Conversation(
            ConversationId::parse("bc").unwrap()
        ))
        .await
        .is_empty()
    );
    let carols = storage
        .messages
        .list_messages(carol, MessageScope::SentOrReceived, Page::default())
        .await
        .unwrap();
    assert_eq!(ids(&carols), vec![c_to_a.id, b_to_c.id]);
}

pub async fn lists_return_the_newest_page_oldest_first_ties_by_id(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    // Inserted out of time order; two share a timestamp and must order by id.
    let m3 = add_message(&storage, bob, alice, "ab", at(30)).await;
    let m1 = add_message(&storage, bob, alice, "ab", at(10)).await;
    let m2a = add_message(&storage, bob, alice, "ab", at(20)).await;
    let m2b = add_message(&storage, bob, alice, "ab", at(20)).await;
    let m4 = add_message(&storage, bob, alice, "ab", at(40)).await;

    let page = |skip, limit| {
        let storage = storage.clone();
        async move {
            ids(&storage
                .messages
                .list_messages(
                    alice,
                    MessageScope::Received,
                    Page::new(skip, limit).unwrap(),
                )
                .await
                .unwrap())
        }
    };
    assert_eq!(
        page(0, 100).await,
        vec![m1.id, m2a.id, m2b.id, m3.id, m4.id]
    );
    assert_eq!(page(0, 2).await, vec![m3.id, m4.id]);
    assert_eq!(page(2, 2).await, vec![m2a.id, m2b.id]);
    assert_eq!(page(3, 2).await, vec![m1.id, m2a.id]);
    assert_eq!(page(4, 10).await, vec![m1.id]);
    assert!(page(5, 10).await.is_empty());
}

pub async fn unread_count_and_mark_all_read(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let carol = add_user(&storage, "carol").await.id;
    let first = add_message(&storage, bob, alice, "ab", at(1)).await;
    let second = add_message(&storage, bob, alice, "ab", at(2)).await;
    let from_carol = add_message(&storage, carol, alice, "ac", at(3)).await;
    let to_bob = add_message(&storage, alice, bob, "ab", at(4)).await;
    assert_eq!(storage.messages.count_unread(alice).await.unwrap(), 3);
    assert_eq!(storage.messages.count_unread(bob).await.unwrap(), 1);

    let changed = storage
        .messages
        .mark_all_read(alice, Some(ConversationId::parse("ab").unwrap()), at(5))
        .await
        .unwrap();
    let receipt = |message: &Message| ReadReceipt {
        id: message.id,
        sender_id: message.sender_id,
    };
    assert_eq!(changed, vec![receipt(&first), receipt(&second)]);
    assert_eq!(storage.messages.count_unread(alice).await.unwrap(), 1);
    // Alice's message to bob stays unread for bob.
    assert!(
        !storage
            .messages
            .get_message(to_bob.id)
            .await
            .unwrap()
            .unwrap()
            .is_read
    );
    assert_eq!(storage.messages.count_unread(bob).await.unwrap(), 1);

    assert_eq!(
        storage
            .messages
            .mark_all_read(alice, None, at(6))
            .await
            .unwrap(),
        vec![receipt(&from_carol)]
    );
    let read = storage
        .messages
        .get_message(from_carol.id)
        .await
        .unwrap()
        .unwrap();
    assert!(read.is_read);
    assert_eq!(read.updated_at, at(6));
    assert_eq!(storage.messages.count_unread(alice).await.unwrap(), 0);
    assert_eq!(
        storage
            .messages
            .mark_all_read(alice, None, at(7))
            .await
            .unwrap(),
        Vec::new()
    );
}

/// Each read that travels with a session check answers exactly what the session lookup and
/// the plain read answer apart, for known and unknown sessions and ids alike.
pub async fn session_reads_answer_what_the_two_calls_would(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let (session, _) = add_session(&storage, alice, "s", t0()).await;
    for (n, (from, to)) in [(alice, bob), (bob, alice), (alice, alice)]
        .iter()
        .enumerate()
    {
        add_message(
            &storage,
            *from,
            *to,
            "team",
            t0() + TimeDelta::seconds(n as i64),
        )
        .await;
    }
    add_message(&storage, bob, alice, "other", t0() + TimeDelta::seconds(9)).await;
    let gate = |session_id| SessionGate::new(AccessClaim::new(alice, session_id), at(10));
    let unknown = SessionId::new(9_999);

    let scopes = [
        MessageScope::SentOrReceived,
        MessageScope::Sent,
        MessageScope::Received,
        MessageScope::UnreadReceived,
        MessageScope::Conversation(ConversationId::parse("team").unwrap()),
    ];
    for scope in scopes {
        let page = Page::new(1, 2).unwrap();
        let alone = storage
            .messages
            .list_messages(alice, scope.clone(), page)
            .await
            .unwrap();
        let together = storage
            .session_reads
            .messages_with_session(gate(session.id), scope.clone(), page)
            .await
            .unwrap();
        let (caller, read) = together.into_result().expect("the session admits alice");
        assert_eq!((caller.user.id, caller.session_id), (alice, session.id));
        assert_eq!(read, alone, "{scope:?}");
        let unknown_session = storage
            .session_reads
            .messages_with_session(gate(unknown), scope.clone(), page)
            .await
            .unwrap();
        assert_eq!(
            unknown_session,
            Gated::Refused(SessionRefusal::InvalidCredentials)
        );
    }

    let summaries = storage
        .messages
        .conversation_summaries(alice)
        .await
        .unwrap();
    assert_eq!(summaries.len(), 2);
    let together = storage
        .session_reads
        .conversations_with_session(gate(session.id))
        .await
        .unwrap();
    assert_eq!(together.into_result().unwrap().1, summaries);

    // A claim naming another user than the session's is refused, with nothing of either.
    let bobs_claim = SessionGate::new(AccessClaim::new(bob, session.id), at(10));
    assert_eq!(
        storage
            .session_reads
            .conversations_with_session(bobs_claim)
            .await
            .unwrap(),
        Gated::Refused(SessionRefusal::InvalidCredentials)
    );
    storage
        .sessions
        .end_session(alice, session.id, at(11))
        .await
        .unwrap();
    assert_eq!(
        storage
            .session_reads
            .conversations_with_session(gate(session.id))
            .await
            .unwrap(),
        Gated::Refused(SessionRefusal::InvalidCredentials),
        "an ended session is refused at once"
    );
}

/// Messages written in the same microsecond: the later id is the last message of its
/// conversation, and the conversation listed first.
pub async fn conversation_summaries_break_time_ties_by_id(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let carol = add_user(&storage, "carol").await.id;
    add_message(&storage, alice, bob, "ab", at(1)).await;
    let last_ab = add_message(&storage, bob, alice, "ab", at(1)).await;
    let last_ac = add_message(&storage, alice, carol, "ac", at(1)).await;
    add_message(&storage, bob, alice, "ba", at(0)).await;
    let later_but_older = add_message(&storage, alice, bob, "ba", at(1)).await;
    let summaries = storage
        .messages
        .conversation_summaries(alice)
        .await
        .unwrap();
    let seen: Vec<(&str, MessageContent, UserId, u64)> = summaries
        .iter()
        .map(|s| {
            (
                s.conversation_id.as_str(),
                s.last_message.clone(),
                s.other_user_id,
                s.unread_count,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("ba", later_but_older.content, bob, 1),
            ("ac", last_ac.content, carol, 0),
            ("ab", last_ab.content, bob, 1),
        ]
    );
}

pub async fn conversation_summaries_describe_each_conversation(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let carol = add_user(&storage, "carol").await.id;
    let dave = add_user(&storage, "dave").await.id;
    add_message(&storage, bob, alice, "ab", at(1)).await;
    add_message(&storage, bob, alice, "ab", at(2)).await;
    let last_ab = add_message(&storage, alice, bob, "ab", at(3)).await;
    let last_ac = add_message(&storage, carol, alice, "ac", at(5)).await;
    let note = add_message(&storage, alice, alice, "notes", at(4)).await;
    add_message(&storage, dave, alice, "ad", at(6)).await;
    add_message(&storage, bob, carol, "bc", at(7)).await;
    storage.users.delete_user(dave).await.unwrap();

    let summaries = storage
        .messages
        .conversation_summaries(alice)
        .await
        .unwrap();
    let order: Vec<&str> = summaries
        .iter()
        .map(|s| s.conversation_id.as_str())
        .collect();
    assert_eq!(order, vec!["ad", "ac", "notes", "ab"]);

    let ad = &summaries[0];
    assert_eq!(ad.other_user_id, dave);
    assert_eq!(ad.other_user_name, None, "dave was deleted");
    assert_eq!(ad.unread_count, 1);

    let ac = &summaries[1];
    assert_eq!(ac.other_user_id, carol);
    assert_eq!(ac.other_user_name.as_deref(), Some("carol"));
    assert_eq!(ac.last_message, last_ac.content);
    assert_eq!(ac.last_message_at, at(5));
    assert_eq!(ac.unread_count, 1);

    let notes = &summaries[2];
    assert_eq!(notes.other_user_id, alice);
    assert_eq!(notes.last_message, note.content);
    assert_eq!(notes.unread_count, 1);

    let ab = &summaries[3];
    assert_eq!(ab.other_user_id, bob, "the other party of the last message");
    assert_eq!(ab.other_user_name.as_deref(), Some("bob"));
    assert_eq!(ab.last_message, last_ab.content);
    assert_eq!(ab.last_message_at, at(3));
    assert_eq!(ab.unread_count, 2);

    let bobs = storage.messages.conversation_summaries(bob).await.unwrap();
    let bob_view: Vec<(&str, u64)> = bobs
        .iter()
        .map(|s| (s.conversation_id.as_str(), s.unread_count))
        .collect();
    assert_eq!(bob_view, vec![("bc", 0), ("ab", 1)]);
    assert!(
        storage
            .messages
            .conversation_summaries(UserId::new(9_999))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn concurrent_message_inserts_are_all_stored(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            add_message(&storage, alice, bob, "ab", at(i)).await.id
        }));
    }
    let mut created = BTreeSet::new();
    for task in tasks {
        created.insert(task.await.unwrap());
    }
    assert_eq!(created.len(), 200, "every insert got its own id");
    let stored = storage
        .messages
        .list_messages(bob, MessageScope::Received, Page::new(0, 500).unwrap())
        .await
        .unwrap();
    assert_eq!(
        stored.iter().map(|m| m.id).collect::<BTreeSet<_>>(),
        created
    );
    assert_eq!(storage.messages.count_unread(bob).await.unwrap(), 200);
}

pub async fn ping_answers(storage: Storage) {
    storage.health.ping().await.unwrap();
}
