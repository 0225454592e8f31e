//! Every statement the adapter runs. All take parameters (`$1`…); no value is ever spliced
//! into SQL text. Ids are `INTEGER` (i32) and timestamps `TIMESTAMP` (UTC, no time zone).

use ai_message_sql::{
    message_columns, report_view_select, role_columns, session_columns, token_columns, user_columns,
};

// ---- users -----------------------------------------------------------------------------

pub const INSERT_USER: &str = concat!(
    "INSERT INTO users (username, email, hashed_password, is_active, is_superuser, \
     full_name, bio, created_at, updated_at, phone_number) \
     VALUES ($1, $2, $3, true, $4, $5, NULL, $6, $6, $7) RETURNING ",
    user_columns!("")
);
pub const USER_BY_ID: &str = concat!("SELECT ", user_columns!(""), " FROM users WHERE id = $1");
pub const USER_BY_USERNAME: &str = concat!(
    "SELECT ",
    user_columns!(""),
    " FROM users WHERE username = $1"
);
pub const USER_BY_EMAIL: &str =
    concat!("SELECT ", user_columns!(""), " FROM users WHERE email = $1");
pub const USER_BY_PHONE: &str = concat!(
    "SELECT ",
    user_columns!(""),
    " FROM users WHERE phone_number = $1"
);
/// Takes a channel's message id; no row when it was taken before.
pub const TAKE_CHANNEL_RECEIPT: &str = "INSERT INTO channel_receipts (external_id, received_at) \
     VALUES ($1, $2) ON CONFLICT (external_id) DO NOTHING";
/// Records a fixed reply to an address ($1) at $2; no row when its last one is later than $3.
/// Of racing statements for one address, the second waits on the first's row and then
/// finds it recorded.
pub const TAKE_FIXED_REPLY: &str = "INSERT INTO channel_fixed_replies (address, replied_at) \
     VALUES ($1, $2) ON CONFLICT (address) DO UPDATE SET replied_at = EXCLUDED.replied_at \
     WHERE channel_fixed_replies.replied_at <= $3";
pub const USER_BY_USERNAME_KEY: &str = concat!(
    "SELECT ",
    user_columns!("u."),
    " FROM user_identity_keys k JOIN users u ON u.id = k.user_id WHERE k.username_key = $1"
);
pub const USER_BY_EMAIL_KEY: &str = concat!(
    "SELECT ",
    user_columns!("u."),
    " FROM user_identity_keys k JOIN users u ON u.id = k.user_id WHERE k.email_key = $1"
);
pub const INSERT_IDENTITY_KEYS: &str =
    "INSERT INTO user_identity_keys (user_id, username_key, email_key) VALUES ($1, $2, $3)";
pub const USERS_WITHOUT_KEYS: &str = "SELECT id, username, email FROM users u WHERE NOT EXISTS \
     (SELECT 1 FROM user_identity_keys k WHERE k.user_id = u.id) ORDER BY id";
pub const IDENTITY_KEYS: &str = "SELECT user_id, username_key, email_key FROM user_identity_keys";
pub const DELETE_USER_KEYS: &str = "DELETE FROM user_identity_keys WHERE user_id = $1";
pub const LIST_USERS: &str = concat!(
    "SELECT ",
    user_columns!(""),
    " FROM users ORDER BY id LIMIT $1 OFFSET $2"
);
pub const UPDATE_PROFILE: &str = "UPDATE users SET full_name = COALESCE($2, full_name), \
     bio = COALESCE($3, bio), updated_at = $4 WHERE id = $1";
/// Sets (or with `NULL` gives up) the user's proven number.
pub const SET_PHONE_NUMBER: &str =
    "UPDATE users SET phone_number = $2, updated_at = $3 WHERE id = $1";
/// The user's proven number, locking the user's row against other phone changes of theirs.
pub const PROVEN_PHONE_OF: &str = "SELECT phone_number FROM users WHERE id = $1 FOR UPDATE";
/// Takes number $1 from whoever had proven it.
pub const RELEASE_PROVEN_PHONE: &str =
    "UPDATE users SET phone_number = NULL, updated_at = $2 WHERE phone_number = $1";
