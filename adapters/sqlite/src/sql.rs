//! Every statement the adapter runs, in one place so tests can `EXPLAIN QUERY PLAN` them.
//! All take parameters (`?1`…); no value is ever spliced into SQL text.

use ai_message_sql::{
    message_columns, report_view_select, role_columns, session_columns, token_columns, user_columns,
};

// ---- users -----------------------------------------------------------------------------

pub const INSERT_USER: &str = concat!(
    "INSERT INTO users (username, email, hashed_password, is_active, \
     is_superuser, full_name, bio, created_at, updated_at, phone_number) \
     VALUES (?1, ?2, ?3, 1, ?4, ?5, NULL, ?6, ?6, ?7) RETURNING ",
    user_columns!("")
);
pub const USER_BY_ID: &str = concat!("SELECT ", user_columns!(""), " FROM users WHERE id = ?1");
pub const USER_BY_USERNAME: &str = concat!(
    "SELECT ",
    user_columns!(""),
    " FROM users WHERE username = ?1"
);
pub const USER_BY_EMAIL: &str =
    concat!("SELECT ", user_columns!(""), " FROM users WHERE email = ?1");
pub const USER_BY_PHONE: &str = concat!(
    "SELECT ",
    user_columns!(""),
    " FROM users WHERE phone_number = ?1"
);
/// Takes a channel's message id; no row when it was taken before.
pub const TAKE_CHANNEL_RECEIPT: &str = "INSERT INTO channel_receipts (external_id, received_at) \
     VALUES (?1, ?2) ON CONFLICT (external_id) DO NOTHING";
pub const CHANNEL_RECEIPT_TAKEN: &str = "SELECT 1 FROM channel_receipts WHERE external_id = ?1";
/// Records a fixed reply to an address (?1) at ?2; no row when its last one is later than ?3.
pub const TAKE_FIXED_REPLY: &str = "INSERT INTO channel_fixed_replies (address, replied_at) \
     VALUES (?1, ?2) ON CONFLICT (address) DO UPDATE SET replied_at = excluded.replied_at \
     WHERE channel_fixed_replies.replied_at <= ?3";
pub const USER_BY_USERNAME_KEY: &str = concat!(
    "SELECT ",
    user_columns!("u."),
    " FROM user_identity_keys k JOIN users u ON u.id = k.user_id WHERE k.username_key = ?1"
);
pub const USER_BY_EMAIL_KEY: &str = concat!(
    "SELECT ",
    user_columns!("u."),
    " FROM user_identity_keys k JOIN users u ON u.id = k.user_id WHERE k.email_key = ?1"
);
pub const INSERT_IDENTITY_KEYS: &str =
    "INSERT INTO user_identity_keys (user_id, username_key, email_key) VALUES (?1, ?2, ?3)";
pub const USERS_WITHOUT_KEYS: &str = "SELECT id, username, email FROM users u WHERE NOT EXISTS \
     (SELECT 1 FROM user_identity_keys k WHERE k.user_id = u.id) ORDER BY id";
pub const IDENTITY_KEYS: &str = "SELECT user_id, username_key, email_key FROM user_identity_keys";
pub const DELETE_USER_KEYS: &str = "DELETE FROM user_identity_keys WHERE user_id = ?1";
pub const LIST_USERS: &str = concat!(
    "SELECT ",
    user_columns!(""),
    " FROM users ORDER BY id LIMIT ?1 OFFSET ?2"
);
pub const UPDATE_PROFILE: &str = "UPDATE users SET full_name = COALESCE(?2, full_name), \
     bio = COALESCE(?3, bio), updated_at = ?4 WHERE id = ?1";
/// Sets (or with `NULL` gives up) the user's proven number.
pub const SET_PHONE_NUMBER: &str =
    "UPDATE users SET phone_number = ?2, updated_at = ?3 WHERE id = ?1";
pub const PROVEN_PHONE_OF: &str = "SELECT phone_number FROM users WHERE id = ?1";
/// Takes number ?1 from whoever had proven it.
pub const RELEASE_PROVEN_PHONE: &str =
    "UPDATE users SET phone_number = NULL, updated_at = ?2 WHERE phone_number = ?1";
