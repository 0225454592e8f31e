//! Response bodies. Each turns a domain value into what the contract shows; the names the
//! OpenAPI document uses are the original's (`User`, `Message`, …).

use ai_message_core::usecases::accounts::PhoneSet;
use ai_message_core::{ConversationSummary, Message, Role, Session, SessionId, User};
use poem_openapi::Object;

use crate::time::UtcTime;

/// An optional domain text as the wire shows it.
fn text<T: Into<String>>(value: Option<T>) -> Option<String> {
    value.map(Into::into)
}

/// An account, as anyone allowed to see it sees it. Never carries the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "User")]
pub struct UserOut {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub bio: Option<String>,
    /// E.164 (`+60123456789`): the account's number, proven or only claimed.
    pub phone_number: Option<String>,
    /// `true` when `phone_number` is proven (texted from that phone, or given by a
    /// superuser): only a proven number's WhatsApp and SMS texts reach the account, and
    /// proven numbers are unique. A claim blocks nobody.
    pub phone_verified: bool,
    pub is_active: bool,
    pub is_superuser: bool,
    pub created_at: UtcTime,
    pub updated_at: UtcTime,
}

impl From<User> for UserOut {
    fn from(user: User) -> Self {
        Self {
            id: user.id.get(),
            username: user.username.into_inner(),
            email: user.email.into_inner(),
            full_name: text(user.full_name),
            bio: text(user.bio),
            phone_verified: user.phone_number.is_some(),
            phone_number: text(user.phone_number.or(user.unverified_phone_number)),
            is_active: user.is_active,
            is_superuser: user.is_superuser,
            created_at: user.created_at.into(),
            updated_at: user.updated_at.into(),
        }
    }
}

/// The caller's account after `PUT /auth/me/phone`.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "UserWithPhoneVerification")]
pub struct PhoneSetOut {
    #[oai(flatten)]
    pub user: UserOut,
    /// How to prove the number; `null` when it is proven already or was removed.
    pub verification: Option<PhoneVerificationOut>,
}

/// Text `code` from the claimed phone, by WhatsApp or SMS, to the service's number before
/// `expires_at`. Asking again voids the code; five wrong codes from the number void it too.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "PhoneVerification")]
pub struct PhoneVerificationOut {
    /// Eight digits, shown once (only a hash is stored).
    pub code: String,
    pub expires_at: UtcTime,
}

impl From<PhoneSet> for PhoneSetOut {
    fn from(set: PhoneSet) -> Self {
        Self {
            user: set.user.into(),
            verification: set.verification.map(|v| PhoneVerificationOut {
                code: v.code.as_str().to_string(),
                expires_at: v.expires_at.into(),
            }),
        }
    }
}

/// A successful login: tokens and the account.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct AuthResponse {
    /// JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Opaque, single use: trade it at `/auth/refresh` for a new pair.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub user: UserOut,
}

/// A refreshed token pair.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Token {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// A login session. Never carries the session token.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "Session")]
pub struct SessionOut {
    pub id: i64,
    pub user_id: i64,
    /// The `User-Agent` of the login, or `Unknown`.
    pub device_info: Option<String>,
    pub ip_address: Option<String>,
    pub created_at: UtcTime,
    pub expires_at: UtcTime,
    pub is_active: bool,
    /// Whether this is the session of the token that made the request.
    pub current: bool,
}

