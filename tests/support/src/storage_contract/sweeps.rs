//! The forgotten-question sweep across instances: several assistants (each with its own
//! model timeout, so its own answer deadline) on one storage, with a phone channel that
//! counts what goes out. A question one instance is answering is not swept by another; an
//! abandoned one is taken by one sweeper; of two replies racing, one is stored and sent.
//!
//! The clock is frozen and the models answer when the test lets them, so nothing here
//! depends on timing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ai_message_core::ports::*;
use ai_message_core::usecases::Ports;
use ai_message_core::usecases::assistant::{AssistantChat, AssistantSettings};
use ai_message_core::usecases::channels::{ChannelSettings, IncomingText, PhoneChat, Received};
use ai_message_core::*;
use ai_message_local::{ManualClock, OsSecretSource};
use async_trait::async_trait;
use chrono::TimeDelta;
use tokio::sync::{Semaphore, watch};

use super::{new_user, t0};

const NUMBER: &str = "+60123456789";

/// A language model that answers only when the test releases it, counting its calls.
struct HeldModel {
    name: String,
    calls: watch::Sender<usize>,
    release: Semaphore,
}

impl HeldModel {
    fn new(name: &str) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_string(),
            calls: watch::channel(0).0,
            release: Semaphore::new(0),
        })
    }

    /// A model that answers at once.
    fn prompt(name: &str) -> Arc<Self> {
        let model = Self::new(name);
        model.release.add_permits(Semaphore::MAX_PERMITS);
        model
    }

    fn calls(&self) -> usize {
        *self.calls.borrow()
    }

    /// Waits until the model has been asked `count` times in all.
    async fn asked(&self, count: usize) {
        let mut calls = self.calls.subscribe();
        calls.wait_for(|calls| *calls >= count).await.unwrap();
    }

    /// Lets `count` of the calls waiting (or still to come) answer.
    fn answer(&self, count: usize) {
        self.release.add_permits(count);
    }
}

#[async_trait]
impl Assistant for HeldModel {
    async fn reply(
        &self,
        _prompt: AssistantPrompt,
        _deltas: Option<ReplyPieces>,
    ) -> Result<ModelReply, AssistantError> {
        self.calls.send_modify(|calls| *calls += 1);
        self.release.acquire().await.expect("never closed").forget();
        Ok(ModelReply::Text(format!("answer from {}", self.name)))
    }
}

/// What went out on the phone channel, from every instance.
#[derive(Default)]
struct CountingChannel {
    sent: Mutex<Vec<(ReplyRoute, String, String)>>,
}

impl CountingChannel {
    fn sent(&self) -> Vec<(ReplyRoute, String, String)> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl ChannelReplies for CountingChannel {
    async fn send(
        &self,
        route: &ReplyRoute,
        text: &str,
        reference: &str,
    ) -> Result<(), ChannelSendError> {
        self.sent
            .lock()
            .unwrap()
            .push((route.clone(), text.to_string(), reference.to_string()));
        Ok(())
    }
}

/// Background work the test can wait for; or, `crashing`, work that never runs (the
/// process died right after storing the question).
#[derive(Default)]
struct Background {
    crashing: bool,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl ai_message_core::ports::Background for Background {
    fn spawn(&self, work: Work) {
        if !self.crashing {
            self.tasks.lock().unwrap().push(tokio::spawn(work));
        }
    }
}

impl Background {
    /// Waits for every piece of work started so far (and what it started) to end.
    async fn settle(&self) {
        loop {
            let next = self.tasks.lock().unwrap().pop();
            match next {
                Some(task) => task.await.unwrap(),
                None => return,
            }
        }
    }
}

/// One server process: its assistant (with its own answer deadline) and its phone channel.
struct Instance {
    assistant: AssistantChat,
    phone: PhoneChat,
    background: Arc<Background>,
}

impl Instance {
    /// An instance whose answers take `deadline` at most (its model timeout times its
    /// calls, plus the shutdown grace and a margin, as `AI_TIMEOUT_SECONDS` makes it).
    fn new(
        storage: &Storage,
        clock: &Arc<ManualClock>,
        model: &Arc<HeldModel>,
        channel: &Arc<CountingChannel>,
        deadline: Duration,
        crashing: bool,
    ) -> Self {
        let background = Arc::new(Background {
            crashing,
            ..Background::default()
        });
        let hasher = ai_message_bcrypt::BcryptHasher::new(4, 1).unwrap();
        let ports = Ports {
            assistant: Some(model.clone() as Arc<dyn Assistant>),
            channel_replies: Some(channel.clone() as Arc<dyn ChannelReplies>),
            ..Ports::new(
                storage.clone(),
                Arc::new(hasher),
                clock.clone(),
                Arc::new(OsSecretSource),
                background.clone(),
            )
        };
        let settings = AssistantSettings {
            forgotten_after: deadline,
            ..AssistantSettings::default()
        };
        let assistant = AssistantChat::new(&ports, settings);
        let phone = PhoneChat::new(&ports, assistant.clone(), ChannelSettings::default());
        Self {
            assistant,
            phone,
            background,
        }
    }