/// The user's claim of ?2, with code ?3 expiring at ?4 (`NULL`: no code yet), replacing their
/// claim and its failures.
pub const PUT_PHONE_CLAIM: &str = "INSERT INTO phone_claims (user_id, phone_number, code_hash, \
     code_expires_at, failed_attempts) VALUES (?1, ?2, ?3, ?4, 0) ON CONFLICT (user_id) DO UPDATE \
     SET phone_number = excluded.phone_number, code_hash = excluded.code_hash, \
     code_expires_at = excluded.code_expires_at, failed_attempts = 0";
pub const CLAIMED_PHONE_OF: &str = "SELECT phone_number FROM phone_claims WHERE user_id = ?1";
pub const DELETE_PHONE_CLAIM: &str = "DELETE FROM phone_claims WHERE user_id = ?1";
/// Every claim of number ?1 but user ?2's (`NULL`: all of them).
pub const DROP_PHONE_CLAIMS: &str =
    "DELETE FROM phone_claims WHERE phone_number = ?1 AND user_id IS NOT ?2";
/// The claims of number ?1 whose code is live at ?2 with fewer than ?3 failures, with
/// whether their user is active.
pub const LIVE_PHONE_CLAIMS: &str = "SELECT c.user_id, c.code_hash, COALESCE(u.is_active, 1) \
     FROM phone_claims c JOIN users u ON u.id = c.user_id WHERE c.phone_number = ?1 \
     AND c.code_hash IS NOT NULL AND c.code_expires_at > ?2 AND c.failed_attempts < ?3 \
     ORDER BY c.user_id";
/// One failure more on each claim [`LIVE_PHONE_CLAIMS`] finds.
pub const COUNT_PHONE_CODE_FAILURE: &str = "UPDATE phone_claims \
     SET failed_attempts = failed_attempts + 1 WHERE phone_number = ?1 \
     AND code_hash IS NOT NULL AND code_expires_at > ?2 AND failed_attempts < ?3";
pub const RECEIPT_TAKEN: &str =
    "SELECT EXISTS (SELECT 1 FROM channel_receipts WHERE external_id = ?1)";
pub const UPDATE_PASSWORD: &str =
    "UPDATE users SET hashed_password = ?2, updated_at = ?3 WHERE id = ?1";
pub const UPGRADE_PASSWORD_HASH: &str =
    "UPDATE users SET hashed_password = ?3 WHERE id = ?1 AND hashed_password = ?2";
pub const UPDATE_ACTIVE: &str = "UPDATE users SET is_active = ?2, updated_at = ?3 WHERE id = ?1";
pub const UPDATE_SUPERUSER: &str =
    "UPDATE users SET is_superuser = ?2, updated_at = ?3 WHERE id = ?1";
pub const DELETE_USER_TOKENS: &str = "DELETE FROM refresh_tokens WHERE user_id = ?1";
pub const DELETE_USER_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = ?1";
pub const DELETE_USER_ROLE_LINKS: &str = "DELETE FROM user_roles WHERE user_id = ?1";
pub const DELETE_USER: &str = "DELETE FROM users WHERE id = ?1";

// ---- roles -----------------------------------------------------------------------------

pub const INSERT_ROLE: &str = concat!(
    "INSERT INTO roles (name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?3) \
     RETURNING ",
    role_columns!("")
);
pub const ROLE_BY_ID: &str = concat!("SELECT ", role_columns!(""), " FROM roles WHERE id = ?1");
pub const LIST_ROLES: &str = concat!("SELECT ", role_columns!(""), " FROM roles ORDER BY id");
pub const DELETE_ROLE_LINKS: &str = "DELETE FROM user_roles WHERE role_id = ?1";
pub const DELETE_ROLE: &str = "DELETE FROM roles WHERE id = ?1";
pub const ROLE_EXISTS: &str = "SELECT 1 FROM roles WHERE id = ?1";
pub const USER_EXISTS: &str = "SELECT 1 FROM users WHERE id = ?1";
/// What a login checked: the session opens only while both still hold.
pub const USER_LOGIN_STATE: &str = "SELECT hashed_password, is_active FROM users WHERE id = ?1";
/// 1 when `?1` is an active superuser and no other active superuser exists.
pub const IS_LAST_ACTIVE_SUPERUSER: &str = "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1 \
     AND is_active = 1 AND is_superuser = 1) AND NOT EXISTS (SELECT 1 FROM users \
     WHERE id <> ?1 AND is_active = 1 AND is_superuser = 1)";
