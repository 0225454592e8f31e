//! A fresh SQLite database file per test, in a temporary directory removed afterwards.

use ai_message_core::ports::Storage;
use ai_message_sqlite::{Location, SqliteStore};
use tempfile::TempDir;

pub async fn fresh_sqlite() -> (Storage, TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(&Location::File(dir.path().join("test.db")))
        .await
        .expect("a fresh SQLite database opens and migrates");
    (store.storage(), dir)
}
