-- Each user's conversation list, kept up to date as messages are written, so listing 1,000
-- conversations reads 1,000 rows instead of grouping every message the user ever had.
-- One row per user and conversation_id they sent or received a message in: the last
-- message by (created_at, id), its other party with their username (usernames never
-- change; a deleted user's become NULL, shown as "Unknown"), and the user's unread received
-- messages in it: a list is one index range of this table, neither grouping every message
-- nor joining messages or users. Triggers on
-- `messages` keep it, so every write path (sends, replies, channels, the assistant, reads,
-- deletes) does, in the transaction of the write. Users only: the assistant (-1) and
-- deleted users have no rows; a deleted user's rows go with them.
CREATE TABLE IF NOT EXISTS conversation_heads (
    user_id INTEGER NOT NULL,
    conversation_id VARCHAR(100) NOT NULL,
    last_message_id INTEGER NOT NULL,
    last_created_at DATETIME NOT NULL,
    -- What a list shows of the last message: its first 100 characters.
    last_preview VARCHAR(100) NOT NULL,
    -- The other party of the last message and their username (NULL once they are gone).
    other_user_id INTEGER NOT NULL,
    other_user_name VARCHAR(100),
    unread_count INTEGER NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_conversation_heads_latest
    ON conversation_heads (user_id, last_created_at, last_message_id);
CREATE INDEX IF NOT EXISTS ix_conversation_heads_other_user_id
    ON conversation_heads (other_user_id);

CREATE TRIGGER IF NOT EXISTS conversation_heads_after_insert
AFTER INSERT ON messages WHEN NEW.conversation_id IS NOT NULL
BEGIN
    INSERT INTO conversation_heads (user_id, conversation_id, last_message_id,
        last_created_at, last_preview, other_user_id, other_user_name, unread_count)
    SELECT party, NEW.conversation_id, NEW.id, NEW.created_at, substr(NEW.content, 1, 100),
           other,
           (SELECT username FROM users WHERE id = other), unread
    FROM (
        SELECT NEW.sender_id AS party, NEW.recipient_id AS other,
               CASE WHEN NEW.sender_id = NEW.recipient_id AND NEW.is_read = 0
                    THEN 1 ELSE 0 END AS unread
        UNION ALL
        SELECT NEW.recipient_id, NEW.sender_id, CASE WHEN NEW.is_read = 0 THEN 1 ELSE 0 END
        WHERE NEW.recipient_id <> NEW.sender_id
    )
    WHERE party IN (SELECT id FROM users)
    ON CONFLICT (user_id, conversation_id) DO UPDATE SET
        last_message_id = CASE
            WHEN (excluded.last_created_at, excluded.last_message_id) > (last_created_at, last_message_id)
            THEN excluded.last_message_id ELSE last_message_id END,
        last_created_at = CASE
            WHEN (excluded.last_created_at, excluded.last_message_id) > (last_created_at, last_message_id)
            THEN excluded.last_created_at ELSE last_created_at END,
        last_preview = CASE
            WHEN (excluded.last_created_at, excluded.last_message_id) > (last_created_at, last_message_id)
            THEN excluded.last_preview ELSE last_preview END,
        other_user_id = CASE
            WHEN (excluded.last_created_at, excluded.last_message_id) > (last_created_at, last_message_id)
            THEN excluded.other_user_id ELSE other_user_id END,
        other_user_name = CASE
            WHEN (excluded.last_created_at, excluded.last_message_id) > (last_created_at, last_message_id)
            THEN excluded.other_user_name ELSE other_user_name END,
        unread_count = unread_count + excluded.unread_count;
END;

CREATE TRIGGER IF NOT EXISTS conversation_heads_after_read
AFTER UPDATE OF is_read ON messages
WHEN NEW.conversation_id IS NOT NULL AND OLD.is_read IS NOT NEW.is_read
BEGIN
    UPDATE conversation_heads
    SET unread_count = unread_count
        + (CASE WHEN NEW.is_read = 0 THEN 1 ELSE 0 END)
        - (CASE WHEN OLD.is_read = 0 THEN 1 ELSE 0 END)
    WHERE user_id = NEW.recipient_id AND conversation_id = NEW.conversation_id;
END;

-- A deleted last message hands its place to the newest message left; a conversation with
-- none left leaves the list.
CREATE TRIGGER IF NOT EXISTS conversation_heads_after_delete
AFTER DELETE ON messages WHEN OLD.conversation_id IS NOT NULL
BEGIN
    UPDATE conversation_heads SET unread_count = unread_count - 1
    WHERE user_id = OLD.recipient_id AND conversation_id = OLD.conversation_id
      AND OLD.is_read = 0;
    DELETE FROM conversation_heads
    WHERE user_id IN (OLD.sender_id, OLD.recipient_id)
      AND conversation_id = OLD.conversation_id
      AND last_message_id = OLD.id
      AND NOT EXISTS (
          SELECT 1 FROM messages m
          WHERE m.conversation_id = OLD.conversation_id
            AND (m.sender_id = conversation_heads.user_id
                 OR m.recipient_id = conversation_heads.user_id));
    UPDATE conversation_heads
    SET (last_message_id, last_created_at, last_preview, other_user_id, other_user_name) = (
        SELECT newest.id, newest.created_at, substr(newest.content, 1, 100), newest.other,
               (SELECT username FROM users WHERE id = newest.other)
        FROM (
            SELECT m.id, m.created_at, m.content,
                   CASE WHEN m.sender_id = conversation_heads.user_id
                        THEN m.recipient_id ELSE m.sender_id END AS other
            FROM messages m
            WHERE m.conversation_id = OLD.conversation_id
              AND (m.sender_id = conversation_heads.user_id
                   OR m.recipient_id = conversation_heads.user_id)
            ORDER BY m.created_at DESC, m.id DESC LIMIT 1
        ) newest)
    WHERE user_id IN (OLD.sender_id, OLD.recipient_id)
      AND conversation_id = OLD.conversation_id
      AND last_message_id = OLD.id;
END;

CREATE TRIGGER IF NOT EXISTS conversation_heads_after_edit
AFTER UPDATE OF content ON messages WHEN NEW.conversation_id IS NOT NULL
BEGIN
    UPDATE conversation_heads SET last_preview = substr(NEW.content, 1, 100)
    WHERE user_id IN (NEW.sender_id, NEW.recipient_id)
      AND conversation_id = NEW.conversation_id AND last_message_id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS conversation_heads_after_user_delete
AFTER DELETE ON users
BEGIN
    DELETE FROM conversation_heads WHERE user_id = OLD.id;
    UPDATE conversation_heads SET other_user_name = NULL WHERE other_user_id = OLD.id;
END;

-- The lists of messages stored before this migration.
INSERT INTO conversation_heads (user_id, conversation_id, last_message_id, last_created_at,
    last_preview, other_user_id, other_user_name, unread_count)
SELECT involved.user_id, involved.conversation_id, involved.id, involved.created_at,
       (SELECT substr(content, 1, 100) FROM messages WHERE id = involved.id), involved.other, (SELECT username FROM users WHERE id = involved.other), involved.unread
FROM (
    SELECT user_id, conversation_id, id, created_at, other,
           ROW_NUMBER() OVER (PARTITION BY user_id, conversation_id
                              ORDER BY created_at DESC, id DESC) AS newest,
           SUM(unread) OVER (PARTITION BY user_id, conversation_id) AS unread
    FROM (
        SELECT sender_id AS user_id, conversation_id, id, created_at,
               recipient_id AS other, 0 AS unread
        FROM messages WHERE conversation_id IS NOT NULL AND sender_id <> recipient_id
        UNION ALL
        SELECT recipient_id, conversation_id, id, created_at, sender_id,
               CASE WHEN is_read = 0 THEN 1 ELSE 0 END
        FROM messages WHERE conversation_id IS NOT NULL
    )
) involved
WHERE involved.newest = 1 AND involved.user_id IN (SELECT id FROM users)
ON CONFLICT DO NOTHING;
