-- When each channel address (`whatsapp:+60123456789`) last got the fixed reply to a number
-- no active user has: one a day at most, whichever instance takes the texts, so a flood of
-- texts is not a flood of paid sends. One row per address, rewritten in place.
CREATE TABLE IF NOT EXISTS channel_fixed_replies (
    address VARCHAR(64) NOT NULL PRIMARY KEY,
    replied_at TIMESTAMP WITHOUT TIME ZONE NOT NULL
);
