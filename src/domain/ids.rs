//! Row identities. Each table's id is its own type, so the compiler stops a message id being
//! passed where a user id is meant; storage assigns them, the API shows them as integers.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(i64);

        impl $name {
            /// The id as storage and the API write it.
            pub const fn new(value: i64) -> Self {
                Self(value)
            }

            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// `users.id`.
    UserId
);
id_type!(
    /// `roles.id`.
    RoleId
);
id_type!(
    /// `user_roles.id`.
    UserRoleId
);
id_type!(
    /// `sessions.id`.
    SessionId
);
id_type!(
    /// `refresh_tokens.id`.
    RefreshTokenId
);
id_type!(
    /// `messages.id`.
    MessageId
);
id_type!(
    /// `reports.id`.
    ReportId
);

impl UserId {
    /// The AI assistant: a participant of messages without a row in `users` (the original's
    /// id for it).
    pub const ASSISTANT: UserId = UserId(-1);

    pub const fn is_assistant(self) -> bool {
        self.0 == Self::ASSISTANT.0
    }
}
