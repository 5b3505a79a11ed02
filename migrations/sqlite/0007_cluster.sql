-- Several instances on one database: who is alive, who reads which mailbox, and the
-- order in which the knowledge base changed.
-- SQLite (one instance in practice; the same bookkeeping keeps the code paths equal).
-- Append-only.

CREATE TABLE instances (
    name        TEXT PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL,
    version     TEXT NOT NULL
);

CREATE TABLE mailbox_leases (
    mailbox     TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    fence       INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE knowledge_log (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id  TEXT NOT NULL,
    at        INTEGER NOT NULL
);
