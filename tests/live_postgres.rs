//! Live delivery across instances: two servers on one PostgreSQL database, each with its own
//! listening connection, as two stateless instances behind a load balancer run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ai_message_postgres::{PostgresStore, PostgresUrl};
use ai_message_testkit::completeness::{self, Load};
use ai_message_testkit::http_api::harness::{Client, TestServer};
use ai_message_testkit::postgres;
use ai_message_testkit::relay::{Relay, upstream_address};
use ai_message_testkit::sse::Next;

async fn two_instances() -> (TestServer, TestServer, postgres::ScratchDatabase) {
    let (first, database) = postgres::fresh_postgres().await;
    let url = PostgresUrl::parse(&database.url).unwrap();
    let second = PostgresStore::open(&url, 2).await.unwrap().storage();
    (TestServer::new(first), TestServer::new(second), database)
}

/// Terminates every live-events connection on the database; returns how many.
async fn kill_listeners(database: &str) -> i64 {
    let (client, connection) =
        tokio_postgres::connect(&postgres::admin_url(), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = $2",
            &[&database, &PostgresUrl::LISTENER_NAME],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_on_one_instance_receives_what_another_instance_stores() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let (a, b, _database) = two_instances().await;
    let alice = b.user("alice").await;
    let bob = b.user("bob").await;
    let (mut stream, _) = a.stream_of(&bob).await;
    let started = Instant::now();
    let sent = b.send_message(&alice, bob.id, "across instances").await;
    match stream.next_within(Duration::from_secs(1)).await {
        Next::Event(event) => {
            assert_eq!(event.event, "message.created");
            assert_eq!(event.data["id"], sent["id"]);
        }
        other => panic!("nothing within 1 s of the send on the other instance: {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(1));

    // A logout on B closes the stream on A.
    b.post("/auth/logout", Some(&bob.access), serde_json::json!({}))
        .await
        .assert_status(200);
    loop {
        match stream.next_within(Duration::from_secs(2)).await {
            Next::Closed => break,
            Next::Quiet => panic!("the stream on A outlived the logout on B by 2 s"),
            Next::Event(_) => {}
        }
    }
}

async fn file_report(server: &TestServer, reporter: &Client, title: &str) -> serde_json::Value {
    let body = serde_json::json!({"title": title, "content": "broken"});
    let response = server.post("/reports", Some(&reporter.access), body).await;
    response.assert_status(201).clone()
}

/// A superuser demoted on one instance stops hearing of other users' reports on every
/// instance at once: both of his streams, on A and on B, get only his own next report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superuser_demoted_on_one_instance_stops_hearing_of_reports_on_both() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let (a, b, _database) = two_instances().await;
    let root = a.superuser("root").await;
    let warden_on_a = a.superuser("warden").await;
    let warden_on_b = b.login("warden").await;
    let alice = b.user("alice").await;
    let (mut on_a, _) = a.stream_of(&warden_on_a).await;
    let (mut on_b, _) = b.stream_of(&warden_on_b).await;
    file_report(&b, &alice, "Before").await;
    for stream in [&mut on_a, &mut on_b] {
        assert_eq!(stream.next_event().await.event, "report.created");
    }

    b.put(
        &format!("/auth/users/{}/superuser", warden_on_a.id),
        Some(&root.access),
        serde_json::json!({"is_superuser": false}),
    )
    .await
    .assert_status(200);
    // Both filed on B, one after the other: every stream hears B's events in that order.
    file_report(&b, &alice, "After").await;
    let own = file_report(&b, &warden_on_b, "Mine").await;
    for stream in [&mut on_a, &mut on_b] {
        let next = stream.next_event().await;
        assert_eq!(next.event, "report.created");
        assert_eq!(next.data, own, "only his own report, not alice's");
    }
}

/// A report filed on B reaches a superuser's stream on A, and its answer on A reaches the
/// reporter's stream on B, with the report as it is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_events_cross_instances() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let (a, b, _database) = two_instances().await;
    let root = a.superuser("root").await;
    let alice = b.user("alice").await;
    let (mut roots, _) = a.stream_of(&root).await;
    let (mut alices, _) = b.stream_of(&alice).await;
    let filed = b
        .post(
            "/reports",
            Some(&alice.access),
            serde_json::json!({"title": "Lift", "content": "Stuck"}),
        )
        .await;
    let filed = filed.assert_status(201).clone();
    let created = roots.next_event().await;
    assert_eq!(created.event, "report.created");
    assert_eq!(
        created.data, filed,
        "read from storage on the other instance"
    );
    assert_eq!(alices.next_event().await.event, "report.created");
    let answered = a
        .post(
            &format!("/reports/{}/comment", filed["id"]),
            Some(&root.access),
            serde_json::json!({"comment": "On it", "status": "in_progress"}),
        )
        .await;
    let answered = answered.assert_status(200).clone();
    let updated = alices.next_event().await;
    assert_eq!(updated.event, "report.updated");
    assert_eq!(updated.data, answered);
}

/// Posts a text as Twilio would, signed; the status.
async fn post_signed(server: &TestServer, params: &[(&str, &str)]) -> u16 {
    use ai_message_testkit::fake_twilio::*;
    use ai_message_testkit::http_api::harness::Body;
    let signature = twilio_signature(AUTH_TOKEN, WEBHOOK_URL, params);
    let body = Body::Raw("application/x-www-form-urlencoded", form_body(params));
    let headers = [("X-Twilio-Signature", signature.as_str())];
    let response = server
        .send(
            poem::http::Method::POST,
            "/twilio_webhook",
            None,
            body,
            &headers,
        )
        .await;
    response.status.as_u16()
}

/// Twilio retries a webhook it saw no answer to, and a load balancer may hand each copy to
/// another instance: copies racing on both instances store one question and send one reply,
/// and the reply reaches the user's stream on either instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_twilio_message_is_taken_once_across_instances() {
    use ai_message_testkit::fake_model::{Answer, FakeModel};
    use ai_message_testkit::fake_twilio::*;

    if ai_message_testkit::postgres::skip() {
        return;
    }
    let (a, b, _database) = two_instances().await;
    let twilio = FakeTwilio::start().await;
    let model = FakeModel::start().await;
    model.script([
        Answer::Plain("Taken once.".into()),
        Answer::Plain("Twice?!".into()),
    ]);
    let settings = ai_message_core::usecases::Settings::default();
    let a = a.with_twilio(twilio.settings(), Some(&model), settings.clone());
    let b = b.with_twilio(twilio.settings(), Some(&model), settings);
    let alice = a.user("alice").await;
    let claim = a
        .put(
            "/auth/me/phone",
            Some(&alice.access),
            serde_json::json!({"phone_number": "+60123456789"}),
        )
        .await;
    let code = claim.assert_status(200)["verification"]["code"]
        .as_str()
        .unwrap()
        .to_string();
    // The proving text, retried to both instances at once, proves the number once.
    let proof_sid = format!("SM{:032x}", 0x900d);
    let proof = incoming_text(&proof_sid, "whatsapp:+60123456789", &code);
    let statuses = tokio::join!(
        post_signed(&a, &proof),
        post_signed(&b, &proof),
        post_signed(&a, &proof),
        post_signed(&b, &proof)
    );
    assert_eq!(statuses, (200, 200, 200, 200));
    assert!(
        twilio.wait_for_delivered(1).await[0]
            .body
            .contains("verified")
    );
    let (mut on_b, _) = b.stream_of(&alice).await;

    for round in 0..5 {
        let sid = format!("SM{round:032}");
        let text = format!("question {round}");
        let params = incoming_text(&sid, "whatsapp:+60123456789", &text);
        let statuses = tokio::join!(
            post_signed(&a, &params),
            post_signed(&b, &params),
            post_signed(&a, &params),
            post_signed(&b, &params)
        );
        assert_eq!(statuses, (200, 200, 200, 200));
    }
    let sent = twilio.wait_for_delivered(6).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        twilio.calls().len(),
        6,
        "one confirmation, one reply per message: {sent:?}"
    );
    assert_eq!(model.recorded().len(), 5, "one model call per message");
    let history = a.get("/messages/history", Some(&alice.access)).await;
    assert_eq!(history.assert_status(200)["message_count"], 10);
    let mut created = 0;
    while created < 10 {
        if on_b.next_event().await.event == "message.created" {
            created += 1;
        }
    }
}

