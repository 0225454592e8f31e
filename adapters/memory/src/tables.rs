//! The rows, the unique indexes over them and the id sequences.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ai_message_core::ports::NewStreamTicket;
use ai_message_core::{
    ConversationId, Message, MessageId, Page, Pair, Position, RefreshToken, RefreshTokenHash,
    RefreshTokenId, Report, ReportId, Role, RoleId, RoleName, Session, SessionId, SessionToken,
    StreamTicketHash, Timestamp, User, UserId, UserRole, UserRoleId,
};

/// Applies `skip` and `limit` to an iterator.
pub(crate) fn paged<T>(items: impl Iterator<Item = T>, page: Page) -> impl Iterator<Item = T> {
    let skip = usize::try_from(page.skip()).unwrap_or(usize::MAX);
    items.skip(skip).take(page.limit() as usize)
}

/// Order of messages in lists: by creation time, ties by id.
pub(crate) type MessageKey = (Timestamp, MessageId);

#[derive(Default)]
pub(crate) struct Tables {
    pub users: BTreeMap<UserId, User>,
    /// The one-time code of each user's phone claim (`User::unverified_phone_number`), if
    /// one was issued.
    pub phone_codes: HashMap<UserId, PhoneCodeState>,
    /// Ids of messages taken in from a channel (each once).
    pub channel_receipts: std::collections::HashSet<ai_message_core::ChannelMessageId>,
    /// When each channel address last got a fixed reply.
    pub channel_fixed_replies: HashMap<String, Timestamp>,
    pub user_by_username: HashMap<String, UserId>,
    pub user_by_email: HashMap<String, UserId>,
    /// Unique indexes of the normalised keys (lookalike usernames, email case).
    pub user_by_username_key: HashMap<String, UserId>,
    pub user_by_email_key: HashMap<String, UserId>,

    pub roles: BTreeMap<RoleId, Role>,
    pub role_by_name: HashMap<RoleName, RoleId>,
    pub user_roles: BTreeMap<UserRoleId, UserRole>,

    pub sessions: BTreeMap<SessionId, Session>,
    pub session_by_token: HashMap<SessionToken, SessionId>,
    pub refresh_tokens: BTreeMap<RefreshTokenId, RefreshToken>,
    pub refresh_by_hash: HashMap<RefreshTokenHash, RefreshTokenId>,
    pub stream_tickets: HashMap<StreamTicketHash, NewStreamTicket>,
    /// Where each user last cleared their chat with the assistant.
    pub assistant_clears: HashMap<UserId, MessageId>,
    /// What is known of questions to the assistant: who answers them, whether a reply was
    /// stored, the channel they came in on. They go with their message.
    pub assistant_questions: HashMap<MessageId, QuestionRecord>,

    pub messages: BTreeMap<MessageId, Message>,
    /// Messages each user sent or received.
    pub messages_by_user: HashMap<UserId, BTreeSet<MessageKey>>,
    pub messages_by_conversation: HashMap<ConversationId, BTreeSet<MessageKey>>,
    /// Each user's delivery sequence: the last position handed out, and the messages by
    /// position (a deleted message leaves its position unused, never reused).
    pub last_position: HashMap<UserId, Position>,
    pub deliveries: HashMap<UserId, BTreeMap<Position, MessageId>>,
    /// The pair each non-canonical conversation id was bound to by its first message.
    pub conversation_parties: HashMap<ConversationId, Pair>,

    pub reports: BTreeMap<ReportId, Report>,

    pub sequences: Sequences,
}

/// A row of `assistant_questions`.
#[derive(Debug, Clone, Default)]
pub(crate) struct QuestionRecord {
    pub state: ai_message_core::QuestionState,
    pub origin: Option<ai_message_core::ports::ChannelOrigin>,
}

/// A claim's code: its hash, when it expires, and the wrong codes texted against it.
pub(crate) struct PhoneCodeState {
    pub code_hash: ai_message_core::PhoneCodeHash,
    pub expires_at: Timestamp,
    pub failures: u32,
}

/// Auto-increment counters: like Postgres `SERIAL`, an id is never handed out twice.
#[derive(Default)]
pub(crate) struct Sequences {
    user: i64,
    role: i64,
    user_role: i64,
    session: i64,
    refresh_token: i64,
    message: i64,
    report: i64,
}

macro_rules! next_id {
    ($($name:ident => $field:ident: $id:ty),* $(,)?) => {
        impl Sequences {
            $(pub fn $name(&mut self) -> $id {
                self.$field += 1;
                <$id>::new(self.$field)
            })*
        }
    };
}

next_id!(
    next_user => user: UserId,
    next_role => role: RoleId,
    next_user_role => user_role: UserRoleId,
    next_session => session: SessionId,
    next_refresh_token => refresh_token: RefreshTokenId,
    next_message => message: MessageId,
    next_report => report: ReportId,
);

impl Tables {
    /// Whether another account than `except` holds `phone_number` (the unique index of the
    /// SQL stores; no phone number collides with nothing).
    pub(crate) fn phone_taken(
        &self,
        phone_number: Option<&ai_message_core::PhoneNumber>,
        except: Option<ai_message_core::UserId>,
    ) -> bool {
        phone_number.is_some_and(|phone| {
            self.users
                .values()
                .any(|user| user.phone_number.as_ref() == Some(phone) && Some(user.id) != except)
        })
    }

