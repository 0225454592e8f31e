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
--
-- Concurrent writers: the last message moves only forward under the row lock of the
-- upsert, counts change by increments, and a transaction takes the rows of one message's
-- two parties in ascending user order (after the delivery counters, also taken in that
-- order), so two sends in opposite directions cannot deadlock.
CREATE TABLE IF NOT EXISTS conversation_heads (
    user_id INTEGER NOT NULL,
    conversation_id VARCHAR(100) NOT NULL,
    last_message_id INTEGER NOT NULL,
    last_created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    -- What a list shows of the last message: its first 100 characters.
    last_preview VARCHAR(100) NOT NULL,
    -- The other party of the last message and their username (NULL once they are gone).
    other_user_id INTEGER NOT NULL,
    other_user_name VARCHAR(100),
    unread_count INTEGER NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
);
CREATE INDEX IF NOT EXISTS ix_conversation_heads_latest
    ON conversation_heads (user_id, last_created_at, last_message_id);
CREATE INDEX IF NOT EXISTS ix_conversation_heads_other_user_id
    ON conversation_heads (other_user_id);

-- One statement per message (each statement a trigger runs costs as much as the upsert):
-- the parties that are users, in ascending order, with the other party's name.
CREATE OR REPLACE FUNCTION conversation_heads_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversation_heads AS h (user_id, conversation_id, last_message_id,
        last_created_at, last_preview, other_user_id, other_user_name, unread_count)
    SELECT p.id, NEW.conversation_id, NEW.id, NEW.created_at, left(NEW.content, 100),
           p.other, o.username, p.unread
    FROM (VALUES
        (true, NEW.sender_id, NEW.recipient_id,
         CASE WHEN NEW.sender_id = NEW.recipient_id AND NEW.is_read = false THEN 1 ELSE 0 END),
        (false, NEW.recipient_id, NEW.sender_id,
         CASE WHEN NEW.is_read = false THEN 1 ELSE 0 END)
    ) AS p (sender, id, other, unread)
    JOIN users me ON me.id = p.id
    LEFT JOIN users o ON o.id = p.other
    -- A note to self is one row: the sender's, which counts it when unread.
    WHERE p.sender OR NEW.sender_id <> NEW.recipient_id
    ORDER BY p.id
    ON CONFLICT (user_id, conversation_id) DO UPDATE SET
        last_message_id = CASE WHEN (excluded.last_created_at, excluded.last_message_id)
                                    > (h.last_created_at, h.last_message_id)
            THEN excluded.last_message_id ELSE h.last_message_id END,
        last_created_at = CASE WHEN (excluded.last_created_at, excluded.last_message_id)
                                    > (h.last_created_at, h.last_message_id)
            THEN excluded.last_created_at ELSE h.last_created_at END,
        last_preview = CASE WHEN (excluded.last_created_at, excluded.last_message_id)
                                 > (h.last_created_at, h.last_message_id)
            THEN excluded.last_preview ELSE h.last_preview END,
        other_user_id = CASE WHEN (excluded.last_created_at, excluded.last_message_id)
                                  > (h.last_created_at, h.last_message_id)
            THEN excluded.other_user_id ELSE h.other_user_id END,
        other_user_name = CASE WHEN (excluded.last_created_at, excluded.last_message_id)
                                    > (h.last_created_at, h.last_message_id)
            THEN excluded.other_user_name ELSE h.other_user_name END,
        unread_count = h.unread_count + excluded.unread_count;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION conversation_heads_after_read() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversation_heads
    SET unread_count = unread_count
        + (CASE WHEN NEW.is_read = false THEN 1 ELSE 0 END)
        - (CASE WHEN OLD.is_read = false THEN 1 ELSE 0 END)
    WHERE user_id = NEW.recipient_id AND conversation_id = NEW.conversation_id;
    RETURN NULL;
END
$$;

-- A deleted last message hands its place to the newest message left; a conversation with
-- none left leaves the list.
CREATE OR REPLACE FUNCTION conversation_heads_after_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    party INTEGER;
    last_id INTEGER;
    newest RECORD;
