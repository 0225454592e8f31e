//! Texts from a channel (WhatsApp, SMS): the sender found by their exact number, and each
//! of the channel's message ids taken once, even by racing instances.

use std::collections::BTreeSet;

use ai_message_core::ports::*;
use ai_message_core::*;

use super::{add_user, at, new_user, phone_claim};

fn question_from(user: UserId, text: &str, seconds: i64) -> NewMessage {
    NewMessage {
        sender_id: user,
        recipient_id: UserId::ASSISTANT,
        content: MessageContent::parse(text).unwrap(),
        parent_id: None,
        conversation_id: ConversationId::between(UserId::ASSISTANT, user),
        created_at: at(seconds),
    }
}

fn receipt(id: &str) -> ChannelOrigin {
    ChannelOrigin {
        receipt: ChannelMessageId::parse(id).unwrap(),
        route: ReplyRoute {
            to: "whatsapp:+60123456789".into(),
            from: format!("whatsapp:+1415523{}", id.len()),
        },
    }
}

pub async fn a_user_is_found_by_their_exact_phone_number(storage: Storage) {
    add_user(&storage, "bob").await;
    let number = PhoneNumber::parse("+60123456789").unwrap();
    let mut new_alice = new_user("alice");
    new_alice.phone_number = Some(number.clone());
    let alice = storage.users.create_user(new_alice).await.unwrap();
    let found = storage.users.find_user_by_phone(&number).await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(alice.id));
    // No prefix, suffix or substring match: "60" is in every Malaysian number.
    for other in [
        "+60",
        "+6012345678",
        "+601234567890",
        "+160123456789",
        "+23456789",
    ] {
        let other = PhoneNumber::parse(other).unwrap();
        let found = storage.users.find_user_by_phone(&other).await.unwrap();
        assert_eq!(found, None, "{other}");
    }
}

pub async fn a_channel_message_is_stored_once_per_id(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let first = storage
        .messages
        .create_message_once(&receipt("SM0001"), None, question_from(alice, "hello", 1))
        .await
        .unwrap()
        .expect("a new id is taken");
    assert_eq!(
        first
            .message
            .conversation_id
            .as_ref()
            .map(|c| c.as_str().to_string()),
        Some(format!("conv_-1_{alice}"))
    );
    assert_eq!(first.message.recipient_id, UserId::ASSISTANT);
    assert_eq!(first.sender_position, Some(1));
    let again = storage
        .messages
        .create_message_once(&receipt("SM0001"), None, question_from(alice, "hello", 2))
        .await
        .unwrap();
    assert_eq!(again, None, "the same id again writes nothing");
    // Ids are compared exactly: another case is another id.
    let other = storage
        .messages
        .create_message_once(&receipt("sm0001"), None, question_from(alice, "again", 3))
        .await
        .unwrap();
    assert!(other.is_some());
    let stored = storage
        .messages
        .messages_between(alice, UserId::ASSISTANT, MessageId::new(0), 10)
        .await
        .unwrap();
    let texts: Vec<&str> = stored.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["hello", "again"]);
    assert_eq!(
        storage.messages.latest_position(alice).await.unwrap(),
        2,
        "a refused duplicate takes no position"
    );
    // Where its answer goes is kept with the question, for whichever instance answers it.
    let pending = storage
        .messages
        .unanswered_questions(at(100), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].question.id, other.unwrap().message.id);
    assert_eq!(pending[0].origin, Some(receipt("sm0001")));
    assert_eq!(
        pending[0].state,
        QuestionState::default(),
        "nobody took it yet"
    );
}

