-- Single-use tickets that let a browser's EventSource (which cannot send headers) open a live
-- message stream: the SHA-256 of the ticket, the session it was issued for, and its expiry.
-- Kept in the database so that a ticket issued by one instance opens a stream on another,
-- and is taken once.
CREATE TABLE IF NOT EXISTS stream_tickets (
    ticket_hash VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id INTEGER NOT NULL,
    session_id INTEGER NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_stream_tickets_expires_at ON stream_tickets (expires_at);
