-- Messages taken in from a channel (WhatsApp, SMS), by the channel's own id (Twilio's
-- MessageSid): a delivery the channel retries finds its id here and is not taken again. The
-- id is written in the same transaction as the message it brought.
CREATE TABLE IF NOT EXISTS channel_receipts (
    external_id VARCHAR(64) NOT NULL PRIMARY KEY,
    received_at DATETIME NOT NULL
);
