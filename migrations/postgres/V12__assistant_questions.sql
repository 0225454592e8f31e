-- What storage knows of a question to the AI assistant besides its message, so that the
-- instances on one database answer each question once: the instance answering it claims it
-- until its own deadline (`claimed_until`: its model calls, shutdown grace and a margin;
-- other instances' sweeps leave it alone meanwhile), the first reply stored sets `answered`
-- in its transaction (a later reply is neither stored nor sent), and a text from a phone
-- keeps where its answer goes (the channel's id of the text and the reply route), so an
-- answer another instance makes after a crash goes out too. One row per question that was
-- taken or claimed; it goes with its message.
CREATE TABLE IF NOT EXISTS assistant_questions (
    question_id INTEGER NOT NULL PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    claimed_until TIMESTAMP WITHOUT TIME ZONE,
    answered BOOLEAN NOT NULL DEFAULT FALSE,
    channel_message_id VARCHAR(64),
    reply_to TEXT,
    reply_from TEXT
);
