//! WhatsApp and SMS through Twilio: the signed webhook in, the Messages API out (a fake
//! Twilio), the assistant's conversation shared with the web.

use std::time::Duration;

use ai_message_core::usecases::Settings;
use ai_message_core::usecases::channels::ChannelSettings;
use ai_message_core::{PhoneRegion, PhoneRules};
use ai_message_twilio::TwilioSettings;
use poem::http::Method;
use serde_json::{Value, json};

use super::harness::{Body, Client, TestResponse, TestServer, password_of};
use crate::fake_model::{Answer, FakeModel};
use crate::fake_twilio::*;
use crate::message_sid;

const FORM: &str = "application/x-www-form-urlencoded";
const ALICE_PHONE: &str = "+60123456789";

/// Posts `params` to `path`, signed for `url` with `token` (no header when `None`).
async fn post_webhook(
    server: &TestServer,
    path: &str,
    params: &[(&str, &str)],
    signature: Option<String>,
) -> TestResponse {
    let headers: Vec<(&str, &str)> = signature
        .as_deref()
        .map(|s| vec![("X-Twilio-Signature", s)])
        .unwrap_or_default();
    server
        .send(
            Method::POST,
            path,
            None,
            Body::Raw(FORM, form_body(params)),
            &headers,
        )
        .await
}

/// Posts `params` to `/twilio_webhook`, signed as Twilio signs for [`WEBHOOK_URL`].
async fn post_signed(server: &TestServer, params: &[(&str, &str)]) -> TestResponse {
    let signature = twilio_signature(AUTH_TOKEN, WEBHOOK_URL, params);
    post_webhook(server, "/twilio_webhook", params, Some(signature)).await
}

fn assert_empty_twiml(response: &TestResponse) {
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.text, "<Response/>");
    assert!(
        response
            .header("content-type")
            .unwrap()
            .starts_with("text/xml"),
        "{:?}",
        response.header("content-type")
    );
}

/// A user whose proven number is `phone`: created by a superuser, as a school's roster is
/// (a number a user types in routes nothing until texted back, see the squatter case).
async fn user_with_phone(server: &TestServer, name: &str, phone: &str) -> Client {
    let known = server
        .login_as("registrar", &password_of("registrar"))
        .await
        .status
        .is_success();
    let registrar = if known {
        server.login("registrar").await
    } else {
        server.superuser("registrar").await
    };
    server
        .post(
            "/auth/users",
            Some(&registrar.access),
            json!({
                "username": name,
                "email": format!("{name}@example.com"),
                "password": password_of(name),
                "phone_number": phone,
            }),
        )
        .await
        .assert_status(201);
    server.login(name).await
}

