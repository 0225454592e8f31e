//! One struct per table of the data model, holding typed values: each fact was checked where
//! it entered (an input value's `parse`, or a storage adapter's row mapping).

use chrono::{DateTime, Utc};

use super::{
    Bio, ConversationId, DeviceInfo, Email, FullName, IpAddress, MessageContent, MessageId,
    PasswordHash, PhoneNumber, RefreshTokenHash, RefreshTokenId, RoleDescription, RoleId, RoleName,
    SessionId, SessionToken, UserId, UserRoleId, Username,
};

/// Point in time, UTC, at microsecond precision (what SQL `TIMESTAMP` keeps).
pub type Timestamp = DateTime<Utc>;

/// An account. `Debug` shows no secret: the hash is a [`PasswordHash`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub email: Email,
    /// Never leaves the server.
    pub hashed_password: PasswordHash,
    pub is_active: bool,
    pub is_superuser: bool,
    pub full_name: Option<FullName>,
    pub bio: Option<Bio>,
    /// The proven number (E.164, unique among users; column `users.phone_number`): texts
    /// from it are this user's.
    pub phone_number: Option<PhoneNumber>,
    /// A number this user typed in but has not proven from the phone (table
    /// `phone_claims`): it routes no texts and blocks nobody. At most one of the two is set.
    pub unverified_phone_number: Option<PhoneNumber>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: RoleId,
    pub name: RoleName,
    pub description: Option<RoleDescription>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A row of the many-to-many link between users and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRole {
    pub id: UserRoleId,
    pub user_id: UserId,
    pub role_id: RoleId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A login: what an access token is checked against on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    /// Random, unique, never returned by the API.
    pub session_token: SessionToken,
    pub device_info: Option<DeviceInfo>,
    pub ip_address: Option<IpAddress>,
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

/// A stored refresh token: only the hash of what the client holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub id: RefreshTokenId,
    pub user_id: UserId,
    /// Column `token`.
    pub token_hash: RefreshTokenHash,
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
    pub content: MessageContent,
    pub is_read: bool,
    pub parent_id: Option<MessageId>,
    /// `None` only for rows adopted from the original implementation.
    pub conversation_id: Option<ConversationId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Message {
    /// Visibility rule: a message belongs to its sender and its recipient only.
    pub fn is_visible_to(&self, user_id: UserId) -> bool {
        self.sender_id == user_id || self.recipient_id == user_id
    }
}

/// One row of a user's conversation list, as storage computes it in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    pub conversation_id: ConversationId,
    /// The other party of the last message (the user themself for notes to self).
    pub other_user_id: UserId,
    /// `None` when that user no longer exists.
    pub other_user_name: Option<Username>,
    /// The last message's first [`PREVIEW_CHARS`](Self::PREVIEW_CHARS) characters: all a
    /// list shows, and all storage keeps per conversation.
    pub last_message: MessageContent,
    pub last_message_at: Timestamp,
    /// The user's unread received messages in the conversation.
    pub unread_count: u64,
}

impl ConversationSummary {
    /// Characters of the last message a conversation list shows.
    pub const PREVIEW_CHARS: usize = 100;

    /// The first [`PREVIEW_CHARS`](Self::PREVIEW_CHARS) characters of the last message.
    pub fn preview(&self) -> &str {
        Self::preview_of(self.last_message.as_str())
    }

    /// The first [`PREVIEW_CHARS`](Self::PREVIEW_CHARS) characters (Unicode scalar values,
    /// as SQLite's `substr` and PostgreSQL's `left` count them) of `content`.
    pub fn preview_of(content: &str) -> &str {
        match content.char_indices().nth(Self::PREVIEW_CHARS) {
            Some((end, _)) => &content[..end],
            None => content,
        }
    }
}
