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

/// Two instances send at once over crossing pairs and new named conversations, so their
/// send batches share users in every order: no send fails (no deadlock surfaces), and each
/// user's positions count exactly their messages, without gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_sends_of_two_instances_over_crossing_pairs_all_land_in_order() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    use ai_message_core::ports::{SendJob, SendOutcome};
    use ai_message_core::{AccessClaim, ConversationId, Gated, MessageContent, SessionGate};
    use ai_message_postgres::{PostgresStore, PostgresUrl};
    use ai_message_testkit::storage_contract::{add_session, add_user, at, t0};

    let (first, database) = postgres::fresh_postgres().await;
    let url = PostgresUrl::parse(&database.url).unwrap();
    let second = PostgresStore::open(&url, 4).await.unwrap().storage();
    const USERS: usize = 6;
    const SENDS: usize = 240;
    let mut users = Vec::new();
    for n in 0..USERS {
        let user = add_user(&first, &format!("user{n}")).await.id;
        let (session, _) = add_session(&first, user, &format!("s{n}"), t0()).await;
        users.push((user, session.id));
    }
    let mut tasks = Vec::new();
    for i in 0..SENDS {
        let instance = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let (from, session) = users[i % USERS];
        let (to, _) = users[(i * 5 + 1 + i / USERS) % USERS];
        // Every eighth send names a conversation of its own: a binding in the batch.
        let conversation =
            (i % 8 == 0).then(|| ConversationId::parse(format!("topic-{i}")).unwrap());
        tasks.push(tokio::spawn(async move {
            let job = SendJob {
                gate: SessionGate::new(AccessClaim::new(from, session), at(1)),
                recipient_id: to,
                content: MessageContent::parse(format!("m{i}")).unwrap(),
                parent_id: None,
                conversation_id: conversation,
                created_at: at(1),
            };
            let answer = instance.messages.send_message(job).await;
            (from, to, answer)
        }));
    }
    let mut expected = std::collections::HashMap::new();
    for task in tasks {
        let (from, to, answer) = task.await.unwrap();
        match answer {
            Ok(Gated::Admitted(_, SendOutcome::Sent(_))) => {}
            other => panic!("{from} -> {to}: {other:?}"),
        }
        *expected.entry(from).or_insert(0_i64) += 1;
        if to != from {
            *expected.entry(to).or_insert(0_i64) += 1;
        }
    }
    for (user, _) in &users {
        let positions: Vec<i64> = second
            .messages
            .messages_after(*user, 0, 10_000)
            .await
            .unwrap()
            .iter()
            .map(|m| m.position)
            .collect();
        let count = expected.get(user).copied().unwrap_or(0);
        assert_eq!(positions, (1..=count).collect::<Vec<_>>(), "user {user}");
    }
}