/// The user's claim of $2, with code $3 expiring at $4 (`NULL`: no code yet), replacing their
/// claim and its failures.
pub const PUT_PHONE_CLAIM: &str = "INSERT INTO phone_claims (user_id, phone_number, code_hash, \
     code_expires_at, failed_attempts) VALUES ($1, $2, $3, $4, 0) ON CONFLICT (user_id) DO UPDATE \
     SET phone_number = excluded.phone_number, code_hash = excluded.code_hash, \
     code_expires_at = excluded.code_expires_at, failed_attempts = 0";
pub const CLAIMED_PHONE_OF: &str = "SELECT phone_number FROM phone_claims WHERE user_id = $1";
pub const DELETE_PHONE_CLAIM: &str = "DELETE FROM phone_claims WHERE user_id = $1";
/// Every claim of number $1 but user $2's (`NULL`: all of them).
pub const DROP_PHONE_CLAIMS: &str =
    "DELETE FROM phone_claims WHERE phone_number = $1 AND user_id IS DISTINCT FROM $2";
/// Serialises the proofs of one number, on every instance.
pub const LOCK_PHONE_NUMBER: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 38))";
/// The claims of number $1 whose code is live at $2 with fewer than $3 failures, with
/// whether their user is active.
pub const LIVE_PHONE_CLAIMS: &str = "SELECT c.user_id, c.code_hash, COALESCE(u.is_active, true) \
     FROM phone_claims c JOIN users u ON u.id = c.user_id WHERE c.phone_number = $1 \
     AND c.code_hash IS NOT NULL AND c.code_expires_at > $2 AND c.failed_attempts < $3 \
     ORDER BY c.user_id";
/// One failure more on each claim [`LIVE_PHONE_CLAIMS`] finds.
pub const COUNT_PHONE_CODE_FAILURE: &str = "UPDATE phone_claims \
     SET failed_attempts = failed_attempts + 1 WHERE phone_number = $1 \
     AND code_hash IS NOT NULL AND code_expires_at > $2 AND failed_attempts < $3";
/// Locks the claimant's row, as their own phone changes do first.
pub const LOCK_USER_ROW: &str = "SELECT 1 FROM users WHERE id = $1 FOR UPDATE";
/// Whether user $1 still claims number $2 with code $3 (read after [`LOCK_USER_ROW`]).
pub const STILL_CLAIMED: &str = "SELECT EXISTS (SELECT 1 FROM phone_claims \
     WHERE user_id = $1 AND phone_number = $2 AND code_hash = $3)";
pub const RECEIPT_TAKEN: &str =
    "SELECT EXISTS (SELECT 1 FROM channel_receipts WHERE external_id = $1)";
pub const UPDATE_PASSWORD: &str =
    "UPDATE users SET hashed_password = $2, updated_at = $3 WHERE id = $1";
pub const UPGRADE_PASSWORD_HASH: &str =
    "UPDATE users SET hashed_password = $3 WHERE id = $1 AND hashed_password = $2";
pub const UPDATE_ACTIVE: &str = "UPDATE users SET is_active = $2, updated_at = $3 WHERE id = $1";
pub const UPDATE_SUPERUSER: &str =
    "UPDATE users SET is_superuser = $2, updated_at = $3 WHERE id = $1";
pub const DELETE_USER_TOKENS: &str = "DELETE FROM refresh_tokens WHERE user_id = $1";
pub const DELETE_USER_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = $1";
pub const DELETE_USER_ROLE_LINKS: &str = "DELETE FROM user_roles WHERE user_id = $1";
pub const DELETE_USER: &str = "DELETE FROM users WHERE id = $1";

// ---- roles -----------------------------------------------------------------------------

pub const INSERT_ROLE: &str = concat!(
    "INSERT INTO roles (name, description, created_at, updated_at) VALUES ($1, $2, $3, $3) \
     RETURNING ",
    role_columns!("")
);
pub const ROLE_BY_ID: &str = concat!("SELECT ", role_columns!(""), " FROM roles WHERE id = $1");
pub const LIST_ROLES: &str = concat!("SELECT ", role_columns!(""), " FROM roles ORDER BY id");
pub const DELETE_ROLE_LINKS: &str = "DELETE FROM user_roles WHERE role_id = $1";
pub const DELETE_ROLE: &str = "DELETE FROM roles WHERE id = $1";
/// Locks the user row so a concurrent delete cannot slip between check and insert.
pub const LOCK_USER: &str = "SELECT 1 FROM users WHERE id = $1 FOR UPDATE";
/// Every transaction that changes a user's sessions or tokens locks the user row first, so
/// they all take their locks in one order (user, sessions, tokens) and never deadlock.
pub const LOCK_USER_FOR_SESSIONS: &str = "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE";
pub const LOCK_USER_OF_TOKEN: &str = "SELECT u.id FROM users u JOIN refresh_tokens t \
     ON t.user_id = u.id WHERE t.id = $1 FOR NO KEY UPDATE OF u";