pub const INSERT_USER_ROLE: &str = "INSERT INTO user_roles (user_id, role_id, created_at, \
     updated_at) VALUES (?1, ?2, ?3, ?3)";
pub const ROLES_OF_USER: &str = concat!(
    "SELECT ",
    role_columns!("r."),
    " FROM roles r WHERE r.id IN (SELECT role_id FROM user_roles WHERE user_id = ?1) \
     ORDER BY r.id"
);

// ---- sessions and refresh tokens -------------------------------------------------------

pub const INSERT_SESSION: &str = "INSERT INTO sessions (user_id, session_token, device_info, \
     ip_address, is_active, expires_at, created_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?6)";
pub const INSERT_TOKEN: &str = "INSERT INTO refresh_tokens (user_id, token, expires_at, is_used, \
     session_id, created_at, updated_at) VALUES (?1, ?2, ?3, 0, ?4, ?5, ?5)";
pub const SESSION_WITH_USER: &str = concat!(
    "SELECT ",
    session_columns!("s."),
    ", ",
    user_columns!("u."),
    " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?1"
);
pub const SESSION_BY_ID: &str = concat!(
    "SELECT ",
    session_columns!(""),
    " FROM sessions WHERE id = ?1"
);
pub const LIVE_SESSIONS: &str = concat!(
    "SELECT ",
    session_columns!(""),
    " FROM sessions WHERE user_id = ?1 AND is_active = 1 AND expires_at > ?2 \
     ORDER BY created_at DESC, id DESC"
);
pub const END_SESSION: &str = "UPDATE sessions SET is_active = 0, updated_at = ?3 \
     WHERE id = ?1 AND user_id = ?2 AND is_active = 1";
pub const USE_UP_SESSION_TOKENS: &str = "UPDATE refresh_tokens SET is_used = 1, updated_at = ?2 \
     WHERE session_id = ?1 AND is_used = 0";
/// The user's active sessions but the one `?2` names (`NULL`: all of them).
pub const END_SESSIONS_OF_USER: &str = "UPDATE sessions SET is_active = 0, updated_at = ?3 \
     WHERE user_id = ?1 AND is_active = 1 AND COALESCE(id <> ?2, 1)";
/// The user's unused refresh tokens but those of the session `?2` names (`NULL`: all).
pub const USE_UP_TOKENS_OF_USER: &str = "UPDATE refresh_tokens SET is_used = 1, updated_at = ?3 \
     WHERE user_id = ?1 AND is_used = 0 AND COALESCE(session_id <> ?2, 1)";
pub const TOKEN_BY_HASH: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM refresh_tokens WHERE token = ?1"
);
pub const TOKEN_BY_ID: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM refresh_tokens WHERE id = ?1"
);
pub const MARK_TOKEN_USED: &str = "UPDATE refresh_tokens SET is_used = 1, updated_at = ?2 \
     WHERE id = ?1 AND is_used = 0";
pub const EXTEND_SESSION: &str =
    "UPDATE sessions SET expires_at = ?2, updated_at = ?3 WHERE id = ?1";

// ---- messages --------------------------------------------------------------------------

pub const INSERT_MESSAGE: &str = "INSERT INTO messages (sender_id, recipient_id, content, \
     is_read, parent_id, conversation_id, created_at, updated_at) \
     VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, ?6)";
