//! Group commit on the SQLite writer: writes queued together commit together, each in a
//! savepoint, so one that fails takes nothing of the others with it.

use ai_message_core::ports::{InsertError, NewUser};
use ai_message_core::{Email, PasswordHash, Username};
use ai_message_sqlite::{Location, SqliteStore};

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        email: Email::parse(format!("{name}@example.com")).unwrap(),
        hashed_password: PasswordHash::new("$2b$04$x"),
        is_superuser: false,
        full_name: None,
        created_at: chrono::Utc::now(),
        phone_number: None,
        unverified_phone_number: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_write_among_queued_ones_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::File(dir.path().join("group.db"));
    let storage = SqliteStore::open(&location).await.unwrap().storage();
    // Forty writes at once, a quarter of them duplicates of another: they queue behind each
    // other on the writer and commit in batches.
    let writes: Vec<_> = (0..40)
        .map(|n| {
            let storage = storage.clone();
            let name = if n % 4 == 3 {
                format!("user{}", n - 1)
            } else {
                format!("user{n}")
            };
            tokio::spawn(async move {
                (
                    name.clone(),
                    storage.users.create_user(new_user(&name)).await,
                )
            })
        })
        .collect();
    let mut stored = 0;
    let mut duplicates = 0;
    for write in writes {
        match write.await.unwrap() {
            (_, Ok(_)) => stored += 1,
            (_, Err(InsertError::Duplicate)) => duplicates += 1,
            (name, Err(other)) => panic!("{name}: {other}"),
        }
    }
    assert_eq!((stored, duplicates), (30, 10));
    drop(storage);
    // Reopened from the file: every acknowledged write is there, nothing else.
    let reopened = SqliteStore::open(&location).await.unwrap().storage();
    let page = ai_message_core::Page::new(0, 100).unwrap();
    assert_eq!(reopened.users.list_users(page).await.unwrap().len(), 30);
}