/// What a login checked, locked until the session is stored: a password change, disable or
/// delete waits for it, or has already won.
pub const USER_LOGIN_STATE: &str =
    "SELECT hashed_password, is_active FROM users WHERE id = $1 FOR SHARE";
/// Serialises every change that could take away the last active superuser.
pub const LOCK_SUPERUSER_SET: &str = "SELECT pg_advisory_xact_lock(7305093837052229231)";
/// true when `$1` is an active superuser and no other active superuser exists.
pub const IS_LAST_ACTIVE_SUPERUSER: &str = "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 \
     AND is_active AND is_superuser) AND NOT EXISTS (SELECT 1 FROM users \
     WHERE id <> $1 AND is_active AND is_superuser)";
pub const EXISTING_ROLES: &str = "SELECT id FROM roles WHERE id = ANY($1) FOR SHARE";
pub const INSERT_USER_ROLE: &str = "INSERT INTO user_roles (user_id, role_id, created_at, \
     updated_at) VALUES ($1, $2, $3, $3)";
pub const ROLES_OF_USER: &str = concat!(
    "SELECT ",
    role_columns!("r."),
    " FROM roles r WHERE r.id IN (SELECT role_id FROM user_roles WHERE user_id = $1) \
     ORDER BY r.id"
);

// ---- sessions and refresh tokens -------------------------------------------------------

pub const INSERT_SESSION: &str = concat!(
    "INSERT INTO sessions (user_id, session_token, device_info, ip_address, is_active, \
     expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, true, $5, $6, $6) RETURNING ",
    session_columns!("")
);
pub const INSERT_TOKEN: &str = concat!(
    "INSERT INTO refresh_tokens (user_id, token, expires_at, is_used, session_id, created_at, \
     updated_at) VALUES ($1, $2, $3, false, $4, $5, $5) RETURNING ",
    token_columns!()
);
pub const SESSION_WITH_USER: &str = concat!(
    "SELECT ",
    session_columns!("s."),
    ", ",
    user_columns!("u."),
    " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1"
);
/// [`SESSION_WITH_USER`] and, last, whether user $2 exists: the checks a send starts with,
/// in one statement. No row when the session is unknown (the recipient then does not matter).
pub const SESSION_WITH_USER_AND_RECIPIENT: &str = concat!(
    "SELECT ",
    session_columns!("s."),
    ", ",
    user_columns!("u."),
    ", EXISTS (SELECT 1 FROM users r WHERE r.id = $2) \
     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1"
);
pub const LIVE_SESSIONS: &str = concat!(
    "SELECT ",
    session_columns!(""),
    " FROM sessions WHERE user_id = $1 AND is_active = true AND expires_at > $2 \
     ORDER BY created_at DESC, id DESC"
);
pub const END_SESSION: &str = "UPDATE sessions SET is_active = false, updated_at = $3 \
     WHERE id = $1 AND user_id = $2 AND is_active = true";
pub const USE_UP_SESSION_TOKENS: &str = "UPDATE refresh_tokens SET is_used = true, \
     updated_at = $2 WHERE session_id = $1 AND is_used = false";
/// The user's active sessions but the one `$2` names (`NULL`: all of them).
pub const END_SESSIONS_OF_USER: &str = "UPDATE sessions SET is_active = false, \
     updated_at = $3 WHERE user_id = $1 AND is_active = true AND COALESCE(id <> $2, true)";
/// The user's unused refresh tokens but those of the session `$2` names (`NULL`: all).
pub const USE_UP_TOKENS_OF_USER: &str = "UPDATE refresh_tokens SET is_used = true, \
     updated_at = $3 WHERE user_id = $1 AND is_used = false \
     AND COALESCE(session_id <> $2, true)";