pub async fn racing_deliveries_of_one_channel_message_store_it_once(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let mut tasks = Vec::new();
    for round in 0..20 {
        for copy in 0..5 {
            let storage = storage.clone();
            tasks.push(tokio::spawn(async move {
                storage
                    .messages
                    .create_message_once(
                        &receipt(&format!("SM{round:04}")),
                        None,
                        question_from(alice, &format!("text {round} copy {copy}"), round),
                    )
                    .await
                    .unwrap()
                    .map(|d| d.message.id)
            }));
        }
    }
    let mut stored = BTreeSet::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Some(id) => assert!(stored.insert(id)),
            None => refused += 1,
        }
    }
    assert_eq!(
        (stored.len(), refused),
        (20, 80),
        "one copy of each id is stored"
    );
    let kept = storage
        .messages
        .messages_between(alice, UserId::ASSISTANT, MessageId::new(0), 100)
        .await
        .unwrap();
    assert_eq!(kept.len(), 20);
    assert_eq!(
        storage.messages.latest_position(alice).await.unwrap(),
        20,
        "positions without gaps"
    );
}

pub async fn channel_receipts_are_taken_all_or_none(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let messages = &storage.messages;
    let take = |ids: &'static [&'static str], seconds| async move {
        let receipts: Vec<ChannelMessageId> = ids.iter().map(|id| receipt(id).receipt).collect();
        messages
            .take_channel_receipts(&receipts, at(seconds))
            .await
            .unwrap()
    };
    assert!(take(&["SM0001", "delivery-1"], 1).await);
    assert!(
        !take(&["SM0002", "delivery-1"], 2).await,
        "one of them was taken"
    );
    assert!(take(&["SM0002"], 3).await, "so neither was");
    assert!(!take(&["SM0001"], 4).await);

    // A message comes in with its receipts all or none, too.
    let refused = messages
        .create_message_once(
            &receipt("SM0003"),
            Some(receipt("delivery-1").receipt),
            question_from(alice, "refused", 5),
        )
        .await
        .unwrap();
    assert_eq!(refused, None);
    let stored = messages
        .create_message_once(
            &receipt("SM0003"),
            Some(receipt("delivery-3").receipt),
            question_from(alice, "stored", 6),
        )
        .await
        .unwrap();
    assert!(stored.is_some(), "SM0003 was left untaken");
    assert!(!take(&["delivery-3"], 7).await);
    let kept = messages
        .messages_between(alice, UserId::ASSISTANT, MessageId::new(0), 10)
        .await
        .unwrap();
    let texts: Vec<&str> = kept.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["stored"]);
}

pub async fn racing_copies_of_a_text_answered_unstored_take_its_receipt_once(storage: Storage) {
    let mut tasks = Vec::new();
    for round in 0..20 {
        for _ in 0..5 {
            let storage = storage.clone();
            tasks.push(tokio::spawn(async move {
                storage
                    .messages
                    .take_channel_receipts(&[receipt(&format!("SM{round:04}")).receipt], at(round))
                    .await
                    .unwrap()
            }));
        }
    }
    let mut taken = 0;
    for task in tasks {
        taken += usize::from(task.await.unwrap());
    }
    assert_eq!(taken, 20, "one copy of each id takes it");
}

