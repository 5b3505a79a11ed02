-- The admin panel: people, their sessions, notes on cases, merged and registered cases,
-- knowledge entries edited by people. SQLite. Append-only.

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    username        TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    role            TEXT NOT NULL,
    departments     TEXT NOT NULL DEFAULT '',
    password_hash   TEXT NOT NULL,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until    INTEGER,
    disabled        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);

-- Only a hash of the session token is kept: a copy of the database opens no session.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    csrf_token  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE case_notes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    author      TEXT NOT NULL,
    text        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX case_notes_case ON case_notes (case_id);

ALTER TABLE cases ADD COLUMN merged_into TEXT;
ALTER TABLE cases ADD COLUMN registered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN closed_at INTEGER;
-- The queue's order: needing triage first, then urgent, then oldest.
CREATE INDEX cases_queue ON cases ((CASE status WHEN 'triage' THEN 0 WHEN 'routed' THEN 1 ELSE 2 END), urgent DESC, created_at, id);
CREATE INDEX cases_citizen ON cases (citizen_address);

ALTER TABLE knowledge_entries ADD COLUMN review_by TEXT;
ALTER TABLE knowledge_entries ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;
ALTER TABLE knowledge_entries ADD COLUMN edited_at INTEGER;
ALTER TABLE knowledge_entries ADD COLUMN edited_by TEXT;
CREATE INDEX knowledge_review_by ON knowledge_entries (review_by);

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX outbox_kind_case ON outbox (kind, case_id);