/// A number nobody has, texting both instances at once (copies of one text and a flood of
/// others), gets one fixed reply in all: the day's reply is taken in the shared database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_number_gets_one_fixed_reply_across_instances() {
    use ai_message_testkit::fake_twilio::*;

    if ai_message_testkit::postgres::skip() {
        return;
    }
    let (a, b, _database) = two_instances().await;
    let twilio = FakeTwilio::start().await;
    let settings = ai_message_core::usecases::Settings::default();
    let a = a.with_twilio(twilio.settings(), None, settings.clone());
    let b = b.with_twilio(twilio.settings(), None, settings);

    let sids: Vec<String> = (0..10).map(|n| format!("SM{n:032}")).collect();
    let texts: Vec<_> = sids
        .iter()
        .map(|sid| incoming_text(sid, "whatsapp:+60111111111", "who is there?"))
        .collect();
    for params in &texts {
        let statuses = tokio::join!(
            post_signed(&a, params),
            post_signed(&b, params),
            post_signed(&a, params),
            post_signed(&b, params)
        );
        assert_eq!(statuses, (200, 200, 200, 200));
    }
    twilio.wait_for_delivered(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(twilio.calls().len(), 1, "one fixed reply in all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listening_connection_loses_no_message() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let (a, b, database) = two_instances().await;
    let alice = b.user("alice").await;
    let bob = b.user("bob").await;
    let (mut stream, _) = a.stream_of(&bob).await;
    let first = b.send_message(&alice, bob.id, "before").await;
    let event = stream.next_event().await;
    assert_eq!(event.data["id"], first["id"]);

    assert!(
        kill_listeners(&database.name).await >= 2,
        "both instances listen"
    );
    let mut sent = Vec::new();
    for n in 0..5 {
        sent.push(
            b.send_message(&alice, bob.id, &format!("during the blip {n}"))
                .await["id"]
                .clone(),
        );
    }
    let mut received = Vec::new();
    while received.len() < sent.len() {
        match stream.next_within(Duration::from_secs(10)).await {
            Next::Event(event) if event.event == "message.created" => {
                received.push(event.data["id"].clone());
            }
            Next::Event(_) => {}
            other => panic!("after the blip, got {other:?} with {received:?} of {sent:?}"),
        }
    }
    assert_eq!(received, sent, "every message, once, in order");

    // And the listener is back: the next message arrives live.
    let after = b.send_message(&alice, bob.id, "after").await;
    match stream.next_within(Duration::from_secs(2)).await {
        Next::Event(event) => assert_eq!(event.data["id"], after["id"]),
        other => panic!("{other:?}"),
    }
}

/// Instance A reaches the database through a relay the test cuts: while A is away, B stores
/// messages whose notifications A can never hear; when A is back, its stream catches up
/// from storage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_stored_while_an_instance_was_cut_off_reach_its_streams() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let (direct, database) = postgres::fresh_postgres().await;
    let mut relay = Relay::start(upstream_address()).await;
    let through_relay =
        database
            .url
            .replacen(&upstream_address(), &format!("127.0.0.1:{}", relay.port), 1);
    let url = PostgresUrl::parse(&through_relay).unwrap();
    let a = TestServer::new(PostgresStore::open(&url, 2).await.unwrap().storage());
    let b = TestServer::new(direct);
    let alice = b.user("alice").await;
    let bob = b.user("bob").await;
    let (mut stream, _) = a.stream_of(&bob).await;
    let live = b.send_message(&alice, bob.id, "live").await;
    assert_eq!(stream.next_event().await.data["id"], live["id"]);

    relay.cut();
    let mut sent = Vec::new();
    for n in 0..3 {
        sent.push(
            b.send_message(&alice, bob.id, &format!("while cut off {n}"))
                .await["id"]
                .clone(),
        );
    }
    assert_eq!(
        stream.next_within(Duration::from_millis(500)).await,
        Next::Quiet,
        "A cannot hear anything while cut off"
    );
    relay.restore().await;
    let mut received = Vec::new();
    while received.len() < sent.len() {
        match stream.next_within(Duration::from_secs(15)).await {
            Next::Event(event) if event.event == "message.created" => {
                received.push(event.data["id"].clone());
            }
            Next::Event(_) => {}
            other => panic!("after the cut, got {other:?} with {received:?} of {sent:?}"),
        }
    }
    assert_eq!(
        received, sent,
        "every message stored meanwhile, once, in order"
    );
}

