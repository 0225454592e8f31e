//! The WAL index lives in heap memory, never in a memory-mapped `-shm` file: a fault on the
//! disk becomes an error code instead of SIGBUS, and readers still run beside the writer.

use ai_message_core::ports::{MessageScope, NewMessage, NewUser};
use ai_message_core::{ConversationId, Email, MessageContent, Page, Username};
use ai_message_sqlite::{Location, SqliteStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_database_has_a_wal_but_no_shared_memory_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let store = SqliteStore::open(&Location::File(path.clone()))
        .await
        .unwrap();
    let storage = store.storage();
    let user = storage
        .users
        .create_user(NewUser {
            username: Username::parse("alice").unwrap(),
            email: Email::parse("alice@example.com").unwrap(),
            hashed_password: ai_message_core::PasswordHash::new("$2b$04$x"),
            is_superuser: false,
            full_name: None,
            created_at: chrono::Utc::now(),
            phone_number: None,
            unverified_phone_number: None,
        })
        .await
        .unwrap();
    // Writes and concurrent reads through the reader connections.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            storage
                .messages
                .create_message(NewMessage {
                    sender_id: user.id,
                    recipient_id: user.id,
                    content: MessageContent::parse(format!("note {i}")).unwrap(),
                    parent_id: None,
                    conversation_id: ConversationId::parse("notes").unwrap(),
                    created_at: chrono::Utc::now(),
                })
                .await
                .unwrap();
            storage
                .messages
                .list_messages(user.id, MessageScope::Sent, Page::new(0, 50).unwrap())
                .await
                .unwrap()
                .len()
        }));
    }
    for task in tasks {
        assert!(
            task.await.unwrap() >= 1,
            "a reader sees the writer's commits"
        );
    }
    let wal = dir.path().join("app.db-wal");
    let shm = dir.path().join("app.db-shm");
    assert!(wal.exists(), "the database is in WAL mode");
    assert!(
        !shm.exists(),
        "no memory-mapped WAL index: {} exists",
        shm.display()
    );
}
