-- Facility reports (the original's newest schema). A database of that version has the table
-- already, with its rows: it is kept as it is. The two indexes serve the lists: a reporter's
-- reports and everyone's, newest first.
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    reporter_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title VARCHAR(255) NOT NULL,
    content TEXT NOT NULL,
    status VARCHAR(50) NOT NULL DEFAULT 'open',
    comment TEXT,
    resolved_at DATETIME,
    resolved_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_reports_id ON reports (id);
CREATE INDEX IF NOT EXISTS ix_reports_reporter_id_created_at ON reports (reporter_id, created_at);
CREATE INDEX IF NOT EXISTS ix_reports_created_at ON reports (created_at);