impl SessionOut {
    pub fn new(session: Session, current_session: SessionId) -> Self {
        Self {
            current: session.id == current_session,
            id: session.id.get(),
            user_id: session.user_id.get(),
            device_info: text(session.device_info),
            ip_address: text(session.ip_address),
            created_at: session.created_at.into(),
            expires_at: session.expires_at.into(),
            is_active: session.is_active,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "Role")]
pub struct RoleOut {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub created_at: UtcTime,
    pub updated_at: UtcTime,
}

impl From<Role> for RoleOut {
    fn from(role: Role) -> Self {
        Self {
            id: role.id.get(),
            name: role.name.into_inner(),
            description: text(role.description),
            created_at: role.created_at.into(),
            updated_at: role.updated_at.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Serialize)]
#[oai(rename = "Message")]
pub struct MessageOut {
    pub id: i64,
    pub sender_id: i64,
    pub recipient_id: i64,
    pub content: String,
    pub is_read: bool,
    /// The message this one replies to.
    pub parent_id: Option<i64>,
    pub conversation_id: Option<String>,
    pub created_at: UtcTime,
    pub updated_at: UtcTime,
}

impl From<Message> for MessageOut {
    fn from(message: Message) -> Self {
        Self {
            id: message.id.get(),
            sender_id: message.sender_id.get(),
            recipient_id: message.recipient_id.get(),
            content: message.content.into_inner(),
            is_read: message.is_read,
            parent_id: message.parent_id.map(|id| id.get()),
            conversation_id: text(message.conversation_id),
            created_at: message.created_at.into(),
            updated_at: message.updated_at.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Serialize)]
#[oai(rename = "Conversation")]
pub struct ConversationOut {
    pub conversation_id: String,
    /// The other party of the last message (the caller for notes to self).
    pub other_user_id: i64,
    /// `Unknown` when that user was deleted.
    pub other_user_name: String,
    /// The first 100 characters of the last message.
    pub last_message: String,
    pub last_message_at: UtcTime,
    /// The caller's unread received messages in this conversation.
    pub unread_count: u64,
}

/// The name a conversation list shows for a user who no longer exists.
const UNKNOWN_USER: &str = "Unknown";

impl From<ConversationSummary> for ConversationOut {
    fn from(summary: ConversationSummary) -> Self {
        Self {
            last_message: summary.preview().to_string(),
            conversation_id: summary.conversation_id.into_inner(),
            other_user_id: summary.other_user_id.get(),
            other_user_name: summary
                .other_user_name
                .map_or_else(|| UNKNOWN_USER.to_string(), |name| name.into_inner()),
            last_message_at: summary.last_message_at.into(),
            unread_count: summary.unread_count,
        }
    }
}

/// A ticket that opens one live stream: `GET /messages/stream?ticket=…` within
/// `expires_in` seconds, once.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct StreamTicket {
    pub ticket: String,
    pub expires_in: i64,
}

/// `message.read`: the recipient read a message the caller sent.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ReadReceiptOut {
    pub id: i64,
    pub reader_id: i64,
}

/// `message.deleted`: a message of the caller's is gone.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct DeletedMessageOut {
    pub id: i64,
}

/// `stream.open` and `stream.reset`: where the stream stands (also its event `id`).
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct StreamCursorOut {
    pub cursor: i64,
}

/// `assistant.delta`: a piece of the assistant's reply to the caller's message `reply_to`,
/// as the model writes it (the whole reply follows as `message.created`).
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct AssistantDeltaOut {
    pub reply_to: i64,
    pub delta: String,
}

/// The `data` of a stream event, by event type.
#[derive(Debug, Clone, PartialEq, Eq, poem_openapi::Union)]
#[oai(one_of)]
pub enum StreamData {
    Message(MessageOut),
    Read(ReadReceiptOut),
    Deleted(DeletedMessageOut),
    Cursor(StreamCursorOut),
    AssistantDelta(AssistantDeltaOut),
    Report(super::ReportOut),
}

/// One server-sent event: sent as `event: <event>`, `id: <id>`, `data: <data as JSON>`.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct StreamEvent {
    /// `stream.open`, `stream.reset`, `message.created`, `message.updated`,
    /// `message.read`, `message.deleted`, `assistant.delta`, `report.created` or
    /// `report.updated`.
    pub event: String,
    /// The cursor to resume from (`Last-Event-ID`).
    pub id: String,
    pub data: StreamData,
}

/// One turn of the caller's chat with the assistant.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ChatTurnOut {
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
}

/// The caller's turns with the assistant since their last clear, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ChatHistory {
    pub history: Vec<ChatTurnOut>,
    pub message_count: u64,
}

/// What an action did, for a human.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct MessageResponse {
    pub message: String,
}

impl MessageResponse {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct UnreadCount {
    pub unread_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Welcome {
    pub message: String,
    /// Where the interactive documentation is.
    pub docs: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Status {
    pub status: String,
}

/// The liveness answer.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Health {
    /// Always `healthy`.
    pub status: String,
    /// The server's version (as `ai-message --version` prints it).
    pub version: String,
}
