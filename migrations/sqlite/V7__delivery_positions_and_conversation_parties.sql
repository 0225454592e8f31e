-- Live delivery in commit order (see the core's usecases::live): every message a user sends
-- or receives takes the next position of that user's sequence, in the transaction that
-- stores it. `delivery_counters` holds each user's last position; `message_deliveries` the
-- message at each position (a deleted message takes its rows with it; positions are never
-- reused). No foreign key to users: deleting a user removes its rows itself, and the
-- assistant (user -1) has no positions.
CREATE TABLE IF NOT EXISTS delivery_counters (
    user_id INTEGER NOT NULL PRIMARY KEY,
    last_position BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS message_deliveries (
    user_id INTEGER NOT NULL,
    position BIGINT NOT NULL,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, position)
);
CREATE INDEX IF NOT EXISTS ix_message_deliveries_message_id ON message_deliveries (message_id);

-- Messages stored before positions existed keep their id as their position, and every
-- user's sequence goes on after the highest id: cursors handed out then (message ids) mean
-- the same thing now.
INSERT INTO message_deliveries (user_id, position, message_id)
    SELECT sender_id, id, id FROM messages WHERE sender_id IN (SELECT id FROM users)
    UNION
    SELECT recipient_id, id, id FROM messages WHERE recipient_id IN (SELECT id FROM users);
INSERT INTO delivery_counters (user_id, last_position)
    SELECT id, (SELECT COALESCE(MAX(id), 0) FROM messages) FROM users;

-- The two parties a conversation id other than `conv_<low>_<high>` belongs to, bound by
-- its first message. Existing conversations are bound to the parties of their first one.
CREATE TABLE IF NOT EXISTS conversation_parties (
    conversation_id VARCHAR(100) NOT NULL PRIMARY KEY,
    low_user_id INTEGER NOT NULL,
    high_user_id INTEGER NOT NULL
);
INSERT INTO conversation_parties (conversation_id, low_user_id, high_user_id)
    SELECT m.conversation_id, MIN(m.sender_id, m.recipient_id), MAX(m.sender_id, m.recipient_id)
    FROM messages m
    WHERE m.conversation_id IS NOT NULL
      AND m.id = (SELECT MIN(f.id) FROM messages f WHERE f.conversation_id = m.conversation_id);