    /// Drops the phone claims of `number` by every user but `except`, with their codes.
    pub(crate) fn drop_phone_claims(
        &mut self,
        number: &ai_message_core::PhoneNumber,
        except: Option<UserId>,
    ) {
        for user in self.users.values_mut() {
            if user.unverified_phone_number.as_ref() == Some(number) && Some(user.id) != except {
                user.unverified_phone_number = None;
                self.phone_codes.remove(&user.id);
            }
        }
    }

    /// The session with this id and its user.
    pub fn session_with_user(&self, id: SessionId) -> Option<(Session, User)> {
        let session = self.sessions.get(&id)?;
        self.users
            .get(&session.user_id)
            .map(|user| (session.clone(), user.clone()))
    }

    /// Ends one active session and uses up its refresh tokens.
    pub fn end_session(&mut self, session_id: SessionId, now: Timestamp) -> bool {
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return false;
        };
        if !session.is_active {
            return false;
        }
        session.is_active = false;
        session.updated_at = now;
        self.use_up_refresh_tokens(|token| token.session_id == Some(session_id), now);
        true
    }

    /// Ends the user's active sessions except `keep`, and uses up the user's refresh
    /// tokens that belong to none of the sessions kept. Returns how many sessions ended.
    pub fn end_sessions_of_user(
        &mut self,
        user_id: UserId,
        keep: Option<SessionId>,
        now: Timestamp,
    ) -> u64 {
        let ending: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| s.user_id == user_id && s.is_active && Some(s.id) != keep)
            .map(|s| s.id)
            .collect();
        for id in &ending {
            self.end_session(*id, now);
        }
        self.use_up_refresh_tokens(
            |token| token.user_id == user_id && (keep.is_none() || token.session_id != keep),
            now,
        );
        ending.len() as u64
    }

    fn use_up_refresh_tokens(&mut self, pick: impl Fn(&RefreshToken) -> bool, now: Timestamp) {
        for token in self.refresh_tokens.values_mut() {
            if !token.is_used && pick(token) {
                token.is_used = true;
                token.updated_at = now;
            }
        }
    }

    /// Removes a user's sessions, refresh tokens and role links (the cascades of the schema).
    /// Whether taking `user_id` out of the active superusers would leave none.
    pub fn is_last_active_superuser(&self, user_id: UserId) -> bool {
        let counts = |u: &User| u.is_active && u.is_superuser;
        self.users.get(&user_id).is_some_and(counts)
            && !self
                .users
                .values()
                .any(|other| other.id != user_id && counts(other))
    }

    pub fn delete_user_cascade(&mut self, user_id: UserId) -> bool {
        let Some(user) = self.users.remove(&user_id) else {
            return false;
        };
        self.phone_codes.remove(&user_id);
        self.last_position.remove(&user_id);
        self.deliveries.remove(&user_id);
        self.user_by_username.remove(user.username.as_str());
        self.user_by_email.remove(user.email.as_str());
        self.user_by_username_key.retain(|_, id| *id != user_id);
        self.user_by_email_key.retain(|_, id| *id != user_id);
        self.sessions
            .retain(|_, session| session.user_id != user_id);
        self.session_by_token
            .retain(|_, session_id| self.sessions.contains_key(session_id));
        self.refresh_tokens
            .retain(|_, token| token.user_id != user_id);
        self.refresh_by_hash
            .retain(|_, token_id| self.refresh_tokens.contains_key(token_id));
        self.user_roles.retain(|_, link| link.user_id != user_id);
        self.assistant_clears.remove(&user_id);
        // reports.reporter_id: ON DELETE CASCADE; reports.resolved_by: ON DELETE SET NULL.
        self.reports
            .retain(|_, report| report.reporter_id != user_id);
        for report in self.reports.values_mut() {
            if report.resolved_by == Some(user_id) {
                report.resolved_by = None;
            }
        }
        true
    }

    pub fn index_message(&mut self, message: &Message) {
        let key = (message.created_at, message.id);
        for user_id in [message.sender_id, message.recipient_id] {
            self.messages_by_user
                .entry(user_id)
                .or_default()
                .insert(key);
        }
        if let Some(conversation) = &message.conversation_id {
            self.messages_by_conversation
                .entry(conversation.clone())
                .or_default()
                .insert(key);
        }
    }

    /// The next position of `user_id` (the assistant has none).
    pub fn take_position(&mut self, user_id: UserId) -> Option<Position> {
        if user_id.is_assistant() {
            return None;
        }
        let last = self.last_position.entry(user_id).or_default();
        *last += 1;
        Some(*last)
    }

    pub fn unindex_message(&mut self, message: &Message) {
        self.assistant_questions.remove(&message.id);
        for user_id in [message.sender_id, message.recipient_id] {
            if let Some(positions) = self.deliveries.get_mut(&user_id) {
                positions.retain(|_, id| *id != message.id);
            }
        }
        let key = (message.created_at, message.id);
        for user_id in [message.sender_id, message.recipient_id] {
            if let Some(keys) = self.messages_by_user.get_mut(&user_id) {
                keys.remove(&key);
            }
        }
        if let Some(conversation) = &message.conversation_id
            && let Some(keys) = self.messages_by_conversation.get_mut(conversation)
        {
            keys.remove(&key);
        }
    }
}