pub const TOKEN_BY_HASH: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM refresh_tokens WHERE token = $1"
);
/// The compare-and-set of a rotation: of concurrent callers, one gets the row back.
pub const CLAIM_TOKEN: &str = "UPDATE refresh_tokens SET is_used = true, updated_at = $2 \
     WHERE id = $1 AND is_used = false RETURNING user_id, session_id";
pub const MARK_TOKEN_USED: &str = "UPDATE refresh_tokens SET is_used = true, updated_at = $2 \
     WHERE id = $1 AND is_used = false";
pub const EXTEND_SESSION: &str =
    "UPDATE sessions SET expires_at = $2, updated_at = $3 WHERE id = $1";

// ---- messages --------------------------------------------------------------------------

/// Inserts a message ($1 sender, $2 recipient, $3 content, $4 parent, $5 conversation, $6
/// time) and takes the next position of each user of $7 (its parties but the assistant,
/// ascending, so two sends lock their counter rows in one order and cannot deadlock): the
/// message's columns, then the sender's and the recipient's positions.
pub const INSERT_DELIVERED_MESSAGE: &str = concat!(
    "WITH message AS (INSERT INTO messages (sender_id, recipient_id, content, is_read, \
     parent_id, conversation_id, created_at, updated_at) \
     VALUES ($1, $2, $3, false, $4, $5, $6, $6) RETURNING ",
    message_columns!(),
    "), positions AS (INSERT INTO delivery_counters AS c (user_id, last_position) \
     SELECT party, 1 FROM unnest($7::int[]) AS party ORDER BY party \
     ON CONFLICT (user_id) DO UPDATE SET last_position = c.last_position + 1 \
     RETURNING user_id, last_position), \
     deliveries AS (INSERT INTO message_deliveries (user_id, position, message_id) \
     SELECT p.user_id, p.last_position, m.id FROM positions p, message m) \
     SELECT ",
    message_columns!("m."),
    ", (SELECT last_position FROM positions WHERE user_id = $1), \
     (SELECT last_position FROM positions WHERE user_id = $2) FROM message m"
);
pub const MESSAGE_BY_ID: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE id = $1"
);
pub const UPDATE_CONTENT: &str = concat!(
    "UPDATE messages SET content = $2, updated_at = $3 WHERE id = $1 RETURNING ",
    message_columns!()
);
pub const MARK_READ: &str = "UPDATE messages SET is_read = true, \
     updated_at = CASE WHEN is_read = true THEN updated_at ELSE $2 END WHERE id = $1";
pub const DELETE_MESSAGE: &str = "DELETE FROM messages WHERE id = $1";

pub const LIST_SENT: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE sender_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
);
pub const LIST_RECEIVED: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE recipient_id = $1 ORDER BY created_at DESC, id DESC \
     LIMIT $2 OFFSET $3"
);
pub const LIST_UNREAD: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE recipient_id = $1 AND is_read = false \
     ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
);
/// Sent or received: the newest $4 (= offset + limit) of each side, merged, then the page.
pub const LIST_SENT_OR_RECEIVED: &str = concat!(
    "(SELECT ",
    message_columns!(),
    " FROM messages WHERE sender_id = $1 ORDER BY created_at DESC, id DESC LIMIT $4) \
     UNION ALL (SELECT ",
    message_columns!(),
    " FROM messages WHERE recipient_id = $1 AND sender_id <> $1 \
     ORDER BY created_at DESC, id DESC LIMIT $4) \
     ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
);
pub const LIST_CONVERSATION: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = $4 AND (sender_id = $1 OR recipient_id = $1) \
     ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
);
pub const COUNT_UNREAD: &str =
    "SELECT COUNT(*) FROM messages WHERE recipient_id = $1 AND is_read = false";
pub const READ_ALL: &str = "UPDATE messages SET is_read = true, updated_at = $2 \
     WHERE recipient_id = $1 AND is_read = false RETURNING id, sender_id";
pub const READ_CONVERSATION: &str = "UPDATE messages SET is_read = true, updated_at = $2 \
     WHERE recipient_id = $1 AND is_read = false AND conversation_id = $3 \
     RETURNING id, sender_id";
