//! The shapes on the wire: request bodies (parsed with serde, documented by poem-openapi) and
//! response bodies. Limits shown here are checked again by the core's value types.

use ai_message_core::usecases::conversations::Conversation;
use ai_message_core::{Message, Role, Session, User};
use poem_openapi::Object;
use poem_openapi::types::Example;
use serde::Deserialize;

use crate::time::UtcTime;

// ---- responses -------------------------------------------------------------------------

/// An account, as anyone allowed to see it sees it. Never carries the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "User")]
pub struct UserOut {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub bio: Option<String>,
    pub is_active: bool,
    pub is_superuser: bool,
    pub created_at: UtcTime,
    pub updated_at: UtcTime,
}

impl From<User> for UserOut {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            full_name: user.full_name,
            bio: user.bio,
            is_active: user.is_active,
            is_superuser: user.is_superuser,
            created_at: user.created_at.into(),
            updated_at: user.updated_at.into(),
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
    pub fn new(session: Session, current_session: i64) -> Self {
        Self {
            current: session.id == current_session,
            id: session.id,
            user_id: session.user_id,
            device_info: session.device_info,
            ip_address: session.ip_address,
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
            id: role.id,
            name: role.name,
            description: role.description,
            created_at: role.created_at.into(),
            updated_at: role.updated_at.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Object)]
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
            id: message.id,
            sender_id: message.sender_id,
            recipient_id: message.recipient_id,
            content: message.content,
            is_read: message.is_read,
            parent_id: message.parent_id,
            conversation_id: message.conversation_id,
            created_at: message.created_at.into(),
            updated_at: message.updated_at.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Object)]
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

impl From<Conversation> for ConversationOut {
    fn from(c: Conversation) -> Self {
        Self {
            conversation_id: c.conversation_id,
            other_user_id: c.other_user_id,
            other_user_name: c.other_user_name,
            last_message: c.last_message,
            last_message_at: c.last_message_at.into(),
            unread_count: c.unread_count,
        }
    }
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

// ---- requests --------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct RegisterRequest {
    /// 1 to 100 characters, no control characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub username: String,
    /// A valid address, at most 255 characters.
    #[oai(validator(max_length = 255))]
    pub email: String,
    /// 8 to 72 bytes of UTF-8 (bcrypt's limit; longer passwords are refused, not cut).
    #[oai(validator(min_length = 8, max_length = 72))]
    pub password: String,
    /// At most 255 characters.
    #[oai(validator(max_length = 255))]
    #[serde(default)]
    pub full_name: Option<String>,
}

/// Log in with a username (or email) and password.
#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct LoginRequest {
    /// The username, or the account's email.
    pub username: String,
    pub password: String,
}

/// The OAuth2 password grant, as Swagger UI's Authorize button sends it.
#[derive(Debug, Clone, Deserialize, Object)]
pub struct LoginForm {
    /// `password` when present.
    #[serde(default)]
    pub grant_type: Option<String>,
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Clone, Default, Deserialize, Object)]
#[oai(example)]
pub struct LogoutRequest {
    /// Also put this refresh token (and its session) out of use.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// Absent (or null) fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, Object)]
#[oai(example)]
pub struct ProfileUpdateRequest {
    /// At most 255 characters.
    #[oai(validator(max_length = 255))]
    #[serde(default)]
    pub full_name: Option<String>,
    /// At most 10,000 characters.
    #[oai(validator(max_length = 10000))]
    #[serde(default)]
    pub bio: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct PasswordChangeRequest {
    pub current_password: String,
    /// 8 to 72 bytes of UTF-8.
    #[oai(validator(min_length = 8, max_length = 72))]
    pub new_password: String,
}

#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct SuperuserRequest {
    pub is_superuser: bool,
}

#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct RoleCreateRequest {
    /// 1 to 100 characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    /// At most 255 characters.
    #[oai(validator(max_length = 255))]
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct RoleAssignRequest {
    /// The user's roles become exactly these.
    pub role_ids: Vec<i64>,
}

#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct MessageCreateRequest {
    pub recipient_id: i64,
    /// 1 to 65,536 characters, not only whitespace.
    #[oai(validator(min_length = 1, max_length = 65536))]
    pub content: String,
    /// Defaults to the parent's conversation, else `conv_<smaller id>_<larger id>`.
    #[oai(validator(min_length = 1, max_length = 100))]
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// Makes this a reply to a message the caller can see.
    #[serde(default)]
    pub parent_id: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Object)]
#[oai(example)]
pub struct MessageUpdateRequest {
    /// 1 to 65,536 characters, not only whitespace; absent leaves the message unchanged.
    #[oai(validator(min_length = 1, max_length = 65536))]
    #[serde(default)]
    pub content: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct ConversationMessageRequest {
    pub recipient_id: i64,
    /// 1 to 65,536 characters, not only whitespace.
    #[oai(validator(min_length = 1, max_length = 65536))]
    pub content: String,
}

impl Example for RegisterRequest {
    fn example() -> Self {
        Self {
            username: "alice".into(),
            email: "alice@example.com".into(),
            password: "correct horse battery".into(),
            full_name: Some("Alice Liddell".into()),
        }
    }
}

impl Example for LoginRequest {
    fn example() -> Self {
        Self {
            username: "alice".into(),
            password: "correct horse battery".into(),
        }
    }
}

impl Example for RefreshRequest {
    fn example() -> Self {
        Self {
            refresh_token: "Vh3pA0x0nqBhT5Wb1GvQ0m9yZ8tJ6rC2kL4sD7fE1aI".into(),
        }
    }
}

impl Example for LogoutRequest {
    fn example() -> Self {
        Self {
            refresh_token: Some("Vh3pA0x0nqBhT5Wb1GvQ0m9yZ8tJ6rC2kL4sD7fE1aI".into()),
        }
    }
}

impl Example for ProfileUpdateRequest {
    fn example() -> Self {
        Self {
            full_name: Some("Alice Liddell".into()),
            bio: Some("Curious about rabbit holes.".into()),
        }
    }
}

impl Example for PasswordChangeRequest {
    fn example() -> Self {
        Self {
            current_password: "correct horse battery".into(),
            new_password: "staple battery horse".into(),
        }
    }
}

impl Example for SuperuserRequest {
    fn example() -> Self {
        Self { is_superuser: true }
    }
}

impl Example for RoleCreateRequest {
    fn example() -> Self {
        Self {
            name: "moderator".into(),
            description: Some("Can review reported messages".into()),
        }
    }
}

impl Example for RoleAssignRequest {
    fn example() -> Self {
        Self {
            role_ids: vec![1, 2],
        }
    }
}

impl Example for MessageCreateRequest {
    fn example() -> Self {
        Self {
            recipient_id: 2,
            content: "Hi Bob, lunch at noon?".into(),
            conversation_id: None,
            parent_id: None,
        }
    }
}

impl Example for MessageUpdateRequest {
    fn example() -> Self {
        Self {
            content: Some("Hi Bob, lunch at one?".into()),
        }
    }
}

impl Example for ConversationMessageRequest {
    fn example() -> Self {
        Self {
            recipient_id: 2,
            content: "See you there.".into(),
        }
    }
}
