-- Additive changes the API's promises need; the spec's columns stay as they are.

-- Every refresh token belongs to one session, so a session ends with all its tokens.
-- Rows adopted from the original implementation keep NULL here.
ALTER TABLE refresh_tokens ADD COLUMN session_id INTEGER REFERENCES sessions (id) ON DELETE CASCADE;
CREATE INDEX IF NOT EXISTS ix_refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE INDEX IF NOT EXISTS ix_refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX IF NOT EXISTS ix_sessions_user_id ON sessions (user_id, created_at, id);

-- Message lists read the newest page of one user's messages, in (created_at, id) order.
CREATE INDEX IF NOT EXISTS ix_messages_sender_created ON messages (sender_id, created_at, id);
CREATE INDEX IF NOT EXISTS ix_messages_recipient_created ON messages (recipient_id, created_at, id);
CREATE INDEX IF NOT EXISTS ix_messages_recipient_unread ON messages (recipient_id, created_at, id) WHERE is_read = 0;
CREATE INDEX IF NOT EXISTS ix_messages_conversation_created ON messages (conversation_id, created_at, id);