    async fn text(&self, id: &str, words: &str) -> Received {
        self.phone
            .receive(IncomingText {
                id: ChannelMessageId::parse(id).unwrap(),
                delivery: None,
                sender: Some(PhoneNumber::parse(NUMBER).unwrap()),
                route: ReplyRoute {
                    to: format!("whatsapp:{NUMBER}"),
                    from: "whatsapp:+14155238886".into(),
                },
                text: words.into(),
            })
            .await
            .unwrap()
    }

    async fn sweep(&self) -> usize {
        self.assistant.answer_forgotten().await.unwrap()
    }
}

/// A user whose number is proven (as a superuser's roster gives it).
async fn with_proven_phone(storage: &Storage, name: &str, number: &str) -> UserId {
    let mut user = new_user(name);
    user.phone_number = Some(PhoneNumber::parse(number).unwrap());
    storage.users.create_user(user).await.unwrap().id
}

/// A user who writes from `NUMBER`, a frozen clock and a channel shared by every instance.
async fn phone_user(storage: &Storage) -> (UserId, Arc<ManualClock>, Arc<CountingChannel>) {
    let user = with_proven_phone(storage, "alice", NUMBER).await;
    let clock = Arc::new(ManualClock::frozen_at(t0()));
    (user, clock, Arc::new(CountingChannel::default()))
}

/// The assistant's replies stored for the user.
async fn replies_to(storage: &Storage, user: UserId) -> Vec<String> {
    storage
        .messages
        .messages_between(user, UserId::ASSISTANT, MessageId::new(0), 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.sender_id.is_assistant())
        .map(|m| m.content.into_inner())
        .collect()
}

fn seconds(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A answers a text with a slow model (its deadline 100 s); B, whose deadline is 20 s,
/// sweeps 30 s later: A's claim is live, so B leaves the question alone.
pub async fn a_sweep_leaves_a_question_another_instance_is_answering(storage: Storage) {
    let (user, clock, channel) = phone_user(&storage).await;
    let slow = HeldModel::new("A");
    let quick = HeldModel::prompt("B");
    let a = Instance::new(&storage, &clock, &slow, &channel, seconds(100), false);
    let b = Instance::new(&storage, &clock, &quick, &channel, seconds(20), false);

    assert!(matches!(
        a.text("SM0001", "is the lift fixed?").await,
        Received::Accepted { .. }
    ));
    slow.asked(1).await;
    clock.advance(TimeDelta::seconds(30));
    assert_eq!(b.sweep().await, 0, "B leaves A's question to A");
    assert_eq!(quick.calls(), 0, "B does not even ask its model");

    slow.answer(1);
    a.background.settle().await;
    assert_eq!(replies_to(&storage, user).await, ["answer from A"]);
    let sent = channel.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].1, "answer from A");
}

/// A took a text and died while its model thought (its claim expires after 100 s). Eight
/// instances sweep at once after that: one takes the question (asks its model), the others
/// leave it; one reply is stored and one goes out, on the text's channel.
pub async fn an_expired_claim_is_taken_by_exactly_one_sweeper(storage: Storage) {
    let (user, clock, channel) = phone_user(&storage).await;
    let stuck = HeldModel::new("A");
    let sweepers_model = HeldModel::new("a sweeper");
    let a = Instance::new(&storage, &clock, &stuck, &channel, seconds(100), false);
    a.text("SM0002", "the heater in room 4").await;
    stuck.asked(1).await;
    clock.advance(TimeDelta::seconds(150));

    const SWEEPERS: usize = 8;
    let sweepers: Vec<Arc<Instance>> = (0..SWEEPERS)
        .map(|_| {
            Arc::new(Instance::new(
                &storage,
                &clock,
                &sweepers_model,
                &channel,
                seconds(60),
                false,
            ))
        })
        .collect();
    let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for sweeper in &sweepers {
        let sweeper = sweeper.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let answered = sweeper.sweep().await;
            let _ = done.send(());
            answered
        }));
    }
    // Each sweeper either ends or waits in its model call: then every one has decided.
    let mut calls = sweepers_model.calls.subscribe();
    let mut ended = 0;
    while ended + *calls.borrow_and_update() < SWEEPERS {
        tokio::select! {
            _ = calls.changed() => {}
            Some(()) = finished.recv() => ended += 1,
        }
    }
    assert_eq!(
        sweepers_model.calls(),
        1,
        "one sweeper takes the question, {} asked their model",
        sweepers_model.calls()
    );

    sweepers_model.answer(SWEEPERS);
    let mut answered = 0;
    for task in tasks {
        answered += task.await.unwrap();
    }
    assert_eq!(answered, 1);
    // A was only slow after all: its late answer is not stored and not sent.
    stuck.answer(1);
    a.background.settle().await;
    assert_eq!(replies_to(&storage, user).await, ["answer from a sweeper"]);
    let sent: Vec<String> = channel
        .sent()
        .into_iter()
        .map(|(_, text, _)| text)
        .collect();
    assert_eq!(sent, ["answer from a sweeper"]);
}