/// A scratch database, and a plain connection to it that watches the others' encryption.
async fn observed_database() -> (postgres::ScratchDatabase, tokio_postgres::Client) {
    let database = postgres::ScratchDatabase::create().await;
    let (observer, connection) = tokio_postgres::connect(&database.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    (database, observer)
}

/// Whether the server offers TLS at all (`ssl = on`).
async fn tls_offered(observer: &tokio_postgres::Client) -> bool {
    observer
        .query_one("SHOW ssl", &[])
        .await
        .unwrap()
        .get::<_, String>(0)
        == "on"
}

/// For each TCP session on `database` named one of `applications`: is it encrypted?
async fn encryption_of(
    observer: &tokio_postgres::Client,
    database: &str,
    applications: &[&str],
) -> Vec<bool> {
    observer
        .query(
            "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.datname = $1 AND a.client_port IS NOT NULL \
             AND a.application_name = ANY($2)",
            &[&database, &applications],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// A server on this machine is reached without TLS unless the URL asks for it (TLS on
/// loopback cost ~50 µs of CPU per request on each side and protects nothing); an explicit
/// `sslmode=prefer` still takes TLS when the server offers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_server_is_reached_without_tls_unless_the_url_asks_for_it() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    use ai_message_postgres::{PostgresStore, PostgresUrl};

    let (database, observer) = observed_database().await;
    if !postgres::on_loopback(&database.url) || database.url.contains("sslmode") {
        eprintln!("TEST_DATABASE_URL names a remote server or an sslmode: nothing to check");
        return;
    }

    let separator = if database.url.contains('?') { '&' } else { '?' };
    let plain = PostgresUrl::parse(&format!(
        "{}{separator}application_name=plain-probe",
        database.url
    ))
    .unwrap();
    let store = PostgresStore::open(&plain, 2).await.unwrap().storage();
    store.users.find_user_by_username("nobody").await.unwrap();
    let sessions = encryption_of(&observer, &database.name, &["plain-probe"]).await;
    assert!(!sessions.is_empty(), "the pool's connection is seen");
    assert!(sessions.iter().all(|ssl| !ssl), "{sessions:?}");

    let tls_offered = tls_offered(&observer).await;
    let preferring = PostgresUrl::parse(&format!(
        "{}{separator}sslmode=prefer&application_name=tls-probe",
        database.url
    ))
    .unwrap();
    let store = PostgresStore::open(&preferring, 2).await.unwrap().storage();
    store.users.find_user_by_username("nobody").await.unwrap();
    let sessions = encryption_of(&observer, &database.name, &["tls-probe"]).await;
    assert!(!sessions.is_empty(), "the pool's connection is seen");
    assert!(
        sessions.iter().all(|ssl| *ssl == tls_offered),
        "TLS offered: {tls_offered}, sessions: {sessions:?}"
    );
}

/// A local server that takes only encrypted connections (`hostssl` lines alone in
/// `pg_hba.conf`) refuses the plain first try; the adapter then connects with TLS, for the
/// pool and for the live-events listener alike. The refusal comes from a proxy in front of
/// the real server that answers a plain start-up as PostgreSQL does and passes TLS through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_server_that_refuses_plain_connections_is_reached_with_tls() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    use ai_message_postgres::{PostgresStore, PostgresUrl};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (database, observer) = observed_database().await;
    let config: tokio_postgres::Config = database.url.parse().unwrap();
    let (Some(tokio_postgres::config::Host::Tcp(host)), Some(port)) =
        (config.get_hosts().first(), config.get_ports().first())
    else {
        eprintln!("TEST_DATABASE_URL is not a TCP address: nothing to check");
        return;
    };
    if !tls_offered(&observer).await || database.url.contains("sslmode") {
        eprintln!("the server offers no TLS or the URL names an sslmode: nothing to check");
        return;
    }
    let upstream = format!("{host}:{port}");
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = proxy.local_addr().unwrap().port();
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = refused.clone();
    let proxying = tokio::spawn(async move {
        loop {
            let (mut client, _) = proxy.accept().await.unwrap();
            let upstream = upstream.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut first = [0u8; 8];
                if client.read_exact(&mut first).await.is_err() {
                    return;
                }
                // SSLRequest: length 8, code 80877103.
                if first == [0, 0, 0, 8, 4, 210, 22, 47] {
                    let mut server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                    server.write_all(&first).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                } else {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let mut fields = Vec::new();
                    for (code, text) in [
                        (b'S', "FATAL"),
                        (b'V', "FATAL"),
                        (b'C', "28000"),
                        (
                            b'M',
                            "no pg_hba.conf entry for host \"127.0.0.1\", no encryption",
                        ),
                    ] {
                        fields.push(code);
                        fields.extend_from_slice(text.as_bytes());
                        fields.push(0);
                    }
                    fields.push(0);
                    let mut reply = vec![b'E'];
                    reply.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
                    reply.extend_from_slice(&fields);
                    let _ = client.write_all(&reply).await;
                }
            });
        }
    });

    let through_proxy = database
        .url
        .replace(&format!(":{port}/"), &format!(":{proxy_port}/"));
    assert_ne!(through_proxy, database.url);
    let separator = if through_proxy.contains('?') {
        '&'
    } else {
        '?'
    };
    let url = PostgresUrl::parse(&format!(
        "{through_proxy}{separator}application_name=hostssl-probe"
    ))
    .unwrap();
    let store = PostgresStore::open(&url, 2)
        .await
        .expect("opens over TLS after the plain refusal")
        .storage();
    store.users.find_user_by_username("nobody").await.unwrap();
    // The live-events listener connects in the background: wait for it.
    let mut encrypted: Vec<bool> = Vec::new();
    for _ in 0..200 {
        encrypted = encryption_of(
            &observer,
            &database.name,
            &["hostssl-probe", PostgresUrl::LISTENER_NAME],
        )
        .await;
        if encrypted.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(encrypted.len() >= 2, "pool and listener: {encrypted:?}");
    assert!(encrypted.iter().all(|ssl| *ssl), "{encrypted:?}");
    assert!(refused.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    proxying.abort();
}

/// A store with a pool of `pool_size` on a fresh database, and an observer of that database.
async fn observed_store(
    pool_size: usize,
) -> (
    postgres::ScratchDatabase,
    tokio_postgres::Client,
    std::sync::Arc<ai_message_postgres::PostgresStore>,
) {
    use ai_message_postgres::{PostgresStore, PostgresUrl};
    let (database, observer) = observed_database().await;
    let url = PostgresUrl::parse(&database.url).unwrap();
    let store = PostgresStore::open(&url, pool_size).await.unwrap();
    (database, observer, store)
}

/// The server processes of `observed`'s database other than the observer's own.
async fn backends_of(observer: &tokio_postgres::Client) -> i64 {
    observer
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// The session checks and message pages of many requests at once pipeline on one shared
/// connection instead of taking one pooled connection each, and every request still gets
/// its own answer: its own session and user, its own page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_hot_reads_share_one_connection_and_each_gets_its_own_answer() {
    if postgres::skip() {
        return;
    }
    use ai_message_core::ports::MessageScope;
    use ai_message_core::{AccessClaim, Gated, Page, SessionGate};
    use ai_message_testkit::storage_contract::{add_message, add_session, add_user, at};
    let (_database, observer, store) = observed_store(8).await;
    let storage = store.storage();
    let mut people = Vec::new();
    for n in 0..16usize {
        let user = add_user(&storage, &format!("reader{n}")).await;
        let partner = add_user(&storage, &format!("partner{n}")).await;
        for k in 0..=n {
            add_message(
                &storage,
                user.id,
                partner.id,
                &format!("c{n}"),
                at(k as i64),
            )
            .await;
        }
        let (session, _) = add_session(&storage, user.id, &format!("r{n}"), at(0)).await;
        people.push((user, session, n + 1));
    }
    let before = backends_of(&observer).await;
    let mut reads = tokio::task::JoinSet::new();
    for round in 0..8 {
        for (user, session, sent) in people.clone() {
            let storage = storage.clone();
            reads.spawn(async move {
                let (found, owner) = storage
                    .sessions
                    .get_session_with_user(session.id)
                    .await
                    .unwrap()
                    .expect("the session exists");
                assert_eq!((found.id, owner.id), (session.id, user.id));
                let gate = SessionGate::new(AccessClaim::new(user.id, session.id), at(1));
                let read = storage
                    .session_reads
                    .messages_with_session(gate, MessageScope::Sent, Page::new(0, 100).unwrap())
                    .await
                    .unwrap();
                let Gated::Admitted(_, page) = read else {
                    panic!("the session admits its own user");
                };
                assert_eq!(
                    page.len(),
                    sent,
                    "round {round}: {}'s own page",
                    user.username
                );
                assert!(page.iter().all(|m| m.sender_id == user.id));
            });
        }
    }
    while let Some(read) = reads.join_next().await {
        read.unwrap();
    }
    let after = backends_of(&observer).await;
    assert!(
        after <= before + 1,
        "128 concurrent requests' reads opened {} connections ({before} before)",
        after - before
    );
}

/// A shared connection whose server process is killed is replaced: reads go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_shared_connection_is_replaced_and_reads_go_on() {
    if postgres::skip() {
        return;
    }
    use ai_message_testkit::storage_contract::{add_session, add_user, at};
    let (_database, observer, store) = observed_store(4).await;
    let storage = store.storage();
    let user = add_user(&storage, "reader").await;
    let (session, _) = add_session(&storage, user.id, "r", at(0)).await;
    let check = || storage.sessions.get_session_with_user(session.id);
    assert!(check().await.unwrap().is_some());
    let killed: i64 = observer
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed >= 1);
    // The first read may meet the dying connection (503 to one request); the ones after it
    // must get a fresh one.
    let mut failures = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match check().await {
            Ok(found) => {
                assert_eq!(found.expect("the session exists").0.id, session.id);
                break;
            }
            Err(_) => failures += 1,
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reads never recovered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(failures <= 1, "{failures} reads failed after the kill");
    for _ in 0..20 {
        assert!(check().await.unwrap().is_some());
    }
}

