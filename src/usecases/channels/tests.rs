use super::*;
use crate::domain::User;
use crate::ports::{Assistant, ChannelSendError};
use crate::usecases::assistant::{AssistantSettings, FALLBACK_REPLY};
use crate::usecases::test_support::*;
use async_trait::async_trait;
use tokio::sync::mpsc;

/// A channel that hands each reply to the test.
struct RecordingReplies(mpsc::UnboundedSender<(ReplyRoute, String, String)>);

#[async_trait]
impl ChannelReplies for RecordingReplies {
    async fn send(
        &self,
        route: &ReplyRoute,
        text: &str,
        reference: &str,
    ) -> Result<(), ChannelSendError> {
        let _ = self
            .0
            .send((route.clone(), text.to_string(), reference.to_string()));
        Ok(())
    }
}

type Sent = mpsc::UnboundedReceiver<(ReplyRoute, String, String)>;

fn phone_chat(mocks: Mocks) -> (PhoneChat, Sent) {
    let (sender, sent) = mpsc::unbounded_channel();
    let ports = Ports {
        channel_replies: Some(Arc::new(RecordingReplies(sender))),
        assistant: None::<Arc<dyn Assistant>>,
        ..mocks.into_ports()
    };
    let assistant = AssistantChat::new(&ports, AssistantSettings::default());
    let chat = PhoneChat::new(&ports, assistant, ChannelSettings::default());
    (chat, sent)
}

fn text_from(number: &str, id: &str) -> IncomingText {
    IncomingText {
        id: ChannelMessageId::parse(id).unwrap(),
        delivery: None,
        sender: Some(PhoneNumber::parse(number).unwrap()),
        route: ReplyRoute {
            to: format!("whatsapp:{number}"),
            from: "whatsapp:+14155238886".into(),
        },
        text: "The projector in room 4 is broken".into(),
    }
}

fn user_with_phone(id: i64, number: &str, active: bool) -> User {
    User {
        phone_number: Some(PhoneNumber::parse(number).unwrap()),
        is_active: active,
        ..sample_user(id)
    }
}

/// Storage that takes every receipt and fixed reply asked for.
fn taking_everything(mocks: &mut Mocks) {
    mocks
        .messages
        .expect_take_channel_receipts()
        .returning(|_, _| Ok(true));
    mocks
        .messages
        .expect_take_fixed_reply()
        .returning(|_, _, _| Ok(true));
}

#[tokio::test]
async fn an_unknown_number_gets_the_fixed_reply_and_nothing_is_stored() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_user_by_phone()
        .returning(|_| Ok(None));
    mocks
        .messages
        .expect_take_channel_receipts()
        .withf(|receipts, _| receipts.len() == 1 && receipts[0].as_str() == "SM1")
        .times(1)
        .returning(|_, _| Ok(true));
    mocks
        .messages
        .expect_take_fixed_reply()
        .withf(|address, now, quiet_since| {
            address == "+60123456789" && *now - *quiet_since == UNREGISTERED_REPLY_EVERY
        })
        .times(1)
        .returning(|_, _, _| Ok(true));
    mocks.messages.expect_create_message_once().never();
    mocks.messages.expect_store_reply().never();
    let (chat, mut sent) = phone_chat(mocks);

    let received = chat
        .receive(text_from("+60123456789", "SM1"))
        .await
        .unwrap();

    assert_eq!(received, Received::Unregistered { answered: true });
    let (route, text, reference) = sent.recv().await.unwrap();
    assert_eq!(route.to, "whatsapp:+60123456789");
    assert_eq!(text, ChannelSettings::default().unregistered_reply);
    assert_eq!(reference, "SM1");
}

#[tokio::test]
async fn a_disabled_user_is_answered_as_an_unknown_number() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_user_by_phone()
        .returning(|phone| Ok(Some(user_with_phone(7, phone.as_str(), false))));
    taking_everything(&mut mocks);
    mocks.messages.expect_create_message_once().never();
    let (chat, mut sent) = phone_chat(mocks);

    let received = chat
        .receive(text_from("+60123456789", "SM2"))
        .await
        .unwrap();

    assert_eq!(received, Received::Unregistered { answered: true });
    assert_eq!(
        sent.recv().await.unwrap().1,
        ChannelSettings::default().unregistered_reply
    );
}