fn cross_instance_load() -> Load {
    Load {
        senders: 8,
        duration: Duration::from_secs(3),
        max_per_sender: 200,
        reconnect_every: Duration::from_millis(150),
        pace: None,
    }
}

/// The completeness count across instances: senders on B, both of the recipient's streams
/// (one steady, one reconnecting every 150 ms) on A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_on_one_instance_miss_nothing_that_concurrent_senders_store_on_another() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let (a, b, _database) = two_instances().await;
    let report =
        completeness::run(Arc::new(b), Arc::new(a), cross_instance_load(), || async {}).await;
    report.assert_complete();
}

/// The same count, while the listening connections of both instances are killed halfway
/// (`pg_terminate_backend`): what was notified meanwhile is caught up from storage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_killed_under_concurrent_senders_loses_nothing() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let (a, b, database) = two_instances().await;
    let name = database.name.clone();
    let report = completeness::run(
        Arc::new(b),
        Arc::new(a),
        cross_instance_load(),
        || async move {
            assert!(kill_listeners(&name).await >= 2, "both instances listen");
        },
    )
    .await;
    report.assert_complete();
}

/// `database`'s URL through the server's Unix socket (`postgresql://user@%2Fvar%2Frun%2F
/// postgresql:5432/name`) when the server runs on this machine; `None` when it is remote.
/// A local server without a socket fails the test where PostgreSQL tests are required.
async fn unix_socket_url(database: &postgres::ScratchDatabase) -> Option<String> {
    if !postgres::on_loopback(&database.url) {
        return None;
    }
    let config: tokio_postgres::Config = database.url.parse().unwrap();
    let (client, connection) = tokio_postgres::connect(&database.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let directories: String = client
        .query_one("SHOW unix_socket_directories", &[])
        .await
        .unwrap()
        .get(0);
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let directory = directories.split(',').map(str::trim).find(|dir| {
        std::path::Path::new(dir)
            .join(format!(".s.PGSQL.{port}"))
            .exists()
    });
    let Some(directory) = directory else {
        assert!(
            std::env::var_os(postgres::REQUIRE_ENV).is_none(),
            "the local PostgreSQL server has no Unix socket here (unix_socket_directories = \
             '{directories}'), and {} requires this test to run",
            postgres::REQUIRE_ENV
        );
        return None;
    };
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    Some(format!(
        "postgresql://{user}{password}@{}:{port}/{}",
        directory.replace('/', "%2F"),
        database.name
    ))
}

/// An instance on the server's Unix socket (the cheaper way to a server on the same
/// machine: BENCHMARKS.md, issue 27) works as one over TCP: its pool, its shared reads, its
/// send batches, its notifier and its listener all go through the socket, and live events
/// cross to and from an instance on TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_on_the_unix_socket_serves_and_streams_with_one_on_tcp() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let (on_tcp, database) = postgres::fresh_postgres().await;
    let Some(url) = unix_socket_url(&database).await else {
        eprintln!("the PostgreSQL server is not on this machine: nothing to check");
        return;
    };
    let over_socket = PostgresStore::open(&PostgresUrl::parse(&url).unwrap(), 2)
        .await
        .expect("the store opens over the Unix socket")
        .storage();
    let (a, b) = (TestServer::new(on_tcp), TestServer::new(over_socket));
    let alice = b.user("alice").await;
    let bob = a.user("bob").await;
    let (mut on_a, _) = a.stream_of(&bob).await;
    let (mut on_b, _) = b.stream_of(&alice).await;
    for _ in 0..3 {
        let to_bob = b.send_message(&alice, bob.id, "over the socket").await;
        match on_a.next_within(Duration::from_secs(2)).await {
            Next::Event(event) => assert_eq!(event.data["id"], to_bob["id"]),
            other => panic!("the send over the socket did not reach TCP: {other:?}"),
        }
        let to_alice = a.send_message(&bob, alice.id, "over TCP").await;
        // Alice's own send first, then Bob's from the other instance.
        let mut heard = Vec::new();
        while heard.len() < 2 {
            match on_b.next_within(Duration::from_secs(2)).await {
                Next::Event(event) => heard.push(event.data["id"].clone()),
                other => panic!("the stream over the socket missed a send: {other:?}"),
            }
        }
        assert_eq!(heard, [to_bob["id"].clone(), to_alice["id"].clone()]);
        match on_a.next_within(Duration::from_secs(2)).await {
            Next::Event(event) => assert_eq!(event.data["id"], to_alice["id"]),
            other => panic!("bob's own send did not reach his stream: {other:?}"),
        }
    }
    let page = b
        .get("/messages/received?limit=20", Some(&alice.access))
        .await;
    assert_eq!(page.assert_status(200).as_array().map(Vec::len), Some(3));

    let (observer, connection) = tokio_postgres::connect(&database.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let on_socket: i64 = observer
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND client_port = -1 AND application_name = $1",
            &[&PostgresUrl::LISTENER_NAME],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        on_socket, 1,
        "the socket instance listens through the socket"
    );
}
