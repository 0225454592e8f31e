-- Phone numbers are proven before they route texts (issue 38). `users.phone_number` (the
-- original's column, unique) now holds proven numbers only; a number a user types in is a
-- claim here, which routes nothing and blocks nobody, until its one-time code is texted
-- from that phone. Only the code's hash is kept, bound to the number.
CREATE TABLE IF NOT EXISTS phone_claims (
    user_id INTEGER NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    phone_number VARCHAR(20) NOT NULL,
    code_hash VARCHAR(64),
    code_expires_at TIMESTAMP WITHOUT TIME ZONE,
    failed_attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ix_phone_claims_phone_number ON phone_claims (phone_number);

-- Numbers stored before were never proven, and nothing stored can prove them: texts that
-- reached an account show only that someone wrote from the phone, which is exactly what
-- the squatter's account gets. They become claims; their owners prove them once.
INSERT INTO phone_claims (user_id, phone_number)
    SELECT id, phone_number FROM users WHERE phone_number IS NOT NULL;
UPDATE users SET phone_number = NULL WHERE phone_number IS NOT NULL;