/// [`INSERT_MESSAGE`], answering the stored row.
pub const INSERT_MESSAGE_RETURNING: &str = concat!(
    "INSERT INTO messages (sender_id, recipient_id, content, is_read, parent_id, \
     conversation_id, created_at, updated_at) VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, ?6) RETURNING ",
    message_columns!()
);
pub const MESSAGE_BY_ID: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE id = ?1"
);
pub const UPDATE_CONTENT: &str = "UPDATE messages SET content = ?2, updated_at = ?3 WHERE id = ?1";
pub const MARK_READ: &str =
    "UPDATE messages SET is_read = 1, updated_at = ?2 WHERE id = ?1 AND is_read = 0";
pub const DELETE_MESSAGE: &str = "DELETE FROM messages WHERE id = ?1";

/// The newest page (?2 limit, ?3 offset) of one user's (?1) sent messages.
pub const LIST_SENT: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE sender_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"
);
pub const LIST_RECEIVED: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE recipient_id = ?1 ORDER BY created_at DESC, id DESC \
     LIMIT ?2 OFFSET ?3"
);
pub const LIST_UNREAD: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE recipient_id = ?1 AND is_read = 0 \
     ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"
);
/// Sent or received: the newest ?4 (= offset + limit) of each side, merged, then the page.
/// Two index range scans instead of one scan of the table.
pub const LIST_SENT_OR_RECEIVED: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM (SELECT * FROM (SELECT ",
    message_columns!(),
    " FROM messages WHERE sender_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?4) \
     UNION ALL SELECT * FROM (SELECT ",
    message_columns!(),
    " FROM messages WHERE recipient_id = ?1 AND sender_id <> ?1 \
     ORDER BY created_at DESC, id DESC LIMIT ?4)) \
     ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"
);
pub const LIST_CONVERSATION: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = ?4 AND (sender_id = ?1 OR recipient_id = ?1) \
     ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"
);
/// (any message in the conversation, any of them the user's)
pub const COUNT_UNREAD: &str =
    "SELECT COUNT(*) FROM messages WHERE recipient_id = ?1 AND is_read = 0";
pub const READ_ALL: &str = "UPDATE messages SET is_read = 1, updated_at = ?2 \
     WHERE recipient_id = ?1 AND is_read = 0 RETURNING id, sender_id";
pub const READ_CONVERSATION: &str = "UPDATE messages SET is_read = 1, updated_at = ?2 \
     WHERE recipient_id = ?1 AND is_read = 0 AND conversation_id = ?3 RETURNING id, sender_id";
/// Messages of user ?1 with an id above ?2, ascending, at most ?3 (each side on its index).
/// Up to ?3 of user ?1's messages with a position above ?2, by position: the message's
/// columns, then the position.
pub const MESSAGES_AFTER: &str = concat!(
    "SELECT ",
    message_columns!("m."),
    ", d.position FROM message_deliveries d JOIN messages m ON m.id = d.message_id \
     WHERE d.user_id = ?1 AND d.position > ?2 ORDER BY d.position LIMIT ?3"
);
pub const LATEST_POSITION: &str = "SELECT last_position FROM delivery_counters WHERE user_id = ?1";
/// How many of user ?1's positions are above ?2, up to ?3.
pub const COUNT_AFTER: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM message_deliveries \
     WHERE user_id = ?1 AND position > ?2 LIMIT ?3)";
/// Takes user ?1's next position: the counter row is created at 1 or moved on by one.
pub const TAKE_POSITION: &str = "INSERT INTO delivery_counters (user_id, last_position) \
     VALUES (?1, 1) ON CONFLICT (user_id) DO UPDATE SET last_position = last_position + 1 \
     RETURNING last_position";
pub const INSERT_DELIVERY: &str =
    "INSERT INTO message_deliveries (user_id, position, message_id) VALUES (?1, ?2, ?3)";
pub const DELETE_MESSAGE_DELIVERIES: &str = "DELETE FROM message_deliveries WHERE message_id = ?1";
pub const DELETE_USER_DELIVERIES: &str = "DELETE FROM message_deliveries WHERE user_id = ?1";
pub const DELETE_USER_COUNTER: &str = "DELETE FROM delivery_counters WHERE user_id = ?1";
pub const CONVERSATION_PARTIES: &str =
    "SELECT low_user_id, high_user_id FROM conversation_parties WHERE conversation_id = ?1";