/// Messages of user $1 with an id above $2, ascending, at most $3 (each side on its index).
/// Up to $3 of user $1's messages with a position above $2, by position: the message's
/// columns, then the position.
pub const MESSAGES_AFTER: &str = concat!(
    "SELECT ",
    message_columns!("m."),
    ", d.position FROM message_deliveries d JOIN messages m ON m.id = d.message_id \
     WHERE d.user_id = $1 AND d.position > $2 ORDER BY d.position LIMIT $3"
);
pub const LATEST_POSITION: &str = "SELECT last_position FROM delivery_counters WHERE user_id = $1";
/// How many of user $1's positions are above $2, up to $3.
pub const COUNT_AFTER: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM message_deliveries \
     WHERE user_id = $1 AND position > $2 LIMIT $3) AS page";
pub const DELETE_USER_DELIVERIES: &str = "DELETE FROM message_deliveries WHERE user_id = $1";
pub const DELETE_USER_COUNTER: &str = "DELETE FROM delivery_counters WHERE user_id = $1";
pub const CONVERSATION_PARTIES: &str =
    "SELECT low_user_id, high_user_id FROM conversation_parties WHERE conversation_id = $1";
/// Binds an unused conversation id; no row when another send bound it first.
pub const BIND_CONVERSATION: &str = "INSERT INTO conversation_parties \
     (conversation_id, low_user_id, high_user_id) VALUES ($1, $2, $3) \
     ON CONFLICT (conversation_id) DO NOTHING RETURNING 1";

/// The newest $4 messages between $1 and $2 with an id above $3, newest first.
pub const MESSAGES_BETWEEN: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE id > $3 AND ((sender_id = $1 AND recipient_id = $2) \
     OR (sender_id = $2 AND recipient_id = $1)) ORDER BY id DESC LIMIT $4"
);
/// Of the newest $3 questions to the assistant ($1) asked before $2, those no message
/// between their sender and the assistant came after; oldest first.
/// Questions to the assistant ($1) asked before $2, among the newest $3, with no message
/// between their sender and the assistant after them; with what is known of each.
pub const UNANSWERED_QUESTIONS: &str = concat!(
    "SELECT ",
    message_columns!("q."),
    ", a.claimed_until, a.answered, a.channel_message_id, a.reply_to, a.reply_from \
     FROM messages q LEFT JOIN assistant_questions a ON a.question_id = q.id \
     WHERE q.id IN (SELECT id FROM messages WHERE recipient_id = $1 \
     AND created_at < $2 ORDER BY id DESC LIMIT $3) AND NOT EXISTS (SELECT 1 FROM messages n \
     WHERE n.id > q.id AND ((n.sender_id = q.sender_id AND n.recipient_id = $1) \
     OR (n.sender_id = $1 AND n.recipient_id = q.sender_id))) ORDER BY q.id"
);
/// Locks a question's message row until the transaction ends: claims and replies to one
/// question take turns, and it is not deleted in between. No row: the question is gone.
pub const LOCK_QUESTION: &str = "SELECT 1 FROM messages WHERE id = $1 FOR NO KEY UPDATE";
/// A question's state (`claimed_until, answered`), read by a statement of its own after
/// [`LOCK_QUESTION`]: a statement that waited for a lock re-reads only the locked row, so a
/// join in it would still show the claim as it was before the wait.
pub const QUESTION_STATE: &str =
    "SELECT claimed_until, answered FROM assistant_questions WHERE question_id = $1";
pub const CLAIM_QUESTION: &str = "INSERT INTO assistant_questions (question_id, claimed_until) \
     VALUES ($1, $2) ON CONFLICT (question_id) DO UPDATE SET claimed_until = $2";
pub const MARK_ANSWERED: &str = "INSERT INTO assistant_questions (question_id, answered) \
     VALUES ($1, true) ON CONFLICT (question_id) DO UPDATE SET answered = true";
/// Where the answer to the message just inserted on this connection goes: `currval` is the
/// id this session's insert took.
pub const KEEP_CHANNEL_ORIGIN: &str = "INSERT INTO assistant_questions \
     (question_id, channel_message_id, reply_to, reply_from) \
     VALUES (currval(pg_get_serial_sequence('messages', 'id')), $1, $2, $3)";
