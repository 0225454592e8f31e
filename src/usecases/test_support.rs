//! Mock ports and sample rows for the use-case unit tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::TimeZone;

use super::{AccessClaim, Caller, Ports};
use crate::domain::*;
use crate::ports::*;

pub const SAMPLE_HASH: &str = "$2b$04$sample.hash.of.the.user.password.............";

pub fn fixed_now() -> Timestamp {
    chrono::Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

/// Secrets "secret-1", "secret-2", … so tests can predict them.
#[derive(Default)]
pub struct CountingSecrets(AtomicU64);

impl SecretSource for CountingSecrets {
    fn secret(&self) -> Result<String, PortError> {
        Ok(format!(
            "secret-{}",
            self.0.fetch_add(1, Ordering::SeqCst) + 1
        ))
    }
}

/// Keeps what the use cases publish, for tests to look at.
#[derive(Default)]
pub struct RecordingEvents(std::sync::Mutex<Vec<DomainEvent>>);

impl RecordingEvents {
    pub fn published(&self) -> Vec<DomainEvent> {
        self.0.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl EventPublisher for RecordingEvents {
    async fn publish(&self, events: &[DomainEvent]) {
        self.0.lock().unwrap().extend_from_slice(events);
    }
}

/// Always the same instant.
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// Subscriptions whose events the test delivers by hand, in order, without bounds.
#[derive(Default)]
pub struct TestHub {
    subscribers: std::sync::Mutex<Vec<(Subscriber, tokio::sync::mpsc::UnboundedSender<Notice>)>>,
}

impl TestHub {
    pub fn deliver(&self, event: &DomainEvent) {
        let audience = event.audience();
        for (subscriber, sender) in self.subscribers.lock().unwrap().iter() {
            if audience.contains(&subscriber.user_id)
                || (subscriber.is_superuser && event.for_superusers())
            {
                let _ = sender.send(Notice::Event(Arc::new(event.clone())));
            }
        }
    }
}

impl EventSubscriptions for TestHub {
    fn subscribe(
        &self,
        subscriber: Subscriber,
        _limits: StreamLimits,
    ) -> Result<Box<dyn Subscription>, SubscribeError> {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        self.subscribers.lock().unwrap().push((subscriber, sender));
        Ok(Box::new(TestSubscription(receiver)))
    }

    fn open_subscriptions(&self) -> usize {
        let mut subscribers = self.subscribers.lock().unwrap();
        subscribers.retain(|(_, sender)| !sender.is_closed());
        subscribers.len()
    }

    fn close_all(&self) {
        self.subscribers.lock().unwrap().clear();
    }
}

struct TestSubscription(tokio::sync::mpsc::UnboundedReceiver<Notice>);

#[async_trait::async_trait]
impl Subscription for TestSubscription {
    async fn next(&mut self) -> Option<Notice> {
        self.0.recv().await
    }
}

/// Background work run on a task of the test's runtime.
pub struct InlineBackground;

impl Background for InlineBackground {
    fn spawn(&self, work: Work) {
        tokio::spawn(work);
    }
}

pub struct Mocks {
    pub users: MockUserRepository,
    pub roles: MockRoleRepository,
    pub sessions: MockSessionRepository,
    pub messages: MockMessageRepository,
    pub reports: MockReportRepository,
    pub health: MockStorageHealth,
    pub hasher: MockPasswordHasher,
    /// Admits every login attempt unless a test sets other expectations (after `checkpoint`).
    pub login_attempts: MockLoginAttempts,
    pub events: Arc<RecordingEvents>,
    pub hub: Arc<TestHub>,
    pub now: Timestamp,
}

impl Mocks {
    pub fn new() -> Self {
        Self {
            users: Self::users_without_lookalikes(),
            roles: MockRoleRepository::new(),
            sessions: MockSessionRepository::new(),
            messages: MockMessageRepository::new(),
            reports: MockReportRepository::new(),
            health: MockStorageHealth::new(),
            hasher: Self::hasher_with_current_hashes(),
            login_attempts: Self::attempts_all_admitted(),
            events: Arc::default(),
            hub: Arc::default(),
            now: fixed_now(),
        }
    }

    /// A users mock in which no normalised key is taken (set expectations after a
    /// `checkpoint` to test otherwise).
    fn users_without_lookalikes() -> MockUserRepository {
        let mut users = MockUserRepository::new();
        users
            .expect_find_user_by_username_key()
            .returning(|_| Ok(None));
        users
            .expect_find_user_by_email_key()
            .returning(|_| Ok(None));
        users
    }

    /// A hasher mock whose stored hashes never need an upgrade (clear it with `checkpoint`
    /// to expect otherwise).
    fn hasher_with_current_hashes() -> MockPasswordHasher {
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_needs_rehash().returning(|_| false);
        hasher
    }

    fn attempts_all_admitted() -> MockLoginAttempts {
        let mut attempts = MockLoginAttempts::new();
        attempts
            .expect_reserve()
            .returning(|_, _| Ok(Reservation::Admitted(AttemptId(1))));
        attempts.expect_release().returning(|_, _| Ok(()));
        attempts.expect_clear().returning(|_| Ok(()));
        attempts
    }

    /// Counters that admit `admitted` attempts, then refuse every other for 15 minutes.
    pub fn attempts_refused_after(&mut self, admitted: i64) {
        self.login_attempts.checkpoint();
        let mut reserved = 0;
        self.login_attempts.expect_reserve().returning(move |_, _| {
            reserved += 1;
            Ok(if reserved <= admitted {
                Reservation::Admitted(AttemptId(reserved))
            } else {
                Reservation::Refused {
                    retry_after: chrono::TimeDelta::minutes(15),
                }
            })
        });
        self.login_attempts
            .expect_release()
            .returning(|_, _| Ok(()));
        self.login_attempts.expect_clear().returning(|_| Ok(()));
    }

    /// Storage in which nobody has talked to the assistant yet (nor cleared that history).
    pub fn without_assistant_history(&mut self) {
        self.messages
            .expect_assistant_clear_point()
            .returning(|_| Ok(None));
        self.messages
            .expect_messages_between()
            .returning(|_, _, _, _| Ok(Vec::new()));
    }

    /// Storage in which every question is free to claim and every reply is stored, with
    /// `reply_id` (the assistant's side of the sweep's rules).
    pub fn replies_stored_as(&mut self, reply_id: i64) {
        self.messages
            .expect_claim_question()
            .returning(|_, _, _| Ok(true));
        self.messages
            .expect_store_reply()
            .returning(move |_, new| Ok(Some(delivered(reply_id, new))));
    }

    pub fn into_ports(self) -> Ports {
        let users: Arc<dyn UserRepository> = Arc::new(self.users);
        let sessions: Arc<dyn SessionRepository> = Arc::new(self.sessions);
        let messages: Arc<dyn MessageRepository> = Arc::new(self.messages);
        Ports {
            session_reads: Arc::new(SeparateSessionReads {
                sessions: sessions.clone(),
                messages: messages.clone(),
            }),
            users,
            roles: Arc::new(self.roles),
            sessions,
            messages,
            reports: Arc::new(self.reports),
            health: Arc::new(self.health),
            snapshots: Arc::new(MockStorageSnapshots::new()),
            login_attempts: Arc::new(self.login_attempts),
            events: self.events,
            subscriptions: self.hub,
            assistant: None,
            channel_replies: None,
            background: Arc::new(InlineBackground),
            hasher: Arc::new(self.hasher),
            clock: Arc::new(FixedClock(self.now)),
            secrets: Arc::new(CountingSecrets::default()),
        }
    }
}

/// Ids by number, so tests read like the rows they stand for.
pub fn uid(id: i64) -> UserId {
    UserId::new(id)
}

pub fn sid(id: i64) -> SessionId {
    SessionId::new(id)
}

pub fn mid(id: i64) -> MessageId {
    MessageId::new(id)
}

pub fn rid(id: i64) -> RoleId {
    RoleId::new(id)
}

pub fn tid(id: i64) -> RefreshTokenId {
    RefreshTokenId::new(id)
}

pub fn sample_hash() -> PasswordHash {
    PasswordHash::new(SAMPLE_HASH)
}

pub fn sample_user(id: i64) -> User {
    User {
        id: uid(id),
        username: Username::from_storage(format!("user{id}")),
        email: Email::from_storage(format!("user{id}@example.com")),
        hashed_password: sample_hash(),
        is_active: true,
        is_superuser: false,
        full_name: None,
        bio: None,
        created_at: fixed_now(),
        updated_at: fixed_now(),
        phone_number: None,
        unverified_phone_number: None,
    }
}

pub fn sample_superuser(id: i64) -> User {
    User {
        is_superuser: true,
        ..sample_user(id)
    }
}

pub fn user_from(id: i64, new: &NewUser) -> User {
    User {
        id: uid(id),
        username: new.username.clone(),
        email: new.email.clone(),
        hashed_password: new.hashed_password.clone(),
        is_active: true,
        is_superuser: new.is_superuser,
        full_name: new.full_name.clone(),
        bio: None,
        created_at: new.created_at,
        updated_at: new.created_at,
        phone_number: new.phone_number.clone(),
        unverified_phone_number: new.unverified_phone_number.clone(),
    }
}

/// An ordinary caller with session 100.
pub fn caller(id: i64) -> Caller {
    Caller {
        user: sample_user(id),
        session_id: sid(100),
    }
}

/// The access claim of `caller(id)`: user `id` in session 100.
pub fn claim(id: i64) -> AccessClaim {
    AccessClaim::new(uid(id), sid(100))
}

impl Mocks {
    /// Session 100 of user `id`, live and active, as every claim check finds it.
    pub fn with_live_session(mut self, id: i64) -> Self {
        self.sessions
            .expect_get_session_with_user()
            .with(mockall::predicate::eq(sid(100)))
            .returning(move |_| Ok(Some((sample_session(100, id), sample_user(id)))));
        self
    }
}

/// The row a stored message would have, with positions 5 (sender) and 9 (recipient; none
/// for the assistant).
pub fn delivered(id: i64, new: NewMessage) -> Delivered {
    let position = |user: UserId| (!user.is_assistant()).then_some(5);
    Delivered {
        sender_position: position(new.sender_id),
        recipient_position: position(new.recipient_id).map(|_| 9),
        message: Arc::new(new.stored_as(mid(id))),
    }
}

impl Mocks {
    /// Send jobs answered as storage would for a live session 100 of the claimed user:
    /// `outcome` decides (`None`: stored, in the conversation named or the pair's, ids from
    /// 50).
    pub fn sends_answer(&mut self, outcome: fn(&SendJob) -> Option<SendOutcome>) {
        let next = AtomicU64::new(50);
        self.messages.expect_send_message().returning(move |job| {
            let user = job.gate.user_id().get();
            let checked = job
                .gate
                .check(Some((sample_session(100, user), sample_user(user))));
            Gated::after(checked, |admitted| {
                Ok::<_, PortError>(outcome(&job).unwrap_or_else(|| {
                    let sender = admitted.caller().user.id;
                    let conversation = job
                        .conversation_id
                        .clone()
                        .unwrap_or_else(|| ConversationId::between(sender, job.recipient_id));
                    let id = next.fetch_add(1, Ordering::SeqCst) as i64;
                    SendOutcome::Sent(delivered(
                        id,
                        job.clone().into_message(sender, conversation),
                    ))
                }))
            })
        });
    }
}

pub fn super_caller(id: i64) -> Caller {
    Caller {
        user: sample_superuser(id),
        session_id: sid(100),
    }
}

pub fn sample_session(id: i64, user_id: i64) -> Session {
    Session {
        id: sid(id),
        user_id: uid(user_id),
        session_token: SessionToken::new(format!("token-{id}")),
        device_info: Some(DeviceInfo::recorded("test")),
        ip_address: Some(IpAddress::recorded("127.0.0.1")),
        is_active: true,
        expires_at: fixed_now() + chrono::TimeDelta::days(7),
        created_at: fixed_now(),
        updated_at: fixed_now(),
    }
}

pub fn sample_message(id: i64, sender_id: i64, recipient_id: i64) -> Message {
    Message {
        id: mid(id),
        sender_id: uid(sender_id),
        recipient_id: uid(recipient_id),
        content: MessageContent::from_storage(format!("message {id}")),
        is_read: false,
        parent_id: None,
        conversation_id: Some(ConversationId::between(uid(sender_id), uid(recipient_id))),
        created_at: fixed_now(),
        updated_at: fixed_now(),
    }
}

/// An open report of user 1, with short texts.
pub fn sample_report_view(id: i64) -> crate::domain::ReportView {
    use crate::domain::{Report, ReportContent, ReportId, ReportStatus, ReportTitle, Username};
    crate::domain::ReportView {
        report: Report {
            id: ReportId::new(id),
            reporter_id: uid(1),
            title: ReportTitle::parse("Lift on level 3").unwrap(),
            content: ReportContent::parse("It stops between floors.").unwrap(),
            status: ReportStatus::Open,
            comment: None,
            resolved_at: None,
            resolved_by: None,
            created_at: fixed_now(),
            updated_at: fixed_now(),
        },
        reporter_username: Some(Username::from_storage("user1".to_string())),
        resolver_username: None,
    }
}