#[tokio::test]
async fn a_text_is_the_users_message_to_the_assistant_and_the_reply_goes_back_out() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_user_by_phone()
        .withf(|phone| phone.as_str() == "+60123456789")
        .returning(|phone| Ok(Some(user_with_phone(7, phone.as_str(), true))));
    mocks
        .messages
        .expect_create_message_once()
        .withf(|origin, delivery, new| {
            origin.receipt.as_str() == "SM3"
                && delivery.is_none()
                && origin.route.to == "whatsapp:+60123456789"
                && new.sender_id == uid(7)
                && new.recipient_id == UserId::ASSISTANT
                && new.conversation_id.as_str() == "conv_-1_7"
        })
        .times(1)
        .returning(|_, _, new| Ok(Some(delivered(20, new))));
    mocks.without_assistant_history();
    mocks
        .messages
        .expect_claim_question()
        .withf(|question, _, _| *question == mid(20))
        .times(1)
        .returning(|_, _, _| Ok(true));
    mocks
        .messages
        .expect_store_reply()
        .withf(|question, new| {
            *question == mid(20) && new.sender_id == UserId::ASSISTANT && new.recipient_id == uid(7)
        })
        .times(1)
        .returning(|_, new| Ok(Some(delivered(21, new))));
    let events = mocks.events.clone();
    let (chat, mut sent) = phone_chat(mocks);

    let received = chat
        .receive(text_from("+60123456789", "SM3"))
        .await
        .unwrap();

    assert_eq!(received, Received::Accepted { user_id: uid(7) });
    // Without a model the assistant answers its fallback reply, which still goes out.
    let (route, text, reference) = sent.recv().await.unwrap();
    assert_eq!(route.to, "whatsapp:+60123456789");
    assert_eq!(text, FALLBACK_REPLY);
    assert_eq!(reference, "SM3");
    let created: Vec<_> = events
        .published()
        .into_iter()
        .filter_map(|event| match event {
            DomainEvent::Message(MessageEvent::Created { id, .. }) => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(created, [mid(20), mid(21)], "both turns are announced");
}

#[tokio::test]
async fn a_text_taken_before_is_not_stored_announced_or_answered_again() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_user_by_phone()
        .returning(|phone| Ok(Some(user_with_phone(7, phone.as_str(), true))));
    mocks
        .messages
        .expect_create_message_once()
        .returning(|_, _, _| Ok(None));
    mocks.messages.expect_store_reply().never();
    let events = mocks.events.clone();
    let (chat, mut sent) = phone_chat(mocks);

    let received = chat
        .receive(text_from("+60123456789", "SM4"))
        .await
        .unwrap();

    assert_eq!(received, Received::AlreadyReceived);
    tokio::task::yield_now().await;
    assert!(sent.try_recv().is_err(), "no reply goes out");
    assert!(events.published().is_empty());
}

#[tokio::test]
async fn a_text_without_words_gets_a_fixed_reply_and_nothing_is_stored() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_user_by_phone()
        .returning(|phone| Ok(Some(user_with_phone(7, phone.as_str(), true))));
    taking_everything(&mut mocks);
    mocks.messages.expect_create_message_once().never();
    let (chat, mut sent) = phone_chat(mocks);

    let received = chat
        .receive(IncomingText {
            text: String::new(),
            ..text_from("+60123456789", "MM5")
        })
        .await
        .unwrap();

    assert_eq!(received, Received::NoText);
    assert_eq!(
        sent.recv().await.unwrap().1,
        ChannelSettings::default().no_text_reply
    );
}

#[tokio::test]
async fn an_unknown_number_answered_within_the_day_gets_no_reply() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_user_by_phone()
        .returning(|_| Ok(None));
    mocks
        .messages
        .expect_take_channel_receipts()
        .returning(|_, _| Ok(true));
    mocks
        .messages
        .expect_take_fixed_reply()
        .times(1)
        .returning(|_, _, _| Ok(false));
    let (chat, mut sent) = phone_chat(mocks);

    let received = chat
        .receive(text_from("+60123456789", "SM6"))
        .await
        .unwrap();

    assert_eq!(received, Received::Unregistered { answered: false });
    tokio::task::yield_now().await;
    assert!(sent.try_recv().is_err(), "no reply goes out");
}

#[tokio::test]
async fn a_text_from_an_unknown_number_taken_before_is_not_answered_again() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_user_by_phone()
        .returning(|_| Ok(None));
    mocks
        .messages
        .expect_take_channel_receipts()
        .returning(|_, _| Ok(false));
    mocks.messages.expect_take_fixed_reply().never();
    let (chat, mut sent) = phone_chat(mocks);

    let received = chat
        .receive(text_from("+60123456789", "SM7"))
        .await
        .unwrap();

    assert_eq!(received, Received::AlreadyReceived);
    tokio::task::yield_now().await;
    assert!(sent.try_recv().is_err(), "no reply goes out");
}

#[tokio::test]
async fn the_delivery_id_is_taken_with_the_message_id() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_user_by_phone()
        .returning(|phone| Ok(Some(user_with_phone(7, phone.as_str(), true))));
    mocks
        .messages
        .expect_create_message_once()
        .withf(|origin, delivery, _| {
            let ids: Vec<String> = origin
                .receipts(delivery.clone())
                .iter()
                .map(|r| r.as_str().to_string())
                .collect();
            ids == ["SM8", "delivery-8"]
        })
        .times(1)
        .returning(|_, _, _| Ok(None));
    let (chat, _) = phone_chat(mocks);

    let received = chat
        .receive(IncomingText {
            delivery: Some(ChannelMessageId::parse("delivery-8").unwrap()),
            ..text_from("+60123456789", "SM8")
        })
        .await
        .unwrap();

    assert_eq!(received, Received::AlreadyReceived);
}