/// A send batch's counters, locked in ascending order in one pass (see `send_batches`): a
/// missing row is created at 0, which reads as "no position yet" like no row at all.
pub const LOCK_DELIVERY_COUNTERS: &str = "INSERT INTO delivery_counters AS c \
     (user_id, last_position) SELECT party, 0 FROM unnest($1::int[]) AS party ORDER BY party \
     ON CONFLICT (user_id) DO UPDATE SET last_position = c.last_position";
pub const ASSISTANT_CLEAR_POINT: &str =
    "SELECT after_message_id FROM assistant_history_clears WHERE user_id = $1";
pub const SET_ASSISTANT_CLEAR_POINT: &str = "INSERT INTO assistant_history_clears \
     (user_id, after_message_id, cleared_at) SELECT id, $2, $3 FROM users WHERE id = $1 \
     ON CONFLICT (user_id) DO UPDATE SET after_message_id = excluded.after_message_id, \
     cleared_at = excluded.cleared_at";

pub const FORGET_EXPIRED_TICKETS: &str = "DELETE FROM stream_tickets WHERE expires_at <= $1";
pub const INSERT_TICKET: &str = "INSERT INTO stream_tickets \
     (ticket_hash, user_id, session_id, expires_at) VALUES ($1, $2, $3, $4)";
pub const TAKE_TICKET: &str =
    "DELETE FROM stream_tickets WHERE ticket_hash = $1 RETURNING user_id, session_id, expires_at";

/// One row per conversation of user $1: its last message (by created_at, id), the other
/// party of that message with their name, and the user's unread count. One statement.
/// The last message of each conversation by `DISTINCT ON`, its unread count by a window
/// over the same sort (one sort of the user's messages serves both), the other party's name
/// by a join. The grouping sorts by bytes (`COLLATE "C"`: the database's collation would
/// call `strcoll` per comparison, and only equality matters), and each message's preview
/// travels with it instead of a join back to `messages`.
///
/// No join between two derived tables: a prepared statement runs on PostgreSQL's generic
/// plan after five executions, which guesses a handful of rows for each, and the earlier
/// form (unread counts grouped apart, joined back by conversation) became a nested loop
/// comparing every conversation with every other: 25 ms for a list of 1,000 instead of 4.
/// Computed on read, unlike SQLite's `conversation_heads`: keeping such a table here cost
/// every send 70–90 µs of PostgreSQL CPU (an upsert of two rows; BENCHMARKS.md, issue 27),
/// more than a list saves.
pub const CONVERSATION_SUMMARIES: &str = "\
WITH mine AS (
    SELECT id, sender_id, recipient_id, is_read, conversation_id, created_at,
           left(content, 100) AS preview
    FROM messages WHERE sender_id = $1 AND conversation_id IS NOT NULL
    UNION ALL
    SELECT id, sender_id, recipient_id, is_read, conversation_id, created_at,
           left(content, 100) AS preview
    FROM messages WHERE recipient_id = $1 AND sender_id <> $1 AND conversation_id IS NOT NULL
), latest AS (
    SELECT DISTINCT ON (conversation_id COLLATE \"C\")
           conversation_id, id, sender_id, recipient_id, created_at, preview,
           count(*) FILTER (WHERE recipient_id = $1 AND NOT is_read) OVER (
               PARTITION BY conversation_id COLLATE \"C\"
               ORDER BY created_at DESC, id DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
           ) AS unread
    FROM mine ORDER BY conversation_id COLLATE \"C\", created_at DESC, id DESC
)
SELECT l.conversation_id,
       CASE WHEN l.sender_id = $1 THEN l.recipient_id ELSE l.sender_id END AS other_id,
       u.username, l.preview, l.created_at, l.unread
FROM latest l
LEFT JOIN users u ON u.id = CASE WHEN l.sender_id = $1 THEN l.recipient_id ELSE l.sender_id END
ORDER BY l.created_at DESC, l.id DESC";

// ---- login attempts ----------------------------------------------------------------------

/// Serialises reservations on one counter across instances (taken in key order).
pub const LOCK_THROTTLE_KEY: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))";
/// Attempts counted under `$1` since `$2`, oldest first.
pub const ATTEMPTS_SINCE: &str = "SELECT attempted_at FROM login_attempts \
     WHERE throttle_key = $1 AND attempted_at > $2 ORDER BY attempted_at";
