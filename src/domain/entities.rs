//! One struct per table of the data model, as stored.

use chrono::{DateTime, Utc};

/// Primary keys are integers in every storage adapter.
pub type UserId = i64;
pub type RoleId = i64;
pub type SessionId = i64;
pub type RefreshTokenId = i64;
pub type MessageId = i64;

/// Point in time, UTC, at microsecond precision (what SQL `TIMESTAMP` keeps).
pub type Timestamp = DateTime<Utc>;

#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub email: String,
    /// The bcrypt hash; never leaves the server and never appears in `Debug` output.
    pub hashed_password: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub full_name: Option<String>,
    pub bio: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("hashed_password", &"<redacted>")
            .field("is_active", &self.is_active)
            .field("is_superuser", &self.is_superuser)
            .field("full_name", &self.full_name)
            .field("bio", &self.bio)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: RoleId,
    pub name: String,
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A row of the many-to-many link between users and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRole {
    pub id: i64,
    pub user_id: UserId,
    pub role_id: RoleId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A login: what an access token is checked against on every request.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    /// Random, unique, never returned by the API.
    pub session_token: String,
    pub device_info: Option<String>,
    pub ip_address: Option<String>,
    pub is_active: bool,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Session {
    /// Active and not yet expired at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.is_active && self.expires_at > now
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("session_token", &"<redacted>")
            .field("device_info", &self.device_info)
            .field("ip_address", &self.ip_address)
            .field("is_active", &self.is_active)
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// A stored refresh token. `token_hash` is the SHA-256 of the token the client holds, so a
/// copy of the database holds no live token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub id: RefreshTokenId,
    pub user_id: UserId,
    /// Column `token`: hex SHA-256 of the client's token.
    pub token_hash: String,
    pub expires_at: Timestamp,
    pub is_used: bool,
    /// The session the token belongs to; `None` only for rows adopted from the original
    /// implementation, which had no such column.
    pub session_id: Option<SessionId>,
    pub created_at: Timestamp,
    /// When `is_used` became true, this is the moment it was used (rotation or revocation).
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub sender_id: UserId,
    pub recipient_id: UserId,
    pub content: String,
    pub is_read: bool,
    pub parent_id: Option<MessageId>,
    pub conversation_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Message {
    /// Visibility rule: a message belongs to its sender and its recipient only.
    pub fn is_visible_to(&self, user_id: UserId) -> bool {
        self.sender_id == user_id || self.recipient_id == user_id
    }
}

/// One row of the conversation list, as storage computes it for one user in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    pub conversation_id: String,
    /// The other party of the last message (the user themself for notes to self).
    pub other_user_id: UserId,
    /// `None` when that user no longer exists.
    pub other_user_name: Option<String>,
    /// The full content of the last message; the use case shortens it.
    pub last_message: String,
    pub last_message_at: Timestamp,
    /// The caller's unread received messages in the conversation.
    pub unread_count: u64,
}