/// The conversation list is a prepared statement, so after five runs PostgreSQL may plan it
/// once for any user, guessing a handful of rows per derived table. An earlier form joined
/// two of them by conversation and that plan compared every conversation with every other
/// (25 ms for 1,000 conversations instead of 4; at the 400 here it is chosen too). No join
/// of the generic plan may filter pairs of rows: each is a lookup by index or a hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conversation_list_has_no_quadratic_join_in_its_generic_plan() {
    if postgres::skip() {
        return;
    }
    use ai_message_postgres::sql;
    use ai_message_testkit::storage_contract::{add_message, add_user, at};
    let (_database, observer, store) = observed_store(2).await;
    let storage = store.storage();
    let hub = add_user(&storage, "hub").await;
    for n in 0..400 {
        let peer = add_user(&storage, &format!("peer{n}")).await;
        add_message(&storage, peer.id, hub.id, &format!("c{n}"), at(n)).await;
        if n % 2 == 0 {
            add_message(&storage, hub.id, peer.id, &format!("c{n}"), at(n + 1_000)).await;
        }
    }
    observer.batch_execute("ANALYZE").await.unwrap();
    observer
        .batch_execute(&format!(
            "SET plan_cache_mode = force_generic_plan; \
             PREPARE summaries(int) AS {}",
            sql::CONVERSATION_SUMMARIES
        ))
        .await
        .unwrap();
    let plan: Vec<String> = observer
        .simple_query(&format!("EXPLAIN EXECUTE summaries({})", hub.id.get()))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    let plan = plan.join("\n");
    assert!(
        plan.contains("Join"),
        "the plan joins the names in:\n{plan}"
    );
    assert!(
        !plan.contains("Join Filter"),
        "a join compares pairs of rows:\n{plan}"
    );
}

