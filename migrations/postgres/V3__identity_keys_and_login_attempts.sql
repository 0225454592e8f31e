-- Usernames and emails are unique under normalised keys (lookalike names, email case), kept
-- beside the spec's users table. The binary fills in keys for rows that have none after every
-- migration run: a row adopted with a name that collides with an earlier one keeps NULL
-- (it still logs in; no new account may take the key).
CREATE TABLE IF NOT EXISTS user_identity_keys (
    user_id INTEGER NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    username_key VARCHAR(400),
    email_key VARCHAR(255)
);
CREATE UNIQUE INDEX IF NOT EXISTS ix_user_identity_keys_username_key ON user_identity_keys (username_key);
CREATE UNIQUE INDEX IF NOT EXISTS ix_user_identity_keys_email_key ON user_identity_keys (email_key);

-- Failed-login counters shared by every instance on this database, so the limits are global.
-- One row per counted attempt and counter; `attempt` groups the rows of one reservation.
CREATE SEQUENCE IF NOT EXISTS login_attempt_ids;
CREATE TABLE IF NOT EXISTS login_attempts (
    id BIGSERIAL PRIMARY KEY,
    attempt BIGINT NOT NULL,
    throttle_key VARCHAR(600) NOT NULL,
    attempted_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_login_attempts_key_time ON login_attempts (throttle_key, attempted_at);
CREATE INDEX IF NOT EXISTS ix_login_attempts_time ON login_attempts (attempted_at);
