//! The storage contract against the SQLite adapter, each case on its own database file.

use ai_message_testkit::{sqlite, storage_contract_tests};

storage_contract_tests!(sqlite::fresh_sqlite);

/// A database written through the adapter by `seed`, taken back to an older schema on the
/// file itself by `downgrade`, then opened again (which migrates it up): what `seed`
/// returned, and the upgraded storage with the directory that holds it.
async fn upgraded<T>(
    seed: impl AsyncFnOnce(&ai_message_core::ports::Storage) -> T,
    downgrade: impl FnOnce(&rusqlite::Connection),
) -> (T, ai_message_core::ports::Storage, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgraded.db");
    let location = ai_message_sqlite::Location::File(path.clone());
    let store = ai_message_sqlite::SqliteStore::open(&location)
        .await
        .unwrap();
    let seeded = seed(&store.storage()).await;
    drop(store);
    downgrade(&rusqlite::Connection::open(&path).unwrap());
    let storage = ai_message_sqlite::SqliteStore::open(&location)
        .await
        .unwrap()
        .storage();
    (seeded, storage, dir)
}

/// A database from before delivery positions (V7): its messages keep their ids as
/// positions, so cursors handed out then still resume.
#[tokio::test]
async fn an_upgraded_database_keeps_the_cursors_it_handed_out() {
    use ai_message_testkit::storage_contract::{
        UNDO_DELIVERY_POSITIONS, legacy_cursors_resume_after_the_upgrade, seed_legacy,
    };
    let (legacy, upgraded, _dir) = upgraded(seed_legacy, |raw| {
        raw.execute_batch(UNDO_DELIVERY_POSITIONS).unwrap();
    })
    .await;
    legacy_cursors_resume_after_the_upgrade(legacy, upgraded).await;
}

/// A database from before conversation lists were kept (V11): the migration fills them in
/// from the stored messages, including rows the original wrote without a conversation.
#[tokio::test]
async fn an_upgraded_database_lists_the_conversations_it_held() {
    use ai_message_testkit::storage_contract::{
        UNDO_CONVERSATION_HEADS_SQLITE, conversation_lists_survive_the_upgrade, seed_conversations,
    };
    let (users, upgraded, _dir) = upgraded(seed_conversations, |raw| {
        raw.execute_batch(UNDO_CONVERSATION_HEADS_SQLITE).unwrap();
        // A message the original stored without a conversation: in no list.
        raw.execute_batch(
            "INSERT INTO messages (sender_id, recipient_id, content, is_read, created_at, \
                 updated_at) SELECT b.id, a.id, 'no conversation', 0, \
                 '2026-01-01 00:00:09.000000', '2026-01-01 00:00:09.000000' \
                 FROM users a, users b WHERE a.username = 'alice' AND b.username = 'bob'",
        )
        .unwrap();
    })
    .await;
    conversation_lists_survive_the_upgrade(&users, upgraded).await;
}

/// A database from before username keys ignored diacritics (V8): stored keys are computed
/// again, so a name an older binary let in with a combining accent now holds the plain
/// name's key, and nobody can register the plain lookalike next to it.
#[tokio::test]
async fn an_upgraded_database_keys_usernames_again_ignoring_diacritics() {
    use ai_message_testkit::storage_contract::{add_user, new_user};
    let (first, storage, _dir) = upgraded(
        async |storage| add_user(storage, "alice").await,
        |raw| {
            // What an older binary stored: the accented name under a key of its own.
            raw.execute_batch(
                "INSERT INTO users (email, username, hashed_password, is_active, is_superuser, \
                     created_at, updated_at) VALUES ('r@example.com', 'roo\u{0301}t', 'x', 1, 0, \
                     '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000');
                 INSERT INTO user_identity_keys (user_id, username_key, email_key)
                     SELECT id, 'roo\u{0301}t', 'r@example.com' FROM users \
                     WHERE email = 'r@example.com';
                 DELETE FROM refinery_schema_history WHERE version >= 8;",
            )
            .unwrap();
        },
    )
    .await;
    let accented = storage
        .users
        .find_user_by_username("roo\u{0301}t")
        .await
        .unwrap()
        .expect("the account is kept");
    let holder = storage
        .users
        .find_user_by_username_key(&ai_message_core::username_key("root"))
        .await
        .unwrap();
    assert_eq!(
        holder.map(|u| u.id),
        Some(accented.id),
        "its key is the plain name's"
    );
    assert!(
        storage.users.create_user(new_user("root")).await.is_err(),
        "the plain lookalike cannot register"
    );
    let alice = storage
        .users
        .find_user_by_username_key(&ai_message_core::username_key("alice"))
        .await
        .unwrap();
    assert_eq!(alice.map(|u| u.id), Some(first.id), "other keys are kept");
}