/// A's claim expired while its model was still thinking; B's sweep took the question. Both
/// answers arrive, one after the other or at once: the first stored wins, and only it goes
/// out.
pub async fn racing_replies_to_a_question_store_one_and_send_one(storage: Storage) {
    for round in 0..10 {
        let number = format!("+6012345{round:04}");
        let user = with_proven_phone(&storage, &format!("user{round}"), &number).await;
        let clock = Arc::new(ManualClock::frozen_at(t0()));
        let channel = Arc::new(CountingChannel::default());
        let late = HeldModel::new("A");
        let sweeping = HeldModel::new("B");
        let a = Instance::new(&storage, &clock, &late, &channel, seconds(100), false);
        let b = Arc::new(Instance::new(
            &storage,
            &clock,
            &sweeping,
            &channel,
            seconds(20),
            false,
        ));
        a.phone
            .receive(IncomingText {
                id: ChannelMessageId::parse(format!("SMR{round:04}")).unwrap(),
                delivery: None,
                sender: Some(PhoneNumber::parse(&number).unwrap()),
                route: ReplyRoute {
                    to: format!("whatsapp:{number}"),
                    from: "whatsapp:+14155238886".into(),
                },
                text: "anyone there?".into(),
            })
            .await
            .unwrap();
        late.asked(1).await;
        clock.advance(TimeDelta::seconds(150));
        let sweep = {
            let b = b.clone();
            tokio::spawn(async move { b.sweep().await })
        };
        sweeping.asked(1).await;

        if round % 2 == 0 {
            // B's answer first, then A's.
            sweeping.answer(1);
            sweep.await.unwrap();
            late.answer(1);
        } else {
            late.answer(1);
            sweeping.answer(1);
            sweep.await.unwrap();
        }
        a.background.settle().await;
        let stored = replies_to(&storage, user).await;
        assert_eq!(stored.len(), 1, "round {round}: {stored:?}");
        let sent: Vec<String> = channel
            .sent()
            .into_iter()
            .map(|(_, text, _)| text)
            .collect();
        assert_eq!(sent, stored, "round {round}: what is stored goes out, once");
    }
}

/// The instance that took a text died before answering it; another instance's sweep
/// answers it, and the answer goes back out on the channel the text came in on.
pub async fn a_swept_answer_to_a_text_goes_out_on_its_channel(storage: Storage) {
    let (user, clock, channel) = phone_user(&storage).await;
    let model = HeldModel::prompt("B");
    let crashed = Instance::new(&storage, &clock, &model, &channel, seconds(20), true);
    crashed.text("SM0004", "the door is stuck").await;
    let b = Instance::new(&storage, &clock, &model, &channel, seconds(20), false);
    assert_eq!(b.sweep().await, 0, "not forgotten yet");
    clock.advance(TimeDelta::seconds(30));

    assert_eq!(b.sweep().await, 1);
    assert_eq!(replies_to(&storage, user).await, ["answer from B"]);
    let sent = channel.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (route, text, reference) = &sent[0];
    assert_eq!(route.to, format!("whatsapp:{NUMBER}"));
    assert_eq!(route.from, "whatsapp:+14155238886");
    assert_eq!(text, "answer from B");
    assert_eq!(reference, "SM0004");
    assert_eq!(b.sweep().await, 0, "answered once");
    assert_eq!(channel.sent().len(), 1);
}
