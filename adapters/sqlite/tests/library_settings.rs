//! Process-wide SQLite settings, in a test binary of their own: they can only be made before
//! SQLite starts, so no other test may open a database first.

use std::ffi::c_int;

/// The adapter turns SQLite's memory statistics off before its first connection (each
/// allocation SQLite made took a process-wide mutex to count it): after a store is opened
/// and used, SQLite has counted nothing.
#[tokio::test]
async fn sqlite_counts_no_memory_once_the_adapter_has_started_it() {
    let dir = tempfile::tempdir().unwrap();
    let location = ai_message_sqlite::Location::File(dir.path().join("settings.db"));
    let store = ai_message_sqlite::SqliteStore::open(&location)
        .await
        .unwrap();
    let storage = store.storage();
    storage.users.find_user_by_username("nobody").await.unwrap();
    let (mut current, mut highest) = (0i64, 0i64);
    // SAFETY: plain out-pointers to live locals.
    let code = unsafe {
        rusqlite::ffi::sqlite3_status64(
            rusqlite::ffi::SQLITE_STATUS_MEMORY_USED,
            &mut current,
            &mut highest,
            0 as c_int,
        )
    };
    assert_eq!(code, rusqlite::ffi::SQLITE_OK);
    assert_eq!((current, highest), (0, 0), "memory statistics are off");
}
