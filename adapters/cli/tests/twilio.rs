//! The WhatsApp and SMS webhook of the binary, configured from the environment and reached
//! over TCP, as Twilio reaches it.

use ai_message_testkit::fake_twilio::*;
use ai_message_testkit::message_sid;
use ai_message_testkit::server::Server;

/// Posts `params` as a form to the server's webhook, with a signature when given.
async fn post(server: &Server, params: &[(&str, &str)], signature: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new()
        .post(server.url("/twilio_webhook"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(params));
    if let Some(signature) = signature {
        request = request.header("X-Twilio-Signature", signature);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn without_a_token_the_channel_is_off() {
    let server = Server::start(&[]);
    let params = incoming_text(message_sid!("0001"), "+60123456789", "hello");
    assert_eq!(post(&server, &params, None).await, 404);
}

/// The signature is checked against `TWILIO_WEBHOOK_URL` (required with a token), never
/// against the URL a request names: one captured for this host (`Host` is the client's to
/// say) is refused.
#[tokio::test]
async fn a_signed_request_is_taken_and_an_unsigned_one_refused() {
    let twilio = FakeTwilio::start().await;
    let server = Server::start(&[
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_PHONE_NUMBER", SERVICE_NUMBER),
        ("TWILIO_WEBHOOK_URL", WEBHOOK_URL),
        ("TWILIO_API_BASE", &twilio.api_base),
        ("TWILIO_RETRY_DELAY_MS", "10"),
    ]);
    let params = incoming_text(message_sid!("0002"), "whatsapp:+60123456789", "hello");
    assert_eq!(post(&server, &params, None).await, 403);
    let forged = twilio_signature("guess", WEBHOOK_URL, &params);
    assert_eq!(post(&server, &params, Some(&forged)).await, 403);
    let for_this_host = twilio_signature(AUTH_TOKEN, &server.url("/twilio_webhook"), &params);
    assert_eq!(post(&server, &params, Some(&for_this_host)).await, 403);
    assert!(twilio.calls().is_empty());

    let signature = twilio_signature(AUTH_TOKEN, WEBHOOK_URL, &params);
    assert_eq!(post(&server, &params, Some(&signature)).await, 200);
    // Nobody has the number: the fixed reply goes out on WhatsApp.
    let sent = twilio.wait_for_delivered(1).await;
    assert_eq!(sent[0].to, "whatsapp:+60123456789");
    assert_eq!(sent[0].from, "whatsapp:+14155238886");
    assert!(sent[0].body.starts_with("This number is not registered"));
    assert_eq!(
        sent[0].authorization.as_deref(),
        Some(basic_auth().as_str())
    );
}

#[tokio::test]
async fn unsigned_mode_is_announced_at_start() {
    let server = Server::start(&[("TWILIO_ALLOW_UNSIGNED", "true")]);
    let log = server.startup_log().join("\n");
    assert!(
        log.contains("WARN") && log.contains("TWILIO_ALLOW_UNSIGNED=true"),
        "{log}"
    );
    let params = incoming_text(message_sid!("0003"), "+60123456789", "hello");
    assert_eq!(post(&server, &params, None).await, 200);
}
