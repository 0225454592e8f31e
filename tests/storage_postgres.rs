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
