-- Where each user last cleared their chat with the AI assistant (user id -1): messages up to
-- `after_message_id` are no longer part of the history the model is given. In the database,
-- so the clear survives restarts and holds on every instance.
CREATE TABLE IF NOT EXISTS assistant_history_clears (
    user_id INTEGER NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    after_message_id INTEGER NOT NULL,
    cleared_at TIMESTAMP NOT NULL
);