pub const NEXT_ATTEMPT_ID: &str = "SELECT nextval('login_attempt_ids')";
pub const INSERT_ATTEMPT: &str =
    "INSERT INTO login_attempts (attempt, throttle_key, attempted_at) VALUES ($1, $2, $3)";
pub const RELEASE_ATTEMPT: &str =
    "DELETE FROM login_attempts WHERE throttle_key = ANY($1) AND attempt = $2";
pub const CLEAR_THROTTLE_KEY: &str = "DELETE FROM login_attempts WHERE throttle_key = $1";
pub const PRUNE_EXPIRED_ATTEMPTS: &str = "DELETE FROM login_attempts WHERE attempted_at <= $1";
/// Expired attempts of one counter, dropped when it is next used.
pub const PRUNE_THROTTLE_KEY: &str =
    "DELETE FROM login_attempts WHERE throttle_key = $1 AND attempted_at <= $2";

/// The versions of the applied migrations (refinery's history table).
pub const APPLIED_MIGRATIONS: &str = "SELECT version FROM refinery_schema_history";

// ---- reports ---------------------------------------------------------------------------

pub const INSERT_REPORT: &str = "INSERT INTO reports (reporter_id, title, content, status, \
     created_at, updated_at) VALUES ($1, $2, $3, 'open', $4, $4) RETURNING id";
pub const REPORT_VIEW_BY_ID: &str = report_view_select!("WHERE r.id = $1");
/// A reporter's reports, newest first, optionally in one status.
pub const LIST_REPORTS_OF: &str = report_view_select!(
    "WHERE r.reporter_id = $1 AND ($2::text IS NULL OR r.status = $2) \
     ORDER BY r.created_at DESC, r.id DESC LIMIT $3 OFFSET $4"
);
/// Everyone's reports, newest first, optionally in one status.
pub const LIST_ALL_REPORTS: &str = report_view_select!(
    "WHERE ($1::text IS NULL OR r.status = $1) \
     ORDER BY r.created_at DESC, r.id DESC LIMIT $2 OFFSET $3"
);
/// The acting user ($1) of a report write, with session $2 (NULL for none) when it is
/// theirs (the session's columns first, NULL when there is none of theirs). The user's row
/// stays locked to the end of the write: their deletion or disabling waits for it (or wins,
/// and then no row is found), and one user's report writes run one at a time, so their
/// quota is counted exactly. `NO KEY UPDATE` leaves the foreign-key checks of other rows
/// naming the user (their messages) free to run.
pub const REPORT_ACTOR: &str = concat!(
    "SELECT ",
    session_columns!("s."),
    ", ",
    user_columns!("u."),
    " FROM users u LEFT JOIN sessions s ON s.id = $2 AND s.user_id = u.id WHERE u.id = $1 \
     FOR NO KEY UPDATE OF u"
);
/// When the reporter's ($1) ($3 + 1)-th newest report filed after $2 was filed.
pub const NTH_NEWEST_REPORT_SINCE: &str = "SELECT created_at FROM reports \
     WHERE reporter_id = $1 AND created_at > $2 ORDER BY created_at DESC LIMIT 1 OFFSET $3";
/// Locks the report for the transaction that changes it.
pub const REPORT_STATE_FOR_UPDATE: &str = "SELECT reporter_id, status, resolved_at, \
     resolved_by FROM reports WHERE id = $1 FOR UPDATE";
pub const EDIT_REPORT: &str = "UPDATE reports SET title = COALESCE($2, title), \
     content = COALESCE($3, content), updated_at = $4 WHERE id = $1";
pub const ANSWER_REPORT: &str = "UPDATE reports SET comment = COALESCE($2, comment), \
     status = $3, resolved_at = $4, resolved_by = $5, updated_at = $6 WHERE id = $1";
pub const DELETE_USER_REPORTS: &str = "DELETE FROM reports WHERE reporter_id = $1";
pub const DELETE_USER_PHONE_CLAIM: &str = "DELETE FROM phone_claims WHERE user_id = $1";
pub const FORGET_RESOLVER: &str = "UPDATE reports SET resolved_by = NULL WHERE resolved_by = $1";
