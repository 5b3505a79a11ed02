-- Brevduva schema, SQLite. Append-only: change the schema with a new numbered file.
-- Times are unix seconds (INTEGER); booleans are 0/1.

CREATE TABLE departments (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    forward_to  TEXT NOT NULL,
    sensitive   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE case_number_counters (
    year        INTEGER PRIMARY KEY,
    last_serial INTEGER NOT NULL
);

CREATE TABLE cases (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    number            TEXT NOT NULL UNIQUE,
    status            TEXT NOT NULL,
    department_id     TEXT,
    language          TEXT NOT NULL,
    channel           TEXT NOT NULL,
    urgent            INTEGER NOT NULL DEFAULT 0,
    sensitive         INTEGER NOT NULL DEFAULT 0,
    auto_reply        INTEGER NOT NULL DEFAULT 0,
    bulk              INTEGER NOT NULL DEFAULT 0,
    citizen_address   TEXT,
    subject           TEXT NOT NULL,
    confidence        DOUBLE PRECISION,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX cases_status_created ON cases (status, created_at);
CREATE INDEX cases_department ON cases (department_id, created_at);

CREATE TABLE messages (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id             INTEGER NOT NULL REFERENCES cases (id),
    dedupe_key          TEXT NOT NULL UNIQUE,
    message_id          TEXT,
    content_hash        TEXT NOT NULL,
    source              TEXT NOT NULL,
    from_address        TEXT,
    subject             TEXT NOT NULL,
    sent_at             INTEGER,
    received_at         INTEGER NOT NULL,
    body_text           TEXT NOT NULL,
    classification_text TEXT NOT NULL,
    attachments         TEXT NOT NULL,
    in_reply_to         TEXT NOT NULL,
    references_ids      TEXT NOT NULL,
    automation_reason   TEXT,
    raw                 BLOB NOT NULL
);
CREATE INDEX messages_case ON messages (case_id);
CREATE INDEX messages_message_id ON messages (message_id);

CREATE TABLE routing_decisions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id       INTEGER NOT NULL REFERENCES cases (id),
    decided_by    TEXT NOT NULL,
    department_id TEXT,
    confidence    DOUBLE PRECISION NOT NULL,
    auto_routed   INTEGER NOT NULL,
    explanation   TEXT NOT NULL,
    details       TEXT NOT NULL,
    actor         TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX routing_decisions_case ON routing_decisions (case_id);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id         INTEGER NOT NULL REFERENCES cases (id),
    kind            TEXT NOT NULL,
    message_id      TEXT NOT NULL UNIQUE,
    recipient       TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    raw             BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_case ON outbox (case_id);

CREATE TABLE knowledge_entries (
    id            TEXT PRIMARY KEY,
    department_id TEXT,
    subject       TEXT NOT NULL,
    text          TEXT NOT NULL,
    answer        TEXT NOT NULL,
    origin        TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE quarantine (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    content_hash TEXT NOT NULL UNIQUE,
    source       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    raw          BLOB NOT NULL,
    received_at  INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    case_id    INTEGER,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_log_case ON audit_log (case_id);