pub const BIND_CONVERSATION: &str = "INSERT INTO conversation_parties \
     (conversation_id, low_user_id, high_user_id) VALUES (?1, ?2, ?3)";

/// The newest ?4 messages between ?1 and ?2 with an id above ?3, newest first.
pub const MESSAGES_BETWEEN: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE id > ?3 AND ((sender_id = ?1 AND recipient_id = ?2) \
     OR (sender_id = ?2 AND recipient_id = ?1)) ORDER BY id DESC LIMIT ?4"
);
/// Of the newest ?3 questions to the assistant (?1) asked before ?2, those no message
/// between their sender and the assistant came after; oldest first.
/// Questions to the assistant (?1) asked before ?2, among the newest ?3, with no message
/// between their sender and the assistant after them; with what is known of each.
pub const UNANSWERED_QUESTIONS: &str = concat!(
    "SELECT ",
    message_columns!("q."),
    ", a.claimed_until, a.answered, a.channel_message_id, a.reply_to, a.reply_from \
     FROM messages q LEFT JOIN assistant_questions a ON a.question_id = q.id \
     WHERE q.id IN (SELECT id FROM messages WHERE recipient_id = ?1 \
     AND created_at < ?2 ORDER BY id DESC LIMIT ?3) AND NOT EXISTS (SELECT 1 FROM messages n \
     WHERE n.id > q.id AND ((n.sender_id = q.sender_id AND n.recipient_id = ?1) \
     OR (n.sender_id = ?1 AND n.recipient_id = q.sender_id))) ORDER BY q.id"
);
/// A question's state (`claimed_until, answered`); no row: the question is gone.
pub const QUESTION_STATE: &str = "SELECT a.claimed_until, a.answered FROM messages m \
     LEFT JOIN assistant_questions a ON a.question_id = m.id WHERE m.id = ?1";
pub const CLAIM_QUESTION: &str = "INSERT INTO assistant_questions (question_id, claimed_until) \
     VALUES (?1, ?2) ON CONFLICT (question_id) DO UPDATE SET claimed_until = ?2";
pub const MARK_ANSWERED: &str = "INSERT INTO assistant_questions (question_id, answered) \
     VALUES (?1, 1) ON CONFLICT (question_id) DO UPDATE SET answered = 1";
pub const KEEP_CHANNEL_ORIGIN: &str = "INSERT INTO assistant_questions \
     (question_id, channel_message_id, reply_to, reply_from) VALUES (?1, ?2, ?3, ?4)";
pub const ASSISTANT_CLEAR_POINT: &str =
    "SELECT after_message_id FROM assistant_history_clears WHERE user_id = ?1";
pub const SET_ASSISTANT_CLEAR_POINT: &str = "INSERT INTO assistant_history_clears \
     (user_id, after_message_id, cleared_at) SELECT id, ?2, ?3 FROM users WHERE id = ?1 \
     ON CONFLICT (user_id) DO UPDATE SET after_message_id = excluded.after_message_id, \
     cleared_at = excluded.cleared_at";

pub const FORGET_EXPIRED_TICKETS: &str = "DELETE FROM stream_tickets WHERE expires_at <= ?1";
pub const INSERT_TICKET: &str = "INSERT INTO stream_tickets \
     (ticket_hash, user_id, session_id, expires_at) VALUES (?1, ?2, ?3, ?4)";
pub const TAKE_TICKET: &str =
    "DELETE FROM stream_tickets WHERE ticket_hash = ?1 RETURNING user_id, session_id, expires_at";

/// One row per conversation of user ?1: its last message, the other party of that message
/// with their name, and the user's unread count, newest first; read from the
/// `conversation_heads` the triggers of migration 11 keep: the last message as its preview.
pub const CONVERSATION_SUMMARIES: &str = "\
SELECT conversation_id, other_user_id, other_user_name, last_preview, last_created_at,
       unread_count
FROM conversation_heads WHERE user_id = ?1
ORDER BY last_created_at DESC, last_message_id DESC";

// ---- reports ---------------------------------------------------------------------------

