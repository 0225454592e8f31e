-- Phone numbers (the original's newest schema): users.phone_number VARCHAR(20), unique and
-- indexed. SQLite cannot say ADD COLUMN IF NOT EXISTS, and a database of the original's
-- newest version has the column already, so the adapter adds it, when it is missing, just
-- before this migration runs; this adds its unique index (NULLs do not collide).
CREATE UNIQUE INDEX IF NOT EXISTS ix_users_phone_number ON users (phone_number);
