//! The column lists of the tables, in the order the adapters' row mappers read them. Both
//! dialects select with them, so a column added to a table is added here once.
//!
//! Each macro expands to a string literal for `concat!`; `user_columns!("u.")` qualifies
//! every column with a table alias.

/// `"p.a, p.b, …"`: the columns, each behind the prefix.
#[doc(hidden)]
#[macro_export]
macro_rules! prefixed_columns {
    ($p:literal; $first:literal $(, $rest:literal)*) => {
        concat!($p, $first $(, ", ", $p, $rest)*)
    };
}

/// The user's columns, then the number they claim without having proven it (a probe of
/// `phone_claims` by its key; `NULL` when none). `user_columns!("")` reads table `users`
/// (also in `RETURNING`), `user_columns!("u.")` the alias `u`.
#[macro_export]
macro_rules! user_columns {
    () => {
        $crate::user_columns!("")
    };
    ("") => {
        concat!($crate::user_columns!(@own ""),
            ", (SELECT pc.phone_number FROM phone_claims pc WHERE pc.user_id = users.id)")
    };
    ($p:literal) => {
        concat!($crate::user_columns!(@own $p),
            ", (SELECT pc.phone_number FROM phone_claims pc WHERE pc.user_id = ", $p, "id)")
    };
    (@own $p:literal) => {
        $crate::prefixed_columns!($p; "id", "username", "email", "hashed_password",
            "is_active", "is_superuser", "full_name", "bio", "created_at", "updated_at",
            "phone_number")
    };
}

#[macro_export]
macro_rules! session_columns {
    () => {
        $crate::session_columns!("")
    };
    ($p:literal) => {
        $crate::prefixed_columns!($p; "id", "user_id", "session_token", "device_info",
            "ip_address", "is_active", "expires_at", "created_at", "updated_at")
    };
}

#[macro_export]
macro_rules! token_columns {
    () => {
        $crate::token_columns!("")
    };
    ($p:literal) => {
        $crate::prefixed_columns!($p; "id", "user_id", "token", "expires_at", "is_used",
            "session_id", "created_at", "updated_at")
    };
}

#[macro_export]
macro_rules! role_columns {
    () => {
        $crate::role_columns!("")
    };
    ($p:literal) => {
        $crate::prefixed_columns!($p; "id", "name", "description", "created_at", "updated_at")
    };
}

#[macro_export]
macro_rules! message_columns {
    () => {
        $crate::message_columns!("")
    };
    ($p:literal) => {
        $crate::prefixed_columns!($p; "id", "sender_id", "recipient_id", "content",
            "is_read", "parent_id", "conversation_id", "created_at", "updated_at")
    };
}

#[macro_export]
macro_rules! report_columns {
    () => {
        $crate::report_columns!("")
    };
    ($p:literal) => {
        $crate::prefixed_columns!($p; "id", "reporter_id", "title", "content", "status",
            "comment", "resolved_at", "resolved_by", "created_at", "updated_at")
    };
}

/// A report with the names of its reporter and resolver (`NULL` once the account is gone),
/// then `$where` (the dialect's placeholders).
#[macro_export]
macro_rules! report_view_select {
    ($where:literal) => {
        concat!(
            "SELECT ",
            $crate::report_columns!("r."),
            ", u.username, v.username FROM reports r \
             LEFT JOIN users u ON u.id = r.reporter_id \
             LEFT JOIN users v ON v.id = r.resolved_by ",
            $where
        )
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_prefix_qualifies_every_column() {
        assert_eq!(
            role_columns!("r."),
            "r.id, r.name, r.description, r.created_at, r.updated_at"
        );
        assert_eq!(
            token_columns!(),
            "id, user_id, token, expires_at, is_used, session_id, created_at, updated_at"
        );
    }
}