/// Claims `phone` for `client` and proves it by texting the code from it (one reply goes
/// out: the confirmation).
/// Claims `phone` for `client`; the one-time code to text from it.
async fn claim_code(server: &TestServer, client: &Client, phone: &str) -> String {
    let claim = server
        .put(
            "/auth/me/phone",
            Some(&client.access),
            json!({ "phone_number": phone }),
        )
        .await;
    claim.assert_status(200)["verification"]["code"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn prove_phone(server: &TestServer, client: &Client, phone: &str, message_sid: &str) {
    let code = claim_code(server, client, phone).await;
    assert_empty_twiml(&post_signed(server, &incoming_text(message_sid, phone, &code)).await);
}

async fn history(server: &TestServer, client: &Client) -> Vec<(String, String)> {
    let history = server.get("/messages/history", Some(&client.access)).await;
    history.assert_status(200)["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|turn| {
            (
                turn["role"].as_str().unwrap().to_string(),
                turn["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn turns(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(role, content)| (role.to_string(), content.to_string()))
        .collect()
}

/// Waits until the user's history holds `count` turns (the reply is stored in the
/// background).
async fn history_of_length(
    server: &TestServer,
    client: &Client,
    count: usize,
) -> Vec<(String, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let turns = history(server, client).await;
        if turns.len() >= count || tokio::time::Instant::now() > deadline {
            return turns;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn no_limits() -> Settings {
    Settings {
        login_limits: ai_message_core::usecases::LoginLimits::off(),
        ..Settings::default()
    }
}

pub async fn a_whatsapp_text_is_answered_on_whatsapp_and_the_web_shows_both_turns(
    server: TestServer,
) {
    let twilio = FakeTwilio::start().await;
    let model = FakeModel::start().await;
    model.script([Answer::Streamed(
        "Filed: the lift in block B is broken.".into(),
    )]);
    let server = server.with_twilio(twilio.settings(), Some(&model), no_limits());
    let alice = user_with_phone(&server, "alice", ALICE_PHONE).await;
    let (mut stream, _) = server.stream_of(&alice).await;

    let response = post_signed(
        &server,
        &incoming_text(
            message_sid!("1000"),
            "whatsapp:+60123456789",
            "The lift in block B is broken",
        ),
    )
    .await;

    assert_empty_twiml(&response);
    let sent = twilio.wait_for_delivered(1).await;
    assert_eq!(
        sent,
        [SentMessage {
            account_sid: ACCOUNT_SID.into(),
            authorization: Some(basic_auth()),
            to: "whatsapp:+60123456789".into(),
            from: "whatsapp:+14155238886".into(),
            body: "Filed: the lift in block B is broken.".into(),
            accepted: true,
        }]
    );
    assert_eq!(
        model.recorded()[0].messages().last().unwrap(),
        &(
            "user".to_string(),
            "The lift in block B is broken".to_string()
        ),
        "the model is asked the text"
    );
    assert_eq!(
        history(&server, &alice).await,
        turns(&[
            ("user", "The lift in block B is broken"),
            ("assistant", "Filed: the lift in block B is broken."),
        ])
    );
    let mut created = Vec::new();
    while created.len() < 2 {
        let event = stream.next_event().await;
        if event.event == "message.created" {
            created.push(event.data);
        }
    }
    assert_eq!(created[0]["sender_id"], alice.id);
    assert_eq!(created[0]["recipient_id"], -1);
    assert_eq!(
        created[0]["conversation_id"],
        format!("conv_-1_{}", alice.id)
    );
    assert_eq!(created[1]["sender_id"], -1);
    assert_eq!(
        created[1]["content"],
        "Filed: the lift in block B is broken."
    );

    // The same conversation goes on from the web.
    model.script([Answer::Plain("Still on it.".into())]);
    let reply = server
        .post(
            "/messages/ai",
            Some(&alice.access),
            json!({"content": "Any news?"}),
        )
        .await;
    assert_eq!(reply.assert_status(200)["content"], "Still on it.");
    let asked = model.recorded()[1].messages();
    assert!(
        asked.contains(&("user".into(), "The lift in block B is broken".into())),
        "the web question comes with the phone's turns: {asked:?}"
    );
}

pub async fn an_sms_is_answered_by_sms_and_its_form_is_decoded(server: TestServer) {
    let twilio = FakeTwilio::start().await;
    let model = FakeModel::start().await;
    model.script([Answer::Plain("Noted.".into())]);
    let server = server.with_twilio(twilio.settings(), Some(&model), no_limits());
    let alice = user_with_phone(&server, "alice", ALICE_PHONE).await;
    let text = "Room 4: tap leaks & 1+1=2 100% ☕";

    let response = post_signed(
        &server,
        &incoming_text(message_sid!("2000"), ALICE_PHONE, text),
    )
    .await;

    assert_empty_twiml(&response);
    let sent = twilio.wait_for_delivered(1).await;
    assert_eq!(
        (sent[0].to.as_str(), sent[0].from.as_str()),
        (ALICE_PHONE, SERVICE_NUMBER)
    );
    assert_eq!(
        history_of_length(&server, &alice, 2).await[0],
        ("user".to_string(), text.to_string()),
        "`+`, `%` and `:` arrive as they were typed"
    );
}

pub async fn unsigned_forged_and_altered_webhooks_are_refused_and_store_nothing(
    server: TestServer,
) {
    let twilio = FakeTwilio::start().await;
    let model = FakeModel::start().await;
    let server = server.with_twilio(twilio.settings(), Some(&model), no_limits());
    let alice = user_with_phone(&server, "alice", ALICE_PHONE).await;
    let params = incoming_text(
        message_sid!("3000"),
        "whatsapp:+60123456789",
        "List my reports",
    );
    let good = twilio_signature(AUTH_TOKEN, WEBHOOK_URL, &params);
    let altered = incoming_text(
        message_sid!("3000"),
        "whatsapp:+60123456789",
        "Delete everything",
    );
    let other_number = incoming_text(
        message_sid!("3000"),
        "whatsapp:+60199999999",
        "List my reports",
    );
    let attempts = [
        ("no signature", params.clone(), None),
        ("empty", params.clone(), Some(String::new())),
        (
            "garbage",
            params.clone(),
            Some("bm90IGEgc2lnbmF0dXJl".into()),
        ),
        (
            "another token",
            params.clone(),
            Some(twilio_signature("not-the-token", WEBHOOK_URL, &params)),
        ),
        (
            "another URL",
            params.clone(),
            Some(twilio_signature(
                AUTH_TOKEN,
                "https://evil.example/twilio_webhook",
                &params,
            )),
        ),
        ("replayed with another body", altered, Some(good.clone())),
        (
            "replayed from another number",
            other_number,
            Some(good.clone()),
        ),
    ];
    for (what, params, signature) in attempts {
        let response = post_webhook(&server, "/twilio_webhook", &params, signature).await;
        response.assert_error(403, "Invalid Twilio signature");
        assert!(
            history(&server, &alice).await.is_empty(),
            "{what}: stored nothing"
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(twilio.calls().is_empty(), "nothing was answered");
    assert!(model.recorded().is_empty(), "the model was not asked");

    // The genuine request still goes through afterwards.
    model.script([Answer::Plain("You have no reports.".into())]);
    assert_empty_twiml(&post_signed(&server, &params).await);
    assert_eq!(
        twilio.wait_for_delivered(1).await[0].body,
        "You have no reports."
    );
}

pub async fn a_retried_message_sid_is_processed_once(server: TestServer) {
    let twilio = FakeTwilio::start().await;
    let model = FakeModel::start().await;
    model.script([Answer::Plain("Once.".into())]);
    let server = server.with_twilio(twilio.settings(), Some(&model), no_limits());
    let alice = user_with_phone(&server, "alice", ALICE_PHONE).await;
    let params = incoming_text(
        message_sid!("4000"),
        "whatsapp:+60123456789",
        "Is anyone there?",
    );

    // Twilio retries a webhook it did not see answered: the copies may arrive at once.
    let copies = (0..6).map(|_| post_signed(&server, &params));
    for response in futures_util::future::join_all(copies).await {
        assert_empty_twiml(&response);
    }
    assert_empty_twiml(&post_signed(&server, &params).await);

    assert_eq!(twilio.wait_for_delivered(1).await.len(), 1);
    assert_eq!(
        history_of_length(&server, &alice, 2).await,
        turns(&[("user", "Is anyone there?"), ("assistant", "Once.")])
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(twilio.calls().len(), 1, "one reply in all");
    assert_eq!(model.recorded().len(), 1, "one model call in all");
    assert_eq!(history(&server, &alice).await.len(), 2);
}

pub async fn unknown_and_disabled_numbers_get_the_fixed_reply_and_nothing_is_stored(
    server: TestServer,
) {
    let twilio = FakeTwilio::start().await;
    let model = FakeModel::start().await;
    let server = server.with_twilio(twilio.settings(), Some(&model), no_limits());
    let root = server.superuser("root").await;
    let alice = user_with_phone(&server, "alice", ALICE_PHONE).await;
    let bob = user_with_phone(&server, "bob", "+60198765432").await;
    let disabled = server
        .put_empty(
            &format!("/auth/users/{}/disable", bob.id),
            Some(&root.access),
        )
        .await;
    disabled.assert_status(200);

    let senders = [
        (message_sid!("5001"), "whatsapp:+60"), // a prefix of every Malaysian number
        (message_sid!("5002"), "whatsapp:+6012345678"), // alice's number less a digit
        (message_sid!("5003"), "+160123456789"), // alice's number after another digit
        (message_sid!("5004"), "whatsapp:+60198765432"), // bob, disabled
        (message_sid!("5005"), "TWILIO"),       // not a phone number at all
    ];
    for (sid, from) in senders {
        assert_empty_twiml(&post_signed(&server, &incoming_text(sid, from, "hello")).await);
    }
    let sent = twilio.wait_for_delivered(senders.len()).await;
    let mut answered: Vec<&str> = sent.iter().map(|m| m.to.as_str()).collect();
    answered.sort_unstable();
    let mut expected: Vec<&str> = senders.iter().map(|(_, from)| *from).collect();
    expected.sort_unstable();
    assert_eq!(answered, expected);
    let fixed = ChannelSettings::default().unregistered_reply;
    assert!(sent.iter().all(|m| m.body == fixed), "{sent:?}");
    assert!(fixed.starts_with("This number is not registered"));
    assert!(model.recorded().is_empty(), "the model was not asked");
    assert!(history(&server, &alice).await.is_empty());
}

pub async fn a_long_reply_is_sent_in_parts_within_twilios_limit(server: TestServer) {
    let twilio = FakeTwilio::start().await;
    let model = FakeModel::start().await;
    let words: Vec<String> = (0..700).map(|i| format!("step{i}")).collect();
    let long = words.join(" ");
    model.script([Answer::Plain(long.clone())]);
    let server = server.with_twilio(twilio.settings(), Some(&model), no_limits());
    let alice = user_with_phone(&server, "alice", ALICE_PHONE).await;

    let params = incoming_text(
        message_sid!("6000"),
        "whatsapp:+60123456789",
        "How do I reset it?",
    );
    assert_empty_twiml(&post_signed(&server, &params).await);

    let parts = long.chars().count().div_ceil(1_600);
    let sent = twilio.wait_for_delivered(parts).await;
    assert!(
        sent.len() >= parts && sent.len() <= parts + 1,
        "{} parts",
        sent.len()
    );
    assert!(sent.iter().all(|m| m.body.chars().count() <= 1_600));
    let joined: Vec<&str> = sent.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(joined.join(" "), long, "in order, nothing lost");
    assert_eq!(
        history_of_length(&server, &alice, 2).await[1].1,
        long,
        "stored whole"
    );
}

pub async fn twilio_failures_are_retried_then_given_up_and_the_reply_stays_stored(
    server: TestServer,
) {
    let twilio = FakeTwilio::start().await;
    let model = FakeModel::start().await;
    model.script([
        Answer::Plain("First reply".into()),
        Answer::Plain("Second reply".into()),
    ]);
    let server = server.with_twilio(twilio.settings(), Some(&model), no_limits());
    let alice = user_with_phone(&server, "alice", ALICE_PHONE).await;

    // Down twice, then up: the third try goes through.
    twilio.fail_next([503, 500]);
    let first = incoming_text(message_sid!("7001"), "whatsapp:+60123456789", "one");
    assert_empty_twiml(&post_signed(&server, &first).await);
    let calls = twilio.wait_for_delivered(1).await;
    assert_eq!(twilio.calls().len(), 3, "{calls:?}");
    assert!(twilio.calls().iter().all(|m| m.body == "First reply"));

    // Failing on every try: given up after three.
    twilio.fail_next([500, 429, 503]);
    let second = incoming_text(message_sid!("7002"), "whatsapp:+60123456789", "two");
    assert_empty_twiml(&post_signed(&server, &second).await);
    twilio.wait_for_calls(6).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(twilio.calls().len(), 6, "three tries, then no more");
    assert_eq!(twilio.delivered().len(), 1);
    assert_eq!(
        history_of_length(&server, &alice, 4).await,
        turns(&[
            ("user", "one"),
            ("assistant", "First reply"),
            ("user", "two"),
            ("assistant", "Second reply"),
        ]),
        "the reply stays stored for the web"
    );
}

pub async fn without_a_token_the_webhook_is_not_served(server: TestServer) {
    let params = incoming_text(message_sid!("8000"), ALICE_PHONE, "hello");
    let signature = twilio_signature(AUTH_TOKEN, WEBHOOK_URL, &params);
    let response = post_webhook(&server, "/twilio_webhook", &params, Some(signature)).await;
    assert_eq!(response.status, 404, "{}", response.text);
}

pub async fn a_bad_webhook_body_is_a_clear_4xx(server: TestServer) {
    let twilio = FakeTwilio::start().await;
    let server = server.with_twilio(twilio.settings(), None, no_limits());
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("From", ALICE_PHONE), ("Body", "hi")],
            "MessageSid is required",
        ),
        (
            &[("MessageSid", message_sid!("9001")), ("Body", "hi")],
            "From is required",
        ),
        (
            &[("MessageSid", "SM 9002"), ("From", ALICE_PHONE)],
            "MessageSid: must be SM or MM followed by 32 hexadecimal digits",
        ),
    ];
    for (params, detail) in cases {
        post_signed(&server, params).await.assert_error(400, detail);
    }
    let params = incoming_text(message_sid!("9003"), ALICE_PHONE, "hi");
    // Signed, but not posted as a form.
    let signature = twilio_signature(AUTH_TOKEN, WEBHOOK_URL, &params);
    let json_body = server
        .send(
            Method::POST,
            "/twilio_webhook",
            None,
            Body::Raw("text/plain", form_body(&params)),
            &[("X-Twilio-Signature", &signature)],
        )
        .await;
    json_body.assert_error(415, "Twilio posts application/x-www-form-urlencoded");
    let get = server.get("/twilio_webhook", None).await;
    assert_eq!(get.status, 405);
    assert_empty_twiml(&post_signed(&server, &params).await);
}

pub async fn a_webhook_path_of_its_own_is_served_beside_the_default(server: TestServer) {
    let twilio = FakeTwilio::start().await;
    let model = FakeModel::start().await;
    model.script([Answer::Plain("A".into()), Answer::Plain("B".into())]);
    let settings = TwilioSettings {
        webhook_path: Some("/hooks/twilio".into()),
        webhook_url: Some("https://school.example/hooks/twilio".into()),
        ..twilio.settings()
    };
    let server = server.with_twilio(settings, Some(&model), no_limits());
    let alice = user_with_phone(&server, "alice", ALICE_PHONE).await;

    let first = incoming_text(
        message_sid!("9101"),
        "whatsapp:+60123456789",
        "on the custom path",
    );
    let signature = twilio_signature(AUTH_TOKEN, "https://school.example/hooks/twilio", &first);
    assert_empty_twiml(&post_webhook(&server, "/hooks/twilio", &first, Some(signature)).await);
    // The default path, signed for the URL Twilio would have called on the same host.
    let second = incoming_text(
        message_sid!("9102"),
        "whatsapp:+60123456789",
        "on the default path",
    );
    let signature = twilio_signature(AUTH_TOKEN, "https://school.example/twilio_webhook", &second);
    assert_empty_twiml(&post_webhook(&server, "/twilio_webhook", &second, Some(signature)).await);
    assert_eq!(twilio.wait_for_delivered(2).await.len(), 2);
    assert_eq!(history_of_length(&server, &alice, 4).await.len(), 4);
}

pub async fn national_numbers_need_a_default_region_and_are_stored_in_e164(server: TestServer) {
    let alice = server.user("alice").await;
    let national = json!({"phone_number": "012-7903 8038"});
    let refused = server
        .put("/auth/me/phone", Some(&alice.access), national.clone())
        .await;
    assert_eq!(refused.status, 422, "without a region: international only");

    let twilio = FakeTwilio::start().await;
    let model = FakeModel::start().await;
    model.script([Answer::Plain("Hello Malaysia".into())]);
    let malaysia = Settings {
        phone_rules: PhoneRules::new(PhoneRegion::parse("MY")),
        ..no_limits()
    };
    let server = server.with_twilio(twilio.settings(), Some(&model), malaysia);
    let set = server
        .put("/auth/me/phone", Some(&alice.access), national)
        .await;
    assert_eq!(set.assert_status(200)["phone_number"], "+601279038038");
    let profile = server
        .put(
            "/auth/me",
            Some(&alice.access),
            json!({"phone_number": "012-345 6789"}),
        )
        .await;
    assert_eq!(profile.assert_status(200)["phone_number"], "+60123456789");
    let invalid = server
        .put(
            "/auth/me/phone",
            Some(&alice.access),
            json!({"phone_number": "012-34"}),
        )
        .await;
    assert_eq!(invalid.status, 422, "{}", invalid.text);
    assert!(
        invalid.text.contains("MY"),
        "the reason names the region: {}",
        invalid.text
    );
    let registered = server
        .post(
            "/auth/register",
            None,
            json!({
                "username": "bob",
                "email": "bob@example.com",
                "password": "correct horse battery",
                "phone_number": "03-2615 8188",
            }),
        )
        .await;
    assert_eq!(
        registered.assert_status(201)["phone_number"],
        "+60326158188"
    );

    // The webhook matches the stored E.164 form, once the number is proven.
    prove_phone(&server, &alice, "+60123456789", message_sid!("9200")).await;
    assert!(
        twilio.wait_for_delivered(1).await[0]
            .body
            .contains("verified")
    );
    let params = incoming_text(
        message_sid!("9201"),
        "whatsapp:+60123456789",
        "Hi from my phone",
    );
    assert_empty_twiml(&post_signed(&server, &params).await);
    assert_eq!(twilio.wait_for_delivered(2).await[1].body, "Hello Malaysia");
    let turns: Vec<Value> = history_of_length(&server, &alice, 2)
        .await
        .into_iter()
        .map(|(role, content)| json!([role, content]))
        .collect();
    assert_eq!(turns[0], json!(["user", "Hi from my phone"]));
}

/// Posts `params` signed for [`WEBHOOK_URL`] with extra headers.
async fn post_signed_with(
    server: &TestServer,
    params: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> TestResponse {
    let signature = twilio_signature(AUTH_TOKEN, WEBHOOK_URL, params);
    let mut all = vec![("X-Twilio-Signature", signature.as_str())];
    all.extend_from_slice(headers);
    server
        .send(
            Method::POST,
            "/twilio_webhook",
            None,
            Body::Raw(FORM, form_body(params)),
            &all,
        )
        .await
}

/// `params` without the fields named `drop`, with `set` written over (or added).
fn recut<'a>(
    params: &[(&'a str, &'a str)],
    drop: &[&str],
    set: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut recut: Vec<(&str, &str)> = params
        .iter()
        .filter(|(name, _)| !drop.contains(name) && !set.iter().any(|(n, _)| n == name))
        .copied()
        .collect();
    recut.extend_from_slice(set);
    recut
}

/// Twilio's signature runs names and values together, so a captured request can be re-cut
/// (a field's name and value moved into its neighbour's value) and still carry a valid
/// signature. Each such request is refused with a clear 4xx, and the genuine one is still
/// taken once.
pub async fn signed_requests_recut_or_padded_are_refused_and_store_nothing(server: TestServer) {
    let twilio = FakeTwilio::start().await;
    let model = FakeModel::start().await;
    model.script([Answer::Plain("Once.".into())]);
    let server = server.with_twilio(twilio.settings(), Some(&model), no_limits());
    let alice = user_with_phone(&server, "alice", ALICE_PHONE).await;
    let sid = message_sid!("1100");
    let mut captured = incoming_text(sid, "whatsapp:+60123456789", "Is anyone there?");
    captured.push(("MessageType", "text"));
    assert_empty_twiml(&post_signed(&server, &captured).await);
    assert_eq!(twilio.wait_for_delivered(1).await[0].body, "Once.");

    let sid_with_type = format!("{sid}MessageTypetext");
    let from_with_sid = format!("whatsapp:+60123456789MessageSid{sid}");
    let other_account = "AC00000000000000000000000000000002";
    /// What was done to the request, the request, and the status and detail it gets.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "MessageType moved into MessageSid",
            recut(
                &captured,
                &["MessageType"],
                &[("MessageSid", &sid_with_type)],
            ),
            400,
            "MessageSid: must be SM or MM followed by 32 hexadecimal digits",
        ),
        (
            "MessageSid moved into From, SmsMessageSid left to stand in",
            recut(&captured, &["MessageSid"], &[("From", &from_with_sid)]),
            400,
            "MessageSid is required",
        ),
        (
            "SmsMessageSid other than MessageSid",
            recut(&captured, &[], &[("SmsMessageSid", message_sid!("1101"))]),
            400,
            "SmsMessageSid must equal MessageSid",
        ),
        (
            "a field given twice",
            recut(
                &captured,
                &[],
                &[
                    ("MessageSid", message_sid!("1102")),
                    ("SmsMessageSid", message_sid!("1102")),
                    ("Body", "and again"),
                ],
            )
            .into_iter()
            .chain([("Body", "Is anyone there?")])
            .collect(),
            400,
            "Body is given more than once",
        ),
        (
            "another Twilio account",
            recut(
                &captured,
                &[],
                &[
                    ("MessageSid", message_sid!("1103")),
                    ("SmsMessageSid", message_sid!("1103")),
                    ("AccountSid", other_account),
                ],
            ),
            403,
            "AccountSid is not this service's Twilio account",
        ),
        (
            "no AccountSid",
            recut(
                &captured,
                &["AccountSid"],
                &[
                    ("MessageSid", message_sid!("1104")),
                    ("SmsMessageSid", message_sid!("1104")),
                ],
            ),
            403,
            "AccountSid is not this service's Twilio account",
        ),
    ];
    let mut wrong = Vec::new();
    for (what, params, status, detail) in cases {
        let response = post_signed(&server, &params).await;
        if (response.status.as_u16(), response.detail()) != (status, detail) {
            wrong.push(format!("{what}: {} {}", response.status, response.text));
        }
    }
    // Signed for the URL with a query string the configured URL does not have.
    let queried = incoming_text(message_sid!("1105"), "whatsapp:+60123456789", "hi");
    let url = format!("{WEBHOOK_URL}?AccountSid=x");
    let signature = twilio_signature(AUTH_TOKEN, &url, &queried);
    let response = post_webhook(
        &server,
        "/twilio_webhook?AccountSid=x",
        &queried,
        Some(signature),
    )
    .await;
    if (response.status.as_u16(), response.detail()) != (403, "Invalid Twilio signature") {
        wrong.push(format!(
            "another query: {} {}",
            response.status, response.text
        ));
    }
    assert!(wrong.is_empty(), "answered otherwise: {wrong:#?}");

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(twilio.calls().len(), 1, "one reply in all");
    assert_eq!(model.recorded().len(), 1, "one model call in all");
    assert_eq!(
        history(&server, &alice).await,
        turns(&[("user", "Is anyone there?"), ("assistant", "Once.")]),
        "the question is stored once"
    );
}

/// Without `TWILIO_WEBHOOK_URL` (start-up refuses it; a program that builds the settings
/// itself may not), a signature for whatever host the request names is no proof.
pub async fn without_a_public_url_a_signature_for_the_requests_host_is_refused(server: TestServer) {
    let twilio = FakeTwilio::start().await;
    let settings = TwilioSettings {
        webhook_url: None,
        ..twilio.settings()
    };
    let server = server.with_twilio(settings, None, no_limits());
    let params = incoming_text(message_sid!("1200"), "whatsapp:+60123456789", "hi");
    // Captured for another host, replayed with that host named.
    let url = "http://elsewhere.example/twilio_webhook";
    let signature = twilio_signature(AUTH_TOKEN, url, &params);
    let headers = [
        ("X-Twilio-Signature", signature.as_str()),
        ("Host", "elsewhere.example"),
    ];
    let response = server
        .send(
            Method::POST,
            "/twilio_webhook",
            None,
            Body::Raw(FORM, form_body(&params)),
            &headers,
        )
        .await;
    response.assert_error(403, "Invalid Twilio signature");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(twilio.calls().is_empty(), "nothing was answered");
}

/// Twilio sends `I-Twilio-Idempotency-Token` with each webhook request, the same on its
/// retries: a request whose token was taken before is not taken again, whatever its
/// `MessageSid`.
pub async fn a_delivery_whose_idempotency_token_was_taken_is_not_taken_again(server: TestServer) {
    let twilio = FakeTwilio::start().await;
    let model = FakeModel::start().await;
    model.script([
        Answer::Plain("First.".into()),
        Answer::Plain("Third.".into()),
    ]);
    let server = server.with_twilio(twilio.settings(), Some(&model), no_limits());
    let alice = user_with_phone(&server, "alice", ALICE_PHONE).await;
    let token = [(IDEMPOTENCY_HEADER, "idem-token-1")];

    let first = incoming_text(message_sid!("1301"), "whatsapp:+60123456789", "first");
    assert_empty_twiml(&post_signed_with(&server, &first, &token).await);
    assert_eq!(twilio.wait_for_delivered(1).await[0].body, "First.");
    let second = incoming_text(message_sid!("1302"), "whatsapp:+60123456789", "second");
    assert_empty_twiml(&post_signed_with(&server, &second, &token).await);
    let third = incoming_text(message_sid!("1303"), "whatsapp:+60123456789", "third");
    let other_token = [(IDEMPOTENCY_HEADER, "idem-token-2")];
    assert_empty_twiml(&post_signed_with(&server, &third, &other_token).await);

    assert_eq!(twilio.wait_for_delivered(2).await[1].body, "Third.");
    assert_eq!(
        history_of_length(&server, &alice, 4).await,
        turns(&[
            ("user", "first"),
            ("assistant", "First."),
            ("user", "third"),
            ("assistant", "Third."),
        ])
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(twilio.calls().len(), 2, "no reply to the second");
}

/// A flood of texts from a number nobody has is answered once a day, and copies of one
/// text (Twilio's retries, racing) once: the fixed reply costs a send each time.
pub async fn an_unknown_number_gets_the_fixed_reply_once_a_day(server: TestServer) {
    let twilio = FakeTwilio::start().await;
    let server = server.with_twilio(twilio.settings(), None, no_limits());
    let stranger = "whatsapp:+60111111111";

    let first = incoming_text(message_sid!("1400"), stranger, "hello");
    let copies = (0..5).map(|_| post_signed(&server, &first));
    for response in futures_util::future::join_all(copies).await {
        assert_empty_twiml(&response);
    }
    let sids: Vec<String> = (0..20).map(|n| format!("SM{:032x}", 0x1401 + n)).collect();
    let flood = sids
        .iter()
        .map(|sid| incoming_text(sid, stranger, "hello?"))
        .collect::<Vec<_>>();
    let posts = flood.iter().map(|params| post_signed(&server, params));
    for response in futures_util::future::join_all(posts).await {
        assert_empty_twiml(&response);
    }
    // The same number spelled otherwise (the channel's prefix in other cases, by SMS) is
    // the same number: no more replies. An address storage cannot hold gets none, no 5xx.
    let spellings = [
        "WhatsApp:+60111111111",
        "WHATSAPP:+60111111111",
        "+60111111111",
    ];
    for (n, from) in spellings.into_iter().enumerate() {
        let sid = format!("SM{:032x}", 0x1450 + n);
        assert_empty_twiml(&post_signed(&server, &incoming_text(&sid, from, "hi")).await);
    }
    let nul = incoming_text(message_sid!("1460"), "whatsapp:+6011\u{0}1", "hi");
    let refused = post_signed(&server, &nul).await;
    assert!(
        refused.status.is_success() || refused.status.is_client_error(),
        "{}",
        refused.status
    );
    let sent = twilio.wait_for_delivered(1).await;
    assert_eq!(sent[0].to, stranger);
    // Another number has its own day.
    let other = incoming_text(message_sid!("1500"), "+60122222222", "hi");
    assert_empty_twiml(&post_signed(&server, &other).await);
    twilio.wait_for_delivered(2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut answered: Vec<String> = twilio.calls().into_iter().map(|m| m.to).collect();
    answered.sort_unstable();
    assert_eq!(answered, ["+60122222222", stranger], "one reply a number");

    // A day later the number is answered again, but not for a text taken before.
    server.clock.advance(chrono::TimeDelta::hours(24));
    assert_empty_twiml(&post_signed(&server, &first).await);
    let next_day = incoming_text(message_sid!("1600"), stranger, "hello again");
    assert_empty_twiml(&post_signed(&server, &next_day).await);
    assert_eq!(twilio.wait_for_delivered(3).await[2].to, stranger);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(twilio.calls().len(), 3);
}

/// Copies of one text without words from a user (Twilio's retries) get one reply.
pub async fn copies_of_a_text_without_words_are_answered_once(server: TestServer) {
    let twilio = FakeTwilio::start().await;
    let server = server.with_twilio(twilio.settings(), None, no_limits());
    user_with_phone(&server, "alice", ALICE_PHONE).await;
    let photo = incoming_text(message_sid!("1700"), "whatsapp:+60123456789", "");
    let copies = (0..4).map(|_| post_signed(&server, &photo));
    for response in futures_util::future::join_all(copies).await {
        assert_empty_twiml(&response);
    }
    let sent = twilio.wait_for_delivered(1).await;
    assert_eq!(sent[0].body, ChannelSettings::default().no_text_reply);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(twilio.calls().len(), 1, "one reply in all");
}

/// Issue 38: a number routes texts only once its holder has proven it from the phone. A
/// squatter who puts another person's number in their profile first neither blocks the
/// owner nor receives the owner's texts.
pub async fn a_squatters_unverified_claim_neither_blocks_the_owner_nor_gets_their_texts(
    server: TestServer,
) {
    let twilio = FakeTwilio::start().await;
    let model = FakeModel::start().await;
    model.script([Answer::Plain("Hello Alice".into())]);
    let server = server.with_twilio(twilio.settings(), Some(&model), no_limits());
    let mallory = server.user("mallory").await;
    let squatted = server
        .put(
            "/auth/me/phone",
            Some(&mallory.access),
            json!({"phone_number": ALICE_PHONE}),
        )
        .await;
    squatted.assert_status(200);

    // Alice's texts reach nobody while the number is only claimed: Mallory sees none.
    let before = incoming_text(
        message_sid!("9301"),
        "whatsapp:+60123456789",
        "Is this thing on?",
    );
    assert_empty_twiml(&post_signed(&server, &before).await);
    let sent = twilio.wait_for_delivered(1).await;
    assert!(
        history(&server, &mallory).await.is_empty(),
        "the squatter gets none of the owner's texts"
    );
    assert_eq!(sent[0].body, ChannelSettings::default().unregistered_reply);
    assert_eq!(squatted.assert_status(200)["phone_verified"], false);

    // The claim does not block the owner: she claims the number too, and proves it.
    let alice = server.user("alice").await;
    let claim = server
        .put(
            "/auth/me/phone",
            Some(&alice.access),
            json!({"phone_number": "+60 12-345 6789"}),
        )
        .await;
    let claim = claim.assert_status(200);
    assert_eq!(claim["phone_number"], ALICE_PHONE);
    assert_eq!(claim["phone_verified"], false);
    let code = claim["verification"]["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 8, "{code}");
    let proof = incoming_text(message_sid!("9302"), "whatsapp:+60123456789", &code);
    assert_empty_twiml(&post_signed(&server, &proof).await);
    let sent = twilio.wait_for_delivered(2).await;
    assert!(
        sent[1].body.contains("verified") && sent[1].body.contains("alice"),
        "{:?}",
        sent[1].body
    );
    let me = server.get("/auth/me", Some(&alice.access)).await;
    let me = me.assert_status(200);
    assert_eq!(
        (me["phone_number"].clone(), me["phone_verified"].clone()),
        (json!(ALICE_PHONE), json!(true))
    );
    let squatter = server.get("/auth/me", Some(&mallory.access)).await;
    assert_eq!(
        squatter.assert_status(200)["phone_number"],
        Value::Null,
        "the proof removed the other claims on the number"
    );

    // From now on the number's texts are Alice's; the code itself was not stored.
    let after = incoming_text(message_sid!("9303"), "whatsapp:+60123456789", "Hi, it's me");
    assert_empty_twiml(&post_signed(&server, &after).await);
    assert_eq!(twilio.wait_for_delivered(3).await[2].body, "Hello Alice");
    assert_eq!(
        history_of_length(&server, &alice, 2).await,
        turns(&[("user", "Hi, it's me"), ("assistant", "Hello Alice")])
    );
    assert!(history(&server, &mallory).await.is_empty());
    assert_eq!(
        model.recorded().len(),
        1,
        "only the real text asked the model"
    );
}

/// A code proves only the number it was given for, five wrong codes from that number use
/// it up, and a code is never stored as a message, nor taken twice when Twilio retries.
pub async fn wrong_misplaced_and_retried_codes_prove_nothing_more(server: TestServer) {
    let twilio = FakeTwilio::start().await;
    let model = FakeModel::start().await;
    let server = server.with_twilio(twilio.settings(), Some(&model), no_limits());
    let alice = server.user("alice").await;
    let claim = |sid_note: &'static str| {
        let server = &server;
        let alice = &alice;
        async move {
            let claim = server
                .put(
                    "/auth/me/phone",
                    Some(&alice.access),
                    json!({ "phone_number": ALICE_PHONE }),
                )
                .await;
            claim.assert_status(200)["verification"]["code"]
                .as_str()
                .unwrap_or_else(|| panic!("{sid_note}: a code"))
                .to_string()
        }
    };
    let code = claim("first").await;
    let unregistered = ChannelSettings::default().unregistered_reply;

    // Her code texted from another phone proves nothing there.
    let elsewhere = incoming_text(message_sid!("9401"), "+60198765432", &code);
    assert_empty_twiml(&post_signed(&server, &elsewhere).await);
    assert_eq!(twilio.wait_for_delivered(1).await[0].body, unregistered);

    // Five wrong codes from her number use the code up.
    let wrong = format!("{:08}", (code.parse::<u64>().unwrap() + 1) % 100_000_000);
    for attempt in 0..5 {
        let sid = format!("SM{:032x}", 0x9410 + attempt);
        assert_empty_twiml(&post_signed(&server, &incoming_text(&sid, ALICE_PHONE, &wrong)).await);
    }
    let sent = twilio.wait_for_delivered(6).await;
    assert!(
        sent[1..]
            .iter()
            .all(|m| m.body.starts_with("That code is not valid")),
        "{sent:?}"
    );
    let used_up = incoming_text(message_sid!("9420"), ALICE_PHONE, &code);
    assert_empty_twiml(&post_signed(&server, &used_up).await);
    assert_eq!(twilio.wait_for_delivered(7).await[6].body, unregistered);
    let me = server.get("/auth/me", Some(&alice.access)).await;
    assert_eq!(me.assert_status(200)["phone_verified"], false);

    // A new code proves it; Twilio's retries of that text change nothing more.
    let code = claim("second").await;
    let proof = incoming_text(message_sid!("9430"), ALICE_PHONE, &code);
    let copies = (0..3).map(|_| post_signed(&server, &proof));
    for response in futures_util::future::join_all(copies).await {
        assert_empty_twiml(&response);
    }
    assert!(
        twilio.wait_for_delivered(8).await[7]
            .body
            .contains("verified")
    );
    let me = server.get("/auth/me", Some(&alice.access)).await;
    assert_eq!(me.assert_status(200)["phone_verified"], true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(twilio.calls().len(), 8, "one confirmation in all");
    assert!(
        history(&server, &alice).await.is_empty(),
        "no code is stored"
    );
    assert!(model.recorded().is_empty(), "the model was never asked");
}

/// Twilio's retries of a text that carries a code are one attempt: a wrong code retried
/// counts once and is answered once (retries used to use the claim's code up, a reply each),
/// and a delivery whose idempotency token proved the number is not taken again under another
/// `MessageSid` (it used to be stored as a question and answered).
pub async fn retried_code_texts_are_one_attempt_and_answered_once(server: TestServer) {
    let twilio = FakeTwilio::start().await;
    let model = FakeModel::start().await;
    model.script([Answer::Plain("Should never be asked.".into())]);
    let server = server.with_twilio(twilio.settings(), Some(&model), no_limits());
    let alice = server.user("alice").await;
    let code = claim_code(&server, &alice, ALICE_PHONE).await;

    let wrong = format!("{:08}", (code.parse::<u64>().unwrap() + 1) % 100_000_000);
    let retried = incoming_text(message_sid!("9501"), ALICE_PHONE, &wrong);
    for _ in 0..6 {
        assert_empty_twiml(&post_signed(&server, &retried).await);
    }
    let sent = twilio.wait_for_delivered(1).await;
    assert!(
        sent[0].body.starts_with("That code is not valid"),
        "{sent:?}"
    );

    let token = [(IDEMPOTENCY_HEADER, "delivery-of-the-proof")];
    let proof = incoming_text(message_sid!("9502"), ALICE_PHONE, &code);
    assert_empty_twiml(&post_signed_with(&server, &proof, &token).await);
    assert!(
        twilio.wait_for_delivered(2).await[1]
            .body
            .contains("verified"),
        "the retries left the code usable"
    );
    let redelivered = incoming_text(message_sid!("9503"), ALICE_PHONE, &code);
    assert_empty_twiml(&post_signed_with(&server, &redelivered, &token).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        twilio.calls().len(),
        2,
        "one reply each: {:?}",
        twilio.calls()
    );
    assert!(
        history(&server, &alice).await.is_empty(),
        "no code is stored"
    );
    assert!(model.recorded().is_empty(), "the model was never asked");
}
