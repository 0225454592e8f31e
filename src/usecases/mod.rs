//! The use cases: one module per capability, each with its own error enum.

pub mod accounts;
pub mod admin;
pub mod assistant;
pub mod auth;
pub mod channels;
pub mod conversations;
pub mod live;
pub mod messages;
pub mod reports;
pub mod roles;

#[cfg(test)]
mod test_support;

use std::sync::Arc;

use chrono::TimeDelta;

use crate::ports::{
    Assistant, Background, ChannelReplies, Clock, EventPublisher, EventSubscriptions,
    LoginAttempts, MessageRepository, PasswordHasher, Quota, ReportRepository, RoleRepository,
    SecretSource, SessionReads, SessionRepository, Storage, StorageHealth, StorageSnapshots,
    UserRepository,
};

/// Everything the core needs from outside, chosen by the composition root.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserRepository>,
    pub roles: Arc<dyn RoleRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub messages: Arc<dyn MessageRepository>,
    pub reports: Arc<dyn ReportRepository>,
    pub session_reads: Arc<dyn SessionReads>,
    pub health: Arc<dyn StorageHealth>,
    pub snapshots: Arc<dyn StorageSnapshots>,
    pub login_attempts: Arc<dyn LoginAttempts>,
    pub events: Arc<dyn EventPublisher>,
    pub subscriptions: Arc<dyn EventSubscriptions>,
    /// The language model of the AI assistant; `None`: the assistant answers 503.
    pub assistant: Option<Arc<dyn Assistant>>,
    /// Where replies to texts from a phone go out; `None` when no channel is set up.
    pub channel_replies: Option<Arc<dyn ChannelReplies>>,
    /// Where the assistant's replies to sent messages run.
    pub background: Arc<dyn Background>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
    pub secrets: Arc<dyn SecretSource>,
}

impl Ports {
    pub fn new(
        storage: Storage,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
        secrets: Arc<dyn SecretSource>,
        background: Arc<dyn Background>,
    ) -> Self {
        Self {
            users: storage.users,
            roles: storage.roles,
            sessions: storage.sessions,
            messages: storage.messages,
            reports: storage.reports,
            session_reads: storage.session_reads,
            health: storage.health,
            snapshots: storage.snapshots,
            login_attempts: storage.login_attempts,
            events: storage.events,
            subscriptions: storage.subscriptions,
            assistant: None,
            channel_replies: None,
            background,
            hasher,
            clock,
            secrets,
        }
    }
}

/// Policy values the use cases apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Lifetime of a refresh token, and so of the session it keeps alive.
    pub refresh_token_ttl: TimeDelta,
    /// How long after a rotation the old refresh token may be presented again (a client
    /// refreshing twice at once) without being treated as stolen.
    pub refresh_reuse_grace: TimeDelta,
    pub login_limits: LoginLimits,
    pub live: live::LiveSettings,
    pub assistant: assistant::AssistantSettings,
    pub channels: channels::ChannelSettings,
    /// How short a new password may be (`PASSWORD_MIN_LENGTH`).
    pub password_rules: crate::domain::PasswordRules,
    /// How typed phone numbers are read (`PHONE_DEFAULT_REGION`).
    pub phone_rules: crate::domain::PhoneRules,
    /// IPv6 clients are counted by the limits per this prefix (`IPV6_LIMIT_PREFIX`).
    pub ipv6_limit_prefix: u8,
    /// Reports one user may file per hour, by hand or through the assistant
    /// (`REPORTS_PER_HOUR`).
    pub report_quota: Quota,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            refresh_token_ttl: TimeDelta::days(7),
            refresh_reuse_grace: TimeDelta::seconds(10),
            login_limits: LoginLimits::default(),
            live: live::LiveSettings::default(),
            assistant: assistant::AssistantSettings::default(),
            channels: channels::ChannelSettings::default(),
            password_rules: crate::domain::PasswordRules::default(),
            phone_rules: crate::domain::PhoneRules::default(),
            ipv6_limit_prefix: 64,
            report_quota: reports::reports_per_hour(reports::DEFAULT_REPORTS_PER_HOUR),
        }
    }
}

/// How many wrong passwords are evaluated before logins are refused with a wait. An account
/// is what the identifier resolves to (the username and the email of one account count
/// together); an unknown identifier counts under its normalised form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures of one account from one client address: an attacker at one address is
    /// stopped while the owner, elsewhere, still gets in.
    pub per_account_and_address: Quota,
    /// Failures of one account from every address: the ceiling against guessing spread
    /// over many addresses (it locks the owner out too, so it is set high).
    pub per_account: Quota,
    /// Failures from one client address over every account: password spraying.
    pub per_address: Quota,
}

impl Default for LoginLimits {
    /// Five per account and address, one hundred per account, twenty per address, each in
    /// fifteen minutes.
    fn default() -> Self {
        let window = TimeDelta::minutes(15);
        Self {
            per_account_and_address: Quota::new(5, window),
            per_account: Quota::new(100, window),
            per_address: Quota::new(20, window),
        }
    }
}

impl LoginLimits {
    /// No limits (tests and benchmarks that fail logins from one address on purpose).
    pub const fn off() -> Self {
        Self {
            per_account_and_address: Quota::off(),
            per_account: Quota::off(),
            per_address: Quota::off(),
        }
    }
}

pub use crate::domain::{AccessClaim, Caller};

/// All use cases, wired to one set of ports.
#[derive(Clone)]
pub struct Services {
    pub accounts: accounts::Accounts,
    pub auth: auth::Auth,
    pub admin: admin::Admin,
    pub roles: roles::Roles,
    pub messages: messages::Messages,
    pub conversations: conversations::Conversations,
    pub reports: reports::Reports,
    pub live: live::Live,
    pub assistant: assistant::AssistantChat,
    pub phone_chat: channels::PhoneChat,
    pub health: Arc<dyn StorageHealth>,
    /// What a new password must be; the inbound adapter parses passwords with it.
    pub password_rules: crate::domain::PasswordRules,
    /// How a typed phone number is read; the inbound adapters parse numbers with it.
    pub phone_rules: crate::domain::PhoneRules,
}

impl Services {
    pub fn new(ports: Ports, settings: Settings) -> Self {
        let auth = auth::Auth::new(&ports, settings.clone());
        let reports = reports::Reports::with_quota(&ports, settings.report_quota);
        let assistant = assistant::AssistantChat::new(&ports, settings.assistant.clone())
            .with_reports(reports.clone());
        let messages = messages::Messages::new(&ports, assistant.clone());
        Self {
            accounts: accounts::Accounts::new(
                &ports,
                settings.login_limits,
                settings.ipv6_limit_prefix,
            ),
            live: live::Live::new(&ports, auth.clone(), settings.live),
            conversations: conversations::Conversations::new(
                &ports,
                messages.clone(),
                &settings.assistant.name,
            ),
            phone_chat: channels::PhoneChat::new(&ports, assistant.clone(), settings.channels),
            assistant,
            auth,
            admin: admin::Admin::new(&ports),
            reports,
            roles: roles::Roles::new(&ports),
            messages,
            health: ports.health,
            password_rules: settings.password_rules,
            phone_rules: settings.phone_rules,
        }
    }
}
