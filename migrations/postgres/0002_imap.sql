-- IMAP checkpoints and mailbox connection state, PostgreSQL. Append-only.

CREATE TABLE imap_checkpoints (
    account      TEXT NOT NULL,
    folder       TEXT NOT NULL,
    uid_validity BIGINT NOT NULL,
    last_uid     BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (account, folder)
);

CREATE TABLE mailbox_status (
    mailbox         TEXT PRIMARY KEY,
    state           TEXT NOT NULL,
    last_success_at BIGINT,
    failing_since   BIGINT,
    last_error      TEXT,
    updated_at      BIGINT NOT NULL
);

CREATE INDEX outbox_recipient_kind ON outbox (recipient, kind, created_at);
