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
