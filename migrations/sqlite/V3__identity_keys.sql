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