pub async fn a_fixed_reply_is_recorded_once_per_quiet_period(storage: Storage) {
    const DAY: i64 = 86_400;
    let messages = &storage.messages;
    let take = |address: &'static str, seconds: i64, quiet_since: i64| async move {
        messages
            .take_fixed_reply(address, at(seconds), at(quiet_since))
            .await
            .unwrap()
    };
    let stranger = "whatsapp:+60111111111";
    assert!(take(stranger, 10, 10 - DAY).await);
    assert!(!take(stranger, 20, 20 - DAY).await, "within the day");
    assert!(take("+60111111111", 20, 20 - DAY).await, "another address");
    // Counted from the reply recorded at 10 s, not from the refusal.
    assert!(!take(stranger, 10 + DAY - 1, 9).await);
    assert!(take(stranger, 10 + DAY, 10).await, "a day later");
    assert!(!take(stranger, 15 + DAY, 15).await);

    let racing: Vec<_> = (0..10)
        .map(|_| {
            let storage = storage.clone();
            tokio::spawn(async move {
                storage
                    .messages
                    .take_fixed_reply("whatsapp:+60999999999", at(100), at(100 - DAY))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut recorded = 0;
    for task in racing {
        recorded += usize::from(task.await.unwrap());
    }
    assert_eq!(recorded, 1, "of racing calls for one address, one records");
}

fn proof(number: &str, code: &str, receipt_id: &str) -> PhoneProof {
    let phone_number = PhoneNumber::parse(number).unwrap();
    PhoneProof {
        code_hash: PhoneCode::from_text(code).unwrap().hash_for(&phone_number),
        phone_number,
        receipt: receipt(receipt_id).receipt,
    }
}

/// Issue 38: the number becomes the claimant's only by the live code of their claim, texted
/// from that number; the proof takes it from its former holder, drops every claim of it
/// and takes the text's id, so a retry changes nothing.
pub async fn a_number_is_proven_by_a_live_code_of_its_claim_only(storage: Storage) {
    const NUMBER: &str = "+60123456789";
    let number = PhoneNumber::parse(NUMBER).unwrap();
    let mut new_holder = new_user("holder");
    new_holder.phone_number = Some(number.clone());
    let holder = storage.users.create_user(new_holder).await.unwrap();
    let mallory = add_user(&storage, "mallory").await;
    let alice = add_user(&storage, "alice").await;
    for (user, code) in [(mallory.id, "11111111"), (alice.id, "22222222")] {
        storage
            .users
            .claim_phone_number(user, Some(phone_claim(NUMBER, code, at(900))), at(1))
            .await
            .unwrap()
            .unwrap();
    }
    let outcome = |p: PhoneProof, seconds: i64| {
        let users = storage.users.clone();
        async move { users.prove_phone_number(p, at(seconds), 5).await.unwrap() }
    };
    // Alice's code from another number, or an unknown code: nothing proven.
    assert_eq!(
        outcome(proof("+60198765432", "22222222", "SM1"), 2).await,
        ProofOutcome::NotProven { counted: false }
    );
    assert_eq!(
        outcome(proof(NUMBER, "33333333", "SM2"), 2).await,
        ProofOutcome::NotProven { counted: true }
    );
    // After its expiry a code proves nothing.
    assert_eq!(
        outcome(proof(NUMBER, "22222222", "SM3"), 900).await,
        ProofOutcome::NotProven { counted: false }
    );
    let ProofOutcome::Proven(proven) = outcome(proof(NUMBER, "22222222", "SM4"), 3).await else {
        panic!("alice's live code proves her claim");
    };
    assert_eq!(proven.id, alice.id);
    assert_eq!(
        (
            proven.phone_number.clone(),
            proven.unverified_phone_number.clone()
        ),
        (Some(number.clone()), None)
    );
    assert_eq!(proven.updated_at, at(3));
    let found = storage.users.find_user_by_phone(&number).await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(alice.id));
    let holder = storage.users.get_user(holder.id).await.unwrap().unwrap();
    assert_eq!(holder.phone_number, None, "taken from its former holder");
    let mallory = storage.users.get_user(mallory.id).await.unwrap().unwrap();
    assert_eq!(
        mallory.unverified_phone_number, None,
        "other claims dropped"
    );
    assert_eq!(
        outcome(proof(NUMBER, "11111111", "SM5"), 4).await,
        ProofOutcome::NotProven { counted: false },
        "a dropped claim's code is void"
    );
    assert_eq!(
        outcome(proof(NUMBER, "22222222", "SM4"), 5).await,
        ProofOutcome::AlreadyReceived,
        "the proving text is taken once"
    );
    let again = storage
        .messages
        .create_message_once(
            &receipt("SM4"),
            None,
            question_from(alice.id, "22222222", 6),
        )
        .await
        .unwrap();
    assert_eq!(again, None, "nor stored as a message on a retry");
}

/// A claim's code takes five wrong codes from its number, then proves nothing; a new
/// claim has a new code and a clean count. A disabled account's claim proves nothing.
pub async fn wrong_codes_use_up_a_claims_code(storage: Storage) {
    const NUMBER: &str = "+60123456789";
    let alice = add_user(&storage, "alice").await;
    let claim_at = |seconds: i64| {
        let users = storage.users.clone();
        async move {
            users
                .claim_phone_number(
                    alice.id,
                    Some(phone_claim(NUMBER, "22222222", at(900))),
                    at(seconds),
                )
                .await
                .unwrap()
                .unwrap()
        }
    };
    claim_at(1).await;
    for attempt in 0..5 {
        let wrong = proof(
            NUMBER,
            &format!("0000000{attempt}"),
            &format!("SMW{attempt}"),
        );
        let outcome = storage.users.prove_phone_number(wrong, at(2), 5).await;
        assert_eq!(outcome.unwrap(), ProofOutcome::NotProven { counted: true });
    }
    let right = storage
        .users
        .prove_phone_number(proof(NUMBER, "22222222", "SMR1"), at(3), 5)
        .await;
    assert_eq!(
        right.unwrap(),
        ProofOutcome::NotProven { counted: false },
        "used up"
    );
    claim_at(4).await;
    let right = storage
        .users
        .prove_phone_number(proof(NUMBER, "22222222", "SMR2"), at(5), 5)
        .await;
    assert!(matches!(right.unwrap(), ProofOutcome::Proven(user) if user.id == alice.id));

    let bob = add_user(&storage, "bob").await;
    storage
        .users
        .claim_phone_number(
            bob.id,
            Some(phone_claim("+60198765432", "33333333", at(900))),
            at(6),
        )
        .await
        .unwrap()
        .unwrap();
    storage
        .users
        .set_user_active(bob.id, false, at(7))
        .await
        .unwrap();
    let disabled = storage
        .users
        .prove_phone_number(proof("+60198765432", "33333333", "SMD"), at(8), 5)
        .await;
    assert_eq!(disabled.unwrap(), ProofOutcome::NotProven { counted: true });
}

/// A superuser's roster giving a number (`create_user` with it proven) racing a claimant's
/// proof of the same number: each ends cleanly (the creation may find it taken), and the
/// number has one holder. On PostgreSQL the two used to deadlock (503 to either).
pub async fn a_roster_number_racing_its_proof_leaves_one_holder(storage: Storage) {
    for round in 0..12 {
        let number = format!("+60130000{round:03}");
        let claimant = add_user(&storage, &format!("claimant{round}")).await;
        storage
            .users
            .claim_phone_number(
                claimant.id,
                Some(phone_claim(&number, "22222222", at(900))),
                at(1),
            )
            .await
            .unwrap()
            .unwrap();
        let mut rostered = new_user(&format!("rostered{round}"));
        rostered.phone_number = Some(PhoneNumber::parse(&number).unwrap());
        let creating = {
            let storage = storage.clone();
            tokio::spawn(async move { storage.users.create_user(rostered).await })
        };
        let proving = {
            let storage = storage.clone();
            let proof = proof(&number, "22222222", &format!("SMR{round:04}"));
            tokio::spawn(async move { storage.users.prove_phone_number(proof, at(2), 5).await })
        };
        let created = creating.await.unwrap();
        let proven = proving.await.unwrap();
        assert!(
            matches!(created, Ok(_) | Err(InsertError::PhoneTaken)),
            "round {round}: {created:?}"
        );
        assert!(proven.is_ok(), "round {round}: {proven:?}");
        let holder = storage
            .users
            .find_user_by_phone(&PhoneNumber::parse(&number).unwrap())
            .await
            .unwrap();
        assert!(holder.is_some(), "round {round}: the number has a holder");
    }
}
