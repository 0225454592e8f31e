//! The storage contract against the SQLite adapter, each case on its own database file.

use ai_message_testkit::{sqlite, storage_contract_tests};

storage_contract_tests!(sqlite::fresh_sqlite);

/// A database from before delivery positions (V7): its messages keep their ids as
/// positions, so cursors handed out then still resume.
#[tokio::test]
async fn an_upgraded_database_keeps_the_cursors_it_handed_out() {
    use ai_message_testkit::storage_contract::{
        UNDO_DELIVERY_POSITIONS, legacy_cursors_resume_after_the_upgrade, seed_legacy,
    };
    let dir = tempfile::tempdir().unwrap();
    let location = ai_message_sqlite::Location::File(dir.path().join("legacy.db"));
    let store = ai_message_sqlite::SqliteStore::open(&location)
        .await
        .unwrap();
    let legacy = seed_legacy(&store.storage()).await;
    drop(store);
    rusqlite::Connection::open(dir.path().join("legacy.db"))
        .unwrap()
        .execute_batch(UNDO_DELIVERY_POSITIONS)
        .unwrap();
    let upgraded = ai_message_sqlite::SqliteStore::open(&location)
        .await
        .unwrap()
        .storage();
    legacy_cursors_resume_after_the_upgrade(legacy, upgraded).await;
}

/// A database from before conversation lists were kept (V11): the migration fills them in
/// from the stored messages, including rows the original wrote without a conversation.
#[tokio::test]
async fn an_upgraded_database_lists_the_conversations_it_held() {
    use ai_message_testkit::storage_contract::{
        UNDO_CONVERSATION_HEADS_SQLITE, conversation_lists_survive_the_upgrade, seed_conversations,
    };
    let dir = tempfile::tempdir().unwrap();
    let location = ai_message_sqlite::Location::File(dir.path().join("lists.db"));
    let store = ai_message_sqlite::SqliteStore::open(&location)
        .await
        .unwrap();
    let users = seed_conversations(&store.storage()).await;
    drop(store);
    let raw = rusqlite::Connection::open(dir.path().join("lists.db")).unwrap();
    raw.execute_batch(UNDO_CONVERSATION_HEADS_SQLITE).unwrap();
    raw.execute(
        "INSERT INTO messages (sender_id, recipient_id, content, is_read, created_at, \
             updated_at) VALUES (?1, ?2, 'no conversation', 0, '2026-01-01 00:00:09.000000', \
             '2026-01-01 00:00:09.000000')",
        [users[1].get(), users[0].get()],
    )
    .unwrap();
    drop(raw);
    let upgraded = ai_message_sqlite::SqliteStore::open(&location)
        .await
        .unwrap()
        .storage();
    conversation_lists_survive_the_upgrade(&users, upgraded).await;
}

/// A database from before username keys ignored diacritics (V8): stored keys are computed
/// again, so a name an older binary let in with a combining accent now holds the plain
/// name's key, and nobody can register the plain lookalike next to it.
#[tokio::test]
async fn an_upgraded_database_keys_usernames_again_ignoring_diacritics() {
    use ai_message_testkit::storage_contract::{add_user, new_user};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let location = ai_message_sqlite::Location::File(path.clone());
    let store = ai_message_sqlite::SqliteStore::open(&location)
        .await
        .unwrap();
    let first = add_user(&store.storage(), "alice").await;
    drop(store);
    // What an older binary stored: the accented name under a key of its own.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(
        "INSERT INTO users (email, username, hashed_password, is_active, is_superuser, \
             created_at, updated_at) VALUES ('r@example.com', 'roo\u{0301}t', 'x', 1, 0, \
             '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000');
         INSERT INTO user_identity_keys (user_id, username_key, email_key)
             SELECT id, 'roo\u{0301}t', 'r@example.com' FROM users WHERE email = 'r@example.com';
         DELETE FROM refinery_schema_history WHERE version >= 8;",
    )
    .unwrap();
    drop(raw);
    let storage = ai_message_sqlite::SqliteStore::open(&location)
        .await
        .unwrap()
        .storage();
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
