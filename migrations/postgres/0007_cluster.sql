-- Several instances on one database: who is alive, who reads which mailbox, and the
-- order in which the knowledge base changed.
-- PostgreSQL. Append-only.

-- Each running instance says it is alive every few seconds.
CREATE TABLE instances (
    name        TEXT PRIMARY KEY,
    started_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL,
    version     TEXT NOT NULL
);

-- One reader per mailbox: the holder renews its lease; when it stops renewing, another
-- instance takes the mailbox over after `expires_at`. `fence` grows with every new
-- holder, and intake commits only while the holder's fence is still the current one.
CREATE TABLE mailbox_leases (
    mailbox     TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    fence       BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- Every change to a knowledge entry, in commit order (writers take a lock on this table
-- for the rest of their transaction), so each instance's index follows the database.
CREATE TABLE knowledge_log (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id  TEXT NOT NULL,
    at        BIGINT NOT NULL
);
