//! Request bodies, parsed with serde and documented by poem-openapi. The limits shown here
//! are the core's value types' (which check them again), so the document tells clients the
//! truth.

use poem_openapi::Object;
use poem_openapi::types::Example;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct RegisterRequest {
    /// 1 to 100 characters, no control characters.
    pub username: String,
    /// A valid address, at most 255 characters.
    pub email: String,
    /// 8 to 72 bytes of UTF-8 (bcrypt's limit; longer passwords are refused, not cut).
    pub password: String,
    /// At most 255 characters.
    #[serde(default)]
    pub full_name: Option<String>,
    /// International, such as `+60123456789` (spaces, hyphens, dots and parentheses are
    /// dropped), or national (`012-345 6789`) when the server has a default region; stored
    /// in E.164, as a claim until proven from the phone (a superuser's `POST /auth/users`
    /// counts as proof). Empty means none.
    #[serde(default)]
    pub phone_number: Option<String>,
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
    #[serde(default)]
    pub full_name: Option<String>,
    /// At most 10,000 characters.
    #[serde(default)]
    pub bio: Option<String>,
    /// International, such as `+60123456789`, or national when the server has a default
    /// region; stored in E.164 as an unverified claim (`PUT /auth/me/phone` gives the code
    /// that proves it). To remove it, use `PUT /auth/me/phone` with `null`.
    #[serde(default)]
    pub phone_number: Option<String>,
}

/// The caller's phone number; `null` (or empty) removes it.
#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct PhoneUpdateRequest {
    /// International, such as `+60123456789` (spaces, hyphens, dots and parentheses are
    /// dropped), or national (`012-345 6789`) when the server has a default region; stored
    /// in E.164, as a claim until proven from the phone.
    pub phone_number: Option<String>,
}

impl Example for PhoneUpdateRequest {
    fn example() -> Self {
        Self {
            phone_number: Some("+60123456789".into()),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct PasswordChangeRequest {
    pub current_password: String,
    /// 8 to 72 bytes of UTF-8.
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
    pub name: String,
    /// At most 255 characters.
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
    pub content: String,
    /// Defaults to the parent's conversation, else `conv_<smaller id>_<larger id>`.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// Makes this a reply to a message the caller can see.
    #[serde(default)]
    pub parent_id: Option<i64>,
}

/// A message to the AI assistant.
#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct AssistantRequest {
    /// 1 to 65,536 characters, not only whitespace.
    pub content: String,
    /// Defaults to `conv_-1_<your user id>`.
    #[serde(default)]
    pub conversation_id: Option<String>,
}

impl Example for AssistantRequest {
    fn example() -> Self {
        Self {
            content: "Summarise what a refresh token is in one sentence.".into(),
            conversation_id: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Object)]
#[oai(example)]
pub struct MessageUpdateRequest {
    /// 1 to 65,536 characters, not only whitespace; absent leaves the message unchanged.
    #[serde(default)]
    pub content: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct ConversationMessageRequest {
    pub recipient_id: i64,
    /// 1 to 65,536 characters, not only whitespace.
    pub content: String,
}

impl Example for RegisterRequest {
    fn example() -> Self {
        Self {
            username: "alice".into(),
            email: "alice@example.com".into(),
            password: "correct horse battery".into(),
            full_name: Some("Alice Liddell".into()),
            phone_number: None,
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
            phone_number: None,
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