#[tokio::test]
async fn a_question_from_a_phone_waits_for_the_users_reply_in_flight() {
    let mut mocks = Mocks::new();
    mocks.messages.expect_store_reply().never();
    let (chat, _) = phone_chat(mocks);
    let assistant = chat.assistant.clone();
    let first = assistant.take_slot(uid(7)).unwrap();

    let waiting = tokio::spawn({
        let assistant = assistant.clone();
        async move { assistant.reserve_when_free(uid(7)).await.is_some() }
    });
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished(), "the second waits for the first");
    drop(first);
    assert!(
        waiting.await.unwrap(),
        "and takes its place when it is done"
    );
}

/// Storage takes a text's first proof attempt (its receipts set apart as `proof:…`).
fn taking_proof_attempts(mocks: &mut Mocks) {
    mocks
        .messages
        .expect_take_channel_receipts()
        .withf(|receipts, _| receipts.iter().all(|r| r.as_str().starts_with("proof:")))
        .returning(|_, _| Ok(true));
}

fn code_from(number: &str, id: &str, code: &str) -> IncomingText {
    IncomingText {
        text: code.to_string(),
        ..text_from(number, id)
    }
}

#[tokio::test]
async fn a_live_code_proves_the_number_and_is_not_stored() {
    let mut mocks = Mocks::new();
    taking_proof_attempts(&mut mocks);
    mocks
        .users
        .expect_prove_phone_number()
        .withf(|proof, _, max_failures| {
            let code = PhoneCode::from_text("1234 5678").unwrap();
            proof.code_hash == code.hash_for(&proof.phone_number)
                && proof.receipt.as_str() == "SM10"
                && *max_failures == PHONE_CODE_MAX_FAILURES
        })
        .returning(|proof, _, _| {
            Ok(ProofOutcome::Proven(Box::new(user_with_phone(
                7,
                proof.phone_number.as_str(),
                true,
            ))))
        });
    mocks.users.expect_find_user_by_phone().never();
    mocks.messages.expect_create_message_once().never();
    let (chat, mut sent) = phone_chat(mocks);

    let received = chat
        .receive(code_from("+60123456789", "SM10", "1234 5678"))
        .await
        .unwrap();

    assert_eq!(received, Received::PhoneVerified { user_id: uid(7) });
    let confirmation = sent.recv().await.unwrap().1;
    assert!(confirmation.contains("verified") && confirmation.contains("user7"));
}

#[tokio::test]
async fn a_wrong_code_from_an_unproven_number_gets_the_wrong_code_reply() {
    let mut mocks = Mocks::new();
    taking_proof_attempts(&mut mocks);
    mocks
        .users
        .expect_prove_phone_number()
        .returning(|_, _, _| Ok(ProofOutcome::NotProven { counted: true }));
    mocks
        .users
        .expect_find_user_by_phone()
        .returning(|_| Ok(None));
    mocks.messages.expect_create_message_once().never();
    let (chat, mut sent) = phone_chat(mocks);

    let received = chat
        .receive(code_from("+60123456789", "SM11", "12345678"))
        .await
        .unwrap();

    assert_eq!(received, Received::WrongCode);
    assert_eq!(sent.recv().await.unwrap().1, WRONG_CODE_REPLY);
}

/// A squatter's live claim on a proven number does not change what its owner's digits are:
/// a text of eight digits from the owner is their message like any other.
#[tokio::test]
async fn digits_from_a_proven_number_are_an_ordinary_text_when_they_prove_nothing() {
    let mut mocks = Mocks::new();
    taking_proof_attempts(&mut mocks);
    mocks
        .users
        .expect_prove_phone_number()
        .returning(|_, _, _| Ok(ProofOutcome::NotProven { counted: true }));
    mocks
        .users
        .expect_find_user_by_phone()
        .returning(|phone| Ok(Some(user_with_phone(7, phone.as_str(), true))));
    mocks
        .messages
        .expect_create_message_once()
        .times(1)
        .returning(|_, _, _| Ok(None));
    let (chat, _sent) = phone_chat(mocks);

    let received = chat
        .receive(code_from("+60123456789", "SM12", "12345678"))
        .await
        .unwrap();

    assert_eq!(received, Received::AlreadyReceived);
}

#[tokio::test]
async fn a_retried_proving_text_is_taken_once() {
    let mut mocks = Mocks::new();
    taking_proof_attempts(&mut mocks);
    mocks
        .users
        .expect_prove_phone_number()
        .returning(|_, _, _| Ok(ProofOutcome::AlreadyReceived));
    mocks.users.expect_find_user_by_phone().never();
    mocks.messages.expect_create_message_once().never();
    let (chat, _sent) = phone_chat(mocks);

    let received = chat
        .receive(code_from("+60123456789", "SM13", "12345678"))
        .await
        .unwrap();

    assert_eq!(received, Received::AlreadyReceived);
}
