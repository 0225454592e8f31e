-- Phone numbers (the original's newest schema): users.phone_number VARCHAR(20), unique and
-- indexed. A database of the original's newest version has both already.
ALTER TABLE users ADD COLUMN IF NOT EXISTS phone_number VARCHAR(20);
CREATE UNIQUE INDEX IF NOT EXISTS ix_users_phone_number ON users (phone_number);
