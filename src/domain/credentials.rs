//! Secrets at rest: what storage keeps so that logins and tokens can be checked. None of them
//! ever appears in a response, and `Debug` redacts them so none reaches a log line.

use std::fmt;

macro_rules! secret_text {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Wraps text made by the hasher or the token code, or read back from storage.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The text itself, for storage and for verification only.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        compares_with_str!($name);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_text!(
    /// A salted password hash in the hasher's format (bcrypt's `$2b$…`): column
    /// `users.hashed_password`.
    PasswordHash
);

secret_text!(
    /// The random token a session is stored under: column `sessions.session_token`.
    SessionToken
);

secret_text!(
    /// Hex SHA-256 of a refresh token handed to a client: column `refresh_tokens.token`.
    /// A copy of the database holds no live token.
    RefreshTokenHash
);

secret_text!(
    /// Hex SHA-256 of a live-stream ticket handed to a client: column
    /// `stream_tickets.ticket_hash`.
    StreamTicketHash
);

secret_text!(
    /// Hex SHA-256 of a one-time phone code bound to its number (see
    /// [`PhoneCode::hash_for`](super::PhoneCode::hash_for)): column `phone_claims.code_hash`.
    PhoneCodeHash
);
