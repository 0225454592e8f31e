//! Validated input values ("parse, don't validate"): each constructor checks one limit of the
//! API contract and returns a [`ValidationError`] naming the field and the rule it broke.

use std::fmt;

use super::UserId;

/// An input value broke a rule of the contract. `Display` reads `"<field>: <rule>"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct ValidationError {
    pub field: &'static str,
    pub rule: String,
}

impl ValidationError {
    pub fn new(field: &'static str, rule: impl Into<String>) -> Self {
        Self {
            field,
            rule: rule.into(),
        }
    }
}

fn char_count(value: &str) -> usize {
    value.chars().count()
}

fn check_chars(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), ValidationError> {
    let count = char_count(value);
    if count < min || count > max {
        let rule = if min == 0 {
            format!("must be at most {max} characters long")
        } else {
            format!("must be {min} to {max} characters long")
        };
        return Err(ValidationError::new(field, rule));
    }
    Ok(())
}

fn check_no_control_chars(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// PostgreSQL text cannot hold U+0000, and C-based tools cut strings at it; no field of the
/// API needs it.
fn check_no_nul(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.contains('\0') {
        return Err(ValidationError::new(
            field,
            "must not contain NUL characters",
        ));
    }
    Ok(())
}

/// Declares a newtype over `String` with `as_str`, `into_inner`, `Display` and `AsRef<str>`.
macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }

            /// A value read back from storage. It was checked when it entered; the rules for
            /// new values may have tightened since (adopted databases), and a stored value
            /// is the record, so it is not checked again.
            pub fn from_storage(value: String) -> Self {
                Self(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        /// Read access as text, like `String`'s: a value cannot be changed through it.
        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        compares_with_str!($name);
    };
}

string_value!(
    /// A new account name: 1–100 characters (column `users.username`, `String(100)`), no
    /// surrounding whitespace, no `@`, nothing invisible, one script. Names stored before
    /// these rules (adopted databases) are not re-checked: they only go through [`User`].
    ///
    /// [`User`]: crate::domain::User
    Username
);

impl Username {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars("username", &value, 1, Self::MAX_CHARS)?;
        check_no_nul("username", &value)?;
        check_no_control_chars("username", &value)?;
        if let Some(rule) = super::identity::username_problem(&value) {
            return Err(ValidationError::new("username", rule));
        }
        Ok(Self(value))
    }

    /// The key this name is unique under (see [`username_key`](super::username_key)).
    pub fn key(&self) -> String {
        super::identity::username_key(&self.0)
    }
}

string_value!(
    /// A syntactically valid address with a dotted domain, at most 255 characters.
    Email
);

impl Email {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars("email", &value, 1, Self::MAX_CHARS)?;
        let options = email_address::Options::default()
            .with_required_tld()
            .without_display_text()
            .without_domain_literal();
        if email_address::EmailAddress::parse_with_options(&value, options).is_err() {
            return Err(ValidationError::new(
                "email",
                "must be a valid email address",
            ));
        }
        Ok(Self(value))
    }

    /// The key this address is unique under: case is ignored.
    pub fn key(&self) -> String {
        super::identity::email_key(&self.0)
    }
}

/// A new password: 8 to 72 **bytes** by default (bcrypt reads no further, and silently
/// cutting a password would make its tail meaningless); the minimum is [`PasswordRules`]'.
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const MIN_BYTES: usize = PasswordRules::DEFAULT_MIN_BYTES;
    pub const MAX_BYTES: usize = 72;

    /// Under the default rules.
    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        PasswordRules::default().parse("password", value)
    }

    /// Same rules, reported under another field name (`new_password`).
    pub fn parse_field(
        field: &'static str,
        value: impl Into<String>,
    ) -> Result<Self, ValidationError> {
        PasswordRules::default().parse(field, value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// How short a new password may be: 8 bytes unless the operator lowered it (to 6 at the
/// least) for clients whose forms allow shorter ones; never more than 72.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordRules {
    min_bytes: usize,
}

impl Default for PasswordRules {
    fn default() -> Self {
        Self {
            min_bytes: Self::DEFAULT_MIN_BYTES,
        }
    }
}

impl PasswordRules {
    pub const DEFAULT_MIN_BYTES: usize = 8;
    /// The lowest minimum an operator may set.
    pub const LOWEST_MIN_BYTES: usize = 6;

    /// `None` outside 6 to 72.
    pub fn with_min_bytes(min_bytes: usize) -> Option<Self> {
        (Self::LOWEST_MIN_BYTES..=Password::MAX_BYTES)
            .contains(&min_bytes)
            .then_some(Self { min_bytes })
    }

    pub fn min_bytes(&self) -> usize {
        self.min_bytes
    }

    /// A new password for `field` under these rules.
    pub fn parse(
        &self,
        field: &'static str,
        value: impl Into<String>,
    ) -> Result<Password, ValidationError> {
        let value = value.into();
        let bytes = value.len();
        if !(self.min_bytes..=Password::MAX_BYTES).contains(&bytes) {
            return Err(ValidationError::new(
                field,
                format!(
                    "must be {} to {} bytes long (UTF-8), got {bytes}",
                    self.min_bytes,
                    Password::MAX_BYTES
                ),
            ));
        }
        check_no_nul(field, &value)?;
        Ok(Password(value))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

string_value!(
    /// At most 255 characters (column `users.full_name`).
    FullName
);

impl FullName {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars("full_name", &value, 0, Self::MAX_CHARS)?;
        check_no_nul("full_name", &value)?;
        Ok(Self(value))
    }
}

string_value!(
    /// At most 10,000 characters.
    Bio
);

impl Bio {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars("bio", &value, 0, Self::MAX_CHARS)?;
        check_no_nul("bio", &value)?;
        Ok(Self(value))
    }
}

string_value!(
    /// 1–100 characters, no control characters (column `roles.name`).
    RoleName
);

impl RoleName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars("name", &value, 1, Self::MAX_CHARS)?;
        check_no_control_chars("name", &value)?;
        Ok(Self(value))
    }
}