BEGIN
    FOR party IN
        SELECT DISTINCT p FROM unnest(ARRAY[OLD.sender_id, OLD.recipient_id]) AS p ORDER BY p
    LOOP
        IF party = OLD.recipient_id AND OLD.is_read = false THEN
            UPDATE conversation_heads SET unread_count = unread_count - 1
            WHERE user_id = party AND conversation_id = OLD.conversation_id
            RETURNING last_message_id INTO last_id;
        ELSE
            SELECT last_message_id INTO last_id FROM conversation_heads
            WHERE user_id = party AND conversation_id = OLD.conversation_id;
        END IF;
        -- A concurrent send that moved the last message on is waited for by the statements
        -- below, which then find it no longer names this message and change nothing.
        IF last_id = OLD.id THEN
            SELECT m.id, m.created_at, left(m.content, 100) AS preview,
                   CASE WHEN m.sender_id = party THEN m.recipient_id ELSE m.sender_id END
                       AS other
            INTO newest FROM messages m
            WHERE m.conversation_id = OLD.conversation_id
              AND (m.sender_id = party OR m.recipient_id = party)
            ORDER BY m.created_at DESC, m.id DESC LIMIT 1;
            IF FOUND THEN
                UPDATE conversation_heads
                SET last_message_id = newest.id, last_created_at = newest.created_at,
                    last_preview = newest.preview,
                    other_user_id = newest.other,
                    other_user_name = (SELECT username FROM users WHERE id = newest.other)
                WHERE user_id = party AND conversation_id = OLD.conversation_id
                  AND last_message_id = OLD.id;
            ELSE
                DELETE FROM conversation_heads
                WHERE user_id = party AND conversation_id = OLD.conversation_id
                  AND last_message_id = OLD.id;
            END IF;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION conversation_heads_after_edit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversation_heads SET last_preview = left(NEW.content, 100)
    WHERE user_id IN (NEW.sender_id, NEW.recipient_id)
      AND conversation_id = NEW.conversation_id AND last_message_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION conversation_heads_after_user_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM conversation_heads WHERE user_id = OLD.id;
    UPDATE conversation_heads SET other_user_name = NULL WHERE other_user_id = OLD.id;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS conversation_heads_after_insert ON messages;
CREATE TRIGGER conversation_heads_after_insert AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.conversation_id IS NOT NULL)
    EXECUTE PROCEDURE conversation_heads_after_insert();
DROP TRIGGER IF EXISTS conversation_heads_after_read ON messages;
CREATE TRIGGER conversation_heads_after_read AFTER UPDATE OF is_read ON messages
    FOR EACH ROW WHEN (NEW.conversation_id IS NOT NULL
                       AND OLD.is_read IS DISTINCT FROM NEW.is_read)
    EXECUTE PROCEDURE conversation_heads_after_read();
DROP TRIGGER IF EXISTS conversation_heads_after_edit ON messages;
CREATE TRIGGER conversation_heads_after_edit AFTER UPDATE OF content ON messages
    FOR EACH ROW WHEN (NEW.conversation_id IS NOT NULL AND OLD.content <> NEW.content)
    EXECUTE PROCEDURE conversation_heads_after_edit();
DROP TRIGGER IF EXISTS conversation_heads_after_delete ON messages;
CREATE TRIGGER conversation_heads_after_delete AFTER DELETE ON messages
    FOR EACH ROW WHEN (OLD.conversation_id IS NOT NULL)
    EXECUTE PROCEDURE conversation_heads_after_delete();
DROP TRIGGER IF EXISTS conversation_heads_after_user_delete ON users;
CREATE TRIGGER conversation_heads_after_user_delete AFTER DELETE ON users
    FOR EACH ROW EXECUTE PROCEDURE conversation_heads_after_user_delete();

-- The lists of messages stored before this migration.
INSERT INTO conversation_heads (user_id, conversation_id, last_message_id, last_created_at,
    last_preview, other_user_id, other_user_name, unread_count)
SELECT newest.user_id, newest.conversation_id, newest.id, newest.created_at,
       (SELECT left(content, 100) FROM messages WHERE id = newest.id), newest.other,
       (SELECT username FROM users WHERE id = newest.other), newest.unread
FROM (
    SELECT DISTINCT ON (user_id, conversation_id)
           user_id, conversation_id, id, created_at, other,
           SUM(unread) OVER (PARTITION BY user_id, conversation_id) AS unread
    FROM (
        SELECT sender_id AS user_id, conversation_id, id, created_at,
               recipient_id AS other, 0 AS unread
        FROM messages WHERE conversation_id IS NOT NULL AND sender_id <> recipient_id
        UNION ALL
        SELECT recipient_id, conversation_id, id, created_at, sender_id,
               CASE WHEN is_read = false THEN 1 ELSE 0 END
        FROM messages WHERE conversation_id IS NOT NULL
    ) involved
    WHERE user_id IN (SELECT id FROM users)
    ORDER BY user_id, conversation_id, created_at DESC, id DESC
) newest
ON CONFLICT DO NOTHING;