/// A steady stream of events (one every ~150 µs, as under load) goes out gathered: at most
/// one notifying transaction per millisecond, and every event reaches the other instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_events_are_gathered_into_few_notifications_and_none_is_lost() {
    if postgres::skip() {
        return;
    }
    use ai_message_core::{DomainEvent, UserId};
    use std::time::{Duration, Instant};

    let (database, _observer, store) = observed_store(4).await;
    let (other_instance, mut connection) =
        tokio_postgres::connect(&database.url, tokio_postgres::NoTls)
            .await
            .unwrap();
    let (heard, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    let listening = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let Ok(tokio_postgres::AsyncMessage::Notification(notice)) = message {
                let _ = heard.send(notice.payload().to_string());
            }
        }
    });
    other_instance
        .batch_execute(&format!("LISTEN {}", ai_message_postgres::CHANNEL))
        .await
        .unwrap();
    let storage = store.storage();
    const EVENTS: i64 = 300;
    let started = Instant::now();
    for user in 1..=EVENTS {
        storage
            .events
            .publish(&[DomainEvent::AccessChanged {
                user_id: UserId::new(user),
            }])
            .await;
        // Blocks this worker on purpose: Tokio's timers cannot wait less than 1 ms.
        std::thread::sleep(Duration::from_micros(100));
    }
    let publishing = started.elapsed();
    let mut lines = std::collections::HashSet::new();
    let mut count = 0u128;
    while lines.len() < EVENTS as usize {
        let payload = tokio::time::timeout(Duration::from_secs(10), notifications.recv())
            .await
            .unwrap_or_else(|_| panic!("{} of {EVENTS} events heard", lines.len()))
            .unwrap();
        count += 1;
        lines.extend(payload.lines().skip(1).map(str::to_string));
    }
    let allowed = publishing.as_millis() + 2;
    assert!(
        count <= allowed,
        "{count} notifications for {EVENTS} events published over {publishing:?}"
    );
    listening.abort();
}