pub const INSERT_REPORT: &str = "INSERT INTO reports (reporter_id, title, content, status, \
     created_at, updated_at) VALUES (?1, ?2, ?3, 'open', ?4, ?4) RETURNING id";
pub const REPORT_VIEW_BY_ID: &str = report_view_select!("WHERE r.id = ?1");
/// A reporter's reports, newest first, optionally in one status.
pub const LIST_REPORTS_OF: &str = report_view_select!(
    "WHERE r.reporter_id = ?1 AND (?2 IS NULL OR r.status = ?2) \
     ORDER BY r.created_at DESC, r.id DESC LIMIT ?3 OFFSET ?4"
);
/// Everyone's reports, newest first, optionally in one status.
pub const LIST_ALL_REPORTS: &str = report_view_select!(
    "WHERE (?1 IS NULL OR r.status = ?1) \
     ORDER BY r.created_at DESC, r.id DESC LIMIT ?2 OFFSET ?3"
);
/// The acting user (?1) of a report write, with session ?2 (NULL for none) when it is
/// theirs: the session's columns first, NULL when there is no such session of theirs.
pub const REPORT_ACTOR: &str = concat!(
    "SELECT ",
    session_columns!("s."),
    ", ",
    user_columns!("u."),
    " FROM users u LEFT JOIN sessions s ON s.id = ?2 AND s.user_id = u.id WHERE u.id = ?1"
);
/// When the reporter's (?1) ?3-th newest report filed after ?2 was filed.
pub const NTH_NEWEST_REPORT_SINCE: &str = "SELECT created_at FROM reports \
     WHERE reporter_id = ?1 AND created_at > ?2 ORDER BY created_at DESC LIMIT 1 OFFSET ?3 - 1";
pub const REPORT_STATE: &str = "SELECT reporter_id, status, resolved_at, resolved_by \
     FROM reports WHERE id = ?1";
pub const EDIT_REPORT: &str = "UPDATE reports SET title = COALESCE(?2, title), \
     content = COALESCE(?3, content), updated_at = ?4 WHERE id = ?1";
pub const ANSWER_REPORT: &str = "UPDATE reports SET comment = COALESCE(?2, comment), \
     status = ?3, resolved_at = ?4, resolved_by = ?5, updated_at = ?6 WHERE id = ?1";
pub const DELETE_USER_REPORTS: &str = "DELETE FROM reports WHERE reporter_id = ?1";
pub const DELETE_USER_PHONE_CLAIM: &str = "DELETE FROM phone_claims WHERE user_id = ?1";
pub const FORGET_RESOLVER: &str = "UPDATE reports SET resolved_by = NULL WHERE resolved_by = ?1";

/// Every read statement whose plan must use an index, with sample parameters.
pub const INDEXED_READS: &[(&str, &str)] = &[
    ("user by username", USER_BY_USERNAME),
    ("user by email", USER_BY_EMAIL),
    ("user by phone", USER_BY_PHONE),
    ("session with user", SESSION_WITH_USER),
    ("live sessions", LIVE_SESSIONS),
    ("refresh token by hash", TOKEN_BY_HASH),
    ("roles of user", ROLES_OF_USER),
    ("sent", LIST_SENT),
    ("received", LIST_RECEIVED),
    ("unread", LIST_UNREAD),
    ("sent or received", LIST_SENT_OR_RECEIVED),
    ("conversation", LIST_CONVERSATION),
    ("count unread", COUNT_UNREAD),
    ("conversation summaries", CONVERSATION_SUMMARIES),
    ("messages after", MESSAGES_AFTER),
    ("latest position", LATEST_POSITION),
    ("ending a user's sessions", END_SESSIONS_OF_USER),
    ("using up a user's tokens", USE_UP_TOKENS_OF_USER),
    ("a reporter's reports", LIST_REPORTS_OF),
    ("everyone's reports", LIST_ALL_REPORTS),
    ("a reporter's recent reports", NTH_NEWEST_REPORT_SINCE),
];

/// The versions of the applied migrations (refinery's history table).
pub const APPLIED_MIGRATIONS: &str = "SELECT version FROM refinery_schema_history";