string_value!(
    /// At most 255 characters (column `roles.description`).
    RoleDescription
);

impl RoleDescription {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars("description", &value, 0, Self::MAX_CHARS)?;
        check_no_nul("description", &value)?;
        Ok(Self(value))
    }
}

string_value!(
    /// 1–65,536 characters, not only whitespace.
    MessageContent
);

impl MessageContent {
    pub const MAX_CHARS: usize = 65_536;

    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars("content", &value, 1, Self::MAX_CHARS)?;
        check_no_nul("content", &value)?;
        if value.trim().is_empty() {
            return Err(ValidationError::new(
                "content",
                "must not be empty or only whitespace",
            ));
        }
        Ok(Self(value))
    }
}

string_value!(
    /// 1–100 characters (column `messages.conversation_id`, `String(100)`).
    ConversationId
);

impl ConversationId {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars("conversation_id", &value, 1, Self::MAX_CHARS)?;
        check_no_nul("conversation_id", &value)?;
        Ok(Self(value))
    }

    /// The default conversation of two users: `conv_<smaller id>_<larger id>`.
    pub fn between(a: UserId, b: UserId) -> Self {
        Self(format!("conv_{}_{}", a.min(b), a.max(b)))
    }
}

/// Cuts `value` to at most `max` characters (columns whose content the server only records).
fn cut_to_chars(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        Some((end, _)) => value[..end].to_string(),
        None => value.to_string(),
    }
}

/// Declares a [`string_value!`] whose content the server only records, cut to `$max`
/// characters (a client's own description of itself is never refused, only shortened).
macro_rules! recorded_value {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        string_value!($(#[$doc])* $name);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn recorded(value: &str) -> Self {
                Self(cut_to_chars(value, Self::MAX_CHARS))
            }
        }
    };
}

recorded_value!(
    /// The client's description of itself (its `User-Agent`), cut to 255 characters (column
    /// `sessions.device_info`): recorded for the user's session list, never trusted.
    DeviceInfo,
    255
);

impl DeviceInfo {
    /// What a session records when the client sent no `User-Agent`.
    pub fn unknown() -> Self {
        Self("Unknown".to_string())
    }
}

recorded_value!(
    /// The client's network address as the server resolved it, cut to 50 characters (column
    /// `sessions.ip_address`).
    IpAddress,
    50
);

/// A window of a list: `skip` items counted from the newest (or from the first id), at most
/// `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    skip: u64,
    limit: u32,
}

impl Page {
    pub const DEFAULT_LIMIT: u32 = 100;
    pub const MAX_LIMIT: u32 = 500;
    /// Storage engines count offsets in signed 64-bit integers.
    pub const MAX_SKIP: u64 = i64::MAX as u64;

    /// `(LIMIT, OFFSET)` as SQL engines count them, in signed 64-bit integers.
    pub fn sql_limit_offset(self) -> (i64, i64) {
        (
            i64::from(self.limit),
            i64::try_from(self.skip).unwrap_or(i64::MAX),
        )
    }

    pub fn new(skip: u64, limit: u32) -> Result<Self, ValidationError> {
        if skip > Self::MAX_SKIP {
            return Err(ValidationError::new(
                "skip",
                format!("must be between 0 and {}", Self::MAX_SKIP),
            ));
        }
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(ValidationError::new(
                "limit",
                format!("must be between 1 and {}", Self::MAX_LIMIT),
            ));
        }
        Ok(Self { skip, limit })
    }

    /// A page from query values as clients send them (signed, optional; defaults 0 and
    /// 100): the one place `skip` and `limit` are checked.
    pub fn from_query(skip: Option<i64>, limit: Option<i64>) -> Result<Self, ValidationError> {
        let skip = u64::try_from(skip.unwrap_or(0))
            .map_err(|_| ValidationError::new("skip", "must be greater than or equal to 0"))?;
        let limit = limit.unwrap_or(i64::from(Self::DEFAULT_LIMIT));
        // Outside u32 is outside 1..=MAX_LIMIT too; `new` says so.
        Self::new(skip, u32::try_from(limit).unwrap_or(0))
    }

    pub fn skip(&self) -> u64 {
        self.skip
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }
}

impl Default for Page {
    fn default() -> Self {
        Self {
            skip: 0,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

mod phone;
mod report_values;
pub use phone::*;
pub use report_values::*;

#[cfg(test)]
mod tests;
